from __future__ import annotations

import pytest

from queue_server.estimate import CounterCapacity, expected_wait_minutes, recent_mean, service_rate


def test_one_counter_serving_only_this_service() -> None:
    caps = [CounterCapacity(weight=1, total_weight=1, mean_service_seconds=300)]
    assert service_rate(caps) == pytest.approx(0.2)
    assert expected_wait_minutes(4, caps) == 20
    assert expected_wait_minutes(0, caps) == 0


def test_capacity_is_shared_by_weight_and_summed_over_counters() -> None:
    shared = CounterCapacity(weight=1, total_weight=3, mean_service_seconds=120)  # 1/3 of 0.5/min
    full = CounterCapacity(weight=2, total_weight=2, mean_service_seconds=240)  # 0.25/min
    assert service_rate([shared, full]) == pytest.approx(0.5 / 3 + 0.25)
    assert expected_wait_minutes(5, [shared, full]) == 13  # 5 / 0.41666 = 12.0 -> ceil


def test_no_counter_means_no_figure() -> None:
    assert expected_wait_minutes(3, []) is None
    assert expected_wait_minutes(3, [CounterCapacity(1, 0, 100)]) is None


def test_negative_ahead_is_refused() -> None:
    with pytest.raises(ValueError, match="ahead"):
        expected_wait_minutes(-1, [CounterCapacity(1, 1, 60)])


def test_recent_mean_blends_the_default_until_there_are_samples() -> None:
    assert recent_mean([], 360) == 360
    assert recent_mean([60], 360) == pytest.approx((60 + 2 * 360) / 3)
    assert recent_mean([60, 60, 60, 60], 360) == 60
    assert recent_mean([1000] * 5 + [60] * 10, 360) == 60  # only the last 10 count


# The forecast ----------------------------------------------------------------------

from datetime import UTC, datetime, timedelta  # noqa: E402

from queue_server.dispatch import Candidate  # noqa: E402
from queue_server.estimate import ForecastCounter, QueueSnapshot, as_minutes, forecast  # noqa: E402

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
A, B = 1, 2


def snap(counters: list[ForecastCounter], waiting: list[Candidate] = (), **kw: object) -> QueueSnapshot:  # type: ignore[assignment]
    return QueueSnapshot(NOW, tuple(counters), tuple(waiting), {A: 300.0, B: 600.0}, **kw)  # type: ignore[arg-type]


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


def test_nobody_ahead_but_the_counter_busy_is_not_zero() -> None:
    busy = ForecastCounter(7, {A: 1}, busy_seconds=60.0, busy_service_id=A)
    assert forecast(snap([busy]), [(A, False)]).new_minutes(A) == 4  # 5 min mean, 1 gone
    free = ForecastCounter(7, {A: 1})
    assert forecast(snap([free]), [(A, False)]).new_minutes(A) == 0


def test_capacity_follows_demand_not_configured_weight() -> None:
    # A counter weighted 1:9 towards B, but nobody waits for B: all its time goes to A.
    counter = ForecastCounter(7, {A: 1, B: 9})
    waiting = [Candidate(i, A, ago(10 - i)) for i in range(1, 4)]
    # Three ahead at 5 min each: 15 min (the old estimate: 3 / (0.1 x 0.2/min) = 150).
    assert forecast(snap([counter], waiting), [(A, False)]).new_minutes(A) == 15
    assert expected_wait_minutes(3, [CounterCapacity(1, 10, 300)]) == 150


def test_waiting_tokens_get_their_own_figures_in_dispatch_order() -> None:
    counters = [ForecastCounter(7, {A: 1, B: 3}), ForecastCounter(8, {A: 1})]
    waiting = [Candidate(1, A, ago(6)), Candidate(2, B, ago(3)), Candidate(3, A, ago(2))]
    result = forecast(snap(counters, waiting))
    # Counter 7 takes B (3 x 3 = 9 > 6), counter 8 takes token 1; token 3 goes to 8 after 5 min.
    assert result.waits == {2: 0.0, 1: 0.0, 3: 300.0}
    assert result.token_minutes(3) == 5


def test_priority_and_no_counter_for_the_service() -> None:
    counter = ForecastCounter(7, {A: 1})
    waiting = [Candidate(i, A, ago(10)) for i in range(1, 5)]
    result = forecast(snap([counter], waiting), [(A, True), (A, False), (B, False)])
    assert result.new_minutes(A, True) == 0
    assert result.new_minutes(A) == 20
    assert result.new_minutes(B) is None  # nobody serves B: no honest figure


