"""Read models of a centre's queue: waiting counts, wait estimates, positions, snapshots.

Everything here reads; nothing changes state. The serializers decide what each audience
may see: public screens get token numbers, never public codes or anything personal.

Size: the read models every screen's snapshot is built from (counters, waiting lists, calls,
estimates) share the day's queries.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import (
    BindParameter,
    CompoundSelect,
    Select,
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from queue_server import centre_days, dispatch, estimate
from queue_server.clock import utcnow
from queue_server.models import (
    Centre,
    Counter,
    CounterState,
    Priority,
    RemoteToken,
    RequestState,
    Service,
    ServiceRequest,
    Token,
    TokenState,
    WorkProfileEntry,
)
from queue_server.models.token import AT_COUNTER_STATES
from queue_server.models.token import TOKEN_COLUMNS as _TOKENS

RECENT_SERVICES = 20  # counter times per service that the wait estimate averages
ARRIVAL_WINDOW = timedelta(hours=1)  # the arrivals the forecast expects to continue

Capacities = estimate.QueueSnapshot  # see counter_capacities


@dataclass(frozen=True)
class ServiceQueue:
    service_id: int
    waiting: int
    waiting_priority: int
    oldest_queued_at: datetime | None


def hall_days(centre: Centre, day: date | None = None) -> tuple[date, date]:
    """The business days whose open tokens are in the hall on ``day`` (today by default):
    (first, last). A centre open across its boundary (24/7) still has yesterday's."""
    day = day or centre.business_day()
    return centre_days.hall_since(centre.calendar(), day), day


def waiting_by_service(session: Session, centre: Centre, day: date | None = None) -> dict[int, ServiceQueue]:
    first, last = hall_days(centre, day)
    rows = session.execute(_WAITING_BY_SERVICE, {"centre_id": centre.id, "first": first, "last": last}).all()
    result = {}
    for service_id, count, prio, oldest in rows:
        if isinstance(oldest, str):  # aggregate bypasses the column type on SQLite
            oldest = datetime.fromisoformat(oldest)
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=UTC)
        result[service_id] = ServiceQueue(service_id, count, int(prio or 0), oldest)
    return result


_WAITING_BY_SERVICE = (  # built once, with bound parameters (after most changes)
    select(
        Token.service_id,
        func.count(),
        func.sum(case((Token.priority != Priority.NORMAL, 1), else_=0)),
        func.min(Token.queued_at),
    )
    .where(
        Token.centre_id == bindparam("centre_id"),
        Token.state == TokenState.WAITING,
        Token.business_day.between(bindparam("first"), bindparam("last")),
    )
    .group_by(Token.service_id)
)


def waiting_in(capacities: Capacities) -> dict[int, ServiceQueue]:
    """``waiting_by_service`` from a snapshot, which holds the same tokens (waiting, in the
    hall), so no second query is needed."""
    result: dict[int, ServiceQueue] = {}
    for c in capacities.waiting:
        q = result.get(c.service_id)
        if q is None:
            result[c.service_id] = ServiceQueue(c.service_id, 1, int(c.is_priority), c.queued_at)
        else:
            oldest = q.oldest_queued_at if q.oldest_queued_at and q.oldest_queued_at <= c.queued_at else c.queued_at
            result[c.service_id] = ServiceQueue(
                c.service_id, q.waiting + 1, q.waiting_priority + int(c.is_priority), oldest
            )
    return result


def ahead_in(capacities: Capacities, service_id: int, is_priority: bool) -> int:
    """Tokens ahead of a new one of the service, from a snapshot of its day: every waiting
    token of the service, or the priority ones only for a priority token."""
    return sum(1 for c in capacities.waiting if c.service_id == service_id and (c.is_priority or not is_priority))


# The statements of ``counter_capacities``, built once (it runs on every issue and after
# most changes; building and keying them again each time cost as much as running them).
# Written on the tables, not the mapped classes: plain Core statements, whose rows (every
# waiting token, on every issue) cost about a third less to read than through the ORM.
_CENTRE: BindParameter[int] = bindparam("centre_id")
_IN_HALL = _TOKENS.business_day.between(bindparam("first"), bindparam("last"))

