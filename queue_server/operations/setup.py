"""Setting up centres: the province's service catalogue, centres, the services a centre
enables (with its local overrides), counters and their work profiles.

Every operation checks who asks (``require_admin`` / ``require_manages``), validates each
field and refuses a bad value with ``FieldInvalid`` naming it (nothing changed), appends an
audited event with the actor, the state before and after to the centre's hash chain, and
asks every open screen of the centre to redraw after the commit (``refresh``).

Catalogue entries are the province's, not a centre's: a change to one is recorded in the
chain of every centre that offers the service (it changes what those centres offer); an
entry that no centre offers yet changes nothing a citizen sees, and its first use by a
centre (``enable_service``) is recorded there with the figures it took.

Size: the administration operations and their field checks, shared by the pages, the API and
the setup file, so each refusal has one message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from queue_server import centre_days
from queue_server.actors import Actor
from queue_server.audit import append_event
from queue_server.centre_days import DayHours
from queue_server.clock import utcnow
from queue_server.errors import N_, FieldInvalid, FieldTaken, Forbidden, NotFound
from queue_server.models import (
    CatalogueService,
    Centre,
    CentreHoliday,
    Counter,
    CounterState,
    OpeningHours,
    Role,
    Service,
    Token,
    TokenState,
    Turnaround,
    WorkProfileEntry,
)
from queue_server.operations import announce
from queue_server.read import queue_state

CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
PREFIX_RE = re.compile(r"^[A-Z]{1,2}$")
WEIGHTS = range(1, 10)

# Fields a centre copies from the catalogue; those in OVERRIDABLE it may set itself.
CATALOGUE_FIELDS = (
    "name_en",
    "name_ur",
    "group",
    "prefix",
    "target_wait_minutes",
    "turnaround",
    "turnaround_days",
    "fee",
    "documents",
    "default_service_minutes",
    "sort_order",
)
OVERRIDABLE = ("prefix", "target_wait_minutes", "default_service_minutes", "sort_order", "fee")
CENTRE_FIELDS = (
    "name_en",
    "name_ur",
    "district",
    "timezone",
    "day_starts_at",
    "max_recalls",
    "max_priority_streak",
    "notice_en",
    "notice_ur",
)
# Set with the centre, but kept in their own tables (OpeningHours, CentreHoliday).
CALENDAR_FIELDS = ("hours", "holidays")
# What a centre's manager may change of the centre itself (the rest is the province's).
MANAGER_CENTRE_FIELDS = ("day_starts_at", "hours", "holidays", "notice_en", "notice_ur")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


# Who may ----------------------------------------------------------------------------------


def is_admin(actor: Actor) -> bool:
    return actor.kind == "system" or actor.is_province_admin


def require_admin(actor: Actor) -> None:
    if not is_admin(actor):
        raise Forbidden(N_("Only a province administrator may do this."), code="admins_only")


def require_manages(actor: Actor, centre_id: int) -> None:
    """An administrator, or a manager of this very centre."""
    if is_admin(actor):
        return
    if actor.kind == "staff" and actor.role == Role.MANAGER and actor.centre_id == centre_id:
        return
    raise Forbidden(N_("You may not administer this centre."), code="not_your_centre")


# Field checks -----------------------------------------------------------------------------


def _text(where: str, value: Any, *, max_length: int, required: bool = True) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise FieldInvalid(where, N_("%(name)s must be text."), name=where)
    value = value.strip()
    if "\x00" in value:
        raise FieldInvalid(where, N_("%(name)s may not contain NUL characters."), name=where)
    if required and not value:
        raise FieldInvalid(where, N_("%(name)s is required."), name=where)
    if len(value) > max_length:
        raise FieldInvalid(
            where, N_("%(name)s is longer than %(max)s characters."), name=where, max=max_length
        )
    return value


def _int(where: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, str) and re.fullmatch(r"-?\d{1,9}", value.strip()):
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldInvalid(where, N_("%(name)s must be a whole number."), name=where)
    if not low <= value <= high:
        raise FieldInvalid(
            where, N_("%(name)s must be between %(low)s and %(high)s."), name=where, low=low, high=high
        )
    return value


def check_code(where: str, value: Any) -> str:
    code = _text(where, value, max_length=32)
    if not CODE_RE.fullmatch(code):
        raise FieldInvalid(
            where, N_("%(name)s: use lower-case letters, digits, - and _ (at most 32)."), name=where
        )
    return code


def check_prefix(where: str, value: Any) -> str:
    prefix = _text(where, value, max_length=2)
    if not PREFIX_RE.fullmatch(prefix):
        raise FieldInvalid(where, N_("%(name)s must be one or two capital letters."), name=where)
    return prefix


def check_weight(where: str, value: Any) -> int:
    return _int(where, value, WEIGHTS.start, WEIGHTS.stop - 1)


def check_time(where: str, value: Any) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        return time(value // 60, value % 60)  # YAML reads 08:00 as minutes (sexagesimal)
    text = value.strip() if isinstance(value, str) else ""
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", text)
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise FieldInvalid(where, N_("%(name)s must be a time of day, HH:MM."), name=where)
    return time(int(match[1]), int(match[2]))


def _timezone(where: str, value: Any) -> str:
    name = _text(where, value, max_length=64)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise FieldInvalid(
            where, N_("%(name)s: unknown time zone %(zone)s."), name=where, zone=name[:64]
        ) from None
    return name


def _documents(where: str, value: Any) -> list[dict[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > 30:
        raise FieldInvalid(where, N_("%(name)s must be a list of documents."), name=where)
    out = []
    for i, item in enumerate(value):
        if isinstance(item, str):
            item = {"en": item, "ur": item}
        if not isinstance(item, dict):
            raise FieldInvalid(f"{where}.{i}", N_("%(name)s must be a list of documents."), name=where)
        out.append(
            {
                "en": _text(f"{where}.{i}.en", item.get("en"), max_length=120),
                "ur": _text(f"{where}.{i}.ur", item.get("ur") or item.get("en"), max_length=120),
            }
        )
    return out


def _turnaround(where: str, value: Any) -> Turnaround:
    try:
        return Turnaround(value)
    except ValueError:
        choices = ", ".join(t.value for t in Turnaround)
        raise FieldInvalid(
            where, N_("%(name)s must be one of %(choices)s."), name=where, choices=choices
        ) from None


FieldCheck = Callable[[str, Any], Any]
CATALOGUE_CHECKS: dict[str, FieldCheck] = {
    "name_en": lambda w, v: _text(w, v, max_length=120),
    "name_ur": lambda w, v: _text(w, v, max_length=120),
    "group": lambda w, v: _text(w, v or "general", max_length=32),
    "prefix": check_prefix,
    "target_wait_minutes": lambda w, v: _int(w, v, 1, 600),
    "turnaround": _turnaround,
    "turnaround_days": lambda w, v: _int(w, v, 0, 90),
    "fee": lambda w, v: _int(w, v, 0, 1_000_000),
    "documents": _documents,
    "default_service_minutes": lambda w, v: _int(w, v, 1, 240),
    "sort_order": lambda w, v: _int(w, v, 0, 10_000),
}
CENTRE_CHECKS: dict[str, FieldCheck] = {
    "name_en": lambda w, v: _text(w, v, max_length=120),
    "name_ur": lambda w, v: _text(w, v, max_length=120),
    "district": lambda w, v: _text(w, v, max_length=80, required=False),
    "timezone": _timezone,
    "day_starts_at": check_time,
    "max_recalls": lambda w, v: _int(w, v, 0, 20),
    "max_priority_streak": lambda w, v: _int(w, v, 1, 50),
    "notice_en": lambda w, v: _text(w, v, max_length=2000, required=False),
    "notice_ur": lambda w, v: _text(w, v, max_length=2000, required=False),
}


def _checked(
    values: Mapping[str, Any], checks: Mapping[str, FieldCheck], allowed: tuple[str, ...]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name not in allowed or name not in checks:
            raise FieldInvalid(name, N_("%(name)s cannot be changed here."), name=name)
        out[name] = checks[name](name, value)
    return out


# What an entity looks like (events, API, YAML) ---------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, Turnaround):
        return value.value
    return value


def catalogue_public(entry: CatalogueService) -> dict[str, Any]:
    return {"code": entry.code, **{f: _plain(getattr(entry, f)) for f in CATALOGUE_FIELDS}}


def centre_public(centre: Centre) -> dict[str, Any]:
    return {
        "code": centre.code,
        **{f: _plain(getattr(centre, f)) for f in CENTRE_FIELDS},
        "hours": hours_public(centre),
        "holidays": [
            {"day": h.day.isoformat(), "name_en": h.name_en, "name_ur": h.name_ur} for h in centre.holidays
        ],
    }


def hours_public(centre: Centre) -> dict[str, str]:
    """{"mon": "08:00-16:00" | "closed" | "24h", …}, from the rows or the default hours."""
    rules = {h.weekday: h for h in centre.calendar().hours}
    out = {}
    for weekday, name in enumerate(WEEKDAYS):
        rule = rules.get(weekday)
        if rule is None or rule.is_closed:
            out[name] = "closed"
        elif rule.is_round_the_clock:
            out[name] = "24h"
        else:
            assert rule.opens_at is not None and rule.closes_at is not None
            out[name] = f"{rule.opens_at:%H:%M}-{rule.closes_at:%H:%M}"
    return out


def check_hours(value: Any) -> list[DayHours]:
    """{"mon": "08:00-16:00" | "closed" | "24h", …}: a weekday left out is closed. A
    closing time before the opening is the next morning (a night shift); equal times are
    refused (say "24h")."""
    if not isinstance(value, Mapping):
        raise FieldInvalid("hours", N_("%(name)s must give each weekday its hours."), name="hours")
    out = []
    for key in value:
        if key not in WEEKDAYS:
            raise FieldInvalid(
                f"hours.{key}", N_("%(name)s: weekdays are mon, tue, wed, thu, fri, sat, sun."), name="hours"
            )
    for weekday, name in enumerate(WEEKDAYS):
        where = f"hours.{name}"
        text = value.get(name, "closed")
        text = text.strip().lower() if isinstance(text, str) else text
        if text == "closed" or text is None or text is False:
            out.append(DayHours(weekday, is_closed=True))
        elif text in ("24h", "24/7"):
            out.append(DayHours(weekday, is_round_the_clock=True))
        else:
            match = (
                re.fullmatch(r"(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})", text)
                if isinstance(text, str)
                else None
            )
            if match is None:
                raise FieldInvalid(where, N_("%(name)s: write 08:00-16:00, closed or 24h."), name=where)
            opens, closes = check_time(where, match[1]), check_time(where, match[2])
            if opens == closes:
                raise FieldInvalid(
                    where, N_("%(name)s: opening and closing are the same time (write 24h)."), name=where
                )
            out.append(DayHours(weekday, opens, closes))
    return out


def check_holidays(value: Any) -> list[dict[str, Any]]:
    """[{"day": "2026-12-25", "name_en": …, "name_ur": …}, …], each day once."""
    if not isinstance(value, list) or len(value) > 400:
        raise FieldInvalid("holidays", N_("%(name)s must be a list of days."), name="holidays")
    out: list[dict[str, Any]] = []
    seen: set[date] = set()
    for i, item in enumerate(value):
        where = f"holidays.{i}"
        raw = item.get("day") if isinstance(item, Mapping) else item
        try:
            day = raw if isinstance(raw, date) else date.fromisoformat(str(raw))
        except ValueError:
            raise FieldInvalid(where, N_("%(name)s: a day is written YYYY-MM-DD."), name=where) from None
        if day in seen:  # taken by an earlier entry of the list: a conflict, like a taken code
            raise FieldTaken(
                where, N_("%(name)s: %(day)s is listed twice."), name=where, day=day.isoformat()
            )
        seen.add(day)
        names = item if isinstance(item, Mapping) else {}
        out.append(
            {
                "day": day,
                "name_en": _text(
                    f"{where}.name_en", names.get("name_en", ""), max_length=120, required=False
                ),
                "name_ur": _text(
                    f"{where}.name_ur", names.get("name_ur", ""), max_length=120, required=False
                ),
            }
        )
    return out


def _set_calendar(
    session: Session, centre: Centre, hours: list[DayHours] | None, holidays: list[dict[str, Any]] | None
) -> None:
    if hours is not None:
        current = {h.weekday: h for h in centre.opening_hours}
        rows = []
        for rule in hours:
            row = current.get(rule.weekday) or OpeningHours(weekday=rule.weekday)
            row.opens_at, row.closes_at = rule.opens_at, rule.closes_at
            row.is_closed, row.is_round_the_clock = rule.is_closed, rule.is_round_the_clock
            rows.append(row)
        centre.opening_hours = rows
    if holidays is not None:
        current_days = {h.day: h for h in centre.holidays}
        kept = []
        for item in holidays:
            row = current_days.get(item["day"]) or CentreHoliday(day=item["day"])
            row.name_en, row.name_ur = item["name_en"], item["name_ur"]
            kept.append(row)
        centre.holidays = kept


def service_public(service: Service) -> dict[str, Any]:
    return {
        "code": service.code,
        "catalogue": service.catalogue.code if service.catalogue else None,
        "is_active": service.is_active,
        "overrides": dict(service.overrides or {}),
        **{f: _plain(getattr(service, f)) for f in CATALOGUE_FIELDS},
    }


def counter_public(counter: Counter) -> dict[str, Any]:
    return {
        "id": counter.id,
        "number": counter.number,
        "name": counter.name,
        "zone": counter.zone,
        "state": counter.state.value,
        "profile": {
            e.service.code: e.weight for e in sorted(counter.profile, key=lambda e: e.service.sort_order)
        },
    }


BATCH = "khidmat.admin_batch"


def is_batched(session: Session) -> bool:
    """True while an import applies a whole centre: it audits the centre once, before
    and after, and refreshes its screens once, instead of once per row."""
    return bool(session.info.get(BATCH))


def _audit(
    session: Session, centre: Centre, kind: str, actor: Actor, before: Any, after: Any, **ids: Any
) -> None:
    if is_batched(session):
        return
    append_event(session, centre.id, kind, actor, data={"before": before, "after": after}, **ids)
    announce.centre_refresh(session, centre)


# The catalogue ----------------------------------------------------------------------------


def catalogue_entry(session: Session, code: str) -> CatalogueService:
    entry = session.scalar(select(CatalogueService).where(CatalogueService.code == code))
    if entry is None:
        raise NotFound(N_("No catalogue service %(service)s."), service=code[:40])
    return entry


def create_catalogue_service(
    session: Session, actor: Actor, code: Any, values: Mapping[str, Any]
) -> CatalogueService:
    """Add a service to the province's catalogue (admins only). Refuses a taken code."""
    require_admin(actor)
    code = check_code("code", code)
    missing = [f for f in ("name_en", "name_ur", "prefix") if f not in values]
    if missing:
        raise FieldInvalid(missing[0], N_("%(name)s is required."), name=missing[0])
    fields = _checked(values, CATALOGUE_CHECKS, CATALOGUE_FIELDS)
    if session.scalar(select(CatalogueService.id).where(CatalogueService.code == code)) is not None:
        raise FieldTaken("code", N_("The code %(value)s is taken."), value=code)
    if "sort_order" not in fields:
        fields["sort_order"] = (session.scalar(select(func.max(CatalogueService.sort_order))) or 0) + 1
    entry = CatalogueService(code=code, **fields)
    session.add(entry)
    session.flush()
    return entry


