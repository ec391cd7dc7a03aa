"""Read models of a centre's queue: waiting counts, wait estimates, positions, snapshots.

Everything here reads; nothing changes state. The serializers decide what each audience
may see: public screens get token numbers, never public codes or anything personal.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from queue_server import estimate
from queue_server.clock import local_day, utcnow
from queue_server.models import (
    Centre,
    Counter,
    CounterState,
    Priority,
    Service,
    Token,
    TokenState,
    WorkProfileEntry,
)
from queue_server.models.token import AT_COUNTER_STATES

RECENT_SERVICES = 10  # service times per counter that the wait estimate averages

Capacities = dict[int, list[estimate.CounterCapacity]]  # per service, see counter_capacities


@dataclass(frozen=True)
class ServiceQueue:
    service_id: int
    waiting: int
    waiting_priority: int
    oldest_queued_at: datetime | None


def waiting_by_service(session: Session, centre: Centre, day: date | None = None) -> dict[int, ServiceQueue]:
    day = day or local_day(centre.tz)
    is_priority = case((Token.priority != Priority.NORMAL, 1), else_=0)
    rows = session.execute(
        select(
            Token.service_id,
            func.count(),
            func.sum(is_priority),
            func.min(Token.queued_at),
        )
        .where(
            Token.centre_id == centre.id,
            Token.state == TokenState.WAITING,
            Token.business_day == day,
        )
        .group_by(Token.service_id)
    ).all()
    result = {}
    for service_id, count, prio, oldest in rows:
        if isinstance(oldest, str):  # aggregate bypasses the column type on SQLite
            oldest = datetime.fromisoformat(oldest)
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=UTC)
        result[service_id] = ServiceQueue(service_id, count, int(prio or 0), oldest)
    return result


def counter_capacities(session: Session, centre: Centre, day: date | None = None) -> Capacities:
    """Per service: the capacity each counter serving it contributes. Open counters count;
    when none is open yet (early morning), every counter configured for it does."""
    day = day or local_day(centre.tz)
    # One row per counter and service of its work profile (a counter without a profile
    # still has one row: it may be the open one), with the service's default time.
    profiles = session.execute(
        select(
            Counter.id,
            Counter.state,
            WorkProfileEntry.service_id,
            WorkProfileEntry.weight,
            Service.default_service_minutes,
        )
        .outerjoin(WorkProfileEntry, WorkProfileEntry.counter_id == Counter.id)
        .outerjoin(Service, (Service.id == WorkProfileEntry.service_id) & (Service.centre_id == centre.id))
        .where(Counter.centre_id == centre.id)
    ).all()
    durations: dict[int, list[float]] = defaultdict(list)
    # Only the last RECENT_SERVICES per counter matter: a window keeps this query the same
    # size all day instead of growing with every token served.
    recent = (
        select(
            Token.counter_id,
            Token.started_at,
            Token.finished_at,
            func.row_number()
            .over(partition_by=Token.counter_id, order_by=Token.finished_at.desc())
            .label("age"),
        )
        .where(
            Token.centre_id == centre.id,
            Token.business_day == day,
            Token.state == TokenState.DONE,
            Token.started_at.is_not(None),
        )
        .subquery()
    )
    done = session.execute(
        select(recent.c.counter_id, recent.c.started_at, recent.c.finished_at)
        .where(recent.c.age <= RECENT_SERVICES)
        .order_by(recent.c.finished_at)
    ).all()
    for counter_id, started, finished in done:
        if counter_id is not None and started and finished:
            durations[counter_id].append((finished - started).total_seconds())

    states: dict[int, CounterState] = {}
    by_counter: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
    for counter_id, state, service_id, weight, default_minutes in profiles:
        states[counter_id] = state
        if service_id is not None:
            minutes = 6 if default_minutes is None else default_minutes  # 6: not of this centre
            by_counter[counter_id].append((service_id, weight, minutes))
    open_ids = {counter_id for counter_id, state in states.items() if state == CounterState.OPEN}
    use_ids = open_ids or set(states)

    result: Capacities = defaultdict(list)
    for counter_id in use_ids:
        entries = by_counter.get(counter_id, [])
        total = sum(weight for _, weight, _ in entries)
        for service_id, weight, minutes in entries:
            default_s = 60.0 * minutes
            mean = estimate.recent_mean(durations.get(counter_id, []), default_s)
            result[service_id].append(estimate.CounterCapacity(weight, total, mean))
    return result


def tokens_ahead(session: Session, token: Token) -> int:
    """Waiting tokens of the same service that will be called before this one."""
    if token.state != TokenState.WAITING:
        return 0
    same_service = and_(
        Token.centre_id == token.centre_id,
        Token.service_id == token.service_id,
        Token.business_day == token.business_day,
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


def ahead_of_new(session: Session, centre: Centre, service_id: int, priority: Priority, day: date) -> int:
    query = select(func.count()).where(
        Token.centre_id == centre.id,
        Token.service_id == service_id,
        Token.business_day == day,
        Token.state == TokenState.WAITING,
    )
    if priority != Priority.NORMAL:
        query = query.where(Token.priority != Priority.NORMAL)
    return session.scalar(query) or 0


def eta_for(
    session: Session, centre: Centre, service_id: int, ahead: int, capacities: Capacities | None = None
) -> int | None:
    if capacities is None:
        capacities = counter_capacities(session, centre)
    return estimate.expected_wait_minutes(ahead, capacities.get(service_id, []))


# Serializers -------------------------------------------------------------------------


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def service_public(service: Service) -> dict[str, Any]:
    return {
        "id": service.id,
        "code": service.code,
        "name_en": service.name_en,
        "name_ur": service.name_ur,
        "prefix": service.prefix,
        "group": service.group,
        "target_wait_minutes": service.target_wait_minutes,
        "is_active": service.is_active,
    }


def token_public(token: Token) -> dict[str, Any]:
    """What a public screen may show: no public code, nothing personal."""
    return {
        "id": token.id,
        "number": token.number,
        "state": token.state.value,
        "priority": token.priority.value,
        "service": {
            "code": token.service.code,
            "name_en": token.service.name_en,
            "name_ur": token.service.name_ur,
        },
        "counter": token.counter.number if token.counter else None,
        "called_at": iso(token.called_at),
        "recalls": token.recall_count,
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
    session: Session, centre: Centre, capacities: Capacities | None = None
) -> list[dict[str, Any]]:
    """Per active service: waiting now, the longest current wait and the expected wait.
    ``capacities``, when the caller has them already, saves computing them again."""
    now = utcnow()
    waiting = waiting_by_service(session, centre)
    caps = counter_capacities(session, centre) if capacities is None else capacities
    out = []
    for service in centre.services:
        if not service.is_active:
            continue
        q = waiting.get(service.id)
        count = q.waiting if q else 0
        longest = int((now - q.oldest_queued_at).total_seconds()) if q and q.oldest_queued_at else 0
        out.append(
            {
                **service_public(service),
                "waiting": count,
                "longest_wait_seconds": max(0, longest),
                "eta_minutes": estimate.expected_wait_minutes(count, caps.get(service.id, [])),
            }
        )
    return out


def recent_calls(session: Session, centre: Centre, limit: int = 8) -> list[dict[str, Any]]:
    day = local_day(centre.tz)
    rows = session.scalars(
        select(Token)
        .where(
            Token.centre_id == centre.id,
            Token.business_day == day,
            Token.called_at.is_not(None),
        )
        .order_by(Token.called_at.desc(), Token.id.desc())
        .limit(limit)
    ).all()
    return [token_public(t) for t in rows]


def centre_public(centre: Centre) -> dict[str, Any]:
    return {
        "id": centre.id,
        "code": centre.code,
        "name_en": centre.name_en,
        "name_ur": centre.name_ur,
        "timezone": centre.timezone,
        "notice_en": centre.notice_en,
        "notice_ur": centre.notice_ur,
        "closes_at": centre.closes_at.strftime("%H:%M"),
    }


def centre_snapshot(session: Session, centre: Centre) -> dict[str, Any]:
    """The full state a public screen, kiosk, console or dashboard redraws from."""
    current = current_tokens(session, centre.id)
    return {
        "centre": centre_public(centre),
        "server_time": utcnow().isoformat(),
        "services": queue_summary(session, centre),
        "counters": [counter_public(c, current.get(c.id)) for c in centre.counters],
        "recent_calls": recent_calls(session, centre),
    }
