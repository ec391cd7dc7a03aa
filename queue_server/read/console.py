"""What a clerk's console draws (``console_state``, for its own clerk only: it holds the
current request in full, so it goes to that socket alone, never to a room) and the counter
picker (``counter_list``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from queue_server.actors import Actor
from queue_server.clock import utcnow
from queue_server.models import Counter, Event, Service, Token, TokenState
from queue_server.models.token import AT_COUNTER_STATES
from queue_server.read import queue_state
from queue_server.read import requests as service_requests

NO_SHOW_LIST = 9


def _served_today(session: Session, actor: Actor, centre_id: int, since: datetime) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Event)
            .where(
                Event.centre_id == centre_id,
                Event.kind == "token_completed",
                Event.actor == actor.label,
                Event.at >= since,
            )
        )
        or 0
    )


def console_state(session: Session, counter: Counter, actor: Actor) -> dict[str, Any]:
    """What the console draws. For its own clerk only: it includes the current request
    in full."""
    centre = counter.centre
    now = utcnow()
    first, day = queue_state.hall_days(centre, centre.business_day(now))
    day_start, _ = centre.day_span(day)
    profile_ids = {e.service_id: e.weight for e in counter.profile}
    summary = {s["id"]: s for s in queue_state.queue_summary(session, centre)}
    profile = []
    for entry in sorted(counter.profile, key=lambda e: (-e.weight, e.service.sort_order)):
        row = summary.get(entry.service_id)
        profile.append(
            {
                "id": entry.service_id,
                "code": entry.service.code,
                "prefix": entry.service.prefix,
                "name_en": entry.service.name_en,
                "name_ur": entry.service.name_ur,
                "weight": entry.weight,
                "waiting": row["waiting"] if row else 0,
                "longest_wait_seconds": row["longest_wait_seconds"] if row else 0,
                "target_wait_minutes": entry.service.target_wait_minutes,
            }
        )
    direct = session.scalars(
        select(Token)
        .where(
            Token.target_counter_id == counter.id,
            Token.state == TokenState.WAITING,
            Token.business_day.between(first, day),
        )
        .order_by(Token.queued_at)
    ).all()
    current = session.scalar(
        select(Token).where(Token.counter_id == counter.id, Token.state.in_(AT_COUNTER_STATES))
    )
    current_data = None
    if current is not None:
        current_data = queue_state.token_staff(current)
        current_data["request"] = None
        req = service_requests.request_of_token(session, current)
        if req is not None and current.state == TokenState.SERVING and service_requests.may_open(req, actor):
            current_data["request"] = service_requests.request_detail(req, actor)
            current_data["request"]["untouched"] = service_requests.is_untouched(req)
    parked = session.scalars(
        select(Token)
        .where(Token.counter_id == counter.id, Token.state == TokenState.PARKED)
        .order_by(Token.started_at, Token.id)
    ).all()
    no_shows = session.scalars(
        select(Token)
        .where(
            Token.centre_id == centre.id,
            Token.state == TokenState.NO_SHOW,
            Token.business_day.between(first, day),
        )
        .order_by(Token.finished_at.desc(), Token.id.desc())
        .limit(NO_SHOW_LIST)
    ).all()
    requests = service_requests.open_requests_of(session, actor, centre) if not actor.is_manager else []
    current_counters = queue_state.current_tokens(session, centre.id)
    services = session.scalars(
        select(Service).where(Service.centre_id == centre.id, Service.is_active).order_by(Service.sort_order)
    ).all()
    return {
        "server_time": now.isoformat(),
        "centre": queue_state.centre_public(centre),
        "max_recalls": centre.max_recalls,
        "counter": {
            "id": counter.id,
            "number": counter.number,
            "name": counter.name,
            "state": counter.state.value,
            "clerk": counter.staff.full_name if counter.staff else None,
            "opened_at": queue_state.iso(counter.opened_at),
        },
        "current": current_data,
        "parked": [queue_state.token_staff(t) for t in parked],
        "no_shows": [queue_state.token_staff(t) for t in no_shows],
        "profile": profile,
        "direct": [queue_state.token_staff(t) for t in direct],
        "served_today": _served_today(session, actor, centre.id, day_start),
        "requests": [service_requests.request_summary(r, now) for r in requests],
        "services": [
            {
                "code": s.code,
                "prefix": s.prefix,
                "name_en": s.name_en,
                "name_ur": s.name_ur,
                "in_profile": s.id in profile_ids,
            }
            for s in services
        ],
        "counters": [
            queue_state.counter_public(c, current_counters.get(c.id))
            for c in centre.counters
            if c.id != counter.id
        ],
    }


def counter_list(session: Session, actor: Actor) -> list[dict[str, Any]]:
    """The picker: the centre's counters, their state and clerk, and whose they are."""
    if actor.centre_id is None:
        return []
    counters = session.scalars(
        select(Counter).where(Counter.centre_id == actor.centre_id).order_by(Counter.number)
    ).all()
    return [
        {
            "id": c.id,
            "number": c.number,
            "name": c.name,
            "state": c.state.value,
            "clerk": c.staff.full_name if c.staff else None,
            "is_free": c.staff_id is None,
            "is_mine": c.staff_id == actor.id,
            "services": [
                {"code": e.service.code, "name_en": e.service.name_en, "name_ur": e.service.name_ur}
                for e in sorted(c.profile, key=lambda e: -e.weight)
            ],
        }
        for c in counters
    ]
