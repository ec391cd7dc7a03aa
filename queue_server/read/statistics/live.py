"""The manager's live view of one centre: today's figures, counters, screens, alerts."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from queue_server.clock import utcnow
from queue_server.models import (
    Alert,
    Centre,
    CounterState,
    Token,
    TokenState,
)
from queue_server.read import queue_state
from queue_server.read.statistics.figures import Passage, Tally, trend
from queue_server.read.statistics.sources import (
    day_bounds,
    device_status,
    estimate_errors,
    last_activity,
    open_alerts,
    service_targets,
    token_facts,
)


def live_centre(
    session: Session, centre: Centre, now: datetime | None = None, *, figures: bool = True
) -> dict[str, Any]:
    """The manager's live view: today's figures per service and per counter, devices in
    trouble, the open alerts and the trend of waiting and served through the day.

    ``figures=False``: only what the alerts read (``alerts.conditions``: each service's
    queue, each counter's state, the printers), for a centre nobody watches. Its tallies
    are empty and it has no estimates, estimate errors or trend: those read every token
    of the day (100 ms with 3,000 served), where the rest reads only what is open."""
    now = now or utcnow()
    today = centre.business_day(now)
    facts = token_facts(session, centre, today, today) if figures else []
    targets = service_targets(session, centre) if figures else {}  # (for the tallies)
    by_service: dict[int, Tally] = defaultdict(Tally)
    by_counter: dict[int, Tally] = defaultdict(Tally)
    total = Tally()
    for fact in facts:
        target = targets.get(fact.service_id, 20 * 60)
        by_service[fact.service_id].add(fact, target)
        total.add(fact, target)
        if fact.counter_id:
            by_counter[fact.counter_id].add(fact, target)
    waiting = queue_state.waiting_by_service(session, centre, today)
    etas = queue_state.forecast_of(queue_state.counter_capacities(session, centre, today)) if figures else None
    services = []
    for service in centre.services:
        q = waiting.get(service.id)
        tally = by_service.get(service.id, Tally())
        if not service.is_active and not tally.arrivals and not q:
            continue
        count = q.waiting if q else 0
        oldest = q.oldest_queued_at if q else None
        services.append(
            {
                **queue_state.service_public(service),
                "waiting": count,
                "waiting_priority": q.waiting_priority if q else 0,
                "oldest_queued_at": queue_state.iso(oldest),
                "longest_wait_seconds": max(0, int((now - oldest).total_seconds())) if oldest else 0,
                "eta_minutes": etas.new_minutes(service.id) if etas is not None else None,
                **tally.figures(),
            }
        )
    current = queue_state.current_tokens(session, centre.id)
    day_start, _ = day_bounds(centre, today, today)
    activity = last_activity(session, centre, day_start)
    counters = []
    for counter in centre.counters:
        token = current.get(counter.id)
        tally = by_counter.get(counter.id, Tally())
        counted = tally.figures()
        since = None
        if token is not None:
            since = token.started_at if token.state == TokenState.SERVING else token.called_at
        idle_since = None
        if counter.state == CounterState.OPEN and token is None:
            candidates = [t for t in (counter.opened_at, activity.get(counter.id)) if t is not None]
            idle_since = max(candidates) if candidates else None
        counters.append(
            {
                "id": counter.id,
                "number": counter.number,
                "name": counter.name,
                "state": counter.state.value,
                "clerk": (counter.staff.full_name or counter.staff.username) if counter.staff else None,
                "current": (
                    {
                        **queue_state.token_public(token),
                        "since": queue_state.iso(since),
                    }
                    if token is not None
                    else None
                ),
                "idle_since": queue_state.iso(idle_since),
                "services": sorted(e.service_id for e in counter.profile),
                "served": counted["served"],
                "called": counted["called"],
                "avg_service_seconds": counted["avg_service_seconds"],
            }
        )
    devices = device_status(session, [centre.id], now)[centre.id]
    return {
        "centre": {**queue_state.centre_public(centre), "today": today.isoformat()},
        "server_time": now.isoformat(),
        "totals": {
            **total.figures(),
            "waiting": sum(q.waiting for q in waiting.values()),
            "counters_open": sum(1 for c in centre.counters if c.state == CounterState.OPEN),
            "counters": len(centre.counters),
            **(estimate_errors(session, centre, today) if figures else {}),
        },
        "services": services,
        "counters": counters,
        "devices": devices,
        "alerts": [alert_public(a) for a in open_alerts(session, [centre.id])],
        "trend": trend(_passages(session, centre, today), now, centre.tz) if figures else [],
    }


def alert_public(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.id,
        "centre_id": alert.centre_id,
        "kind": alert.kind,
        "subject": alert.subject,
        "value": alert.value,
        "threshold": alert.threshold,
        "data": alert.data or {},
        "raised_at": queue_state.iso(alert.raised_at),
        "cleared_at": queue_state.iso(alert.cleared_at),
        "acknowledged": alert.acknowledged_at is not None,
    }


def _passages(session: Session, centre: Centre, day: date) -> list[Passage]:
    """The day's tokens as they went through the hall, for the trend chart (here, not in
    ``sources``: only the live view reads it)."""
    rows = session.execute(
        select(Token.issued_at, Token.first_called_at, Token.finished_at, Token.state).where(
            Token.centre_id == centre.id, Token.business_day == day
        )
    ).all()
    out = []
    for issued, called, finished, state in rows:
        state = state if isinstance(state, TokenState) else TokenState(state)
        left = called or (finished if state != TokenState.WAITING else None)
        served = finished if state == TokenState.DONE else None
        out.append(Passage(issued, left, served))
    return out
