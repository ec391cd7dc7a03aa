"""The ``khidmat`` commands that work on an application (registered on ``app.cli`` by
``create_app``): ``seed-demo``, staff, devices, ``end-of-day``, ``audit verify``, backups,
nodes, ``token``. Each command is one unit of work. The command line itself, and ``serve``,
are in ``queue_server.entry``, so this module imports neither the app nor the server.

Size: the thin wrapper of every `khidmat` command. Debt: a package per command group (issue
11).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from queue_server.actors import SYSTEM
from queue_server.errors import DomainError
from queue_server.states import DeviceKind, Role

T = TypeVar("T")


def _fail(exc: DomainError) -> NoReturn:
    click.echo(f"error: {exc}", err=True)
    sys.exit(2)


def register(app: Flask) -> None:
    for command in (
        seed_demo,
        create_staff,
        create_device,
        end_of_day,
        audit,
        centre_days,
        counter_printer,
        config,
        staff,
        device,
        notes,
        backup,
        restore,
        node,
        token,
        counter_action,
        request_action,
    ):
        app.cli.add_command(command)
    from queue_server.simulation.commands import seed_history, simulate

    for command in (seed_history, simulate):
        app.cli.add_command(command)


@click.command("seed-demo")
@click.option("--json", "as_json", is_flag=True, help="Print what was created as JSON.")
@click.option("--code", default="demo", show_default=True)
@with_appcontext
def seed_demo(as_json: bool, code: str) -> None:
    """Create the demo centre (idempotent) and print the secrets it creates."""
    from queue_server.seed import seed_demo as seed
    from queue_server.unit_of_work import run_in_transaction

    result = run_in_transaction(lambda s: seed(s, code))
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2, ensure_ascii=False))
        return
    if not result.created:
        click.echo(f"Centre {code!r} exists already; nothing created.")
        return
    click.echo(f"Created centre {code!r}. Keep these; they are shown once.")
    for person in result.staff:
        click.echo(
            f"  {person['role']:8} {person['username']:10} password {person['password']}  key {person['api_key']}"
        )
    for device in result.devices:
        click.echo(f"  {device['kind']:8} {device['name']:14} key {device['key']}")


@click.command("create-staff")
@click.argument("username")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--centre", default=None, help="Centre code (none: province-wide admin).")
@click.option("--name", default="")
@click.option("--password", default=None, help="Default: generate one and print it.")
@click.option("--api-key", is_flag=True, help="Also create a personal API key and print it.")
@with_appcontext
def create_staff(
    username: str, role: str, centre: str | None, name: str, password: str | None, api_key: bool
) -> None:
    """Add a member of staff."""
    import secrets

    from queue_server.credentials import hash_password, key_hash, new_key
    from queue_server.models import Centre, Staff, StaffApiKey
    from queue_server.unit_of_work import run_in_transaction

    password = password or secrets.token_urlsafe(9)
    out: dict[str, Any] = {"username": username, "role": role, "password": password}

    def work(s: Any) -> None:
        centre_id = None
        if centre:
            found = s.scalar(select(Centre).where(Centre.code == centre))
            if found is None:
                raise click.ClickException(f"no centre {centre!r}")
            centre_id = found.id
        elif role != Role.ADMIN.value:
            raise click.ClickException("clerks and managers belong to a centre: give --centre")
        if s.scalar(select(Staff).where(Staff.username == username)) is not None:
            raise click.ClickException(f"username {username!r} is taken")
        staff = Staff(
            username=username,
            full_name=name or username,
            role=Role(role),
            centre_id=centre_id,
            password_hash=hash_password(password),
        )
        if api_key:
            key = new_key("staff")
            staff.api_keys.append(StaffApiKey(key_hash=key_hash(key), label="cli"))
            out["api_key"] = key
        s.add(staff)

    run_in_transaction(work)
    click.echo(json.dumps(out))


@click.command("create-device")
@click.argument("name")
@click.option("--centre", required=True)
@click.option("--kind", type=click.Choice([k.value for k in DeviceKind]), required=True)
@click.option(
    "--printer",
    default="{}",
    help='Kiosk printer settings as JSON, e.g. {"kind": "network", "host": "10.0.0.5"}',
)
@with_appcontext
def create_device(name: str, centre: str, kind: str, printer: str) -> None:
    """Register a kiosk or display and print its key (shown once)."""
    from queue_server.credentials import key_hash, new_key
    from queue_server.models import Centre, Device
    from queue_server.unit_of_work import run_in_transaction

    try:
        printer_config = json.loads(printer)
    except json.JSONDecodeError as exc:
        raise click.ClickException(f"--printer is not JSON: {exc}") from exc
    key = new_key("dev")

    def work(s: Any) -> None:
        found = s.scalar(select(Centre).where(Centre.code == centre))
        if found is None:
            raise click.ClickException(f"no centre {centre!r}")
        s.add(
            Device(
                centre_id=found.id,
                kind=DeviceKind(kind),
                name=name,
                key_hash=key_hash(key),
                printer=printer_config,
            )
        )

    run_in_transaction(work)
    click.echo(json.dumps({"name": name, "kind": kind, "key": key}))


@click.command("end-of-day")
@click.option("--centre", "centres", multiple=True, help="Centre code; default: every centre.")
@with_appcontext
def end_of_day(centres: tuple[str, ...]) -> None:
    """Close the day: every open token and counter is closed; screens are told."""
    from queue_server.models import Centre
    from queue_server.unit_of_work import run_in_transaction

    def codes(s: Any) -> list[str]:
        query = select(Centre.code).order_by(Centre.code)
        if centres:
            query = query.where(Centre.code.in_(centres))
        return list(s.scalars(query))

    found = run_in_transaction(codes)
    missing = set(centres) - set(found)
    if missing:
        raise click.ClickException(f"no centre {', '.join(sorted(missing))}")
    for code in found:
        try:
            result = run_in_transaction(_closer(code))
        except DomainError as exc:
            _fail(exc)
        click.echo(
            f"{code}: closed {result.tokens_closed} tokens, {result.counters_closed} counters; "
            f"carried {result.requests_carried} unfinished requests over, {result.requests_late} late"
        )


def _closer(code: str) -> Any:
    from queue_server import operations
    from queue_server.models import Centre

    def work(s: Any) -> Any:
        return operations.end_of_day(s, s.scalar(select(Centre).where(Centre.code == code)), SYSTEM)

    return work


@click.command("centre-days")
@click.argument("code")
@click.option(
    "--day-starts-at", help="The business day's boundary, local HH:MM (a 24/7 centre's shift change)."
)
@click.option("--hours", "hours", multiple=True, help="DAYS=WHEN: mon-sat=08:00-16:00, sun=closed, all=24h.")
@click.option("--holiday", "holidays", multiple=True, help="YYYY-MM-DD or YYYY-MM-DD=English name=Urdu name.")
@click.option("--remove-holiday", "removed", multiple=True, help="YYYY-MM-DD")
@with_appcontext
def centre_days(
    code: str,
    day_starts_at: str | None,
    hours: tuple[str, ...],
    holidays: tuple[str, ...],
    removed: tuple[str, ...],
) -> None:
    """Show or change a centre's day boundary, weekly hours and holidays."""
    from datetime import date

    from queue_server import centre_days as rules
    from queue_server.models import Centre
    from queue_server.operations.calendar import set_calendar
    from queue_server.unit_of_work import run_in_transaction

    try:
        boundary = rules.parse_clock(day_starts_at) if day_starts_at else None
        week = [h for spec in hours for h in rules.parse_hours(spec)]
        added = []
        for text in holidays:
            day, _, names = text.partition("=")
            name_en, _, name_ur = names.partition("=")
            added.append((date.fromisoformat(day.strip()), name_en.strip(), name_ur.strip()))
        gone = [date.fromisoformat(d.strip()) for d in removed]
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc

    def work(s: Any) -> dict[str, Any]:
        centre = s.scalar(select(Centre).where(Centre.code == code))
        if centre is None:
            raise click.ClickException(f"no centre {code!r}")
        if boundary or week or added or gone:
            set_calendar(
                s,
                centre,
                SYSTEM,
                day_starts_at=boundary,
                hours=week,
                add_holidays=added,
                remove_holidays=gone,
            )
        calendar = centre.calendar()
        return {
            "centre": code,
            "timezone": calendar.timezone,
            "day_starts_at": calendar.day_starts_at.strftime("%H:%M"),
            "hours": {
                rules.WEEKDAYS[h.weekday]: rules.describe(h)
                for h in sorted(calendar.hours, key=lambda h: h.weekday)
            },
            "holidays": [
                {"day": h.day.isoformat(), "name_en": h.name_en, "name_ur": h.name_ur}
                for h in centre.holidays
            ],
        }

    try:
        click.echo(json.dumps(run_in_transaction(work), ensure_ascii=False))
    except DomainError as exc:
        _fail(exc)


