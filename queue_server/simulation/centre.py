"""The simulator for one centre of the database: its plan of a day, its demand fitted from
history, history seeding, and the what-if comparison (CLI and manager dashboard)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from queue_server.models import Centre, Counter, Service, Token
from queue_server.simulation import demo, history, report
from queue_server.simulation.engine import simulate
from queue_server.simulation.hours import hours_seconds
from queue_server.simulation.model import CounterPlan, Plan, ServiceSpec
from queue_server.simulation.plan import CentreShape, build, describe
from queue_server.simulation.seeding import WEEKDAY_FACTOR, play_day

FIT_DAYS = 28


class NoHistory(ValueError):
    """Nothing recorded to fit demand from."""


def shape_of(session: Session, centre: Centre) -> CentreShape:
    counters = session.scalars(select(Counter).where(Counter.centre_id == centre.id)).all()
    services = session.scalars(select(Service).where(Service.centre_id == centre.id)).all()
    return CentreShape(
        counter_ids={c.number: c.id for c in counters},
        profiles={c.number: {e.service_id: e.weight for e in c.profile} for c in counters},
        service_ids={s.code: s.id for s in services},
        fairness_k=centre.fairness_k,
        max_priority_streak=centre.max_priority_streak,
        closes_at=hours_seconds(centre)[1],
    )


def recorded_days(session: Session, centre: Centre, before: date, limit: int = FIT_DAYS) -> list[date]:
    rows = session.scalars(
        select(Token.business_day)
        .where(Token.centre_id == centre.id, Token.business_day < before)
        .group_by(Token.business_day)
        .order_by(Token.business_day.desc())
        .limit(limit)
    ).all()
    return sorted(rows)


def configured_plan(session: Session, centre: Centre) -> Plan:
    """Every counter with a profile, open from the centre's opening to its closing time."""
    shape = shape_of(session, centre)
    opens = hours_seconds(centre)[0]
    counters = [
        CounterPlan(shape.counter_ids[n], dict(w), [(opens, shape.closes_at)], n)
        for n, w in sorted(shape.profiles.items())
        if w
    ]
    return Plan(counters, centre.fairness_k, centre.max_priority_streak, shape.closes_at)


def day_plan(session: Session, centre: Centre, day: date) -> tuple[Plan, str]:
    """The plan of a day: as recorded when the day has counter openings, else as
    configured. The second value says which."""
    recorded = history.record_day(session, centre, day).plan
    if recorded.counters:
        return recorded, "recorded"
    return configured_plan(session, centre), "configured"


def demand(session: Session, centre: Centre, day: date) -> tuple[dict[int, ServiceSpec], list[date]]:
    """Demand per service fitted from the centre's recorded days before ``day`` (up to
    FIT_DAYS), scaled to the weekday of ``day``. NoHistory when there are none."""
    days = recorded_days(session, centre, day)
    if not days:
        raise NoHistory(centre.code)
    base = history.base_services(session, centre)
    records = [history.record_day(session, centre, d) for d in days]
    fitted = history.fit_services(base, records)
    # Days of history are of mixed weekdays: their mean is scaled to the asked weekday.
    mean_factor = sum(WEEKDAY_FACTOR[d.weekday()] for d in days) / len(days)
    factor = WEEKDAY_FACTOR[day.weekday()] / mean_factor if mean_factor else 1.0
    return {sid: scale(spec, factor or 1.0) for sid, spec in fitted.items()}, days


def scale(spec: ServiceSpec, factor: float) -> ServiceSpec:
    return replace(spec, arrivals_per_slot=[r * factor for r in spec.arrivals_per_slot])


def what_if(
    session: Session,
    centre: Centre,
    day: date,
    plan_data: Mapping[str, Any] | None,
    seed: int = 1,
    runs: int = 5,
) -> dict[str, Any]:
    """Today's plan against an edited one on the same simulated arrivals (same seeds), as
    report figures averaged over ``runs`` days. PlanError for a bad plan, NoHistory when
    demand cannot be fitted."""
    services, days = demand(session, centre, day)
    codes = {sid: s.code for sid, s in services.items()}
    current, source = day_plan(session, centre, day)
    edited, demand_scale = (
        (current, 1.0) if plan_data is None else build(plan_data, shape_of(session, centre))
    )
    scaled = {sid: scale(s, demand_scale) for sid, s in services.items()}
    return {
        "centre": centre.code,
        "date": day.isoformat(),
        "history_days": [d.isoformat() for d in days],
        "plan_source": source,
        "today_plan": describe(current, codes),
        "edited_plan": describe(edited, codes) | {"demand_scale": demand_scale},
        "today": _runs(services, current, seed, runs),
        "edited": _runs(scaled, edited, seed, runs),
    }


def _runs(services: Mapping[int, ServiceSpec], plan: Plan, seed: int, runs: int) -> dict[str, Any]:
    """The first run's full report, with the day figures and longest waits of every run."""
    records = [simulate(services, plan, seed + i) for i in range(runs)]
    out = report.summarise(records[0])
    out["runs"] = [report.summarise(r)["total"] | {"seed": seed + i} for i, r in enumerate(records)]
    out["longest"] = report.longest_waits(records[0])
    return out


def seed_history(
    session: Session, centre: Centre, days: int, until: date, *, seed: int = 1, scale_by: float = 1.0
) -> list[tuple[date, int]]:
    """Play ``days`` past days (Sundays closed) before ``until`` through the operations
    with the demo profile, skipping days that already have tokens. Commits as it goes."""
    shape = shape_of(session, centre)
    services = demo.demo_services(ids=shape.service_ids) if _has_demo_services(shape) else None
    if services is None:
        raise NoHistory("seed-history knows only the demo catalogue")
    plan = demo.demo_plan(ids=shape.service_ids, fairness_k=centre.fairness_k, counter_ids=shape.counter_ids)
    done = []
    for back in range(days, 0, -1):
        day = until - timedelta(days=back)
        factor = WEEKDAY_FACTOR[day.weekday()]
        if factor <= 0:
            continue
        exists = session.scalar(
            select(func.count()).where(Token.centre_id == centre.id, Token.business_day == day)
        )
        if exists:
            continue
        issued = play_day(
            session, centre, day, services, plan, seed=seed + day.toordinal(), scale=factor * scale_by
        )
        done.append((day, issued))
    return done


def _has_demo_services(shape: CentreShape) -> bool:
    return all(code in shape.service_ids for code in demo.SHARES)
