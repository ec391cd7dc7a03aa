"""The dispatch rule, with no app at all."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from queue_server.dispatch import Candidate, CounterView, choose, next_streak, rank

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
A, B, C = 1, 2, 3


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


def view(weights: dict[int, int] | None = None, **kw: int) -> CounterView:
    return CounterView(counter_id=7, weights=weights or {A: 1, B: 1}, **kw)


def test_nobody_waiting_gives_none() -> None:
    assert choose([], view(), NOW) is None


def test_longest_waiting_wins_with_equal_weights() -> None:
    older = Candidate(1, A, ago(10))
    newer = Candidate(2, B, ago(5))
    assert choose([newer, older], view(), NOW) == older


def test_weight_multiplies_waiting_time() -> None:
    # B waited 5 min at weight 3 (=15) beats A waiting 10 min at weight 1 (=10).
    a = Candidate(1, A, ago(10))
    b = Candidate(2, B, ago(5))
    assert choose([a, b], view({A: 1, B: 3}), NOW) == b
    # ... but not when A waited 16 min.
    a_long = Candidate(3, A, ago(16))
    assert choose([a_long, b], view({A: 1, B: 3}), NOW) == a_long


def test_priority_beats_longer_wait_and_weight() -> None:
    normal = Candidate(1, A, ago(60))
    senior = Candidate(2, B, ago(1), is_priority=True)
    assert choose([normal, senior], view({A: 9, B: 1}), NOW) == senior


def test_direct_transfer_to_this_counter_beats_priority() -> None:
    senior = Candidate(1, A, ago(30), is_priority=True)
    direct = Candidate(2, C, ago(1), target_counter_id=7)
    assert choose([senior, direct], view(), NOW) == direct


def test_transfer_to_another_counter_is_not_eligible_here() -> None:
    elsewhere = Candidate(1, A, ago(30), target_counter_id=8)
    waiting = Candidate(2, A, ago(1))
    assert choose([elsewhere, waiting], view(), NOW) == waiting
    assert choose([elsewhere], view(), NOW) is None


def test_services_outside_the_profile_are_not_eligible() -> None:
    other = Candidate(1, C, ago(100))
    assert choose([other], view({A: 1}), NOW) is None


def test_direct_transfer_of_a_service_outside_the_profile_is_eligible() -> None:
    direct = Candidate(1, C, ago(1), target_counter_id=7)
    assert choose([direct], view({A: 1}), NOW) == direct


def test_ties_go_to_earlier_issue_then_lower_id() -> None:
    same_time_low = Candidate(4, A, ago(5))
    same_time_high = Candidate(9, A, ago(5))
    assert choose([same_time_high, same_time_low], view(), NOW) == same_time_low
    # equal score from different services: the earlier issue wins
    a = Candidate(1, A, ago(10))  # 10 x 1
    b = Candidate(2, B, ago(5))  # 5 x 2
    assert choose([b, a], view({A: 1, B: 2}), NOW) == a


def test_no_starvation_guard_takes_a_normal_after_the_streak() -> None:
    senior = Candidate(1, A, ago(1), is_priority=True)
    normal = Candidate(2, A, ago(30))
    capped = view(priority_streak=3, max_priority_streak=3)
    assert choose([senior, normal], capped, NOW) == normal
    below = view(priority_streak=2, max_priority_streak=3)
    assert choose([senior, normal], below, NOW) == senior
    disabled = view(priority_streak=50, max_priority_streak=0)
    assert choose([senior, normal], disabled, NOW) == senior


def test_guard_yields_to_priority_when_no_normal_waits() -> None:
    senior = Candidate(1, A, ago(1), is_priority=True)
    assert choose([senior], view(priority_streak=9, max_priority_streak=3), NOW) == senior


def test_guard_still_puts_direct_transfers_first() -> None:
    direct = Candidate(1, C, ago(1), target_counter_id=7)
    normal = Candidate(2, A, ago(30))
    assert choose([normal, direct], view(priority_streak=3, max_priority_streak=3), NOW) == direct


def test_streak_counts_priority_calls_and_resets_on_normal() -> None:
    v = view(priority_streak=2, max_priority_streak=3)
    assert next_streak(v, Candidate(1, A, ago(1), is_priority=True)) == 3
    assert next_streak(v, Candidate(2, A, ago(1))) == 0
    assert next_streak(v, Candidate(3, C, ago(1), is_priority=True, target_counter_id=7)) == 2


def test_parked_tokens_are_never_candidates() -> None:
    # Parked tokens stay with their counter and are not in the waiting set the core
    # passes in; the rule only ranks what it is given, so ranking an empty set is empty.
    assert rank([], view(), NOW) == []


def test_rank_orders_every_eligible_candidate() -> None:
    cands = [
        Candidate(1, A, ago(1)),
        Candidate(2, A, ago(3)),
        Candidate(3, B, ago(2), is_priority=True),
        Candidate(4, C, ago(9)),
    ]
    assert [c.token_id for c in rank(cands, view(), NOW)] == [3, 2, 1]


def fair_view(k: float | None, **kw: int) -> CounterView:
    # A is light (weight 1, target 10 min), B heavy (weight 5, target 10 min).
    return CounterView(7, {A: 1, B: 5}, fairness_k=k, target_seconds={A: 600.0, B: 600.0}, **kw)


def test_fairness_bound_lifts_an_overdue_light_token_to_the_top_weight() -> None:
    light = Candidate(1, A, ago(35))  # 35 min x 1 = 35
    heavy = Candidate(2, B, ago(10))  # 10 min x 5 = 50
    assert choose([light, heavy], fair_view(None), NOW) == heavy  # the plain rule
    # k = 3: 35 min > 3 x 10 min, so A competes at weight 5: 175 > 50.
    assert choose([light, heavy], fair_view(3), NOW) == light
    # Not yet overdue (25 min < 30 min): the weights decide as before.
    light_25 = Candidate(3, A, ago(25))
    assert choose([light_25, heavy], fair_view(3), NOW) == heavy


def test_fairness_bound_still_yields_to_longer_waits_priority_and_direct() -> None:
    light = Candidate(1, A, ago(35))
    heavy_longer = Candidate(2, B, ago(40))
    assert choose([light, heavy_longer], fair_view(3), NOW) == heavy_longer
    senior = Candidate(3, B, ago(1), is_priority=True)
    assert choose([light, senior], fair_view(3), NOW) == senior
    direct = Candidate(4, C, ago(1), target_counter_id=7)
    assert choose([light, direct], fair_view(3), NOW) == direct


def test_fairness_bound_ignores_services_without_a_target() -> None:
    light = Candidate(1, A, ago(300))
    heavy = Candidate(2, B, ago(61))
    no_target = CounterView(7, {A: 1, B: 5}, fairness_k=3)
    assert choose([light, heavy], no_target, NOW) == heavy


def _rule_by_the_book(candidates: list[Candidate], counter: CounterView, now: datetime) -> list[Candidate]:
    """The rule as the module's docstring states it, in datetimes: the oracle for the
    microsecond arithmetic ``rank`` and ``choose`` use (the forecast calls them thousands
    of times per change)."""
    eligible = [c for c in candidates if (c.target_counter_id or None) in (None, counter.counter_id)]
    eligible = [c for c in eligible if c.target_counter_id is not None or c.service_id in counter.weights]
    streak_reached = 0 < counter.max_priority_streak <= counter.priority_streak
    ignore_priority = streak_reached and any(not c.is_priority for c in eligible)

    def key(c: Candidate) -> tuple[bool, bool, float, float, int]:
        waited = max(0.0, (now - c.queued_at).total_seconds())
        weight = counter.weights.get(c.service_id, 1)
        target = counter.target_seconds.get(c.service_id)
        overdue = counter.fairness_k is not None and target and waited > counter.fairness_k * target
        if overdue:
            weight = max(weight, max(counter.weights.values(), default=1))
        priority = c.is_priority and not ignore_priority
        return (
            c.target_counter_id == counter.counter_id,
            priority,
            waited * weight,
            -c.queued_at.timestamp(),
            -c.token_id,
        )

    return sorted(eligible, key=key, reverse=True)


def test_the_rule_in_microseconds_orders_as_the_rule_in_datetimes() -> None:
    """Random queues with ties made on purpose (waits that weigh the same, the same issue
    instant, fractions of a second, an issue time after ``now``): the same order."""
    import random

    rng = random.Random(15)
    for round_ in range(300):
        weights = {s: rng.choice((1, 1, 2, 3, 9)) for s in range(1, 6) if rng.random() < 0.8} or {1: 1}
        counter = CounterView(
            7,
            weights,
            priority_streak=rng.choice((0, 1, 3)),
            max_priority_streak=rng.choice((0, 2)),
            fairness_k=rng.choice((None, 1.5)),
            target_seconds={s: rng.choice((0.0, 60.0, 600.0)) for s in range(1, 6)},
        )
        base = rng.choice((0, 1, 2, 3))  # seconds: equal products of wait and weight
        candidates = [
            Candidate(
                token_id=i,
                service_id=rng.randint(1, 6),
                queued_at=NOW
                - timedelta(
                    seconds=rng.choice((base, 2 * base, 3 * base, 600, -5)),
                    microseconds=rng.choice((0, 0, 1, 999_999, 333_333)),
                ),
                is_priority=rng.random() < 0.2,
                target_counter_id=rng.choice((None, None, None, 7, 8)),
            )
            for i in range(rng.randint(0, 12))
        ]
        expected = _rule_by_the_book(candidates, counter, NOW)
        assert rank(candidates, counter, NOW) == expected, round_
        assert choose(candidates, counter, NOW) == (expected[0] if expected else None), round_
