"""The simulator against queueing theory: M/M/c mean wait (Erlang C), no app at all."""

from __future__ import annotations

import math

import pytest

from queue_server.simulation.engine import simulate
from queue_server.simulation.model import CounterPlan, Plan, ServiceSpec

WARM_UP = 2 * 3600.0


def erlang_c(lam: float, mu: float, c: int) -> tuple[float, float]:
    """(probability of waiting, mean wait in queue) of an M/M/c queue."""
    a = lam / mu
    top = a**c / math.factorial(c) / (1 - a / c)
    p_wait = top / (sum(a**k / math.factorial(k) for k in range(c)) + top)
    return p_wait, p_wait / (c * mu - lam)


@pytest.mark.parametrize(("servers", "load"), [(4, 0.7), (2, 0.6)])
def test_mmc_mean_wait_matches_erlang_c(servers: int, load: float) -> None:
    mean_service = 300.0
    lam = load * servers / mean_service
    spec = ServiceSpec(
        1,
        "A",
        arrivals_per_slot=[lam * 1800] * 48,
        mean_service_seconds=mean_service,
        distribution="exponential",
    )
    # Counters stay open past midnight, so every arrival of the day is served.
    plan = Plan([CounterPlan(i, {1: 1}, [(0.0, 3 * 86400.0)]) for i in range(servers)], walk_seconds=0.0)
    waits: list[float] = []
    for seed in range(120):
        record = simulate({1: spec}, plan, seed)
        waits += [v.wait for v in record.visits if v.queued_at > WARM_UP and v.wait is not None]
    p_wait, mean_wait = erlang_c(lam, 1 / mean_service, servers)
    simulated = sum(waits) / len(waits)
    share_waiting = sum(1 for w in waits if w > 0) / len(waits)
    assert len(waits) > 30_000
    assert simulated == pytest.approx(mean_wait, rel=0.04), (simulated, mean_wait)
    assert share_waiting == pytest.approx(p_wait, abs=0.01), (share_waiting, p_wait)