# One row per counter and service of its work profile (a counter without a profile still
# has one row: it may be the open one).
_PROFILES = (
    select(
        Counter.__table__.c.id,
        Counter.__table__.c.state,
        Counter.__table__.c.priority_streak,
        WorkProfileEntry.__table__.c.service_id,
        WorkProfileEntry.__table__.c.weight,
    )
    .select_from(
        Counter.__table__.outerjoin(
            WorkProfileEntry.__table__, WorkProfileEntry.__table__.c.counter_id == Counter.__table__.c.id
        )
    )
    .where(Counter.__table__.c.centre_id == _CENTRE)
)
_SERVICE_TIMES = select(
    Service.__table__.c.id, Service.__table__.c.default_service_minutes, Service.__table__.c.target_wait_minutes
).where(Service.__table__.c.centre_id == _CENTRE)


@functools.cache
def _recent_services(count: int) -> Select[Any] | CompoundSelect[Any]:
    """The last RECENT_SERVICES counter times of each of ``count`` services (bound as s0,
    s1, ...): one LIMITed part per service, each read from the end of its index
    (``ix_tokens_service_done``) back to at most the start of the first hall day (bound as
    ``since``), so it costs the same at the end of a busy day as in the morning, where a
    window over the day's tokens grew with every token served."""
    parts = [
        select(_TOKENS.service_id, _TOKENS.called_at, _TOKENS.finished_at)
        .where(
            _TOKENS.centre_id == _CENTRE,
            _TOKENS.service_id == bindparam(f"s{k}"),
            _TOKENS.state == TokenState.DONE,
            _TOKENS.finished_at >= bindparam("since"),
            _IN_HALL,
            _TOKENS.called_at.is_not(None),
        )
        .order_by(_TOKENS.finished_at.desc())
        .limit(RECENT_SERVICES)
        .subquery()
        for k in range(count)
    ]
    selects = [select(part) for part in parts]
    return selects[0] if count == 1 else union_all(*selects)


_WAITING = select(
    _TOKENS.id, _TOKENS.service_id, _TOKENS.queued_at, _TOKENS.priority, _TOKENS.target_counter_id
).where(_TOKENS.centre_id == _CENTRE, _TOKENS.state == TokenState.WAITING, _IN_HALL)
_AT_COUNTERS = select(_TOKENS.counter_id, _TOKENS.service_id, _TOKENS.called_at).where(
    _TOKENS.centre_id == _CENTRE, _TOKENS.state.in_(AT_COUNTER_STATES), _TOKENS.counter_id.is_not(None)
)
_ARRIVALS = (
    select(_TOKENS.origin_service_id, func.count())
    .where(_TOKENS.centre_id == _CENTRE, _IN_HALL, _TOKENS.issued_at >= bindparam("arrived_since"))
    .group_by(_TOKENS.origin_service_id)
)


