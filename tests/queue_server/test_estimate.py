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