@click.command("counter-printer")
@click.argument("code")
@click.argument("number", type=int)
@click.argument("printer", required=False)
@with_appcontext
def counter_printer(code: str, number: int, printer: str | None) -> None:
    """Set the ticket printer of counter NUMBER (kiosk printer settings as JSON, e.g.
    {"kind": "network", "host": "10.0.0.7"}); without PRINTER, remove it. The clerk there
    then issues tokens from the console (key I) and they print at the desk."""
    from queue_server.models import Centre, Counter
    from queue_server.unit_of_work import run_in_transaction

    settings = None
    if printer:
        try:
            settings = json.loads(printer)
        except json.JSONDecodeError as exc:
            raise click.ClickException(f"PRINTER is not JSON: {exc}") from exc
        if not isinstance(settings, dict) or "kind" not in settings:
            raise click.ClickException('PRINTER is a JSON object with a "kind"')

    def work(s: Any) -> None:
        found = s.scalar(select(Counter).join(Centre).where(Centre.code == code, Counter.number == number))
        if found is None:
            raise click.ClickException(f"no counter {number} in centre {code!r}")
        found.printer = settings

    run_in_transaction(work)
    click.echo(json.dumps({"centre": code, "counter": number, "printer": settings}))


@click.group("audit")
def audit() -> None:
    """The hash-chained event log."""