def counter_capacities(session: Session, centre: Centre, day: date | None = None) -> Capacities:
    """What the wait forecast needs of the centre now (``estimate.QueueSnapshot``): the open
    counters (every configured one when none is open yet, early in the morning) with their
    profiles and how long their current token has been at them, the waiting tokens (every
    one still in the hall, across the day boundary), each service's recent mean counter
    time and its arrivals over the last hour."""
    now = utcnow()
    first, last = hall_days(centre, day)
    day_params = {"centre_id": centre.id, "first": first, "last": last}
    profiles = session.execute(_PROFILES, {"centre_id": centre.id}).all()
    services = session.execute(_SERVICE_TIMES, {"centre_id": centre.id}).all()
    defaults = {sid: 60.0 * (minutes or 6) for sid, minutes, _ in services}
    targets = {sid: 60.0 * target for sid, _, target in services if target}
    samples: dict[int, list[float]] = defaultdict(list)
    if services:
        bound = {f"s{k}": sid for k, (sid, _, _) in enumerate(services)}
        since = centre.day_span(first)[0]  # (no token of the hall days finished before)
        recent = session.execute(_recent_services(len(services)), {**day_params, **bound, "since": since}).all()
        for service_id, called, finished in sorted(recent, key=lambda row: row[2]):
            if called and finished:
                samples[service_id].append(max(0.0, (finished - called).total_seconds()))
    waiting = session.execute(_WAITING, day_params).all()
    busy = {
        counter_id: (service_id, called)
        for counter_id, service_id, called in session.execute(_AT_COUNTERS, {"centre_id": centre.id})
    }
    arrivals: dict[int, int] = dict(session.execute(_ARRIVALS, {**day_params, "arrived_since": now - ARRIVAL_WINDOW}).all())

    states: dict[int, tuple[CounterState, int]] = {}
    weights: dict[int, dict[int, int]] = defaultdict(dict)
    for counter_id, state, streak, service_id, weight in profiles:
        states[counter_id] = (state, streak)
        if service_id is not None:
            weights[counter_id][service_id] = weight
    open_ids = {cid for cid, (state, _) in states.items() if state == CounterState.OPEN}
    use_ids = sorted(open_ids or states)
    counters = []
    for counter_id in use_ids:
        service_id, called = busy.get(counter_id, (None, None))
        at_counter = max(0.0, (now - called).total_seconds()) if called is not None else 0.0
        counters.append(
            estimate.ForecastCounter(
                counter_id,
                weights.get(counter_id, {}),
                at_counter,
                service_id if called is not None else None,
                states[counter_id][1],
            )
        )
    return estimate.QueueSnapshot(
        now=now,
        counters=tuple(counters),
        waiting=tuple(
            dispatch.Candidate(
                token_id,
                service_id,
                queued_at if queued_at.tzinfo else queued_at.replace(tzinfo=UTC),
                priority != Priority.NORMAL,
                target,
            )
            for token_id, service_id, queued_at, priority, target in waiting
        ),
        service_seconds=estimate.service_means(samples, defaults),
        arrivals_per_minute={sid: n * 60.0 / ARRIVAL_WINDOW.total_seconds() for sid, n in arrivals.items()},
        max_priority_streak=centre.max_priority_streak,
        fairness_k=centre.fairness_k,
        target_seconds=targets,
    )


def tokens_ahead(session: Session, token: Token) -> int:
    """Waiting tokens of the same service that will be called before this one."""
    if token.state != TokenState.WAITING:
        return 0
    same_service = and_(
        Token.centre_id == token.centre_id,
        Token.service_id == token.service_id,
        Token.business_day >= hall_days(token.centre)[0],
        Token.state == TokenState.WAITING,
        Token.id != token.id,
    )
    earlier = or_(
        Token.queued_at < token.queued_at,
        and_(Token.queued_at == token.queued_at, Token.id < token.id),
    )
    if token.priority == Priority.NORMAL:
        ahead = or_(Token.priority != Priority.NORMAL, earlier)
    else:
        ahead = and_(Token.priority != Priority.NORMAL, earlier)
    return session.scalar(select(func.count()).where(same_service, ahead)) or 0


def eta_for(
    session: Session,
    centre: Centre,
    service_id: int,
    ahead: int,
    capacities: Capacities | None = None,
    *,
    is_priority: bool = False,
    token_id: int | None = None,
) -> int | None:
    """Minutes until a token is called, by ``estimate.forecast``: the waiting token
    ``token_id``, or else one of the service issued now. ``ahead`` is kept for callers
    (the forecast sees the whole queue); None when no counter serves the service."""
    if capacities is None:
        capacities = counter_capacities(session, centre)
    if token_id is not None:
        return forecast_of(capacities).token_minutes(token_id)
    return forecast_of(capacities).new_minutes(service_id, is_priority)


_FORECASTS: WeakKeyDictionary[Capacities, estimate.Forecast] = WeakKeyDictionary()


def forecast_of(capacities: Capacities) -> estimate.Forecast:
    """The forecast of a snapshot, for every waiting token and a new normal or priority
    token of every service: computed once per snapshot however many screens need it."""
    known = _FORECASTS.get(capacities)
    if known is None:
        ghosts = [(sid, is_priority) for sid in capacities.service_seconds for is_priority in (False, True)]
        known = _FORECASTS[capacities] = estimate.forecast(capacities, ghosts)
    return known


def token_wait_seconds(capacities: Capacities, token_id: int) -> float | None:
    """Seconds until the waiting token ``token_id`` is called: from the snapshot's forecast
    if it was computed already, else from one played only until that token's call (not
    kept: it is not the snapshot's whole forecast)."""
    known = _FORECASTS.get(capacities) or estimate.forecast(capacities, until=token_id)
    return known.waits.get(token_id)


