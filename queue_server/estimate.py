"""Wait estimate (DESIGN.md, "Wait estimate"). Pure.

Expected wait for a new token of service S = tokens ahead of it / the current service rate
of S. The rate is summed over the open counters that serve S: each contributes
1 / (its recent mean service time), shared by the weight S has in its work profile among
the services that counter serves.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class CounterCapacity:
    weight: int  # weight of S at this counter
    total_weight: int  # sum of the weights of every service this counter serves
    mean_service_seconds: float  # recent mean, or the service's default when no history

    @property
    def rate_per_minute(self) -> float:
        if self.total_weight <= 0 or self.mean_service_seconds <= 0:
            return 0.0
        share = self.weight / self.total_weight
        return share * 60.0 / self.mean_service_seconds


def service_rate(capacities: Sequence[CounterCapacity]) -> float:
    """Tokens of S served per minute by these counters together."""
    return sum(c.rate_per_minute for c in capacities)


def expected_wait_minutes(ahead: int, capacities: Sequence[CounterCapacity]) -> int | None:
    """Whole minutes (rounded up) until a token with ``ahead`` tokens before it is called;
    None when no counter serves the service, so no honest figure exists."""
    if ahead < 0:
        raise ValueError("ahead must be >= 0")
    rate = service_rate(capacities)
    if rate <= 0:
        return None
    return math.ceil(ahead / rate)


def recent_mean(durations_seconds: Sequence[float], default_seconds: float, window: int = 10) -> float:
    """Mean of the last ``window`` service times, falling back to the default when none;
    with few samples the default still weighs in, so one odd case cannot swing the figure."""
    recent = list(durations_seconds)[-window:]
    if not recent:
        return default_seconds
    prior_weight = max(0, 3 - len(recent))
    return (sum(recent) + prior_weight * default_seconds) / (len(recent) + prior_weight)
