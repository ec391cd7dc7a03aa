"""Where the figures come from: the queries over tokens, events, requests, feedback,
devices and alerts of one centre and a range of days."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ARRAY, Integer, any_, bindparam, func, select
from sqlalchemy.orm import Session

from queue_server.models import (
    Alert,
    Centre,
    Device,
    DeviceKind,
    Event,
    EventNote,
    Service,
    ServiceRequest,
    Staff,
    Token,
    TokenState,
)
from queue_server.models.feedback import Feedback
from queue_server.models.token import OPEN_STATES
from queue_server.read import queue_state
from queue_server.read.statistics.figures import Extra, TokenFact, mean_of
from queue_server.states import PRINTER_FAULTS
from queue_server.sync.rows import synced_callers

CALL_KINDS = ("token_called", "token_called_specific")
SCREEN_OFFLINE_SECONDS = 120
PRINTER_WARNINGS = frozenset({"paper_low"})
OPEN_STATE_VALUES = frozenset(s.value for s in OPEN_STATES)


# Reading the database --------------------------------------------------------------------


def as_utc(value: Any) -> datetime | None:
    """A datetime from a column or an aggregate (SQLite returns aggregates as text)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def day_bounds(centre: Centre, first: date, last: date) -> tuple[datetime, datetime]:
    """UTC instants from the start of business day ``first`` to the end of ``last`` (the
    centre's day boundary, midnight by default)."""
    return centre.day_span(first)[0], centre.day_span(last)[1]


def staff_id_of(actor: str) -> int:
    kind, _, ident = actor.partition(":")
    return int(ident) if kind == "staff" and ident.isdigit() else 0


def callers(session: Session, centre: Centre, first: date, last: date) -> dict[int, int]:
    """token id -> the clerk who last called it, from the event log."""
    start, end = day_bounds(centre, first, last)
    rows = session.execute(
        select(Event.token_id, Event.actor)
        .where(
            Event.centre_id == centre.id,
            Event.at >= start,
            Event.at < end + timedelta(hours=12),  # a late call of the day's last token
            Event.kind.in_(CALL_KINDS),
        )
        .order_by(Event.seq)
    ).all()
    found = {token_id: staff_id_of(actor) for token_id, actor in rows if token_id is not None}
    found.update(synced_callers(session, centre.id))  # tokens a centre node served and synced
    return found


def token_facts(
    session: Session, centre: Centre, first: date, last: date, days: set[date] | None = None
) -> list[TokenFact]:
    tz = centre.tz
    rows = session.execute(
        select(
            Token.id,
            Token.business_day,
            Token.origin_service_id,
            Token.issued_at,
            Token.first_called_at,
            Token.started_at,
            Token.finished_at,
            Token.state,
            Token.counter_id,
            Token.eta_minutes,
        ).where(Token.centre_id == centre.id, Token.business_day.between(first, last))
    ).all()
    if days is not None:
        rows = [r for r in rows if r.business_day in days]
    if not rows:
        return []
    who = callers(session, centre, first, last)
    facts = []
    for r in rows:
        state = r.state.value if isinstance(r.state, TokenState) else str(r.state)
        wait = int((r.first_called_at - r.issued_at).total_seconds()) if r.first_called_at else None
        service = None
        if state == TokenState.DONE.value and r.started_at and r.finished_at:
            service = max(0, int((r.finished_at - r.started_at).total_seconds()))
        facts.append(
            TokenFact(
                token_id=r.id,
                day=r.business_day,
                service_id=r.origin_service_id,
                hour=r.issued_at.astimezone(tz).hour,
                counter_id=r.counter_id or 0,
                staff_id=who.get(r.id, 0) if r.first_called_at else 0,
                state=state,
                wait_seconds=max(0, wait) if wait is not None else None,
                service_seconds=service,
                eta_seconds=r.eta_minutes * 60 if r.eta_minutes is not None else None,
            )
        )
    return facts


def service_targets(session: Session, centre: Centre) -> dict[int, int]:
    rows = session.execute(
        select(Service.id, Service.target_wait_minutes).where(Service.centre_id == centre.id)
    ).all()
    return {sid: minutes * 60 for sid, minutes in rows}


def day_states(session: Session, centre: Centre, first: date, last: date) -> dict[date, dict[str, int]]:
    """Token count per state for each day with tokens (an index-only count)."""
    rows = session.execute(
        select(Token.business_day, Token.state, func.count())
        .where(Token.centre_id == centre.id, Token.business_day.between(first, last))
        .group_by(Token.business_day, Token.state)
    ).all()
    out: dict[date, dict[str, int]] = defaultdict(dict)
    for day, state, count in rows:
        out[day][state.value if isinstance(state, TokenState) else str(state)] = int(count)
    return dict(out)


def is_settled(states: dict[str, int]) -> bool:
    return not any(state in OPEN_STATE_VALUES and count for state, count in states.items())


# Live view -------------------------------------------------------------------------------