def update_catalogue_service(
    session: Session, actor: Actor, code: str, values: Mapping[str, Any]
) -> CatalogueService:
    """Change a catalogue entry (admins only); every centre offering it follows, except in
    the fields it overrides. A new prefix that clashes in any of those centres is refused."""
    require_admin(actor)
    entry = catalogue_entry(session, code)
    fields = _checked(values, CATALOGUE_CHECKS, CATALOGUE_FIELDS)
    before = catalogue_public(entry)
    for name, value in fields.items():
        setattr(entry, name, value)
    after = catalogue_public(entry)
    if before == after:
        return entry
    copies = session.scalars(select(Service).where(Service.catalogue_id == entry.id)).all()
    for service in copies:
        service_before = service_public(service)
        _copy_catalogue(service, entry)
        if "prefix" in fields:
            _require_free_prefix(session, service.centre_id, service.prefix, service.id, "prefix")
        centre = session.get(Centre, service.centre_id)
        assert centre is not None
        _audit(
            session,
            centre,
            "admin.catalogue_changed",
            actor,
            service_before,
            service_public(service),
            service_id=service.id,
        )
    session.flush()
    return entry


def _copy_catalogue(service: Service, entry: CatalogueService) -> None:
    own = service.overrides or {}
    for name in CATALOGUE_FIELDS:
        setattr(service, name, own[name] if name in own else getattr(entry, name))


