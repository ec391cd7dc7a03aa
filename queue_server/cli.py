"""The ``khidmat`` command: ``db upgrade`` (Flask-Migrate), ``seed-demo``, ``serve``, staff,
devices, ``end-of-day`` and ``audit verify``. Each command is one unit of work."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext
from sqlalchemy import select

from queue_server.actors import SYSTEM
from queue_server.errors import DomainError
from queue_server.states import DeviceKind, Role


def _create_app() -> Flask:
    from queue_server.app import create_app

    return create_app()


@click.group(
    cls=FlaskGroup, create_app=_create_app, add_version_option=False, load_dotenv=False, set_debug_flag=False
)
def main() -> None:
    """Khidmat Queue: kiosk and queue-token system."""


def _fail(exc: DomainError) -> None:
    click.echo(f"error: {exc}", err=True)
    sys.exit(2)


def register(app: Flask) -> None:
    for command in (seed_demo, serve, create_staff, create_device, end_of_day, audit):
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


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option(
    "--workers",
    default=None,
    type=int,
    help="Processes (needs PostgreSQL and KHIDMAT_REDIS_URL when more than one).",
)
@click.option(
    "--threads",
    default=200,
    show_default=True,
    type=int,
    help="Threads per process in threading mode: one per open screen.",
)
@click.option(
    "--async-mode",
    type=click.Choice(["threading", "gevent"]),
    default=None,
    help="Default: threading on SQLite, gevent on PostgreSQL.",
)
def serve(host: str, port: int, workers: int | None, threads: int, async_mode: str | None) -> None:
    """Run the production server (gunicorn)."""
    from queue_server.serving import run

    run(host=host, port=port, workers=workers, threads=threads, async_mode=async_mode)


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

    from queue_server.auth import hash_password, key_hash, new_key
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
    from queue_server.auth import key_hash, new_key
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


@click.group("audit")
def audit() -> None:
    """The hash-chained event log."""


@audit.command("verify")
@click.option("--centre", "centres", multiple=True)
@with_appcontext
def audit_verify(centres: tuple[str, ...]) -> None:
    """Recompute each centre's chain; name the first broken record. Exit 1 if any is broken."""
    from queue_server.audit import verify_chain
    from queue_server.extensions import db
    from queue_server.models import Centre
    from queue_server.unit_of_work import current_session

    query = select(Centre).order_by(Centre.code)
    if centres:
        query = query.where(Centre.code.in_(centres))
    broken = False
    for centre in db.session.scalars(query).all():
        report = verify_chain(current_session(), centre.id)
        if report.ok:
            click.echo(f"{centre.code}: ok ({report.checked} events)")
        else:
            broken = True
            click.echo(
                f"{centre.code}: BROKEN at event seq {report.broken_seq} "
                f"(id {report.broken_id}): {report.reason}; {report.checked} events before it are intact"
            )
    db.session.rollback()
    if broken:
        sys.exit(1)


def config_summary() -> dict[str, Any]:
    return {
        "database": current_app.config["DATABASE_URL"].split("@")[-1],
        "redis": bool(current_app.config.get("REDIS_URL")),
        "pid": os.getpid(),
    }
