"""One-file setup: the catalogue and centres as YAML (``khidmat config export|import``).

Export writes the province's catalogue and, per centre, its figures, the services it
offers (with their local overrides), counters with work profiles, staff and devices
(docs/configuration.md). Import applies such a file through the same operations as the
pages and the API, all or nothing: every row is tried (each in a savepoint), every bad row
is reported with its line, and if there is one the whole transaction is rolled back.
Passwords and keys are never in the file: imported staff have no password until one is
set, and new devices get fresh keys, shown once.

Size: the setup file is one format: each section's reading and writing stay side by side so
they cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from queue_server.actors import Actor
from queue_server.audit import append_event
from queue_server.errors import N_, DomainError, FieldInvalid, FieldTaken
from queue_server.models import CatalogueService, Centre, Counter, Device, Role, Service, Staff
from queue_server.operations import announce, people, setup
from queue_server.unit_of_work import savepoint

CENTRE_KEYS = (
    "code",
    *setup.CENTRE_FIELDS,
    *setup.CALENDAR_FIELDS,
    "services",
    "counters",
    "staff",
    "devices",
)


# Reading with line numbers ----------------------------------------------------------------


class Lined(dict[Any, Any]):
    """A mapping from the file, knowing the line of itself and of each of its values."""

    line: int = 0
    lines: dict[str, int]


class LinedList(list[Any]):
    line: int = 0
    lines: list[int]


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]  # libyaml when built with it
    problems: list[tuple[int, str]]


def _mapping(loader: _Loader, node: yaml.MappingNode) -> Lined:
    loader.flatten_mapping(node)
    out = Lined()
    out.line = node.start_mark.line + 1
    out.lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
        line = key_node.start_mark.line + 1
        if not isinstance(key, str | int) or isinstance(key, bool):
            loader.problems.append((line, "a key must be a name"))
            continue
        if str(key) in out.lines:
            loader.problems.append((line, f"{key}: given twice"))
        out[key] = loader.construct_object(value_node, deep=True)  # type: ignore[no-untyped-call]
        out.lines[str(key)] = value_node.start_mark.line + 1
    return out


def _sequence(loader: _Loader, node: yaml.SequenceNode) -> LinedList:
    out = LinedList(loader.construct_object(child, deep=True) for child in node.value)  # type: ignore[no-untyped-call]
    out.line = node.start_mark.line + 1
    out.lines = [child.start_mark.line + 1 for child in node.value]
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)  # type: ignore[arg-type]
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _sequence)  # type: ignore[arg-type]


def line_of(row: Any, where: str, default: int) -> int:
    """The line of ``where`` ("profile.character") inside ``row``, as deep as it is known."""
    line = default
    for part in where.split("."):
        if isinstance(row, Lined) and part in row.lines:
            line, row = row.lines[part], row[part]
        elif isinstance(row, LinedList) and part.isdigit() and int(part) < len(row):
            line, row = row.lines[int(part)], row[int(part)]
        else:
            break
    return line


# Export -----------------------------------------------------------------------------------


def export_data(
    session: Session, centres: list[str] | None = None, *, with_staff: bool = True
) -> dict[str, Any]:
    catalogue = session.scalars(
        select(CatalogueService).order_by(CatalogueService.sort_order, CatalogueService.code)
    )
    query = select(Centre).order_by(Centre.code)
    if centres:
        query = query.where(Centre.code.in_(centres))
    out: dict[str, Any] = {"catalogue": [setup.catalogue_public(e) for e in catalogue], "centres": []}
    for centre in session.scalars(query):
        out["centres"].append(centre_item(session, centre, with_staff=with_staff))
    return out


def centre_item(session: Session, centre: Centre, *, with_staff: bool = True) -> dict[str, Any]:
    """One centre as the file has it (also the before and after of an import's audit)."""
    item = setup.centre_public(centre)
    services: list[Any] = []
    for service in centre.services:
        if not service.is_active:
            continue
        own = dict(service.overrides or {})
        services.append({"code": service.code, **own} if own else service.code)
    item["services"] = services
    item["counters"] = [
        {
            "number": c.number,
            "name": c.name,
            "zone": c.zone,
            "profile": setup.counter_public(c)["profile"],
        }
        for c in centre.counters
    ]
    if with_staff:
        staff = session.scalars(select(Staff).where(Staff.centre_id == centre.id).order_by(Staff.username))
        item["staff"] = [
            {
                "username": p.username,
                "full_name": p.full_name,
                "role": p.role.value,
                "is_active": p.is_active,
            }
            for p in staff
        ]
    devices = session.scalars(
        select(Device).where(Device.centre_id == centre.id, Device.is_active).order_by(Device.id)
    )
    item["devices"] = [
        {"name": d.name, "kind": d.kind.value, **({"printer": dict(d.printer)} if d.printer else {})}
        for d in devices
    ]
    return item


def export_yaml(session: Session, centres: list[str] | None = None, *, with_staff: bool = True) -> str:
    head = "# Khidmat Queue configuration (docs/configuration.md): khidmat config import FILE\n"
    body = yaml.safe_dump(
        export_data(session, centres, with_staff=with_staff), allow_unicode=True, sort_keys=False, width=100
    )
    return head + body


# Import -----------------------------------------------------------------------------------


@dataclass
class ImportReport:
    problems: list[tuple[int, str]] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)  # centres the import actually changed (audited)
    secrets: list[dict[str, str]] = field(default_factory=list)  # new device keys, shown once

    @property
    def ok(self) -> bool:
        return not self.problems

    def bad(self, line: int, message: str) -> None:
        self.problems.append((line, message))


