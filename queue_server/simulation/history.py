"""A centre's recorded days, read from its event log, as the simulator's values: a
``DayRecord`` to replay and score, and demand fitted per service (arrivals per 30 minutes,
service-time mean and spread, priority, no-show and transfer shares)."""

from __future__ import annotations

import math
import statistics
from collections import Counter as Tally
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from queue_server.models import Centre, Counter, Event, Service
from queue_server.simulation.hours import hours_seconds
from queue_server.simulation.model import (
    SLOT_SECONDS,
    SLOTS_PER_DAY,
    CounterPlan,
    DayRecord,
    Plan,
    ServiceSpec,
    Stay,
    Visit,
)

OPENING = {"counter_opened": True, "counter_resumed": True, "counter_closed": False, "counter_paused": False}


def midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tz)


def base_services(session: Session, centre: Centre) -> dict[int, ServiceSpec]:
    """The centre's services with their configured figures and no demand."""
    rows = session.scalars(select(Service).where(Service.centre_id == centre.id).order_by(Service.sort_order))
    return {
        s.id: ServiceSpec(
            service_id=s.id,
            code=s.code,
            target_seconds=60.0 * s.target_wait_minutes,
            is_same_day=s.is_same_day,
            mean_service_seconds=60.0 * s.default_service_minutes,
        )
        for s in rows
    }


def profiles(session: Session, centre: Centre) -> dict[int, tuple[int, dict[int, int]]]:
    """Counter id -> (number, its work profile) as configured now."""
    counters = session.scalars(select(Counter).where(Counter.centre_id == centre.id).order_by(Counter.number))
    return {c.id: (c.number, {e.service_id: e.weight for e in c.profile}) for c in counters}


def record_day(session: Session, centre: Centre, day: date) -> DayRecord:
    """The day as it happened, from the event log: every stay of a token in a queue
    (issue, requeue and transfer start one) and each counter's open intervals. Work
    profiles are today's (their history is not recorded)."""
    tz = centre.tz
    start = midnight(day, tz)
    end = start + timedelta(days=1)
    events = session.scalars(
        select(Event)
        .where(Event.centre_id == centre.id, Event.at >= start, Event.at < end)
        .order_by(Event.seq)
    ).all()

    def sec(at: datetime) -> float:
        return (at - start).total_seconds()

    visits: list[Visit] = []
    current: dict[int, Visit] = {}
    opened: dict[int, float] = {}
    shifts: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for e in events:
        t = sec(e.at)
        if e.kind in OPENING and e.counter_id is not None:
            if OPENING[e.kind]:
                opened.setdefault(e.counter_id, t)
            elif e.counter_id in opened:
                shifts[e.counter_id].append((opened.pop(e.counter_id), t))
            continue
        if e.token_id is None:
            continue
        visit = current.get(e.token_id)
        if e.kind == "token_issued" and e.service_id is not None:
            is_priority = (e.data or {}).get("priority", "normal") != "normal"
            visit = Visit(len(visits) + 1, e.token_id, e.service_id, is_priority, t, t)
            visits.append(visit)
            current[e.token_id] = visit
        elif visit is None:
            continue  # a token of an earlier day
        elif e.kind in ("token_called", "token_called_specific"):
            if visit.called_at is None:
                visit.called_at, visit.counter_id = t, e.counter_id
        elif e.kind == "token_started":
            visit.started_at = visit.started_at if visit.started_at is not None else t
        elif e.kind in ("token_completed", "token_no_show", "token_cancelled"):
            visit.finished_at = t
            visit.outcome = {"token_completed": "served", "token_no_show": "no_show"}.get(e.kind, "cancelled")
        elif e.kind in ("token_requeued", "token_transferred") and e.service_id is not None:
            if e.kind == "token_transferred":
                visit.finished_at, visit.outcome = t, "transferred"
            nxt = Visit(len(visits) + 1, e.token_id, e.service_id, visit.is_priority, t, visit.queued_at)
            nxt.is_first = False
            visits.append(nxt)
            current[e.token_id] = nxt
    for counter_id, since in opened.items():
        shifts[counter_id].append((since, 86400.0))

    counters = profiles(session, centre)
    plan = Plan(
        counters=[
            CounterPlan(cid, weights, shifts.get(cid, []), number)
            for cid, (number, weights) in counters.items()
            if shifts.get(cid)
        ],
        fairness_k=centre.fairness_k,
        max_priority_streak=centre.max_priority_streak,
        closes_at=hours_seconds(centre, day)[1],
    )
    return DayRecord(base_services(session, centre), plan, visits, label=day.isoformat())