def known_forecast(capacities: Capacities) -> estimate.Forecast | None:
    """The snapshot's forecast if it was computed already, else None (nothing computed)."""
    return _FORECASTS.get(capacities)


# The id a token being issued has in its own forecast, before it is written: above every
# real one, so that it stays behind a token queued at the same instant, as its real id will.
UNWRITTEN_TOKEN_ID = 2**62


def with_waiting(capacities: Capacities, token: Token) -> Capacities:
    """The snapshot with one more waiting token (the one just issued; ``UNWRITTEN_TOKEN_ID``
    while it has no id yet)."""
    candidate = dispatch.Candidate(
        UNWRITTEN_TOKEN_ID if token.id is None else token.id,
        token.service_id,
        token.queued_at,
        token.priority != Priority.NORMAL,
        token.target_counter_id,
    )
    return replace(capacities, waiting=(*capacities.waiting, candidate))


def queue_length_minutes(capacities: Capacities, service_id: int, ahead: int) -> int | None:
    """The queue-length baseline (QL, Ibrahim & Whitt 2009) the dashboard compares with."""
    seconds = estimate.queue_length_seconds(capacities, service_id, ahead)
    return estimate.as_minutes(seconds)


# Serializers -------------------------------------------------------------------------


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


# What a screen may show of a service: its object's attributes (``service_public``) or the
# same columns read as a row (``active_services_public``).
_SERVICE_SHOWN = (
    Service.id,
    Service.code,
    Service.name_en,
    Service.name_ur,
    Service.prefix,
    Service.group,
    Service.target_wait_minutes,
    Service.is_active,
)


def service_public(service: Service) -> dict[str, Any]:
    return {column.key: getattr(service, column.key) for column in _SERVICE_SHOWN}


def token_public(token: Token) -> dict[str, Any]:
    """What a public screen may show: no public code, nothing personal."""
    return _token_shown(
        token.id,
        token.number,
        token.state,
        token.priority,
        token.service.code,
        token.service.name_en,
        token.service.name_ur,
        token.counter.number if token.counter else None,
        token.called_at,
        token.recall_count,
    )


def _token_shown(
    token_id: int,
    number: str,
    state: TokenState,
    priority: Priority,
    code: str,
    name_en: str,
    name_ur: str,
    counter: int | None,
    called_at: datetime | None,
    recalls: int,
) -> dict[str, Any]:
    """``token_public`` from its values (``next_up`` reads them as rows)."""
    return {
        "id": token_id,
        "number": number,
        "state": state.value,
        "priority": priority.value,
        "service": {"code": code, "name_en": name_en, "name_ur": name_ur},
        "counter": counter,
        "called_at": iso(called_at),
        "recalls": recalls,
    }


def token_staff(token: Token) -> dict[str, Any]:
    """What staff and the issuing kiosk see (includes the tracking code)."""
    data = token_public(token)
    data.update(
        public_code=token.public_code,
        service_id=token.service_id,
        counter_id=token.counter_id,
        target_counter=token.target_counter.number if token.target_counter else None,
        issued_at=iso(token.issued_at),
        queued_at=iso(token.queued_at),
        started_at=iso(token.started_at),
        finished_at=iso(token.finished_at),
        outcome=token.outcome,
        print_state=token.print_state.value,
    )
    return data


def counter_public(counter: Counter, current: Token | None) -> dict[str, Any]:
    return {
        "id": counter.id,
        "number": counter.number,
        "name": counter.name,
        "state": counter.state.value,
        "clerk": counter.staff.full_name if counter.staff else None,
        "current": token_public(current) if current else None,
        "services": sorted(e.service.code for e in counter.profile),
    }


def current_token(session: Session, counter: Counter) -> Token | None:
    """The token called or being served at this counter (one at a time), if any."""
    return session.scalars(
        select(Token).where(
            Token.centre_id == counter.centre_id,
            Token.counter_id == counter.id,
            Token.state.in_(AT_COUNTER_STATES),
        )
    ).first()


def current_tokens(session: Session, centre_id: int) -> dict[int, Token]:
    rows = session.scalars(
        select(Token).where(
            Token.centre_id == centre_id,
            Token.state.in_(AT_COUNTER_STATES),
            Token.counter_id.is_not(None),
        )
    ).all()
    return {t.counter_id: t for t in rows if t.counter_id is not None}