@audit.command("verify")
@click.option("--centre", "centres", multiple=True)
@with_appcontext
def audit_verify(centres: tuple[str, ...]) -> None:
    """Recompute each centre's chain and hold it against its signed checkpoints (in the
    chain, in the instance's checkpoint log, witnessed by the province); name what does not
    fit. Exit 1 if anything does not."""
    from queue_server.checkpoints import verify_centre, verify_witnessed
    from queue_server.extensions import db
    from queue_server.models import Centre
    from queue_server.unit_of_work import current_session, end_reading

    query = select(Centre).order_by(Centre.code)
    if centres:
        query = query.where(Centre.code.in_(centres))
    broken = False
    for centre in db.session.scalars(query).all():
        report = verify_centre(current_session(), centre)
        broken |= not report.ok
        click.echo(report.summary())
        if not _verify_synced(centre.id, centre.code):
            broken = True
    problems = verify_witnessed(current_session())
    for problem in problems:
        click.echo(f"province: {problem}")
    end_reading()
    if broken or problems:
        sys.exit(1)


@audit.command("checkpoint")
@click.option("--centre", "centres", multiple=True, help="Centre code; default: every centre.")
@with_appcontext
def audit_checkpoint(centres: tuple[str, ...]) -> None:
    """Sign each centre's chain head now (the server does it every hour by itself)."""
    from queue_server.checkpoints import make_checkpoint
    from queue_server.models import Centre
    from queue_server.unit_of_work import run_in_transaction

    def work(s: Any) -> list[str]:
        query = select(Centre).order_by(Centre.code)
        if centres:
            query = query.where(Centre.code.in_(centres))
        done = []
        for centre in s.scalars(query):
            event = make_checkpoint(s, centre, SYSTEM, "manual")
            done.append(
                f"{centre.code}: "
                + (f"signed head at seq {event.seq - 1}" if event else "nothing new to sign")
            )
        return done

    for line in run_in_transaction(work):
        click.echo(line)