def _require_free_prefix(
    session: Session, centre_id: int, prefix: str, service_id: int | None, where: str
) -> None:
    query = select(Service.code).where(Service.centre_id == centre_id, Service.prefix == prefix)
    if service_id is not None:  # None: a service not yet flushed
        query = query.where(Service.id != service_id)
    with session.no_autoflush:  # asked before the new prefix reaches the unique index
        clash = session.scalar(query)
    if clash is not None:
        raise FieldInvalid(
            where,
            N_("Prefix %(prefix)s is already used by %(service)s in this centre."),
            prefix=prefix,
            service=clash,
        )


# Centres ----------------------------------------------------------------------------------


def create_centre(session: Session, actor: Actor, code: Any, values: Mapping[str, Any]) -> Centre:
    """A new centre (admins only), with no services, counters, staff or devices yet."""
    require_admin(actor)
    code = check_code("code", code)
    missing = [f for f in ("name_en", "name_ur") if f not in values]
    if missing:
        raise FieldInvalid(missing[0], N_("%(name)s is required."), name=missing[0])
    fields, hours, holidays = _centre_values(values)
    if session.scalar(select(Centre.id).where(Centre.code == code)) is not None:
        raise FieldTaken("code", N_("The code %(value)s is taken."), value=code)
    centre = Centre(code=code, **fields)
    session.add(centre)
    session.flush()
    _set_calendar(session, centre, hours, holidays)
    session.flush()
    _audit(session, centre, "admin.centre_created", actor, None, centre_public(centre))
    return centre


