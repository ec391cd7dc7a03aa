"""The event loop: arrivals, calls by the real dispatch rule, service, no-shows, transfers
and counters opening and closing by the plan. Deterministic under a seed."""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from queue_server import dispatch
from queue_server.simulation.model import (
    SLOT_SECONDS,
    SLOTS_PER_DAY,
    CounterPlan,
    DayRecord,
    Plan,
    ServiceSpec,
    Stay,
    Visit,
)

BASE = datetime(2000, 1, 1, tzinfo=UTC)  # the rule only compares times: any midnight will do

# At one instant a close goes first: a shift is [open, close), so a counter freed, or a token
# arriving, at the very moment its shift ends calls nobody, and a shift that starts when the
# previous one ends reopens the counter (a close after the open would have left it shut).
CLOSE, ARRIVE, FREE, OPEN = 0, 1, 2, 3


def at(seconds: float) -> datetime:
    return BASE + timedelta(seconds=seconds)


def sample_service(rng: random.Random, spec: ServiceSpec) -> float:
    mean = spec.mean_service_seconds
    if spec.distribution == "deterministic" or mean <= 0:
        return max(0.0, mean)
    if spec.distribution == "exponential":
        return rng.expovariate(1.0 / mean)
    sigma2 = math.log(1.0 + spec.cv * spec.cv)
    return rng.lognormvariate(math.log(mean) - sigma2 / 2.0, math.sqrt(sigma2))


def arrivals(rng: random.Random, spec: ServiceSpec) -> list[float]:
    """A Poisson stream whose rate is constant within each 30-minute slot."""
    times: list[float] = []
    for slot in range(SLOTS_PER_DAY):
        rate = spec.rate_in_slot(slot) / SLOT_SECONDS
        if rate <= 0:
            continue
        t = float(slot * SLOT_SECONDS)
        end = t + SLOT_SECONDS
        while True:
            t += rng.expovariate(rate)
            if t >= end:
                break
            times.append(t)
    return times


class _Counter:
    __slots__ = ("busy", "idle_since", "is_open", "plan", "view")

    def __init__(self, plan: CounterPlan, day: Plan, targets: Mapping[int, float]) -> None:
        self.plan = plan
        self.view = dispatch.CounterView(
            plan.counter_id,
            dict(plan.weights),
            0,
            day.max_priority_streak,
            day.fairness_k,
            targets,
        )
        self.is_open = False
        self.busy = False
        self.idle_since = 0.0