@audit.command("export")
@click.option("--centre", "code", required=True)
@click.option("--date", "day", required=True, help="The centre's local day, YYYY-MM-DD.")
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False))
@with_appcontext
def audit_export(code: str, day: str, output: str) -> None:
    """Write one day of a centre's records, its checkpoints and the public key to FILE,
    for an inspector: `khidmat audit verify-file FILE` (or `python -m
    queue_server.audit_verify FILE`, which needs no server) checks it."""
    from datetime import date

    from queue_server.checkpoints import export_day
    from queue_server.models import Centre
    from queue_server.unit_of_work import run_in_transaction

    try:
        when = date.fromisoformat(day)
    except ValueError as exc:
        raise click.ClickException(f"--date: {exc}") from exc

    def work(s: Any) -> dict[str, Any]:
        centre = s.scalar(select(Centre).where(Centre.code == code))
        if centre is None:
            raise click.ClickException(f"no centre {code!r}")
        return export_day(s, centre, when)

    document = run_in_transaction(work)
    with open(output, "w", encoding="utf-8") as fh:
        json.dump(document, fh, ensure_ascii=False, indent=1)
    click.echo(f"{output}: {len(document['events'])} events of {code} on {day}, key {document['key_id']}")


@audit.command("verify-file")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--key", default=None, help="The public key (base64) the inspector trusts.")
def audit_verify_file(path: str, key: str | None) -> None:
    """Check a file written by `khidmat audit export`."""
    from queue_server.audit_verify import main as verify_file

    sys.exit(verify_file([path] + (["--key", key] if key else [])))


@click.command("backup")
@click.option(
    "-o",
    "--output",
    default=None,
    type=click.Path(dir_okay=False),
    help="Default: instance/backups/khidmat-<UTC time>.sqlite3 (or .pgdump).",
)
@with_appcontext
def backup(output: str | None) -> None:
    """Back the whole database up to one file while the server runs (SQLite online backup,
    pg_dump for PostgreSQL). Back up the instance folder too: it holds the signing key."""
    from pathlib import Path

    from queue_server import backup as backups

    url = current_app.config["DATABASE_URL"]
    target = (
        Path(output) if output else backups.default_name(url, Path(current_app.instance_path) / "backups")
    )
    try:
        backups.backup(url, target)
    except backups.BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"backed up to {target} ({target.stat().st_size} bytes)")


@click.command("restore")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def restore(path: str, yes: bool) -> None:
    """Replace the database's content by a backup's (stop the server first), then verify
    every centre's chain against its checkpoints. Exit 1 if any does not verify."""
    from pathlib import Path

    from queue_server import backup as backups
    from queue_server.checkpoints import verify_centre
    from queue_server.extensions import db
    from queue_server.models import Centre
    from queue_server.unit_of_work import current_session, end_reading

    url = current_app.config["DATABASE_URL"]
    if not yes:
        click.confirm(f"Replace everything in {url.split('@')[-1]} by {path}?", abort=True)
    db.session.remove()
    db.engine.dispose()
    try:
        backups.restore(url, Path(path))
    except backups.BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"restored {path}")
    broken = False
    for centre in db.session.scalars(select(Centre).order_by(Centre.code)).all():
        report = verify_centre(current_session(), centre)
        broken |= not report.ok
        click.echo(report.summary())
    end_reading()
    if broken:
        sys.exit(1)


@click.group("config")
def config() -> None:
    """The catalogue and centres as one YAML file (docs/configuration.md)."""