def _centre_values(
    values: Mapping[str, Any],
) -> tuple[dict[str, Any], list[DayHours] | None, list[dict[str, Any]] | None]:
    plain = {k: v for k, v in values.items() if k not in CALENDAR_FIELDS}
    fields = _checked(plain, CENTRE_CHECKS, CENTRE_FIELDS)
    hours = check_hours(values["hours"]) if "hours" in values else None
    holidays = check_holidays(values["holidays"]) if "holidays" in values else None
    return fields, hours, holidays


def update_centre(session: Session, actor: Actor, centre: Centre, values: Mapping[str, Any]) -> Centre:
    """Change a centre: everything for an administrator; hours and notice for its manager."""
    require_manages(actor, centre.id)
    if not is_admin(actor):
        beyond = [name for name in values if name not in MANAGER_CENTRE_FIELDS]
        if beyond:
            raise Forbidden(
                N_("Only a province administrator may change %(name)s."), code="admins_only", name=beyond[0]
            )
    fields, hours, holidays = _centre_values(values)
    before = centre_public(centre)
    for name, value in fields.items():
        setattr(centre, name, value)
    _set_calendar(session, centre, hours, holidays)
    session.flush()
    after = centre_public(centre)
    if before != after:
        _audit(session, centre, "admin.centre_changed", actor, before, after)
    session.flush()
    return centre