class ImportRefused(Exception):
    def __init__(self, report: ImportReport) -> None:
        super().__init__(f"{len(report.problems)} bad rows")
        self.report = report


def parse(text: str, report: ImportReport) -> Lined | None:
    loader = _Loader(text)
    loader.problems = []
    try:
        data = loader.get_single_data()  # type: ignore[no-untyped-call]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        report.bad(mark.line + 1 if mark else 1, f"not valid YAML: {exc.problem or exc}")
        return None
    except yaml.YAMLError as exc:
        report.bad(1, f"not valid YAML: {exc}")
        return None
    finally:
        loader.dispose()
    report.problems.extend(loader.problems)
    if not isinstance(data, Lined) or not isinstance(data.get("centres", []), list):
        report.bad(getattr(data, "line", 1), "the file must be a mapping with a 'centres:' list")
        return None
    unknown = [k for k in data if k not in ("catalogue", "centres")]
    for key in unknown:
        report.bad(data.lines[str(key)], f"{key}: unknown section (catalogue, centres)")
    return data


@contextmanager
def _row(session: Session, report: ImportReport, row: Any, default_line: int, label: str) -> Iterator[None]:
    """One row in its own savepoint: a refusal is reported with its line and undone, and
    the import goes on to find the other bad rows."""
    try:
        with savepoint(session):
            yield
    except FieldInvalid as exc:
        report.bad(line_of(row, exc.where, default_line), f"{label}: {exc.where}: {exc}")
    except DomainError as exc:
        report.bad(default_line, f"{label}: {exc}")


def _fields(row: Lined, names: tuple[str, ...]) -> dict[str, Any]:
    return {k: row[k] for k in names if k in row}


def _check_keys(report: ImportReport, row: Lined, allowed: tuple[str, ...], label: str) -> None:
    for key in row:
        if key not in allowed:
            report.bad(row.lines[str(key)], f"{label}: {key}: not a known field ({', '.join(allowed)})")


