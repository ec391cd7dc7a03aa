"""The province view: every centre's figures for today, side by side."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from queue_server.clock import utcnow
from queue_server.models import (
    Centre,
    Counter,
    CounterState,
    Service,
    Token,
    TokenState,
)
from queue_server.read import queue_state
from queue_server.read.statistics.figures import Tally, TokenFact
from queue_server.read.statistics.live import alert_public
from queue_server.read.statistics.sources import device_status, open_alerts


def province(
    session: Session, now: datetime | None = None, centre_ids: Sequence[int] | None = None
) -> list[dict[str, Any]]:
    """Every centre (or these) with its live figures, in a few queries for all of them."""
    now = now or utcnow()
    query = select(Centre).order_by(Centre.code)
    if centre_ids is not None:
        query = query.where(Centre.id.in_(list(centre_ids)))
    centres = session.scalars(query).all()
    if not centres:
        return []
    ids = [c.id for c in centres]
    days = {c.id: c.business_day(now) for c in centres}
    hall_from = {c.id: queue_state.hall_days(c, days[c.id])[0] for c in centres}
    targets = dict(
        session.execute(
            select(Service.id, Service.target_wait_minutes).where(Service.centre_id.in_(ids))
        ).all()
    )
    tallies: dict[int, Tally] = defaultdict(Tally)
    waiting: dict[int, int] = defaultdict(int)
    oldest: dict[int, datetime] = {}
    for day in sorted(set(days.values())):
        same_day = [cid for cid in ids if days[cid] == day]
        rows = session.execute(
            select(
                Token.centre_id,
                Token.origin_service_id,
                Token.state,
                Token.issued_at,
                Token.queued_at,
                Token.first_called_at,
                Token.business_day,
            ).where(
                Token.centre_id.in_(same_day),
                # the day's tokens, and those carried over the boundary that still wait
                Token.business_day.between(min(hall_from[cid] for cid in same_day), day),
            )
        ).all()
        for r in rows:
            state = r.state.value if isinstance(r.state, TokenState) else str(r.state)
            if r.business_day < hall_from[r.centre_id]:
                continue
            if state == TokenState.WAITING.value:
                waiting[r.centre_id] += 1
                if r.centre_id not in oldest or r.queued_at < oldest[r.centre_id]:
                    oldest[r.centre_id] = r.queued_at
            if r.business_day != day:
                continue
            wait = int((r.first_called_at - r.issued_at).total_seconds()) if r.first_called_at else None
            fact = TokenFact(0, day, r.origin_service_id, 0, 0, 0, state, wait, None, None)
            tallies[r.centre_id].add(fact, targets.get(r.origin_service_id, 20) * 60)
    counters: dict[int, list[CounterState]] = defaultdict(list)
    for cid, state in session.execute(
        select(Counter.centre_id, Counter.state).where(Counter.centre_id.in_(ids))
    ):
        counters[cid].append(state)
    alerts: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for alert in open_alerts(session, ids):
        alerts[alert.centre_id].append(alert_public(alert))
    devices = device_status(session, ids, now)
    out = []
    for centre in centres:
        figures = tallies[centre.id].figures()
        first = oldest.get(centre.id)
        out.append(
            {
                "id": centre.id,
                "code": centre.code,
                "name_en": centre.name_en,
                "name_ur": centre.name_ur,
                "district": centre.district,
                "today": days[centre.id].isoformat(),
                "waiting": waiting[centre.id],
                "oldest_queued_at": queue_state.iso(first),
                "longest_wait_seconds": max(0, int((now - first).total_seconds())) if first else 0,
                "arrivals": figures["arrivals"],
                "served": figures["served"],
                "avg_wait_seconds": figures["avg_wait_seconds"],
                "within_target_share": figures["within_target_share"],
                "no_show_rate": figures["no_show_rate"],
                "counters_open": sum(1 for s in counters[centre.id] if s == CounterState.OPEN),
                "counters": len(counters[centre.id]),
                "alerts": alerts[centre.id],
                "printers_down": sum(1 for p in devices[centre.id]["printers"] if p["level"] == "error"),
                "screens_offline": len(devices[centre.id]["screens"]),
            }
        )
    return out
