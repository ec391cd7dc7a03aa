"""The fairness bound of the dispatch rule, proved on a busy simulated day: once a token
has waited k x its target, no token that waited less is called before it for its weight."""

from __future__ import annotations

from queue_server.simulation.demo import demo_plan, demo_services
from queue_server.simulation.engine import simulate
from queue_server.simulation.model import CounterPlan, DayRecord, Plan, ServiceSpec
from queue_server.simulation.report import longest_waits

HOUR = 3600.0
# One counter: a heavy service (weight 9) keeps it 85 % busy, a light one (weight 1) adds 10 %.
HEAVY = ServiceSpec(
    1, "heavy", 600, arrivals_per_slot=[0.0] * 16 + [5.4] * 16, mean_service_seconds=300, cv=0.3
)
LIGHT = ServiceSpec(
    2, "light", 600, arrivals_per_slot=[0.0] * 16 + [0.6] * 16, mean_service_seconds=300, cv=0.3
)


def busy_day(k: float | None, seed: int) -> DayRecord:
    plan = Plan([CounterPlan(1, {1: 9, 2: 1}, [(8 * HOUR, 20 * HOUR)], 1)], fairness_k=k, walk_seconds=0.0)
    return simulate({1: HEAVY, 2: LIGHT}, plan, seed)


def overtaken(record: DayRecord, k: float) -> int:
    """Calls that took a token which had waited less than an overdue normal token
    (waited > k x its target) that the same counter could have called."""
    plan = {c.counter_id: c for c in record.plan.counters}
    count = 0
    for y in record.visits:
        if y.called_at is None or y.is_priority:
            continue
        t = y.called_at
        for x in record.visits:
            if x is y or x.is_priority or x.service_id not in plan[y.counter_id].weights:  # type: ignore[index]
                continue
            waiting = x.issued_at <= t and (x.called_at is None or x.called_at > t)
            overdue = t - x.queued_at > k * record.services[x.service_id].target_seconds
            if waiting and overdue and y.queued_at > x.queued_at:
                count += 1
    return count


def test_without_the_bound_weights_starve_the_light_service() -> None:
    records = [busy_day(None, seed) for seed in range(3)]
    assert sum(overtaken(r, 2.0) for r in records) > 20
    assert max(w["ratio"] for r in records for w in longest_waits(r) if w["code"] == "light") > 6


def test_with_the_bound_no_overdue_token_is_overtaken_and_the_longest_wait_falls() -> None:
    before = [busy_day(None, seed) for seed in range(3)]
    after = [busy_day(2.0, seed) for seed in range(3)]
    assert all(overtaken(r, 2.0) == 0 for r in after)

    def longest(records: list[DayRecord]) -> float:
        return max(w["ratio"] for r in records for w in longest_waits(r) if w["code"] == "light")

    assert longest(after) < longest(before) / 2


def test_demo_day_at_peak_demand_keeps_the_bound() -> None:
    services = demo_services(tokens_per_day=480)  # a busy Monday
    record = simulate(services, demo_plan(fairness_k=3.0), 2)
    assert overtaken(record, 3.0) == 0
    unbounded = simulate(services, demo_plan(fairness_k=None), 2)
    assert overtaken(unbounded, 3.0) > 0