# Services of a centre -----------------------------------------------------------------------


def centre_service(session: Session, centre: Centre, code: str) -> Service:
    service = session.scalar(select(Service).where(Service.centre_id == centre.id, Service.code == code))
    if service is None:
        raise NotFound(N_("No service %(service)s at this centre."), service=code[:40])
    return service


def _overrides(values: Mapping[str, Any]) -> dict[str, Any]:
    out = _checked(values, CATALOGUE_CHECKS, OVERRIDABLE)
    return {k: _plain(v) for k, v in out.items()}


def enable_service(
    session: Session, actor: Actor, centre: Centre, code: str, overrides: Mapping[str, Any] | None = None
) -> Service:
    """The centre offers this catalogue service (admins only), with local ``overrides``
    (e.g. target wait). Enabling it again re-activates the centre's earlier copy."""
    require_admin(actor)
    entry = catalogue_entry(session, code)
    own = _overrides(overrides or {})
    service = session.scalar(
        select(Service).where(Service.centre_id == centre.id, Service.code == entry.code)
    )
    before = service_public(service) if service is not None else None
    if service is None:
        service = Service(centre_id=centre.id, code=entry.code, catalogue_id=entry.id, overrides=own)
        session.add(service)
    else:
        service.catalogue_id = entry.id
        service.overrides = {**(service.overrides or {}), **own}
    service.is_active = True
    _copy_catalogue(service, entry)
    _require_free_prefix(session, centre.id, service.prefix, service.id, "prefix")
    session.flush()
    _audit(
        session,
        centre,
        "admin.service_enabled",
        actor,
        before,
        service_public(service),
        service_id=service.id,
    )
    return service