def import_data(session: Session, actor: Actor, data: Lined, report: ImportReport) -> None:
    """Apply a parsed file; problems go to ``report`` (the caller rolls back if any)."""
    catalogue = data.get("catalogue") or []
    if not isinstance(catalogue, list):
        report.bad(data.lines.get("catalogue", 1), "catalogue: must be a list")
        catalogue = []
    for i, row in enumerate(catalogue):
        line = catalogue.lines[i] if isinstance(catalogue, LinedList) else 1
        if not isinstance(row, Lined) or "code" not in row:
            report.bad(line, "catalogue: each service is a mapping with a code")
            continue
        _check_keys(report, row, ("code", *setup.CATALOGUE_FIELDS), f"catalogue {row['code']}")
        with _row(session, report, row, line, f"catalogue {row['code']}"):
            values = _fields(row, setup.CATALOGUE_FIELDS)
            exists = session.scalar(
                select(CatalogueService.id).where(CatalogueService.code == str(row["code"]))
            )
            if exists is None:
                setup.create_catalogue_service(session, actor, row["code"], values)
            else:
                setup.update_catalogue_service(session, actor, str(row["code"]), values)
    seen: dict[str, int] = {}
    centres = data.get("centres") or []
    for i, row in enumerate(centres):
        line = centres.lines[i] if isinstance(centres, LinedList) else 1
        if not isinstance(row, Lined) or "code" not in row:
            report.bad(line, "centres: each centre is a mapping with a code")
            continue
        code = str(row["code"])
        if code in seen:
            report.bad(line, f"centre {code}: also on line {seen[code]}")
            continue
        seen[code] = line
        _check_keys(report, row, CENTRE_KEYS, f"centre {code}")
        _import_centre(session, actor, row, line, code, report)


def _items(report: ImportReport, row: Lined, key: str, label: str) -> list[tuple[int, Any]]:
    items = row.get(key)
    if items is None:
        return []
    if not isinstance(items, LinedList):
        report.bad(row.lines.get(key, row.line), f"{label}: {key}: must be a list")
        return []
    return list(zip(items.lines, items, strict=True))


def _import_centre(
    session: Session, actor: Actor, row: Lined, line: int, code: str, report: ImportReport
) -> None:
    label = f"centre {code}"
    centre = session.scalar(select(Centre).where(Centre.code == code))
    before = centre_item(session, centre) if centre is not None else None
    values = _fields(row, (*setup.CENTRE_FIELDS, *setup.CALENDAR_FIELDS))
    session.info[setup.BATCH] = True
    try:
        with _row(session, report, row, line, label):
            if centre is None:
                centre = setup.create_centre(session, actor, code, values)
                report.created.append(code)
            else:
                setup.update_centre(session, actor, centre, values)
                report.updated.append(code)
        if centre is None:  # refused: its rows cannot be tried
            return
        _import_rows(session, actor, row, centre, label, report)
    finally:
        session.info.pop(setup.BATCH, None)
    session.expire(centre)
    after = centre_item(session, centre)
    if after != before:
        report.changed.append(code)
        append_event(
            session, centre.id, "admin.config_imported", actor, data={"before": before, "after": after}
        )
        announce.centre_refresh(session, centre)