def test_expected_arrivals_of_a_heavier_service_push_a_light_one_back() -> None:
    counter = ForecastCounter(7, {A: 9, B: 1})
    waiting = [Candidate(1, B, ago(1))]
    quiet = forecast(snap([counter], waiting), [(B, False)]).new_minutes(B)
    busy = forecast(snap([counter], waiting, arrivals_per_minute={A: 0.5}), [(B, False)]).new_minutes(B)
    assert quiet is not None and busy is not None and busy > quiet


def test_an_expected_arrival_is_made_only_once_its_queue_has_run_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    """The forecast compares only the first of each queue, so the arrivals expected behind a
    long one are not made (each is a Candidate to build: an issue in a busy morning made
    hundreds of them before); once a queue runs empty, its due arrival is made."""
    from queue_server import dispatch

    made: list[int] = []
    real = dispatch.Candidate

    def counting(token_id: int, *rest: object) -> Candidate:
        if token_id <= -1_000_000:  # an expected arrival
            made.append(token_id)
        return real(token_id, *rest)  # type: ignore[arg-type]

    monkeypatch.setattr(dispatch, "Candidate", counting)
    counter = ForecastCounter(7, {A: 1, B: 1})
    waiting = [Candidate(i, A, ago(60 - i / 10)) for i in range(1, 101)]  # 100 x 5 min = 500 min
    result = forecast(snap([counter], waiting, arrivals_per_minute={A: 2.0, B: 2.0}), [(A, False)])
    assert result.waits[100] == 99 * 300.0
    # 2 x 240 arrivals were due within the two hours the rates are trusted for; made: B's
    # first (its queue is empty from the start: it loses every call to A's old tokens) and
    # A's first (its queue runs empty when the probe of a new token of A is called).
    assert made == [-1_000_001, -1_000_000]


def test_as_minutes_rounds_to_nearest() -> None:
    assert (as_minutes(None), as_minutes(29.0), as_minutes(31.0), as_minutes(600.0)) == (None, 0, 1, 10)


def test_a_forecast_played_until_one_token_gives_that_token_the_whole_forecast_s_figure() -> None:
    """An issue plays the forecast only until its own token is called: the figure must be
    the one the whole forecast gives it, whatever the queue (priority, targets, busy
    counters, expected arrivals, streak limits). And the probes of the whole forecast (a
    token of each service issued now) change no waiting token's figure: before, a probe's
    call moved its counter's priority streak and turn."""
    import random

    rng = random.Random(15)
    services = [A, B, 3]
    checked = 0
    for _ in range(150):
        counters = [
            ForecastCounter(
                10 + i,
                {s: rng.randint(1, 9) for s in rng.sample(services, rng.randint(1, 3))},
                busy_seconds=rng.choice([0.0, 30.0, 400.0]),
                busy_service_id=rng.choice([None, A, B]),
                priority_streak=rng.randint(0, 2),
            )
            for i in range(rng.randint(1, 4))
        ]
        waiting = [
            Candidate(
                t,
                rng.choice(services),
                ago(rng.uniform(0, 60)),
                rng.random() < 0.15,
                rng.choice([None, None, None, 10, 11, 99]),
            )
            for t in range(1, rng.randint(1, 40))
        ]
        snapshot = QueueSnapshot(
            NOW,
            tuple(counters),
            tuple(waiting),
            {A: 300.0, B: 600.0, 3: 120.0},
            arrivals_per_minute={s: rng.choice([0.0, 0.3, 2.0]) for s in services},
            max_priority_streak=rng.choice([0, 2]),
            fairness_k=rng.choice([None, 3.0]),
            target_seconds={A: 1200.0, B: 1800.0, 3: 600.0},
        )
        whole = forecast(snapshot, [(s, p) for s in services for p in (False, True)])
        # Asking what a token issued now would wait changes nobody's figure.
        assert whole.waits == forecast(snapshot).waits
        for candidate in waiting:
            alone = forecast(snapshot, until=candidate.token_id)
            assert alone.waits.get(candidate.token_id) == whole.waits.get(candidate.token_id), candidate
            assert not alone.new
            checked += candidate.token_id in whole.waits
    assert checked > 1000, "most tokens are served by some counter and get a figure"