def queue_summary(
    session: Session,
    centre: Centre,
    *,
    forecast: estimate.Forecast | None = None,
    waiting: dict[int, ServiceQueue] | None = None,
) -> list[dict[str, Any]]:
    """Per active service: waiting now, the longest current wait, the expected wait, and
    whether a counter serves it now. ``forecast`` and ``waiting`` (``waiting_in`` or
    ``waiting_by_service``), when the caller has them, save the snapshot both come from."""
    now = utcnow()
    if waiting is None or forecast is None:
        caps = counter_capacities(session, centre)
        waiting = waiting if waiting is not None else waiting_in(caps)
        forecast = forecast or forecast_of(caps)
    serving = served_now(session, centre)
    out = []
    for service in active_services_public(session, centre.id):
        q = waiting.get(service["id"])
        count = q.waiting if q else 0
        longest = int((now - q.oldest_queued_at).total_seconds()) if q and q.oldest_queued_at else 0
        out.append(
            {
                **service,
                "waiting": count,
                "longest_wait_seconds": max(0, longest),
                "eta_minutes": forecast.new_minutes(service["id"]),
                # No counter serves it now: the kiosk says so (and, where the centre does
                # not issue ahead, does not offer it).
                "served_now": service["id"] in serving,
            }
        )
    return out


_PUBLIC_SERVICE = (
    select(*_SERVICE_SHOWN)
    .where(Service.centre_id == bindparam("centre_id"), Service.is_active.is_(True))
    .order_by(Service.sort_order)
)


def active_services_public(session: Session, centre_id: int) -> list[dict[str, Any]]:
    """``service_public`` of the centre's active services, in their order, read as plain
    rows: a summary is built after every change, and loading the services as objects
    cost more than the rest of it."""
    return [row._asdict() for row in session.execute(_PUBLIC_SERVICE, {"centre_id": centre_id})]


def recent_calls(session: Session, centre: Centre, limit: int = 8) -> list[dict[str, Any]]:
    first, last = hall_days(centre)
    rows = session.scalars(
        select(Token)
        .where(
            Token.centre_id == centre.id,
            Token.business_day.between(first, last),
            Token.called_at.is_not(None),
        )
        .order_by(Token.called_at.desc(), Token.id.desc())
        .limit(limit)
    ).all()
    return [token_public(t) for t in rows]


def current_calls(session: Session, centre: Centre, limit: int = 8) -> list[dict[str, Any]]:
    """The calls still current, latest first: tokens called (or recalled) that have not come
    to the counter yet, and collection calls whose request still waits to be collected. A
    public screen's big panel shows the first; a token served, done or marked no-show is no
    call any more, so a snapshot never brings it back."""
    found: list[tuple[datetime, dict[str, Any]]] = []
    for token in session.scalars(
        select(Token)
        .where(Token.centre_id == centre.id, Token.state == TokenState.CALLED, Token.called_at.is_not(None))
        .order_by(Token.called_at.desc(), Token.id.desc())
        .limit(limit)
    ):
        assert token.called_at is not None
        found.append((token.called_at, {"token": token_public(token), "kind": "recall" if token.recall_count else "call"}))
    since = centre.day_span(hall_days(centre)[0])[0]
    for req, number in session.execute(
        select(ServiceRequest, Counter.number)
        .outerjoin(Counter, Counter.id == ServiceRequest.counter_id)
        .where(
            ServiceRequest.centre_id == centre.id,
            ServiceRequest.state == RequestState.READY,
            ServiceRequest.collection_called_at >= since,
        )
        .order_by(ServiceRequest.collection_called_at.desc())
        .limit(limit)
    ):
        assert req.collection_called_at is not None
        public = token_public(req.token)
        public["counter"] = number if number is not None else public["counter"]
        public["called_at"] = iso(req.collection_called_at)
        found.append((req.collection_called_at, {"token": public, "kind": "collection"}))
    found.sort(key=lambda pair: pair[0], reverse=True)
    return [call for _, call in found[:limit]]


NEXT_UP = 6


