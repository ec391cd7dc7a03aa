"""Pure figures: tallies of token facts, ratios, percentiles, wait distributions. No
session, no Flask: the same definitions for the live view, the reports, CSV and the
printed daily report (see ``queue_server.read.statistics``)."""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any, ClassVar

from queue_server.states import TokenState  # an enum: no ORM, no session here

# Wait distribution buckets, in minutes: [0,5), [5,10) ... [120, inf)
WAIT_BUCKETS = (0, 5, 10, 15, 20, 30, 45, 60, 90, 120)


# Pure part ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenFact:
    """One token reduced to what the figures need."""

    token_id: int
    day: date
    service_id: int  # the service it was issued for
    hour: int  # local hour of issue
    counter_id: int  # the last counter it was at; 0: none
    staff_id: int  # the clerk who last called it; 0: none
    state: str
    wait_seconds: int | None  # issue to first call; None: never called
    service_seconds: int | None  # start to completion; served tokens only
    eta_seconds: int | None  # the wait promised at issue

    @property
    def key(self) -> tuple[date, int, int, int, int]:
        return (self.day, self.service_id, self.hour, self.counter_id, self.staff_id)


@dataclass(slots=True)
class Tally:
    """Counts and sums that add up across tokens, days and groups."""

    arrivals: int = 0
    called: int = 0
    served: int = 0
    no_shows: int = 0
    cancelled: int = 0
    unserved: int = 0
    within_target: int = 0
    waits: list[int] = field(default_factory=list)
    service_count: int = 0
    service_seconds: int = 0
    eta_count: int = 0
    eta_abs_error_seconds: int = 0
    eta_error_seconds: int = 0

    COUNTS: ClassVar[tuple[str, ...]] = (
        "arrivals",
        "called",
        "served",
        "no_shows",
        "cancelled",
        "unserved",
        "within_target",
        "service_count",
        "service_seconds",
        "eta_count",
        "eta_abs_error_seconds",
        "eta_error_seconds",
    )

    def add(self, fact: TokenFact, target_seconds: int) -> None:
        self.arrivals += 1
        if fact.state == TokenState.DONE.value:
            self.served += 1
        elif fact.state == TokenState.NO_SHOW.value:
            self.no_shows += 1
        elif fact.state == TokenState.CANCELLED.value:
            self.cancelled += 1
        elif fact.state == TokenState.CLOSED.value:
            self.unserved += 1
        if fact.wait_seconds is not None:
            self.called += 1
            self.waits.append(fact.wait_seconds)
            if fact.wait_seconds <= target_seconds:
                self.within_target += 1
            if fact.eta_seconds is not None:
                error = fact.wait_seconds - fact.eta_seconds
                self.eta_count += 1
                self.eta_abs_error_seconds += abs(error)
                self.eta_error_seconds += error
        if fact.service_seconds is not None:
            self.service_count += 1
            self.service_seconds += fact.service_seconds

    def merge(self, other: Tally) -> None:
        self.arrivals += other.arrivals
        self.called += other.called
        self.served += other.served
        self.no_shows += other.no_shows
        self.cancelled += other.cancelled
        self.unserved += other.unserved
        self.within_target += other.within_target
        self.service_count += other.service_count
        self.service_seconds += other.service_seconds
        self.eta_count += other.eta_count
        self.eta_abs_error_seconds += other.eta_abs_error_seconds
        self.eta_error_seconds += other.eta_error_seconds
        self.waits.extend(other.waits)

    def figures(self) -> dict[str, Any]:
        waits = sorted(self.waits)
        return {
            "arrivals": self.arrivals,
            "called": self.called,
            "served": self.served,
            "no_shows": self.no_shows,
            "cancelled": self.cancelled,
            "unserved": self.unserved,
            "no_show_rate": ratio(self.no_shows, self.called),
            "avg_wait_seconds": mean_of(sum(waits), len(waits)),
            "p90_wait_seconds": percentile(waits, 90),
            "max_wait_seconds": waits[-1] if waits else None,
            "within_target": self.within_target,
            "within_target_share": ratio(self.within_target, self.called),
            "avg_service_seconds": mean_of(self.service_seconds, self.service_count),
            "eta_count": self.eta_count,
            "eta_mae_seconds": mean_of(self.eta_abs_error_seconds, self.eta_count),
            "eta_bias_seconds": mean_of(self.eta_error_seconds, self.eta_count),
        }

    def as_row(self) -> dict[str, Any]:
        return {**{name: getattr(self, name) for name in self.COUNTS}, "waits": sorted(self.waits)}

    @classmethod
    def from_row(cls, row: Any) -> Tally:
        counts: dict[str, Any] = {name: int(getattr(row, name) or 0) for name in cls.COUNTS}
        tally = cls(**counts)
        tally.waits = [int(w) for w in (row.waits or [])]
        return tally


def ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def mean_of(total: float, count: int) -> float | None:
    return round(total / count, 1) if count else None


