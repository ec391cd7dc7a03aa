"""Realistic history for a centre, made through the real operations: each past day is
played with the clock moved to every step (issue, open, call by the real dispatch rule,
start, complete, no-show, transfer, pause for lunch, end of day), so the tokens, events,
hash chain and daily figures are exactly what a real day leaves. Demand and the staffing
plan come from a simulator profile (``demo.py`` for the demo centre)."""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from queue_server import operations
from queue_server.actors import SYSTEM, Actor
from queue_server.auth import staff_actor
from queue_server.clock import travel
from queue_server.models import Centre, Counter, Priority, Role, Service, Staff, Token
from queue_server.simulation.engine import arrivals, sample_service
from queue_server.simulation.history import midnight
from queue_server.simulation.model import Plan, ServiceSpec
from queue_server.unit_of_work import unit_of_work

T = TypeVar("T")

# Relative demand by weekday (Monday first); Sunday closed.
WEEKDAY_FACTOR = (1.15, 1.05, 1.0, 1.0, 0.95, 0.7, 0.0)

ARRIVE, OPEN, PAUSE, RESUME, CLOSE, FREE, START, DONE, GONE = range(9)


@dataclass
class _Desk:
    counter_id: int
    actor: Actor
    weights: Mapping[int, int]
    is_open: bool = False
    was_opened: bool = False
    token_id: int | None = None
    pending: int | None = None  # a pause or close waiting for the token at the desk


def _clerks(session: Session, centre: Centre, counters: list[Counter]) -> dict[int, Actor]:
    clerks = session.scalars(
        select(Staff).where(Staff.centre_id == centre.id, Staff.role == Role.CLERK).order_by(Staff.username)
    ).all()
    by_name = {s.username: s for s in clerks}
    out = {}
    for i, counter in enumerate(counters):
        staff = by_name.get(f"clerk{counter.number}") or (clerks[i] if i < len(clerks) else None)
        if staff is not None:
            out[counter.id] = staff_actor(staff)
    return out


def play_day(
    session: Session,
    centre: Centre,
    day: date,
    services: Mapping[int, ServiceSpec],
    plan: Plan,
    *,
    seed: int = 0,
    scale: float = 1.0,
) -> int:
    """Play one day through the operations, each step its own unit of work as at a real
    centre; returns tokens issued. ``scale`` multiplies the demand. Counters of the plan
    without a clerk stay closed."""
    rng = random.Random(seed)

    def step(operation: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with unit_of_work(session):
            return operation(session, *args, **kwargs)

    start = midnight(day, centre.tz)
    counters = session.scalars(select(Counter).where(Counter.centre_id == centre.id)).all()
    by_id = {c.id: c for c in counters}
    clerks = _clerks(session, centre, list(counters))
    codes = {s.id: s.code for s in session.scalars(select(Service).where(Service.centre_id == centre.id))}
    desks = {
        c.counter_id: _Desk(c.counter_id, clerks[c.counter_id], c.weights)
        for c in plan.counters
        if c.counter_id in clerks and c.counter_id in by_id
    }
    events: list[tuple[float, int, int, int]] = []
    tie = 0

    def push(t: float, kind: int, ref: int) -> None:
        nonlocal tie
        tie += 1
        heapq.heappush(events, (t, tie, kind, ref))

    stream = []
    for spec in services.values():
        scaled = ServiceSpec(
            spec.service_id, spec.code, arrivals_per_slot=[r * scale for r in spec.arrivals_per_slot]
        )
        stream += [(t, spec.service_id) for t in arrivals(rng, scaled)]
    for i, (t, _) in enumerate(sorted(stream)):
        push(t, ARRIVE, i)
    stream.sort()
    for c in plan.counters:
        if c.counter_id not in desks:
            continue
        for n, (open_at, close_at) in enumerate(c.shifts):
            push(open_at, OPEN if n == 0 else RESUME, c.counter_id)
            push(close_at, CLOSE if n == len(c.shifts) - 1 else PAUSE, c.counter_id)
    token_desk: dict[int, int] = {}
    issued = 0

    with travel(start) as clock:

        def call(desk: _Desk) -> bool:
            if not desk.is_open or desk.token_id is not None:
                return False
            token = step(operations.call_next, desk.counter_id, desk.actor)
            if token is None:
                return False
            desk.token_id = token.id
            token_desk[token.id] = desk.counter_id
            spec = services[token.service_id]
            if rng.random() < spec.no_show_share:
                push(now + plan.no_show_seconds, GONE, token.id)
            else:
                push(now + plan.walk_seconds, START, token.id)
            return True

        def free(desk: _Desk) -> None:
            desk.token_id = None
            if desk.pending is not None:
                kind, desk.pending = desk.pending, None
                handle_counter(kind, desk)
            else:
                call(desk)

        def handle_counter(kind: int, desk: _Desk) -> None:
            if kind in (PAUSE, CLOSE) and desk.token_id is not None:
                desk.pending = kind
                return
            change = {
                OPEN: operations.open_counter,
                RESUME: operations.resume_counter,
                PAUSE: operations.pause_counter,
                CLOSE: operations.close_counter,
            }[kind]
            step(change, desk.counter_id, desk.actor)
            desk.was_opened |= kind == OPEN
            desk.is_open = kind in (OPEN, RESUME)
            if desk.is_open:
                call(desk)

        while events:
            now, _, kind, ref = heapq.heappop(events)
            clock.move_to(start + timedelta(seconds=now))
            if kind == ARRIVE:
                service_id = stream[ref][1]
                spec = services[service_id]
                priority = Priority.SENIOR if rng.random() < spec.priority_share else Priority.NORMAL
                step(operations.issue_token, centre, codes[service_id], SYSTEM, priority=priority)
                issued += 1
                idle = [
                    d for d in desks.values() if d.is_open and d.token_id is None and service_id in d.weights
                ]
                for desk in idle:
                    if call(desk):
                        break
            elif kind in (OPEN, RESUME, PAUSE, CLOSE):
                handle_counter(kind, desks[ref])
            elif kind == START:
                token = step(operations.start, ref, desks[token_desk[ref]].actor)
                push(now + sample_service(rng, services[token.service_id]), DONE, ref)
            elif kind == DONE:
                desk = desks[token_desk.pop(ref)]
                done = session.get(Token, ref)
                target = services[done.service_id].transfer_to if done is not None else None
                share = services[done.service_id].transfer_share if done is not None else 0.0
                if target is not None and rng.random() < share:
                    step(operations.transfer, ref, desk.actor, service_code=codes[target])
                else:
                    step(operations.complete, ref, desk.actor)
                free(desk)
            elif kind == GONE:
                desk = desks[token_desk.pop(ref)]
                step(operations.no_show, ref, desk.actor)
                free(desk)
        clock.move_to(start + timedelta(seconds=max(plan.closes_at, 16 * 3600.0) + 1800))
        step(operations.end_of_day, centre, SYSTEM)
    return issued