def set_service_overrides(
    session: Session, actor: Actor, centre: Centre, code: str, overrides: Mapping[str, Any]
) -> Service:
    """Replace the centre's local figures of a service (admins only); a ``None`` value
    goes back to the catalogue's."""
    require_admin(actor)
    service = centre_service(session, centre, code)
    before = service_public(service)
    own = dict(service.overrides or {})
    for name in [n for n, v in overrides.items() if v is None]:
        own.pop(name, None)
    own.update(_overrides({n: v for n, v in overrides.items() if v is not None}))
    service.overrides = own
    if service.catalogue is not None:
        _copy_catalogue(service, service.catalogue)
    else:
        for name, value in own.items():
            setattr(service, name, value)
    _require_free_prefix(session, centre.id, service.prefix, service.id, "prefix")
    session.flush()
    after = service_public(service)
    if before != after:
        _audit(session, centre, "admin.service_changed", actor, before, after, service_id=service.id)
    return service


def disable_service(session: Session, actor: Actor, centre: Centre, code: str) -> Service:
    """The kiosk stops offering the service (admins only). Tokens already waiting for it
    stay in the queue and are still called by the counters that serve it (see
    ``preview_service_disable``); work profiles are kept, so enabling it again restores it."""
    require_admin(actor)
    service = centre_service(session, centre, code)
    if not service.is_active:
        return service
    before = service_public(service)
    service.is_active = False
    session.flush()
    _audit(
        session,
        centre,
        "admin.service_disabled",
        actor,
        before,
        service_public(service),
        service_id=service.id,
    )
    return service


# Counters and work profiles ---------------------------------------------------------------


def counter_of(session: Session, centre: Centre, number: int) -> Counter:
    counter = session.scalar(select(Counter).where(Counter.centre_id == centre.id, Counter.number == number))
    if counter is None:
        raise NotFound(N_("No counter %(number)s at this centre."), number=number)
    return counter