def _import_rows(
    session: Session, actor: Actor, row: Lined, centre: Centre, label: str, report: ImportReport
) -> None:
    # Services: the list is what the centre offers; those not listed are disabled.
    listed: set[str] = set()
    for item_line, item in _items(report, row, "services", label):
        service_code = (
            item if isinstance(item, str) else item.get("code") if isinstance(item, Lined) else None
        )
        if not isinstance(service_code, str):
            report.bad(item_line, f"{label}: services: each is a code or a mapping with a code")
            continue
        if service_code in listed:
            report.bad(item_line, f"{label}: service {service_code}: listed twice")
            continue
        listed.add(service_code)
        overrides = {k: v for k, v in item.items() if k != "code"} if isinstance(item, Lined) else {}
        with _row(session, report, item, item_line, f"{label}: service {service_code}"):
            service = session.scalar(
                select(Service).where(Service.centre_id == centre.id, Service.code == service_code)
            )
            if service is None or not service.is_active or service.catalogue_id is None:
                service = setup.enable_service(session, actor, centre, service_code, overrides)
            wanted = {**dict.fromkeys(service.overrides or {}), **overrides}
            if wanted != dict(service.overrides or {}):
                setup.set_service_overrides(session, actor, centre, service_code, wanted)
    if "services" in row:
        for service in list(centre.services):
            if service.is_active and service.code not in listed:
                with _row(session, report, row, row.lines["services"], f"{label}: service {service.code}"):
                    setup.disable_service(session, actor, centre, service.code)
    numbers: set[int] = set()
    for item_line, item in _items(report, row, "counters", label):
        if not isinstance(item, Lined) or "number" not in item:
            report.bad(item_line, f"{label}: counters: each is a mapping with a number")
            continue
        _check_keys(report, item, ("number", "name", "zone", "profile"), f"{label}: counter")
        number = item["number"]
        if number in numbers:
            report.bad(item_line, f"{label}: counter {number}: listed twice")
            continue
        numbers.add(number)
        values = _fields(item, ("name", "zone", "profile"))
        with _row(session, report, item, item_line, f"{label}: counter {number}"):
            counter = (
                session.scalar(
                    select(Counter.id).where(Counter.centre_id == centre.id, Counter.number == number)
                )
                if isinstance(number, int)
                else None
            )
            if counter is None:
                setup.create_counter(session, actor, centre, number, values)
            else:
                setup.update_counter(session, actor, centre, number, values)
    for item_line, item in _items(report, row, "staff", label):
        if not isinstance(item, Lined) or "username" not in item:
            report.bad(item_line, f"{label}: staff: each is a mapping with a username")
            continue
        _check_keys(report, item, ("username", "full_name", "role", "is_active"), f"{label}: staff")
        with _row(session, report, item, item_line, f"{label}: staff {item['username']}"):
            _import_staff(session, actor, centre, item)
    names: set[str] = set()
    for item_line, item in _items(report, row, "devices", label):
        if not isinstance(item, Lined) or "name" not in item:
            report.bad(item_line, f"{label}: devices: each is a mapping with a name")
            continue
        _check_keys(report, item, ("name", "kind", "printer"), f"{label}: device")
        if str(item["name"]) in names:
            report.bad(item_line, f"{label}: device {item['name']}: listed twice")
            continue
        names.add(str(item["name"]))
        with _row(session, report, item, item_line, f"{label}: device {item['name']}"):
            _import_device(session, actor, centre, item, report)


def _import_staff(session: Session, actor: Actor, centre: Centre, item: Lined) -> None:
    username = people.check_username(item["username"])
    staff = session.scalar(select(Staff).where(Staff.username == username))
    if staff is None:
        staff, _ = people.create_staff(
            session,
            actor,
            username=username,
            role=item.get("role", Role.CLERK.value),
            centre=centre,
            full_name=item.get("full_name", ""),
            password=False,
        )
        if item.get("is_active") is False:
            people.update_staff(session, actor, staff, {"is_active": False})
        return
    if staff.centre_id != centre.id:
        raise FieldTaken("username", N_("The username %(value)s is taken."), value=username)
    people.update_staff(session, actor, staff, _fields(item, ("full_name", "role", "is_active")))


def _import_device(session: Session, actor: Actor, centre: Centre, item: Lined, report: ImportReport) -> None:
    name = str(item["name"])
    device = session.scalar(
        select(Device).where(Device.centre_id == centre.id, Device.name == name, Device.is_active)
    )
    if device is None:
        device, secret = people.register_device(
            session, actor, centre, name=name, kind=item.get("kind"), printer=item.get("printer")
        )
        report.secrets.append(
            {"centre": centre.code, "device": name, "kind": device.kind.value, "key": secret.value}
        )
        return
    if item.get("kind", device.kind.value) != device.kind.value:
        raise FieldInvalid("kind", N_("Kind must be kiosk or display."))
    if "printer" in item and device.kind.value == "kiosk":
        people.update_device(session, actor, device, {"printer": item["printer"]})


def import_yaml(session: Session, actor: Actor, text: str, *, dry_run: bool = False) -> ImportReport:
    """Parse and apply; raises ImportRefused (so the entry point rolls back) when a row is
    bad or ``dry_run`` is set. Admins only: it may touch the catalogue and any centre."""
    setup.require_admin(actor)
    report = ImportReport()
    data = parse(text, report)
    if data is not None:
        import_data(session, actor, data, report)
    report.problems.sort()
    if not report.ok or dry_run:
        raise ImportRefused(report)
    return report