def percentile(sorted_values: Sequence[int], p: float) -> int | None:
    """Nearest-rank percentile of already sorted values; None for none."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return int(sorted_values[rank - 1])


def wait_distribution(waits: Iterable[int]) -> list[dict[str, Any]]:
    counts = [0] * len(WAIT_BUCKETS)
    for wait in waits:
        minutes = wait / 60
        index = 0
        for i, start in enumerate(WAIT_BUCKETS):
            if minutes >= start:
                index = i
        counts[index] += 1
    out = []
    for i, start in enumerate(WAIT_BUCKETS):
        end = WAIT_BUCKETS[i + 1] if i + 1 < len(WAIT_BUCKETS) else None
        out.append({"from_minutes": start, "to_minutes": end, "count": counts[i]})
    return out


def tally_facts(
    facts: Iterable[TokenFact], targets: dict[int, int]
) -> dict[tuple[date, int, int, int, int], Tally]:
    """Group facts by (day, service, hour, counter, clerk); ``targets``: service id -> seconds."""
    out: dict[tuple[date, int, int, int, int], Tally] = defaultdict(Tally)
    for fact in facts:
        out[fact.key].add(fact, targets.get(fact.service_id, 20 * 60))
    return out


def group(
    tallies: Iterable[tuple[tuple[date, int, int, int, int], Tally]], part: Callable[[Any], Any]
) -> dict[Any, Tally]:
    """Merge grain tallies by one dimension of their key."""
    out: dict[Any, Tally] = defaultdict(Tally)
    for key, tally in tallies:
        out[part(key)].merge(tally)
    return out


GrainTallies = list[tuple[tuple[date, int, int, int, int], Tally]]


# Reports ---------------------------------------------------------------------------------


# A request or a feedback, reduced to its groups and two figures:
# (service, counter, clerk, hour, day, a, b): for a request a = closed in time, b = late;
# for feedback a = the rating, b = 1.
Extra = tuple[int, int, int, int, str, int, int]
DIMS = {"service_id": 0, "counter_id": 1, "staff_id": 2, "hour": 3, "day": 4}


def extras(items: Iterable[Extra], dim: str) -> dict[Any, list[int]]:
    """Per group of one dimension: [count, sum of a, sum of b]."""
    index = DIMS[dim]
    out: dict[Any, list[int]] = {}
    for item in items:
        bucket = out.get(item[index])
        if bucket is None:
            bucket = out[item[index]] = [0, 0, 0]
        bucket[0] += 1
        bucket[1] += item[5]
        bucket[2] += item[6]
    return out


def extra_figures(requests: list[int] | None, feedback: list[int] | None) -> dict[str, Any]:
    opened, in_time, late = requests or (0, 0, 0)
    ratings, rating_sum, _ = feedback or (0, 0, 0)
    return {
        "requests": opened,
        "requests_in_time": in_time,
        "requests_late": late,
        "requests_in_time_share": ratio(in_time, opened),
        "feedback_count": ratings,
        "feedback_average": round(rating_sum / ratings, 2) if ratings else None,
    }


@dataclass(frozen=True, slots=True)
class Passage:
    """One token's way through the hall today: issued, first called (or left, when it went
    without a call), served (done)."""

    issued_at: datetime
    left_queue_at: datetime | None  # first call, or cancellation; None: still waiting
    served_at: datetime | None  # finished as done; None: not served (yet)


TREND_STEP = timedelta(minutes=15)


def trend(passages: Sequence[Passage], now: datetime, tz: tzinfo, step: timedelta = TREND_STEP) -> list[dict[str, Any]]:
    """Waiting and served (so far) at each step of today, from the first issue to ``now``:
    [{"at": local "HH:MM", "waiting": n, "served": n}], the last point being ``now``.
    Empty before the first token of the day."""
    if not passages:
        return []
    first = min(p.issued_at for p in passages)
    local = first.astimezone(tz)
    at = local.replace(minute=local.minute - local.minute % 15, second=0, microsecond=0)
    moments: list[datetime] = []
    while at < now and len(moments) < 200:
        moments.append(at)
        at = at + step
    moments.append(now)
    # Counted by bisection in sorted instants, not by a pass over the day's tokens per point
    # (the dashboard hub recomputes this every few seconds; a centre that had served
    # thousands spent most of a refresh here). A token waits at ``moment`` when issued by
    # then and not yet gone: issued <= moment, less those with max(issued, left) <= moment.
    issued = sorted(p.issued_at for p in passages)
    gone = sorted(max(p.issued_at, p.left_queue_at) for p in passages if p.left_queue_at is not None)
    done = sorted(p.served_at for p in passages if p.served_at is not None)
    out = []
    for moment in moments:
        waiting = bisect_right(issued, moment) - bisect_right(gone, moment)
        served = bisect_right(done, moment)
        out.append({"at": moment.astimezone(tz).strftime("%H:%M"), "waiting": waiting, "served": served})
    return out