def _profile(session: Session, centre: Centre, profile: Any) -> dict[int, int]:
    """{service code: weight} -> {service id: weight}, every code and weight checked."""
    if not isinstance(profile, Mapping):
        raise FieldInvalid("profile", N_("%(name)s must map service codes to weights."), name="profile")
    services = {s.code: s for s in session.scalars(select(Service).where(Service.centre_id == centre.id))}
    out: dict[int, int] = {}
    for code, weight in profile.items():
        where = f"profile.{code}"
        service = services.get(str(code))
        if service is None:
            raise FieldInvalid(where, N_("No service %(service)s at this centre."), service=str(code)[:40])
        out[service.id] = check_weight(where, weight)
    return out


def _counter_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name == "name":
            out[name] = _text("name", value, max_length=60, required=False)
        elif name == "zone":
            out[name] = _text("zone", value, max_length=32, required=False)
        elif name != "profile":
            raise FieldInvalid(name, N_("%(name)s cannot be changed here."), name=name)
    return out


def create_counter(
    session: Session, actor: Actor, centre: Centre, number: Any, values: Mapping[str, Any]
) -> Counter:
    """A new counter, closed, with its work profile (managers of the centre and admins)."""
    require_manages(actor, centre.id)
    number = _int("number", number, 1, 999)
    if session.scalar(select(Counter.id).where(Counter.centre_id == centre.id, Counter.number == number)):
        raise FieldInvalid("number", N_("Counter %(number)s exists already."), number=number)
    fields = _counter_fields(values)
    profile = _profile(session, centre, values.get("profile", {}))
    counter = Counter(centre_id=centre.id, number=number, **{"name": f"Counter {number}", **fields})
    counter.profile = [WorkProfileEntry(service_id=sid, weight=w) for sid, w in profile.items()]
    session.add(counter)
    session.flush()
    if not is_batched(session):
        _audit(
            session,
            centre,
            "admin.counter_created",
            actor,
            None,
            counter_public(counter),
            counter_id=counter.id,
        )
    return counter


def update_counter(
    session: Session, actor: Actor, centre: Centre, number: int, values: Mapping[str, Any]
) -> Counter:
    """Rename, re-zone or change the work profile of a counter (managers and admins).

    The counter row is locked first: a call-next at this counter reads the profile under
    the same lock, so it sees the old or the new profile, never half of each, and no token
    is called twice or skipped."""
    require_manages(actor, centre.id)
    counter = session.scalar(
        select(Counter).where(Counter.centre_id == centre.id, Counter.number == number).with_for_update()
    )
    if counter is None:
        raise NotFound(N_("No counter %(number)s at this centre."), number=number)
    fields = _counter_fields(values)
    profile = _profile(session, centre, values["profile"]) if "profile" in values else None
    before = counter_public(counter)
    for name, value in fields.items():
        setattr(counter, name, value)
    if profile is not None:
        current = {e.service_id: e for e in counter.profile}
        counter.profile = [
            current[sid] if sid in current else WorkProfileEntry(service_id=sid, weight=w)
            for sid, w in profile.items()
        ]
        for entry in counter.profile:
            entry.weight = profile[entry.service_id]
    session.flush()
    session.expire(counter, ["profile"])
    after = counter_public(counter)
    if before != after and not is_batched(session):
        _audit(session, centre, "admin.counter_changed", actor, before, after, counter_id=counter.id)
        announce.counter_changed(session, counter)
    return counter


# Safe changes: what a change would do to the tokens waiting now ------------------------------


@dataclass(frozen=True)
class Affected:
    """The waiting tokens of one service that a change touches, and what becomes of them."""

    service: str
    name_en: str
    name_ur: str
    waiting: int
    numbers: tuple[str, ...]
    fate: str  # "other_counters" | "no_counter" | "kiosk_stops" | "transferred_here_requeued"
    counters: tuple[int, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "name_en": self.name_en,
            "name_ur": self.name_ur,
            "waiting": self.waiting,
            "numbers": list(self.numbers),
            "fate": self.fate,
            "counters": list(self.counters),
        }