def simulate(
    services: Mapping[int, ServiceSpec],
    plan: Plan,
    seed: int = 0,
    label: str = "",
    trace: Sequence[tuple[float, int, bool]] | None = None,
    stays: Sequence[Sequence[Stay]] | None = None,
) -> DayRecord:
    """Simulate one day. Every call goes through ``dispatch.rank``/``choose`` with the
    plan's weights, priority streak limit and fairness bound. ``trace`` (arrival time,
    service id, is priority) replaces the random arrivals, to re-run a recorded day;
    ``stays`` (one list per trace entry, in the same order) replaces the draws of what
    happens once a token is called by what happened to it that day, stay by stay (a token
    called more often than recorded falls back to draws)."""
    rng = random.Random(seed)
    targets = {s.service_id: s.target_seconds for s in services.values()}
    counters = {c.counter_id: _Counter(c, plan, targets) for c in plan.counters}
    events: list[tuple[float, int, int, int]] = []  # (time, kind, tie, ref)
    tie = 0

    def push(t: float, kind: int, ref: int) -> None:
        nonlocal tie
        tie += 1
        heapq.heappush(events, (t, kind, tie, ref))

    # Arrivals of every service, numbered in time order so ids follow the issue order.
    if trace is None:
        stream = sorted((t, s.service_id) for s in services.values() for t in arrivals(rng, s))
        flags = [
            services[sid].priority_share > 0 and rng.random() < services[sid].priority_share
            for _, sid in stream
        ]
    else:
        order = sorted(range(len(trace)), key=lambda i: trace[i])
        stream, flags = [(trace[i][0], trace[i][1]) for i in order], [trace[i][2] for i in order]
    # Token id -> its recorded stays still to come, first first.
    scripted: dict[int, deque[Stay]] = {}
    if trace is not None and stays is not None:
        if len(stays) != len(trace):
            raise ValueError("stays: one list per trace entry")
        scripted = {token_id: deque(stays[i]) for token_id, i in enumerate(order, start=1)}
    played: set[int] = set()  # visits whose stay was scripted: nothing is drawn for them
    moved_to: dict[int, int] = {}  # visit id -> the service a scripted transfer goes on to
    visits: list[Visit] = []
    for token_id, ((t, service_id), is_priority) in enumerate(zip(stream, flags, strict=True), start=1):
        visits.append(Visit(token_id, token_id, service_id, is_priority, t, t))
        push(t, ARRIVE, token_id - 1)
    for c in plan.counters:
        for start, end in c.shifts:
            push(start, OPEN, c.counter_id)
            push(end, CLOSE, c.counter_id)

    # Waiting visits by group: the head of each group is the only one that can win.
    groups: dict[tuple[int, bool], deque[tuple[dispatch.Candidate, Visit]]] = {}
    in_service: dict[int, Visit] = {}  # counter id -> the visit at it

    def enqueue(visit: Visit) -> None:
        cand = dispatch.Candidate(visit.visit_id, visit.service_id, at(visit.queued_at), visit.is_priority)
        q = groups.setdefault((visit.service_id, visit.is_priority), deque())
        if q and q[-1][1].queued_at > visit.queued_at:  # a transfer keeps its issue time
            items = sorted([*q, (cand, visit)], key=lambda cv: (cv[1].queued_at, cv[1].visit_id))
            q.clear()
            q.extend(items)
        else:
            q.append((cand, visit))

    def try_call(counter: _Counter, now: float) -> bool:
        view = counter.view
        heads = [q[0][0] for key, q in groups.items() if q and key[0] in view.weights]
        if not heads:
            return False
        chosen = dispatch.choose(heads, view, at(now))
        if chosen is None:
            return False
        _, visit = groups[(chosen.service_id, chosen.is_priority)].popleft()
        counter.view = dispatch.CounterView(
            view.counter_id,
            view.weights,
            dispatch.next_streak(view, chosen),
            view.max_priority_streak,
            view.fairness_k,
            view.target_seconds,
        )
        spec = services[visit.service_id]
        visit.called_at = now
        visit.counter_id = counter.plan.counter_id
        counter.busy = True
        in_service[counter.plan.counter_id] = visit
        script = scripted.get(visit.token_id)
        if script:
            stay = script.popleft()
            played.add(visit.visit_id)
            if stay.outcome != "no_show":
                visit.started_at = now + stay.start_seconds
            visit.finished_at = now + stay.end_seconds
            visit.outcome = "no_show" if stay.outcome == "no_show" else "served"  # a transfer: when done
            if stay.outcome == "transferred" and stay.transfer_to is not None:
                moved_to[visit.visit_id] = stay.transfer_to
        elif spec.no_show_share > 0 and rng.random() < spec.no_show_share:
            visit.outcome = "no_show"
            visit.finished_at = now + plan.no_show_seconds
        else:
            visit.started_at = now + plan.walk_seconds
            visit.finished_at = visit.started_at + sample_service(rng, spec)
            visit.outcome = "served"
        push(visit.finished_at, FREE, counter.plan.counter_id)
        return True

    def wake_idle(now: float, service_id: int) -> None:
        idle = [c for c in counters.values() if c.is_open and not c.busy and service_id in c.view.weights]
        for counter in sorted(idle, key=lambda c: (c.idle_since, c.plan.counter_id)):
            if try_call(counter, now):
                return

    while events:
        now, kind, _, ref = heapq.heappop(events)
        if kind == CLOSE:  # the token at the counter is finished; no new call
            counters[ref].is_open = False
        elif kind == ARRIVE:
            visit = visits[ref]
            enqueue(visit)
            wake_idle(now, visit.service_id)
        elif kind == FREE:
            counter = counters[ref]
            counter.busy = False
            done = in_service.pop(ref)
            spec = services[done.service_id]
            destination = moved_to.get(done.visit_id)
            if (
                destination is None
                and done.outcome == "served"
                and done.visit_id not in played
                and spec.transfer_to is not None
                and spec.transfer_share > 0
                and rng.random() < spec.transfer_share
                and spec.transfer_to in services
            ):
                destination = spec.transfer_to
            if destination is not None:
                done.outcome = "transferred"
                nxt = Visit(
                    len(visits) + 1, done.token_id, destination, done.is_priority, now, done.queued_at
                )
                nxt.is_first = False
                visits.append(nxt)
                enqueue(nxt)
                wake_idle(now, nxt.service_id)
            if not counter.busy:  # the transfer above may have been called here already
                counter.idle_since = now
                if counter.is_open:
                    try_call(counter, now)
        else:  # OPEN
            counter = counters[ref]
            counter.is_open = True
            counter.idle_since = now
            if not counter.busy:
                try_call(counter, now)
    return DayRecord(services, plan, visits, label)