def replay_inputs(record: DayRecord) -> tuple[list[tuple[float, int, bool]], list[list[Stay]]]:
    """A recorded day as ``simulate`` re-runs it: each token's issue (time, service, is
    priority), and what happened to it once called, stay by stay: through its transfers, up
    to a service or a no-show (the simulator does not requeue), and none from a stay that
    ended otherwise (cancelled, or still open at the end of the record)."""
    by_token: dict[int, list[Visit]] = defaultdict(list)
    for v in record.visits:
        by_token[v.token_id].append(v)
    trace, stays = [], []
    for v in record.visits:
        if not v.is_first:
            continue
        trace.append((v.issued_at, v.service_id, v.is_priority))
        played: list[Stay] = []
        token_stays = by_token[v.token_id]
        for n, stay in enumerate(token_stays):
            if stay.called_at is None or stay.finished_at is None:
                break
            if stay.outcome not in ("served", "no_show", "transferred"):
                break
            start = stay.started_at if stay.started_at is not None else stay.called_at
            after = token_stays[n + 1].service_id if n + 1 < len(token_stays) else None
            played.append(
                Stay(
                    stay.outcome,
                    start - stay.called_at,
                    stay.finished_at - stay.called_at,
                    after if stay.outcome == "transferred" else None,
                )
            )
            if stay.outcome != "transferred":
                break
        stays.append(played)
    return trace, stays


def fit_services(
    base: dict[int, ServiceSpec], records: Iterable[DayRecord], min_samples: int = 5
) -> dict[int, ServiceSpec]:
    """Demand per service fitted from recorded days: mean arrivals per 30-minute slot over
    the days, the mean and coefficient of variation of the service time (start to end of
    service; the configured default when fewer than ``min_samples``), and the shares of
    priority tokens, no-shows and transfers (with the usual destination)."""
    records = list(records)
    days = max(1, len(records))
    arrivals: dict[int, list[float]] = defaultdict(lambda: [0.0] * SLOTS_PER_DAY)
    times: dict[int, list[float]] = defaultdict(list)
    firsts: Tally[int] = Tally()
    priority: Tally[int] = Tally()
    called: Tally[int] = Tally()
    no_shows: Tally[int] = Tally()
    served: Tally[int] = Tally()
    transfers: dict[int, Tally[int]] = defaultdict(Tally)
    for record in records:
        by_token: dict[int, list[Visit]] = defaultdict(list)
        for v in record.visits:
            by_token[v.token_id].append(v)
            if v.is_first:
                slot = int(v.issued_at // SLOT_SECONDS)
                if 0 <= slot < SLOTS_PER_DAY:
                    arrivals[v.service_id][slot] += 1.0 / days
                firsts[v.service_id] += 1
                priority[v.service_id] += v.is_priority
            if v.called_at is not None:
                called[v.service_id] += 1
                no_shows[v.service_id] += v.outcome == "no_show"
            if (
                v.outcome in ("served", "transferred")
                and v.called_at is not None
                and v.finished_at is not None
            ):
                # From the start of service: the simulator adds the walk to the counter itself.
                since = v.started_at if v.started_at is not None else v.called_at
                times[v.service_id].append(v.finished_at - since)
                served[v.service_id] += 1
        for stays in by_token.values():
            for a, b in pairwise(stays):
                if a.outcome == "transferred":
                    transfers[a.service_id][b.service_id] += 1
    out = {}
    for sid, spec in base.items():
        samples = times.get(sid, [])
        mean, cv = spec.mean_service_seconds, spec.cv
        if len(samples) >= min_samples:
            mean = statistics.fmean(samples)
            cv = statistics.pstdev(samples) / mean if mean > 0 else spec.cv
        moved = transfers.get(sid, Tally())
        out[sid] = ServiceSpec(
            service_id=sid,
            code=spec.code,
            target_seconds=spec.target_seconds,
            is_same_day=spec.is_same_day,
            arrivals_per_slot=list(arrivals.get(sid, [0.0] * SLOTS_PER_DAY)),
            mean_service_seconds=mean,
            cv=cv if math.isfinite(cv) else spec.cv,
            distribution=spec.distribution,
            priority_share=priority[sid] / firsts[sid] if firsts[sid] else 0.0,
            no_show_share=no_shows[sid] / called[sid] if called[sid] else 0.0,
            transfer_share=sum(moved.values()) / served[sid] if served[sid] else 0.0,
            transfer_to=moved.most_common(1)[0][0] if moved else None,
        )
    return out