def next_up(session: Session, centre: Centre, limit: int = NEXT_UP) -> list[dict[str, Any]]:
    """The tokens the hall can expect to be called soon, for the display's "next up" strip:
    waiting and in the hall (a phone token whose citizen has not checked in is passed over),
    priority classes first, then the earliest issued. An indication, not a promise: which
    counter frees first, and its work profile, decide the real order."""
    first, last = hall_days(centre)
    rows = session.execute(
        _NEXT_UP, {"centre_id": centre.id, "first": first, "last": last, "limit": limit}
    ).all()
    return [
        _token_shown(token_id, number, state, priority, code, name_en, name_ur, counter, called_at, recalls)
        for token_id, number, state, priority, code, name_en, name_ur, counter, called_at, recalls in rows
    ]


# ``token_public`` of each, from plain rows (built after every change: objects cost more)
_NEXT_UP = (
    select(
        Token.id,
        Token.number,
        Token.state,
        Token.priority,
        Service.code,
        Service.name_en,
        Service.name_ur,
        Counter.number,
        Token.called_at,
        Token.recall_count,
    )
    .join(Service, Service.id == Token.service_id)
    .outerjoin(Counter, Counter.id == Token.counter_id)
    .where(
        Token.centre_id == bindparam("centre_id"),
        Token.state == TokenState.WAITING,
        Token.business_day.between(bindparam("first"), bindparam("last")),
        Token.id.not_in(select(RemoteToken.token_id).where(RemoteToken.checked_in_at.is_(None))),
    )
    .order_by(case((Token.priority == Priority.NORMAL, 1), else_=0), Token.queued_at, Token.id)
    .limit(bindparam("limit"))
)


def opening_state(centre: Centre) -> dict[str, Any]:
    """Whether the centre is open now, and when it next opens (an ISO instant, and the
    local weekday number and "HH:MM" for screens to say it), from its hours and holidays."""
    calendar = centre.calendar()
    now = utcnow()
    is_open = centre_days.is_open(calendar, now)
    opens = None if is_open else centre_days.next_opening(calendar, now)
    local = opens.astimezone(centre.tz) if opens else None
    return {
        "open_now": is_open,
        "opens_at": opens.isoformat() if opens else None,
        "opens_weekday": local.weekday() if local else None,
        "opens_local": local.strftime("%H:%M") if local else None,
        "opens_today": bool(local and local.date() == now.astimezone(centre.tz).date()),
    }


def served_now(session: Session, centre: Centre) -> set[int]:
    """The services an open (or paused: back soon) counter serves now."""
    return set(session.scalars(_SERVED_NOW, {"centre_id": centre.id}))


_SERVED_NOW = (
    select(WorkProfileEntry.service_id)
    .join(Counter, Counter.id == WorkProfileEntry.counter_id)
    .where(Counter.centre_id == bindparam("centre_id"), Counter.state.in_((CounterState.OPEN, CounterState.PAUSED)))
    .distinct()
)


def centre_public(centre: Centre) -> dict[str, Any]:
    return {
        "id": centre.id,
        "code": centre.code,
        "name_en": centre.name_en,
        "name_ur": centre.name_ur,
        "timezone": centre.timezone,
        "notice_en": centre.notice_en,
        "notice_ur": centre.notice_ur,
        "closes_at": shown_hours(centre)[1],
        "opens_at_shown": shown_hours(centre)[0],
        **opening_state(centre),
    }


def shown_hours(centre: Centre) -> tuple[str, str]:
    """The opening and closing time ("HH:MM", local) that screens show now: today's, or the
    next open day's; empty strings when the centre does not open soon."""
    hours = centre_days.shown_hours(centre.calendar(), utcnow())
    return ("", "") if hours is None else (hours[0].strftime("%H:%M"), hours[1].strftime("%H:%M"))


def centre_snapshot(session: Session, centre: Centre) -> dict[str, Any]:
    """The full state a public screen, kiosk, console or dashboard redraws from."""
    current = current_tokens(session, centre.id)
    return {
        "centre": centre_public(centre),
        "server_time": utcnow().isoformat(),
        "services": queue_summary(session, centre),
        "counters": [counter_public(c, current.get(c.id)) for c in centre.counters],
        "recent_calls": recent_calls(session, centre),
        "calls": current_calls(session, centre),
        "next_up": next_up(session, centre),
    }
