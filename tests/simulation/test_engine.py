"""The simulator with no app: determinism, conservation, the plan obeyed, the reports."""

from __future__ import annotations

from queue_server.simulation import history
from queue_server.simulation.demo import demo_plan, demo_services
from queue_server.simulation.engine import simulate
from queue_server.simulation.model import CounterPlan, DayRecord, Plan, ServiceSpec
from queue_server.simulation.report import longest_waits, summarise

HOUR = 3600.0


def test_same_seed_same_day_other_seed_other_day() -> None:
    services, plan = demo_services(), demo_plan()
    a, b, c = simulate(services, plan, 7), simulate(services, plan, 7), simulate(services, plan, 8)
    assert [(v.issued_at, v.called_at, v.counter_id) for v in a.visits] == [
        (v.issued_at, v.called_at, v.counter_id) for v in b.visits
    ]
    assert [v.issued_at for v in a.visits] != [v.issued_at for v in c.visits]


def test_every_token_is_accounted_for_and_the_plan_is_obeyed() -> None:
    services, plan = demo_services(), demo_plan()
    record = simulate(services, plan, 3)
    firsts = [v for v in record.visits if v.is_first]
    assert 300 < len(firsts) < 460  # about 380 a day
    counters = {c.counter_id: c for c in plan.counters}
    for v in record.visits:
        assert v.outcome in ("served", "no_show", "transferred", "unserved")
        if v.called_at is None:
            assert v.outcome == "unserved"
            continue
        counter = counters[v.counter_id]  # type: ignore[index]
        assert v.service_id in counter.weights  # only services of its profile
        assert counter.is_open(v.called_at)  # never a call while closed or at lunch
        assert v.called_at >= v.issued_at
    # One token at a counter at a time.
    for counter_id in counters:
        stays = sorted((v.called_at, v.finished_at) for v in record.visits if v.counter_id == counter_id)
        assert all(a[1] <= b[0] for a, b in zip(stays, stays[1:], strict=False))  # type: ignore[operator]
    # Transfers keep the original issue time and wait again.
    moved = [v for v in record.visits if not v.is_first]
    assert moved and all(v.queued_at < v.issued_at for v in moved)


def test_priority_tokens_wait_less() -> None:
    record = simulate(demo_services(), demo_plan(), 5)
    prio = [v.wait for v in record.visits if v.is_priority and v.wait is not None]
    normal = [v.wait for v in record.visits if not v.is_priority and v.wait is not None]
    assert prio and sum(prio) / len(prio) < sum(normal) / len(normal)


def test_report_figures_match_the_visits() -> None:
    spec = ServiceSpec(
        1, "A", target_seconds=600, arrivals_per_slot=[0.0] * 16 + [6.0] * 4, mean_service_seconds=400
    )
    plan = Plan([CounterPlan(1, {1: 1}, [(8 * HOUR, 10 * HOUR)], 1)], closes_at=10 * HOUR)
    record = simulate({1: spec}, plan, 11)
    summary = summarise(record)
    waits = sorted(v.wait for v in record.visits if v.wait is not None)
    service = summary["services"][0]
    assert service["tokens"] == len(record.visits) == summary["tokens"]
    assert service["avg_wait_minutes"] == round(sum(waits) / len(waits) / 60, 2)
    assert service["max_wait_minutes"] == round(waits[-1] / 60, 2)
    assert service["within_target"] == round(sum(w <= 600 for w in waits) / len(waits), 3)
    assert sum(h["tokens"] for h in service["hours"]) == service["tokens"]
    # Overloaded (24 arrivals an hour, 9 served): some are still waiting at closing, late.
    assert service["unserved"] > 0 and service["late_same_day"] >= service["unserved"]
    assert 0.9 <= summary["counters"][0]["utilisation"] <= 1.0
    assert longest_waits(record)[0]["longest_minutes"] == round(waits[-1] / 60, 1)
    assert any(p["waiting"] > 0 for p in summary["timeline"])


def test_a_shift_ends_before_anything_else_at_that_instant() -> None:
    """A shift is [open, close). A counter freed at the very moment its shift ends calls
    nobody (a recorded pause is logged the instant the token before it completes, so the
    replay of a recorded day depends on it), and a shift that starts when the previous one
    ends reopens the counter."""
    spec = {1: ServiceSpec(1, "A", mean_service_seconds=300, distribution="deterministic")}
    trace = [(8 * HOUR, 1, False)] * 3
    plan = Plan([CounterPlan(1, {1: 1}, [(8 * HOUR, 8 * HOUR + 600)], 1)], walk_seconds=0)
    record = simulate(spec, plan, 0, trace=trace)
    assert [v.called_at for v in record.visits] == [8 * HOUR, 8 * HOUR + 300, None]
    steady = ServiceSpec(1, "A", arrivals_per_slot=[0.0] * 16 + [8.0] * 16, mean_service_seconds=300)
    back_to_back = Plan([CounterPlan(1, {1: 1}, [(8 * HOUR, 12 * HOUR), (12 * HOUR, 16 * HOUR)], 1)])
    record = simulate({1: steady}, back_to_back, 2)
    assert any(v.called_at is not None and v.called_at >= 12 * HOUR for v in record.visits)


def test_a_day_re_run_with_its_own_stays_calls_every_token_at_the_same_moment() -> None:
    """``stays`` replaces every draw after a call (no-shows, service times, transfers) by
    what happened to the token that day: re-running a day with its own stays, under another
    seed, reproduces every call."""
    day = simulate(demo_services(), demo_plan(), 4)
    assert any(not v.is_first for v in day.visits) and any(v.outcome == "no_show" for v in day.visits)
    trace, stays = history.replay_inputs(day)
    again = simulate(demo_services(), day.plan, 99, trace=trace, stays=stays)

    def calls(record: DayRecord) -> list[tuple[float, int | None, float | None, str]]:
        return sorted((v.issued_at, v.counter_id, v.called_at, v.outcome) for v in record.visits)

    assert calls(again) == calls(day)
    assert calls(simulate(demo_services(), day.plan, 99, trace=trace)) != calls(day)
