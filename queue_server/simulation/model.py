"""The plain values the simulator works on. Times are seconds from the local midnight of
the simulated day."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

SLOT_SECONDS = 1800  # arrival rates are given per 30 minutes
SLOTS_PER_DAY = 48


@dataclass(frozen=True)
class ServiceSpec:
    """A service as the simulator sees it: demand and service times."""

    service_id: int
    code: str
    target_seconds: float = 1200.0
    is_same_day: bool = True
    # Expected arrivals per 30-minute slot of the day (48 values; missing slots are 0).
    arrivals_per_slot: Sequence[float] = ()
    mean_service_seconds: float = 360.0
    cv: float = 0.6  # coefficient of variation of the service time
    distribution: str = "lognormal"  # "lognormal", "exponential" or "deterministic"
    priority_share: float = 0.0
    no_show_share: float = 0.0
    transfer_share: float = 0.0  # share of served tokens sent on to ``transfer_to``
    transfer_to: int | None = None

    def rate_in_slot(self, slot: int) -> float:
        return self.arrivals_per_slot[slot] if 0 <= slot < len(self.arrivals_per_slot) else 0.0


@dataclass(frozen=True)
class CounterPlan:
    counter_id: int
    weights: Mapping[int, int]  # service id -> weight (1-9)
    shifts: Sequence[tuple[float, float]]  # (open, close) in seconds from midnight
    number: int = 0

    def is_open(self, t: float) -> bool:
        return any(start <= t < end for start, end in self.shifts)


@dataclass(frozen=True)
class Plan:
    counters: Sequence[CounterPlan]
    fairness_k: float | None = None
    max_priority_streak: int = 3
    closes_at: float = 16 * 3600.0  # the centre's closing time: same-day requests are due then
    walk_seconds: float = 30.0  # from the call to the citizen at the counter
    no_show_seconds: float = 90.0  # a counter's time lost on a citizen who does not come


@dataclass(frozen=True)
class Stay:
    """What happened to a recorded token once called, to re-run its day with that instead
    of draws: the outcome ("served", "no_show" or "transferred"), seconds from the call to
    the start of service and to its end (for a no-show: to when it was given up), and for a
    transfer the service it went on to."""

    outcome: str
    start_seconds: float
    end_seconds: float
    transfer_to: int | None = None


@dataclass
class Visit:
    """One stay of a token in a queue (a transferred token has a second visit)."""

    visit_id: int
    token_id: int
    service_id: int
    is_priority: bool
    issued_at: float  # when it joined this queue
    queued_at: float  # the original issue time: the dispatch rule counts the wait from it
    called_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None  # service ended, or the no-show was given up
    counter_id: int | None = None
    outcome: str = "unserved"  # "served", "no_show", "transferred", "unserved"
    is_first: bool = True

    @property
    def wait(self) -> float | None:
        return None if self.called_at is None else self.called_at - self.queued_at


@dataclass
class DayRecord:
    """A day, simulated or recorded: what the replay, the reports and the scoring read."""

    services: Mapping[int, ServiceSpec]
    plan: Plan
    visits: list[Visit] = field(default_factory=list)
    label: str = ""
