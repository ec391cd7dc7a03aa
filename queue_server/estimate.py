"""Wait estimate (DESIGN.md, "Wait estimate"). Pure.

Two estimates live here: ``forecast`` (below), the one shown to citizens and screens, and
the queue-length figure it replaced (kept for comparison and the dashboard's baseline):

Expected wait for a new token of service S = tokens ahead of it / the current service rate
of S. The rate is summed over the open counters that serve S: each contributes
1 / (its recent mean service time), shared by the weight S has in its work profile among
the services that counter serves.
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from queue_server import dispatch


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


# The forecast: the real dispatch rule run forward ------------------------------------
#
# The estimate shown to citizens (kiosk, ticket, tracking page, screens). The queue-length
# figure above shares a counter's capacity by configured weight whatever the real demand,
# and promises 0 to a token with nobody ahead while every counter is busy. The forecast
# instead replays what the counters will do: each open counter becomes free when its
# current token's expected remaining time is over (or now), and then calls by the real
# dispatch rule (``dispatch.rank``) among the tokens waiting, plus the arrivals expected at
# the recent rate of each service (they compete by weight with the tokens already there).
# Every token takes its service's recent mean time. A "ghost" token per asked-for service
# stands for a citizen arriving now; a ghost takes no counter time, so ghosts never delay
# each other or the real queue.

MIN_RESIDUAL_SHARE = 0.25  # a token over its mean still needs this share of the mean
HORIZON_SECONDS = 12 * 3600.0
ARRIVALS_SECONDS = 2 * 3600.0  # how far ahead the recent arrival rates are assumed to hold


@dataclass(frozen=True)
class ForecastCounter:
    counter_id: int
    weights: Mapping[int, int]  # service id -> weight, the counter's work profile
    busy_seconds: float = 0.0  # how long its current token has been at it; 0 when free
    busy_service_id: int | None = None  # the service of that token
    priority_streak: int = 0


@dataclass(frozen=True, eq=False)  # compared by identity: a forecast is cached per snapshot
class QueueSnapshot:
    """What the forecast needs of a centre at one instant."""

    now: datetime
    counters: tuple[ForecastCounter, ...]
    waiting: tuple[dispatch.Candidate, ...]
    service_seconds: Mapping[int, float]  # mean time a token occupies a counter, per service
    arrivals_per_minute: Mapping[int, float] = field(default_factory=dict)
    max_priority_streak: int = 0
    fairness_k: float | None = None
    target_seconds: Mapping[int, float] = field(default_factory=dict)

    def mean_seconds(self, service_id: int) -> float:
        return self.service_seconds.get(service_id, DEFAULT_SERVICE_SECONDS)


DEFAULT_SERVICE_SECONDS = 360.0
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class Forecast:
    waits: Mapping[int, float]  # waiting token id -> seconds until it is called
    new: Mapping[tuple[int, bool], float]  # (service id, is priority) -> seconds for a token issued now

    def new_minutes(self, service_id: int, is_priority: bool = False) -> int | None:
        return as_minutes(self.new.get((service_id, is_priority)))

    def token_minutes(self, token_id: int) -> int | None:
        return as_minutes(self.waits.get(token_id))


def as_minutes(seconds: float | None) -> int | None:
    """Whole minutes, to the nearest (the scoring in bench/bench_estimator.py uses this)."""
    return None if seconds is None else int(seconds / 60.0 + 0.5)


def forecast(
    snapshot: QueueSnapshot, new: Iterable[tuple[int, bool]] = (), *, until: int | None = None
) -> Forecast:
    """Seconds until each waiting token, and a token of each ``new`` (service, priority)
    issued now, is called. A token no counter serves gets no figure.

    ``until``: a waiting token's id; the play stops once it is called, so the result holds
    its figure (the same as the whole forecast's: what comes after a call cannot change
    it) and those of the tokens called before it, and nothing of ``new``. An issue needs
    only its own token's figure."""
    now = snapshot.now
    now_us = dispatch.microseconds(now)
    ghosts: dict[int, tuple[int, bool]] = {}
    groups: dict[tuple[int, bool, int | None], deque[dispatch.Candidate]] = defaultdict(deque)
    ordered = sorted(snapshot.waiting, key=lambda c: (c.queued_at, c.token_id))
    for cand in ordered:
        groups[(cand.service_id, cand.is_priority, cand.target_counter_id)].append(cand)
    served = {s for c in snapshot.counters for s in c.weights}
    next_ghost = -1
    for service_id, is_priority in dict.fromkeys(new):
        if service_id not in served:
            continue
        ghost = dispatch.Candidate(next_ghost, service_id, now, is_priority)
        ghosts[next_ghost] = (service_id, is_priority)
        groups[(service_id, is_priority, None)].append(ghost)
        next_ghost -= 1
    counter_ids = {c.counter_id for c in snapshot.counters}
    pending = {
        c.token_id
        for c in ordered
        if (c.target_counter_id in counter_ids) or (c.target_counter_id is None and c.service_id in served)
    }
    pending.update(ghosts)
    if until is not None:
        pending &= {until}
    waits: dict[int, float] = {}
    new_waits: dict[tuple[int, bool], float] = {}

    # Expected arrivals, evenly spread at each service's recent rate: the k-th of a service
    # comes at gap / 2 + k × gap, at the back of its normal queue. The queue is first come,
    # first served, so only its head is ever compared: an arrival is made when its queue
    # has run empty and it is due, not before (a long queue keeps most of them unmade).
    gaps = {s: 60.0 / r for s, r in snapshot.arrivals_per_minute.items() if r > 0 and s in served}
    next_arrival = {s: gap / 2 for s, gap in gaps.items() if gap / 2 <= ARRIVALS_SECONDS}
    made = dict.fromkeys(next_arrival, 0)
    stream = {s: n for n, s in enumerate(next_arrival)}
    for s in next_arrival:  # every queue exists from the start
        groups.setdefault((s, False, None), deque())

    def heads(queues: list[tuple[deque[dispatch.Candidate], int | None]], t: float) -> list[dispatch.Candidate]:
        """The first of each queue, an empty one first given its stream's arrival if due."""
        out = []
        for q, s in queues:
            if not q and s is not None:
                at = next_arrival.get(s)
                if at is not None and at <= t:
                    # the id orders arrivals of one instant the same in every play
                    arrival_id = -1_000_000 - made[s] * len(stream) - stream[s]
                    q.append(dispatch.Candidate(arrival_id, s, now + timedelta(seconds=at)))
                    made[s] += 1
                    if at + gaps[s] <= ARRIVALS_SECONDS:
                        next_arrival[s] = at + gaps[s]
                    else:
                        del next_arrival[s]
            if q:
                out.append(q[0])
        return out

    heap: list[tuple[float, int, int]] = []
    views: dict[int, dispatch.CounterView] = {}
    for i, c in enumerate(snapshot.counters):
        views[i] = dispatch.CounterView(
            c.counter_id,
            c.weights,
            c.priority_streak,
            snapshot.max_priority_streak,
            snapshot.fairness_k,
            snapshot.target_seconds,
        )
        free_in = 0.0
        if c.busy_service_id is not None:
            mean = snapshot.mean_seconds(c.busy_service_id)
            free_in = max(mean - c.busy_seconds, MIN_RESIDUAL_SHARE * mean)
        heapq.heappush(heap, (free_in, i, i))
    tie = len(snapshot.counters)
    means = snapshot.service_seconds  # (``mean_seconds`` of each call, without its call)
    # counter index -> the queues it may call from (eligibility depends on the service and
    # the target only, never on the streak), each with the service of its arrivals (or None)
    eligible: dict[int, list[tuple[deque[dispatch.Candidate], int | None]]] = {}

    while pending and heap:
        t, _, i = heapq.heappop(heap)
        if t > HORIZON_SECONDS:
            break
        view = views[i]
        if i not in eligible:
            eligible[i] = [
                (q, sid if not is_priority and target is None and sid in gaps else None)
                for (sid, is_priority, target), q in groups.items()
                if dispatch.may_call(view, sid, target)
            ]
        at_us = now_us + timedelta(seconds=t) // _MICROSECOND
        # Only the queues this counter may call from: the rule would drop the others' heads.
        chosen = dispatch.choose_eligible(heads(eligible[i], t), view, at_us)
        while chosen is not None and chosen.token_id in ghosts:
            # A token issued now is a probe: its figure is when it would be called; then it
            # is gone without taking the counter's time or turn, so the tokens that exist
            # are called as if nobody had asked (and each probe as if it were the only one).
            new_waits[ghosts[chosen.token_id]] = t
            groups[(chosen.service_id, chosen.is_priority, None)].popleft()
            pending.discard(chosen.token_id)
            chosen = dispatch.choose_eligible(heads(eligible[i], t), view, at_us)
        if chosen is None:
            # Idle until the next expected arrival this counter may serve, if any (its
            # queues are empty, so none of them is due yet).
            later = [at for s, at in next_arrival.items() if s in view.weights]
            if later:
                tie += 1
                heapq.heappush(heap, (min(later), tie, i))
            continue
        groups[(chosen.service_id, chosen.is_priority, chosen.target_counter_id)].popleft()
        streak = dispatch.next_streak(view, chosen)
        if streak != view.priority_streak:  # (a normal call keeps 0: no copy of the view)
            views[i] = replace(view, priority_streak=streak)
        if chosen.token_id >= 0:  # not an expected arrival
            waits[chosen.token_id] = t
        pending.discard(chosen.token_id)
        tie += 1
        heapq.heappush(heap, (t + means.get(chosen.service_id, DEFAULT_SERVICE_SECONDS), tie, i))
    return Forecast(waits, new_waits)


def queue_length_seconds(snapshot: QueueSnapshot, service_id: int, ahead: int) -> float | None:
    """The QL predictor of Ibrahim & Whitt (2009): (n + 1) / (s μ), with n tokens of the
    service ahead, s counters serving it and 1/μ its mean counter time."""
    servers = sum(1 for c in snapshot.counters if service_id in c.weights)
    if not servers:
        return None
    return (ahead + 1) * snapshot.mean_seconds(service_id) / servers


def service_means(
    samples: Mapping[int, Sequence[float]], defaults: Mapping[int, float], window: int = 20
) -> dict[int, float]:
    """Per service: the mean of its last ``window`` counter times, with its default
    weighing in as three samples so a few odd cases cannot swing the figure."""
    out = {}
    for service_id, default in defaults.items():
        recent = list(samples.get(service_id, ()))[-window:]
        out[service_id] = (sum(recent) + 3 * default) / (len(recent) + 3)
    return out