def _waiting(session: Session, centre: Centre, service_ids: set[int]) -> dict[int, list[str]]:
    if not service_ids:
        return {}
    rows = session.execute(
        select(Token.service_id, Token.number)
        .where(
            Token.centre_id == centre.id,
            Token.business_day.between(*queue_state.hall_days(centre)),
            Token.state == TokenState.WAITING,
            Token.service_id.in_(service_ids),
        )
        .order_by(Token.queued_at, Token.id)
    ).all()
    out: dict[int, list[str]] = {}
    for service_id, number in rows:
        out.setdefault(service_id, []).append(number)
    return out


def _servers(session: Session, centre: Centre, *, without: int | None = None) -> dict[int, list[int]]:
    """service id -> numbers of the other counters (open ones first) that serve it."""
    rows = session.execute(
        select(WorkProfileEntry.service_id, Counter.number, Counter.state)
        .join(Counter, Counter.id == WorkProfileEntry.counter_id)
        .where(Counter.centre_id == centre.id, Counter.id != (without or -1))
        .order_by(Counter.number)
    ).all()
    out: dict[int, list[int]] = {}
    for service_id, number, _state in sorted(rows, key=lambda r: (r[2] != CounterState.OPEN, r[1])):
        out.setdefault(service_id, []).append(number)
    return out


def _affected(
    session: Session,
    centre: Centre,
    service_ids: set[int],
    fate_for: Callable[[int], tuple[str, tuple[int, ...]]],
) -> list[Affected]:
    waiting = _waiting(session, centre, service_ids)
    out = []
    for service in session.scalars(
        select(Service).where(Service.id.in_(list(waiting))).order_by(Service.sort_order)
    ):
        fate, counters = fate_for(service.id)
        numbers = waiting[service.id]
        out.append(
            Affected(
                service.code,
                service.name_en,
                service.name_ur,
                len(numbers),
                tuple(numbers[:20]),
                fate,
                counters,
            )
        )
    return out


def preview_profile_change(
    session: Session, centre: Centre, counter: Counter, profile: Mapping[str, Any]
) -> list[Affected]:
    """The waiting tokens of the services this counter would stop serving: served by the
    other counters named, or by none (they wait until a counter serves the service)."""
    new_ids = set(_profile(session, centre, profile))
    dropped = {e.service_id for e in counter.profile} - new_ids
    servers = _servers(session, centre, without=counter.id)

    def fate(service_id: int) -> tuple[str, tuple[int, ...]]:
        others = tuple(servers.get(service_id, []))
        return ("other_counters", others) if others else ("no_counter", ())

    return _affected(session, centre, dropped, fate)


def preview_counter_close(session: Session, centre: Centre, counter: Counter) -> list[Affected]:
    """The waiting tokens of this counter's services while it is closed."""
    servers = _servers(session, centre, without=counter.id)

    def fate(service_id: int) -> tuple[str, tuple[int, ...]]:
        others = tuple(servers.get(service_id, []))
        return ("other_counters", others) if others else ("no_counter", ())

    return _affected(session, centre, {e.service_id for e in counter.profile}, fate)


def preview_service_disable(session: Session, centre: Centre, service: Service) -> list[Affected]:
    """Disabling: the kiosk stops offering it; those waiting are still called by the counters named."""
    servers = _servers(session, centre)
    return _affected(session, centre, {service.id}, lambda sid: ("kiosk_stops", tuple(servers.get(sid, []))))


def preview_hours_change(session: Session, centre: Centre, hours: Any) -> list[Affected]:
    """New weekly hours that close the centre now: the kiosk stops issuing, and the tokens
    already waiting stay in the hall and are still called by the counters named (end of
    day, not the hours, settles them). Hours that keep it open now touch nobody waiting."""
    rules = tuple(check_hours(hours))
    now = utcnow()
    calendar = centre.calendar()
    if not centre_days.is_open(calendar, now) or centre_days.is_open(replace(calendar, hours=rules), now):
        return []
    servers = _servers(session, centre)
    ids = set(session.scalars(select(Service.id).where(Service.centre_id == centre.id)))
    return _affected(session, centre, ids, lambda sid: ("kiosk_stops", tuple(servers.get(sid, []))))
