"""The rows a node's batch carries beside its events: the tokens the batch's events touch,
their requests and feedback, as they stand on the node when the batch is read. The
province keeps them as its own rows of that centre (ids of its own, services by code,
counters by number, clerks by username), so its reports show the node's day exactly as
the node's reports do. A row re-sent by a later batch replaces the earlier copy: the
last push carries the final state.

The event chain stays the evidence (``province.append_batch`` checks it); these rows are
the working copy the reports read. Who last called each token travels too, because the
province's own event log holds none of the node's calls.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, delete, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.schema import Column

from queue_server.errors import N_, ValidationFailed
from queue_server.models import Counter, Event, Service, ServiceRequest, Staff, Token
from queue_server.models.feedback import Feedback
from queue_server.models.stats import DailyStatDay
from queue_server.models.sync import SyncedRow
from queue_server.models.types import UTCDateTime

CALL_KINDS = ("token_called", "token_called_specific")

# Columns that hold ids of the node's database: sent as codes, numbers or usernames.
_TOKEN_REFS = {
    "id",
    "centre_id",
    "service_id",
    "origin_service_id",
    "counter_id",
    "target_counter_id",
    "device_id",
}
_REQUEST_REFS = {"id", "centre_id", "token_id", "service_id", "staff_id", "counter_id"}
_FEEDBACK_REFS = {"id", "centre_id", "token_id", "service_id", "counter_id"}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return value


def _columns(model: Any, refs: set[str]) -> list[Column[Any]]:
    return [c for c in model.__table__.columns if c.name not in refs]


def _dump(row: Any, model: Any, refs: set[str]) -> dict[str, Any]:
    return {c.name: _plain(getattr(row, c.key)) for c in _columns(model, refs)}


def snapshot(session: Session, centre_id: int, token_ids: set[int]) -> dict[str, Any]:
    """Node side: the rows of the tokens ``token_ids`` and what hangs on them."""
    ids = sorted(i for i in token_ids if i is not None)
    if not ids:
        return {"tokens": [], "requests": [], "feedback": []}
    services = {s.id: s.code for s in session.scalars(select(Service).where(Service.centre_id == centre_id))}
    counters = {
        c.id: c.number for c in session.scalars(select(Counter).where(Counter.centre_id == centre_id))
    }
    usernames = dict(session.execute(select(Staff.id, Staff.username)).all())
    callers: dict[int, str] = {}
    for token_id, actor in session.execute(
        select(Event.token_id, Event.actor)
        .where(Event.centre_id == centre_id, Event.token_id.in_(ids), Event.kind.in_(CALL_KINDS))
        .order_by(Event.seq)
    ):
        if token_id is not None and actor.startswith("staff:") and actor[6:].isdigit():
            callers[token_id] = usernames.get(int(actor[6:]), "")
    tokens = list(session.scalars(select(Token).where(Token.centre_id == centre_id, Token.id.in_(ids))))
    codes = {t.id: t.public_code for t in tokens}
    out_tokens = [
        {
            **_dump(t, Token, _TOKEN_REFS),
            "service": services.get(t.service_id),
            "origin_service": services.get(t.origin_service_id),
            "counter": counters.get(t.counter_id) if t.counter_id else None,
            "target_counter": counters.get(t.target_counter_id) if t.target_counter_id else None,
            "called_by": callers.get(t.id) or None,
        }
        for t in tokens
    ]
    out_requests = [
        {
            **_dump(r, ServiceRequest, _REQUEST_REFS),
            "token": codes[r.token_id],
            "service": services.get(r.service_id),
            "staff": usernames.get(r.staff_id) if r.staff_id else None,
            "counter": counters.get(r.counter_id) if r.counter_id else None,
        }
        for r in session.scalars(select(ServiceRequest).where(ServiceRequest.token_id.in_(ids)))
    ]
    out_feedback = [
        {
            **_dump(f, Feedback, _FEEDBACK_REFS),
            "token": codes[f.token_id],
            "service": services.get(f.service_id),
            "counter": counters.get(f.counter_id) if f.counter_id else None,
        }
        for f in session.scalars(select(Feedback).where(Feedback.token_id.in_(ids)))
    ]
    return {"tokens": out_tokens, "requests": out_requests, "feedback": out_feedback}


def _value(column: Column[Any], raw: Any) -> Any:
    if raw is None:
        return None
    kind = column.type
    if isinstance(kind, UTCDateTime):
        at = datetime.fromisoformat(str(raw))
        if at.tzinfo is None:
            raise ValueError("time without a zone")
        return at
    if isinstance(kind, Date):
        return date.fromisoformat(str(raw))
    enum_class = getattr(kind, "enum_class", None)
    if enum_class is not None:
        return enum_class(raw)
    return raw


def _load(model: Any, refs: set[str], raw: dict[str, Any]) -> dict[str, Any]:
    return {c.key: _value(c, raw.get(c.name)) for c in _columns(model, refs) if c.name in raw}


class _Maps:
    """The province's ids for the node's codes, numbers and usernames."""

    def __init__(self, session: Session, centre_id: int) -> None:
        self.services = {
            s.code: s.id for s in session.scalars(select(Service).where(Service.centre_id == centre_id))
        }
        self.counters = {
            c.number: c.id for c in session.scalars(select(Counter).where(Counter.centre_id == centre_id))
        }
        self.staff = dict(session.execute(select(Staff.username, Staff.id)).all())

    def service(self, code: Any) -> int:
        found = self.services.get(code)
        if found is None:
            raise ValidationFailed(
                N_(
                    "Service %(service)s is not set up for this centre at the province: add it, then sync again."
                ),
                service=str(code),
            )
        return found

    def counter(self, number: Any) -> int | None:
        return self.counters.get(number) if number is not None else None


def apply(session: Session, centre_id: int, rows: dict[str, Any]) -> int:
    """Province side, in the batch's transaction: insert or replace the node's rows. Returns
    how many rows were written; refuses (whole batch) a row it cannot place."""
    maps = _Maps(session, centre_id)
    written = 0
    days: set[date] = set()
    token_ids: dict[str, int] = {}
    try:
        for raw in rows.get("tokens") or []:
            fields = _load(Token, _TOKEN_REFS, raw)
            fields.update(
                centre_id=centre_id,
                service_id=maps.service(raw.get("service")),
                origin_service_id=maps.service(raw.get("origin_service") or raw.get("service")),
                counter_id=maps.counter(raw.get("counter")),
                target_counter_id=maps.counter(raw.get("target_counter")),
                idempotency_key=None,  # the node's kiosk keys mean nothing here
            )
            held = session.scalar(select(Token).where(Token.public_code == fields["public_code"]))
            token = _put(session, Token, held, fields, N_("A token of the batch belongs to another centre."))
            session.flush()
            token_ids[token.public_code] = token.id
            days.add(token.business_day)
            _remember_caller(session, centre_id, token.id, maps.staff.get(raw.get("called_by") or ""))
            written += 1
        for raw in rows.get("requests") or []:
            fields = _load(ServiceRequest, _REQUEST_REFS, raw)
            fields.update(
                centre_id=centre_id,
                token_id=_token_id(session, centre_id, token_ids, raw.get("token")),
                service_id=maps.service(raw.get("service")),
                staff_id=maps.staff.get(raw.get("staff") or ""),
                counter_id=maps.counter(raw.get("counter")),
            )
            held = session.scalar(select(ServiceRequest).where(ServiceRequest.reference == fields["reference"]))
            _put(session, ServiceRequest, held, fields, N_("A request of the batch belongs to another centre."))
            written += 1
        for raw in rows.get("feedback") or []:
            fields = _load(Feedback, _FEEDBACK_REFS, raw)
            fields.update(
                centre_id=centre_id,
                token_id=_token_id(session, centre_id, token_ids, raw.get("token")),
                service_id=maps.service(raw.get("service")),
                counter_id=maps.counter(raw.get("counter")),
            )
            held = session.scalar(select(Feedback).where(Feedback.token_id == fields["token_id"]))
            _put(session, Feedback, held, fields, N_("A token of the batch belongs to another centre."))
            written += 1
    except (KeyError, TypeError, ValueError) as exc:
        raise ValidationFailed(N_("A row in the batch is malformed.")) from exc
    if days:  # the stored aggregates of those days are rebuilt from the new rows
        session.execute(
            delete(DailyStatDay).where(
                DailyStatDay.centre_id == centre_id, DailyStatDay.day.in_(sorted(days))
            )
        )
    session.flush()
    return written


def _put(session: Session, model: Any, held: Any, fields: dict[str, Any], elsewhere: str) -> Any:
    """Insert the row, or replace the copy the province holds (of the same centre only)."""
    if held is not None and held.centre_id != fields["centre_id"]:
        raise ValidationFailed(elsewhere)
    if held is None:
        held = model(**fields)
        session.add(held)
    else:
        for key, value in fields.items():
            setattr(held, key, value)
    return held


def _token_id(session: Session, centre_id: int, known: dict[str, int], code: Any) -> int:
    if code in known:
        return known[code]
    found = session.scalar(
        select(Token.id).where(Token.centre_id == centre_id, Token.public_code == str(code))
    )
    if found is None:
        raise ValidationFailed(N_("A row of the batch names a token the province does not hold."))
    return int(found)


def _remember_caller(session: Session, centre_id: int, token_id: int, staff_id: int | None) -> None:
    held = session.scalar(select(SyncedRow).where(SyncedRow.token_id == token_id))
    if held is None:
        session.add(SyncedRow(centre_id=centre_id, token_id=token_id, called_by=staff_id))
    else:
        held.called_by = staff_id


def synced_callers(session: Session, centre_id: int) -> dict[int, int]:
    """token id -> the clerk (province staff id) who last called it on the node, for the
    tokens a node synced (the province's own event log holds none of the node's calls)."""
    query = select(SyncedRow.token_id, SyncedRow.called_by).where(
        SyncedRow.centre_id == centre_id, SyncedRow.called_by.is_not(None)
    )
    return {int(t): int(s) for t, s in session.execute(query) if s is not None}