@config.command("export")
@click.option("--centre", "centres", multiple=True, help="Centre code; default: every centre.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None)
@click.option("--no-staff", is_flag=True, help="Leave staff out (usernames are province-wide).")
@with_appcontext
def config_export(centres: tuple[str, ...], output: str | None, no_staff: bool) -> None:
    """Write the configuration as YAML to stdout or FILE."""
    from queue_server.models import Centre
    from queue_server.setup_file import export_yaml
    from queue_server.unit_of_work import current_session, end_reading

    s = current_session()
    missing = set(centres) - set(s.scalars(select(Centre.code).where(Centre.code.in_(centres))))
    if missing:
        raise click.ClickException(f"no centre {', '.join(sorted(missing))}")
    text = export_yaml(s, list(centres) or None, with_staff=not no_staff)
    end_reading()
    if output:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        click.echo(text, nl=False)


@config.command("import")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option("--dry-run", is_flag=True, help="Check every row and report; change nothing.")
@with_appcontext
def config_import(file: Any, dry_run: bool) -> None:
    """Apply a YAML file all or nothing; every bad row is reported with its line."""
    from queue_server.setup_file import ImportRefused, import_yaml
    from queue_server.unit_of_work import run_in_transaction

    text = file.read()
    try:
        report = run_in_transaction(lambda s: import_yaml(s, SYSTEM, text, dry_run=dry_run))
    except ImportRefused as refused:
        report = refused.report
        for line, message in report.problems:
            click.echo(f"{file.name}:{line}: {message}", err=True)
        if not report.ok:
            click.echo(f"error: {len(report.problems)} bad rows; nothing was changed", err=True)
            sys.exit(1)
        click.echo(
            f"dry run: would create {len(report.created)} and update {len(report.updated)} centres; nothing changed"
        )
        return
    click.echo(f"created {len(report.created)} and updated {len(report.updated)} centres")
    for item in report.secrets:
        click.echo(f"  {item['centre']:12} {item['kind']:8} {item['device']:20} key {item['key']}")
    if report.secrets:
        click.echo(
            "Keep these device keys; they are shown once. Imported staff have no password: set one on /manage."
        )


def _account_op(work: Any) -> Any:
    """Run an operation in one unit of work; its refusals exit 2 with the message."""
    from queue_server.unit_of_work import run_in_transaction

    try:
        return run_in_transaction(work)
    except DomainError as exc:
        _fail(exc)


def _staff_id(s: Any, username: str) -> int:
    from queue_server.models import Staff

    found = s.scalar(select(Staff.id).where(Staff.username == username))
    if found is None:
        raise click.ClickException(f"no staff member {username!r}")
    return int(found)


def _act(subject: str, name: str, find_id: Any, username: str, given: dict[str, Any]) -> str:
    """Take one action of the registry (``queue_server.actions``) as a staff member, in one
    unit of work; ``find_id(session)`` names the subject. What it did, in one line."""
    from queue_server.actions import find_action
    from queue_server.auth import staff_actor
    from queue_server.models import Staff

    def work(s: Any) -> str:
        chosen = find_action(subject, name)  # type: ignore[arg-type]
        inputs = chosen.inputs(given)
        who = s.get(Staff, _staff_id(s, username))
        done = chosen.run(s, find_id(s), staff_actor(who), **inputs)
        if done is None:
            return "nobody is waiting"
        if chosen.result == "delivery":
            return f"{done.request.reference}: delivery {done.state.value}"
        if chosen.result == "request":
            return f"{done.reference}: {done.state.value}"
        return f"{done.number}: {done.state.value}"

    return str(_account_op(work))


_AS = click.option(
    "--as", "username", required=True, help="The staff member who acts (the audit trail names them)."
)


@click.command("token")
@click.argument("action")
@click.argument("token_id", type=int)
@_AS
@click.option("--reason", help="Why (recall past the centre's limit, cancel, transfer to a counter).")
@click.option("--outcome", help="How the service ended (complete): served, referred, documents_missing, ...")
@click.option("--service", help="Transfer: the service code to send the token to.")
@click.option("--to-counter", type=int, help="Transfer: the counter (its id) to send the token to.")
@with_appcontext
def token(
    action: str,
    token_id: int,
    username: str,
    reason: str | None,
    outcome: str | None,
    service: str | None,
    to_counter: int | None,
) -> None:
    """Take a token action by hand, as a staff member: ACTION is one of the API's
    (recall, no-show, start, park, unpark, complete, cancel, requeue, transfer;
    queue_server/actions.py)."""
    given = {"reason": reason, "outcome": outcome, "service": service, "counter": to_counter}
    click.echo(_act("token", action, lambda s: token_id, username, given))


@click.command("counter")
@click.argument("action")
@click.argument("code")
@click.argument("number", type=int)
@_AS
@click.option("--token", "token_id", type=int, help="Call: the token (its id) to call out of order.")
@click.option("--reason", help="Call: why out of order (audited).")
@with_appcontext
def counter_action(
    action: str, code: str, number: int, username: str, token_id: int | None, reason: str | None
) -> None:
    """Take a counter action by hand, as its clerk: ACTION is one of the API's (open, close,
    pause, resume, call-next, call; queue_server/actions.py) on counter NUMBER of centre CODE."""
    from queue_server.models import Centre, Counter

    def counter_id(s: Any) -> int:
        found = s.scalar(select(Counter.id).join(Centre).where(Centre.code == code, Counter.number == number))
        if found is None:
            raise click.ClickException(f"no counter {number} in centre {code!r}")
        return int(found)

    click.echo(_act("counter", action, counter_id, username, {"token": token_id, "reason": reason}))


@click.command("request")
@click.argument("action")
@click.argument("request_id", type=int)
@_AS
@click.option("--to", help="Advance: the step to go to (in_process, ready, delivered).")
@click.option("--reason", help="Reject or withdraw: why; delivery/returned: the reason's code.")
@click.option("--address", help="Delivery: the citizen's address.")
@click.option("--courier", help="Delivery: the courier company.")
@click.option("--consignment", help="Delivery/dispatch: the consignment number.")
@with_appcontext
def request_action(
    action: str,
    request_id: int,
    username: str,
    to: str | None,
    reason: str | None,
    address: str | None,
    courier: str | None,
    consignment: str | None,
) -> None:
    """Take a request action by hand, as its clerk or a manager: ACTION is one of the API's
    (advance, reject, withdraw, collection-call, delivery, delivery/dispatch,
    delivery/delivered, delivery/returned; queue_server/actions.py)."""
    given = {"to": to, "reason": reason, "address": address, "courier": courier, "consignment": consignment}
    click.echo(_act("request", action, lambda s: request_id, username, given))


@click.group("staff")
def staff() -> None:
    """Staff accounts: deactivate, revoke keys, end sessions (queue_server.operations.accounts)."""


@staff.command("deactivate")
@click.argument("username")
@with_appcontext
def staff_deactivate(username: str) -> None:
    """The account stops working at once: sessions ended, API keys revoked."""
    from queue_server.operations import accounts

    _account_op(lambda s: accounts.deactivate_staff(s, _staff_id(s, username), SYSTEM))
    click.echo(f"{username}: deactivated; every session ended and every key revoked")


@staff.command("revoke-keys")
@click.argument("username")
@with_appcontext
def staff_revoke_keys(username: str) -> None:
    """Revoke every personal API key of the person."""
    from queue_server.operations import accounts

    count = _account_op(lambda s: accounts.revoke_staff_keys(s, _staff_id(s, username), SYSTEM))
    click.echo(f"{username}: {count} key(s) revoked")


@staff.command("end-sessions")
@click.argument("username")
@with_appcontext
def staff_end_sessions(username: str) -> None:
    """Log the person out everywhere (every browser session ends)."""
    from queue_server.operations import accounts

    count = _account_op(lambda s: accounts.end_staff_sessions(s, _staff_id(s, username), SYSTEM))
    click.echo(f"{username}: {count} session(s) ended")


@click.group("device")
def device() -> None:
    """Kiosks and displays: revoke or rotate a device key."""


@device.command("revoke")
@click.argument("device_id", type=int)
@with_appcontext
def device_revoke(device_id: int) -> None:
    """Switch the device off: its key and every browser paired with it stop."""
    from queue_server.operations import accounts

    _account_op(lambda s: accounts.revoke_device(s, device_id, SYSTEM))
    click.echo(f"device {device_id}: revoked")


@device.command("rotate")
@click.argument("device_id", type=int)
@with_appcontext
def device_rotate(device_id: int) -> None:
    """Give the device a new key (printed once, as JSON); the old key stops working."""
    from queue_server.operations import accounts

    key = _account_op(lambda s: accounts.rotate_device_key(s, device_id, SYSTEM))
    click.echo(json.dumps({"device": device_id, "key": key}))


@click.group("notes")
def notes() -> None:
    """Free text kept beside events (reasons, notices), deleted after its retention."""


@notes.command("purge")
@with_appcontext
def notes_purge() -> None:
    """Delete notes older than KHIDMAT_NOTE_RETENTION_DAYS, and long-ended sessions."""
    from queue_server.operations.accounts import purge_ended_sessions
    from queue_server.operations.notes import purge_notes

    count = _account_op(lambda s: purge_notes(s))
    sessions = _account_op(lambda s: purge_ended_sessions(s))
    click.echo(f"{count} note(s) and {sessions} ended session(s) deleted")


def _verify_synced(centre_id: int, code: str) -> bool:
    """On the province: recompute the chain a node pushed for this centre, if any."""
    from queue_server.models import SyncNode
    from queue_server.sync.province import verify_synced_chain
    from queue_server.unit_of_work import current_session

    session = current_session()
    node = session.scalar(select(SyncNode).where(SyncNode.centre_id == centre_id))
    if node is None:
        return True
    checked, broken_seq, reason = verify_synced_chain(session, centre_id)
    if broken_seq is None and checked == node.last_seq:
        click.echo(f"{code} synced from node: ok ({checked} events)")
        return True
    click.echo(
        f"{code} synced from node: BROKEN at event seq {broken_seq or checked + 1}: "
        f"{reason or 'records missing at the end'}; {checked} events before it are intact"
    )
    return False


def config_summary() -> dict[str, Any]:
    return {
        "database": current_app.config["DATABASE_URL"].split("@")[-1],
        "redis": bool(current_app.config.get("REDIS_URL")),
        "pid": os.getpid(),
    }


@click.group("node")
def node() -> None:
    """Centre nodes and their sync to the province."""


@node.command("register")
@click.option("--centre", required=True, help="Centre code (on the province).")
@with_appcontext
def node_register(centre: str) -> None:
    """On the province: register (or re-key) a centre's node; print its key once."""
    from queue_server.sync.province import register_node
    from queue_server.unit_of_work import run_in_transaction

    try:
        key = run_in_transaction(lambda s: register_node(s, centre)[1])
    except DomainError as exc:
        _fail(exc)
    click.echo(json.dumps({"centre": centre, "node_key": key}))


@node.command("push")
@with_appcontext
def node_push() -> None:
    """On a node: push the events the province has not seen yet. Exit 1 if it fails."""
    from queue_server.sync.node import push

    result = _synced(push)
    click.echo(
        json.dumps(
            {
                "sent": result.sent,
                "stored": result.stored,
                "last_seq": result.last_seq,
                "pending": result.pending,
            }
        )
    )


@node.command("pull")
@with_appcontext
def node_pull() -> None:
    """On a node: take the centre's configuration from the province (catalogue, the centre,
    its services, counters, staff, devices) and apply it, all or nothing. Exit 1 if it fails."""
    from queue_server.sync.node import pull_config

    result = _synced(pull_config)
    click.echo(
        json.dumps({"centre": result.centre, "changed": result.changed, "new_devices": result.new_devices})
    )


def _synced(step: Callable[[dict[str, Any]], T]) -> T:
    """Run a sync step with this node's configuration; exit 1 with the reason if it fails."""
    from queue_server.sync.node import SyncFailed

    try:
        return step(current_app.config)
    except SyncFailed as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except DomainError as exc:
        _fail(exc)


@node.command("status")
@click.option("--centre", default=None)
@with_appcontext
def node_status(centre: str | None) -> None:
    """On a node: the province's acknowledged head, pending events, last sync and error."""
    from queue_server.sync.node import status
    from queue_server.unit_of_work import run_in_transaction

    try:
        out = run_in_transaction(lambda s: status(s, centre or current_app.config.get("NODE_CENTRE")))
    except DomainError as exc:
        _fail(exc)
    click.echo(json.dumps(out))