def last_activity(session: Session, centre: Centre, since: datetime) -> dict[int, datetime]:
    """counter id -> the time of its last token or counter event since ``since``."""
    rows = session.execute(
        select(Event.counter_id, func.max(Event.at))
        .where(
            Event.centre_id == centre.id,
            Event.at >= since,
            Event.counter_id.is_not(None),
            Event.kind.like("token_%") | Event.kind.like("counter_%"),  # not the alerts about it
        )
        .group_by(Event.counter_id)
    ).all()
    return {cid: at for cid, value in rows if (at := as_utc(value)) is not None and cid is not None}


def device_status(session: Session, centre_ids: Sequence[int], now: datetime) -> dict[int, dict[str, Any]]:
    """Per centre: kiosk printers in trouble and screens that are not seen lately."""
    out: dict[int, dict[str, Any]] = {cid: {"printers": [], "screens": []} for cid in centre_ids}
    devices = session.scalars(
        select(Device).where(Device.centre_id.in_(list(centre_ids)), Device.is_active)
    ).all()
    for d in devices:
        entry = out.setdefault(d.centre_id, {"printers": [], "screens": []})
        if d.kind == DeviceKind.KIOSK and (
            d.printer_status in PRINTER_FAULTS or d.printer_status in PRINTER_WARNINGS
        ):
            entry["printers"].append(
                {
                    "id": d.id,
                    "name": d.name,
                    "status": d.printer_status,
                    "level": "error" if d.printer_status in PRINTER_FAULTS else "warning",
                    "since": queue_state.iso(d.printer_status_at),
                }
            )
        seen = d.last_seen_at
        if seen is None or (now - seen).total_seconds() > SCREEN_OFFLINE_SECONDS:
            entry["screens"].append(
                {"id": d.id, "name": d.name, "kind": d.kind.value, "last_seen_at": queue_state.iso(seen)}
            )
    return out


OUT_OF_ORDER_KINDS = ("token_called_specific", "token_transferred", "token_recalled", "token_issued")


def reason_of(data: dict[str, Any], note: str | None = None) -> str:
    """The reason a clerk gave: the free text kept beside the event (``EventNote``, until it
    is purged), else the reason code the event itself records. The one place reports read it."""
    return note or str(data.get("reason_code") or data.get("reason") or "")


def out_of_order_kind(kind: str, data: dict[str, Any]) -> str | None:
    """What an event did against the dispatch rule's order, or None when it did not:
    a token called by hand, a transfer to one counter (it goes ahead of that counter's
    queue), a recall past the centre's limit, a priority mark by staff."""
    if kind == "token_called_specific":
        return "call_specific"
    if kind == "token_transferred" and data.get("to_counter") is not None:
        return "transfer_to_counter"
    if kind == "token_recalled" and data.get("beyond_limit"):
        return "recall_beyond_limit"
    if kind == "token_issued" and data.get("priority", "normal") != "normal":
        return "priority_mark"
    return None


def out_of_order(
    session: Session, centre: Centre, first: date, last: date, *, service_id: int | None = None
) -> list[dict[str, Any]]:
    """Every step of the days that was not the dispatch rule's choice, by a member of
    staff, grouped per clerk with the reason given (kiosk priority tokens are the citizen's
    own choice and are not listed)."""
    start, end = day_bounds(centre, first, last)
    query = (
        select(Event.id, Event.at, Event.kind, Event.actor, Event.data, Event.counter_id, Event.token_id)
        .where(
            Event.centre_id == centre.id,
            Event.at >= start,
            Event.at < end,
            Event.kind.in_(OUT_OF_ORDER_KINDS),
            Event.actor.like("staff:%"),
        )
        .order_by(Event.seq)
    )
    if service_id is not None:
        query = query.where(Event.service_id == service_id)
    counters = {c.id: c.number for c in centre.counters}
    by_clerk: dict[int, list[dict[str, Any]]] = defaultdict(list)
    rows = [row for row in session.execute(query) if out_of_order_kind(row.kind, row.data or {}) is not None]
    notes = (
        dict(
            session.execute(
                select(EventNote.event_id, EventNote.text).where(
                    EventNote.event_id.in_([row.id for row in rows])
                )
            ).all()
        )
        if rows
        else {}
    )
    for event_id, at, kind, actor, data, counter_id, token_id in rows:
        what = out_of_order_kind(kind, data or {})
        when = as_utc(at)
        by_clerk[staff_id_of(actor)].append(
            {
                "at": when.isoformat() if when else None,
                "kind": what,
                "number": (data or {}).get("number"),
                "token_id": token_id,
                "counter": counters.get(counter_id) if counter_id else (data or {}).get("from_counter"),
                "to_counter": (data or {}).get("to_counter"),
                "reason": reason_of(data or {}, notes.get(event_id)),
            }
        )
    names = staff_names(session, by_clerk)
    return [
        {"staff_id": sid, "name": names.get(sid, ""), "count": len(items), "items": items}
        for sid, items in sorted(by_clerk.items(), key=lambda kv: (-len(kv[1]), names.get(kv[0], "")))
    ]


