"""The report of a range of days: stored aggregates where they still hold, the rest from
the tokens; tables per service, counter, clerk, hour and day."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from queue_server.clock import utcnow
from queue_server.models import (
    Centre,
    DailyStat,
    DailyStatDay,
)
from queue_server.read import queue_state
from queue_server.read.statistics.figures import (
    GrainTallies,
    Tally,
    extra_figures,
    extras,
    group,
    tally_facts,
    wait_distribution,
)
from queue_server.read.statistics.sources import (
    day_states,
    feedback_figures,
    out_of_order,
    range_tokens,
    requests_figures,
    service_targets,
    staff_names,
    token_facts,
)


def grain_tallies(
    session: Session, centre: Centre, first: date, last: date
) -> tuple[GrainTallies, dict[str, int]]:
    """Every grain tally of the range: stored days that are still true, the others from
    the tokens (reading only: end of day stores settled days). Also says how many days
    came from where."""
    states = day_states(session, centre, first, last)
    stored = {
        m.day: m.states
        for m in session.scalars(
            select(DailyStatDay).where(
                DailyStatDay.centre_id == centre.id, DailyStatDay.day.between(first, last)
            )
        )
    }
    fresh = {d for d, s in states.items() if stored.get(d) == s}
    stale = set(states) - fresh
    out: GrainTallies = []
    if fresh:
        rows = session.execute(
            select(*DailyStat.__table__.columns).where(
                DailyStat.centre_id == centre.id,
                DailyStat.day.between(min(fresh), max(fresh)),
            )
        ).all()
        out.extend(
            ((r.day, r.service_id, r.hour, r.counter_id, r.staff_id), Tally.from_row(r))
            for r in rows
            if r.day in fresh
        )
    if stale:
        facts = token_facts(session, centre, min(stale), max(stale), stale)
        computed = tally_facts(facts, service_targets(session, centre))
        out.extend(computed.items())
    return out, {"days": len(states), "stored": len(fresh), "computed": len(stale)}


def report(
    session: Session,
    centre: Centre,
    first: date,
    last: date,
    *,
    service_id: int | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The report of a date range (inclusive), optionally for one service: totals and
    tables per service, counter, clerk, hour of day and day; wait distribution; accuracy of
    the wait estimate; requests closed in time and late; feedback scores."""
    now = now or utcnow()
    grains, sources = grain_tallies(session, centre, first, last)
    if service_id is not None:
        grains = [(k, t) for k, t in grains if k[1] == service_id]
    tokens = range_tokens(session, centre, first, last, service_id)
    requests = requests_figures(session, tokens, now)
    feedback = feedback_figures(session, centre, first, last, tokens)
    services = {s.id: s for s in centre.services}
    counters = {c.id: c for c in centre.counters}

    total = Tally()
    for _, tally in grains:
        total.merge(tally)
    ratings = [f[5] for f in feedback]

    def table(dim_index: int, dim: str, describe: Callable[[Any], dict[str, Any]]) -> list[dict[str, Any]]:
        tallies = group(grains, lambda k: k[dim_index])
        req = extras(requests, dim)
        fb = extras(feedback, dim)
        keys = sorted(set(tallies) | set(req) | set(fb), key=lambda k: (k == 0, k))
        return [
            {
                **describe(key),
                **tallies.get(key, Tally()).figures(),
                **extra_figures(req.get(key), fb.get(key)),
            }
            for key in keys
        ]

    def describe_service(sid: int) -> dict[str, Any]:
        s = services.get(sid)
        return {
            "key": sid,
            "code": s.code if s else str(sid),
            "name_en": s.name_en if s else str(sid),
            "name_ur": s.name_ur if s else str(sid),
            "target_wait_minutes": s.target_wait_minutes if s else None,
            "sort": s.sort_order if s else 999,
        }

    def describe_counter(cid: int) -> dict[str, Any]:
        c = counters.get(cid)
        return {"key": cid, "number": c.number if c else None, "name": c.name if c else ""}

    staff_ids = {k[4] for k, _ in grains} | {r[2] for r in requests} | {f[2] for f in feedback}
    names = staff_names(session, staff_ids)

    def describe_clerk(sid: int) -> dict[str, Any]:
        return {"key": sid, "name": names.get(sid, "") if sid else ""}

    by_service = sorted(table(1, "service_id", describe_service), key=lambda r: r["sort"])
    by_counter = sorted(
        table(3, "counter_id", describe_counter), key=lambda r: (r["number"] is None, r["number"] or 0)
    )
    by_clerk = sorted(table(4, "staff_id", describe_clerk), key=lambda r: (r["key"] == 0, r["name"]))
    by_hour = table(2, "hour", lambda h: {"key": h, "hour": h, "label": f"{h:02d}:00–{(h + 1) % 24:02d}:00"})
    by_hour.sort(key=lambda r: r["hour"])
    days = {d.isoformat(): t for d, t in group(grains, lambda k: k[0]).items()}
    day_requests, day_feedback = extras(requests, "day"), extras(feedback, "day")
    by_day = [
        {
            "key": d,
            "day": d,
            **days.get(d, Tally()).figures(),
            **extra_figures(day_requests.get(d), day_feedback.get(d)),
        }
        for d in sorted(set(days) | set(day_requests) | set(day_feedback))
    ]
    service = services.get(service_id) if service_id is not None else None
    return {
        "centre": queue_state.centre_public(centre),
        "from": first.isoformat(),
        "to": last.isoformat(),
        "service": queue_state.service_public(service) if service else None,
        "generated_at": now.isoformat(),
        "sources": sources,
        "totals": {
            **total.figures(),
            **extra_figures(
                [len(requests), sum(r[5] for r in requests), sum(r[6] for r in requests)],
                [len(ratings), sum(ratings), len(ratings)],
            ),
        },
        "by_service": by_service,
        "by_counter": by_counter,
        "by_clerk": by_clerk,
        "out_of_order": out_of_order(session, centre, first, last, service_id=service_id),
        "by_hour": by_hour,
        "by_day": by_day,
        "wait_distribution": wait_distribution(total.waits),
        "feedback": {
            "count": len(ratings),
            "average": round(sum(ratings) / len(ratings), 2) if ratings else None,
            "distribution": {str(n): ratings.count(n) for n in range(1, 6)},
        },
    }