def staff_names(session: Session, ids: Iterable[int]) -> dict[int, str]:
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    rows = session.execute(select(Staff.id, Staff.full_name, Staff.username).where(Staff.id.in_(wanted)))
    return {sid: full or user for sid, full, user in rows}


def open_alerts(session: Session, centre_ids: Sequence[int]) -> list[Alert]:
    return list(
        session.scalars(
            select(Alert)
            .where(Alert.centre_id.in_(list(centre_ids)), Alert.cleared_at.is_(None))
            .order_by(Alert.raised_at)
        )
    )


def estimate_errors(session: Session, centre: Centre, day: date) -> dict[str, Any]:
    """Today's mean absolute error of the wait shown at issue and of the queue-length
    baseline (QL) stored beside it, over the tokens called so far that have both."""
    rows = session.execute(
        select(Token.issued_at, Token.first_called_at, Token.eta_minutes, Token.eta_ql_minutes).where(
            Token.centre_id == centre.id,
            Token.business_day == day,
            Token.first_called_at.is_not(None),
            Token.eta_minutes.is_not(None),
            Token.eta_ql_minutes.is_not(None),
        )
    ).all()
    shown: list[float] = []
    ql: list[float] = []
    for issued, called, eta, baseline in rows:
        if called is not None and eta is not None and baseline is not None:
            wait = (called - issued).total_seconds()
            shown.append(abs(wait - 60 * eta))
            ql.append(abs(wait - 60 * baseline))
    return {
        "eta_scored": len(shown),
        "eta_shown_mae_seconds": mean_of(int(sum(shown)), len(shown)),
        "eta_ql_mae_seconds": mean_of(int(sum(ql)), len(ql)),
    }


def range_tokens(
    session: Session, centre: Centre, first: date, last: date, service_id: int | None
) -> dict[int, tuple[int, int, int, str]]:
    """token id -> (service, counter, local hour of issue, day) for the range's tokens."""
    query = select(
        Token.id, Token.origin_service_id, Token.counter_id, Token.issued_at, Token.business_day
    ).where(Token.centre_id == centre.id, Token.business_day.between(first, last))
    if service_id is not None:
        query = query.where(Token.origin_service_id == service_id)
    tz = centre.tz
    return {
        tid: (origin, counter_id or 0, issued.astimezone(tz).hour, day.isoformat())
        for tid, origin, counter_id, issued, day in session.execute(query)
    }


def among(session: Session, column: Any, ids: Sequence[int]) -> Iterable[Any]:
    """``column IN ids`` conditions: on PostgreSQL one array parameter (building thousands
    of bound parameters costs more than running the query), elsewhere chunks of them."""
    if session.get_bind().dialect.name == "postgresql":
        yield column == any_(bindparam("ids", list(ids), type_=ARRAY(Integer)))
        return
    for i in range(0, len(ids), 500):
        yield column.in_(list(ids[i : i + 500]))


# Requests and feedback are read by the token ids of the range, through their token_id
# indexes, and the clerks from the range's events (by centre and time): a join, or events
# looked up by token id, let PostgreSQL's planner scan every row ever written when its
# estimates are off (seen with three million tokens: 0.6 s and 0.3 s instead of 10 ms).


def requests_figures(
    session: Session, tokens: dict[int, tuple[int, int, int, str]], now: datetime
) -> list[Extra]:
    """One entry per request of the range's tokens: its groups and whether it was closed in
    time (by its due time; still open past it is late)."""
    out: list[Extra] = []
    for condition in among(session, ServiceRequest.token_id, sorted(tokens)):
        rows = session.execute(
            select(
                ServiceRequest.token_id,
                ServiceRequest.counter_id,
                ServiceRequest.staff_id,
                ServiceRequest.due_at,
                ServiceRequest.closed_at,
                ServiceRequest.is_late,
            ).where(condition)
        )
        for token_id, counter_id, staff_id, due, closed_at, is_late in rows:
            service, _, hour, day = tokens[token_id]
            late = bool(is_late) or (
                due is not None and (closed_at > due if closed_at is not None else due < now)
            )
            in_time = closed_at is not None and not late
            out.append((service, counter_id or 0, staff_id or 0, hour, day, int(in_time), int(late)))
    return out


def feedback_figures(
    session: Session, centre: Centre, first: date, last: date, tokens: dict[int, tuple[int, int, int, str]]
) -> list[Extra]:
    rated: list[tuple[int, int]] = []
    for condition in among(session, Feedback.token_id, sorted(tokens)):
        rows = session.execute(select(Feedback.token_id, Feedback.rating).where(condition))
        rated.extend((token_id, rating) for token_id, rating in rows)
    who = callers(session, centre, first, last) if rated else {}
    out: list[Extra] = []
    for token_id, rating in rated:
        service, counter, hour, day = tokens[token_id]
        out.append((service, counter, who.get(token_id, 0), hour, day, int(rating), 1))
    return out

