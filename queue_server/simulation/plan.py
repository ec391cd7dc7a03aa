"""A staffing plan as people write it (YAML for ``khidmat simulate``, JSON from the
what-if page), checked and turned into the simulator's ``Plan``. Format: docs/simulation.md.

    fairness_k: 3              # optional; null switches the bound off
    max_priority_streak: 3     # optional
    demand_scale: 1.0          # optional: arrivals x this
    counters:
      - number: 1
        shifts: ["08:00-12:30", "13:00-16:00"]
        services: {character: 3, verification: 1}   # optional: default the counter's profile

A counter not listed stays closed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import yaml

from queue_server.errors import N_, ValidationFailed
from queue_server.simulation.model import CounterPlan, Plan

SHIFT = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
MAX_COUNTERS = 200


class PlanError(ValidationFailed):
    """A plan that cannot be simulated; the message says what to fix."""

    code = "bad_plan"


@dataclass(frozen=True)
class CentreShape:
    """What a plan is checked against: the centre's counters and services."""

    counter_ids: Mapping[int, int]  # counter number -> id
    profiles: Mapping[int, Mapping[int, int]]  # counter number -> {service id: weight}
    service_ids: Mapping[str, int]  # service code -> id
    fairness_k: float | None
    max_priority_streak: int
    closes_at: float  # seconds from midnight


def parse_shift(text: object) -> tuple[float, float]:
    match = SHIFT.match(str(text))
    if not match:
        raise PlanError(N_("Shift %(shift)s: write it as HH:MM-HH:MM."), shift=repr(text))
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 24 or h2 > 24 or m1 > 59 or m2 > 59:
        raise PlanError(N_("Shift %(shift)s is not a time of day."), shift=repr(text))
    start, end = h1 * 3600.0 + m1 * 60.0, h2 * 3600.0 + m2 * 60.0
    if end <= start:
        raise PlanError(N_("Shift %(shift)s must end after it starts."), shift=repr(text))
    return start, end


def format_shift(start: float, end: float) -> str:
    return f"{int(start // 3600):02d}:{int(start % 3600 // 60):02d}-{int(end // 3600):02d}:{int(end % 3600 // 60):02d}"


def load_yaml(text: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PlanError(N_("The plan is not valid YAML: %(problem)s"), problem=str(exc)) from exc
    if not isinstance(data, dict):
        raise PlanError(N_("A plan is a mapping with a 'counters' list."))
    return data


def build(data: Mapping[str, Any], shape: CentreShape) -> tuple[Plan, float]:
    """The plan and its demand scale, or PlanError naming the first problem."""
    unknown = set(data) - {"counters", "fairness_k", "max_priority_streak", "demand_scale"}
    if unknown:
        raise PlanError(
            N_("Unknown key(s) in the plan: %(keys)s."), keys=", ".join(sorted(map(str, unknown)))
        )
    rows = data.get("counters")
    if not isinstance(rows, list) or not rows:
        raise PlanError(N_("'counters' must be a non-empty list."))
    if len(rows) > MAX_COUNTERS:
        raise PlanError(N_("At most %(count)s counters."), count=MAX_COUNTERS)
    fairness = data.get("fairness_k", shape.fairness_k)
    if fairness is not None and (
        isinstance(fairness, bool) or not isinstance(fairness, int | float) or fairness <= 0
    ):
        raise PlanError(N_("fairness_k must be a positive number or empty."))
    streak = data.get("max_priority_streak", shape.max_priority_streak)
    if isinstance(streak, bool) or not isinstance(streak, int) or not 0 <= streak <= 50:
        raise PlanError(N_("max_priority_streak must be a whole number from 0 to 50."))
    scale = data.get("demand_scale", 1.0)
    if isinstance(scale, bool) or not isinstance(scale, int | float) or not 0 <= scale <= 10:
        raise PlanError(N_("demand_scale must be a number from 0 to 10."))
    counters = []
    seen: set[int] = set()
    for row in rows:
        if not isinstance(row, dict):
            raise PlanError(N_("Each counter is a mapping with 'number' and 'shifts'."))
        number = row.get("number")
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            raise PlanError(N_("Counter number %(number)s: a whole number from 1."), number=repr(number))
        if number in seen:
            raise PlanError(N_("Counter %(number)s is listed twice."), number=number)
        seen.add(number)
        shifts_in = row.get("shifts")
        if not isinstance(shifts_in, list) or not shifts_in:
            raise PlanError(N_("Counter %(number)s: give at least one shift, HH:MM-HH:MM."), number=number)
        shifts = sorted(parse_shift(s) for s in shifts_in)
        if any(a[1] > b[0] for a, b in pairwise(shifts)):
            raise PlanError(N_("Counter %(number)s: shifts overlap."), number=number)
        services_in = row.get("services")
        if services_in is None:
            if number not in shape.profiles:
                raise PlanError(N_("Counter %(number)s is not configured: give its services."), number=number)
            weights = dict(shape.profiles[number])
        else:
            if not isinstance(services_in, dict) or not services_in:
                raise PlanError(
                    N_("Counter %(number)s: services map service codes to weights 1-9."), number=number
                )
            weights = {}
            for code, weight in services_in.items():
                if code not in shape.service_ids:
                    raise PlanError(
                        N_("Counter %(number)s: no service %(service)s."), number=number, service=repr(code)
                    )
                if isinstance(weight, bool) or not isinstance(weight, int) or not 1 <= weight <= 9:
                    raise PlanError(
                        N_("Counter %(number)s: the weight of %(service)s must be 1-9."),
                        number=number,
                        service=code,
                    )
                weights[shape.service_ids[code]] = weight
        # A counter added by the plan gets an id no real counter has.
        counter_id = shape.counter_ids.get(number, -number)
        counters.append(CounterPlan(counter_id, weights, shifts, number))
    plan = Plan(
        counters=sorted(counters, key=lambda c: c.number),
        fairness_k=None if fairness is None else float(fairness),
        max_priority_streak=streak,
        closes_at=shape.closes_at,
    )
    return plan, float(scale)


def describe(plan: Plan, codes: Mapping[int, str]) -> dict[str, Any]:
    """A plan back in its written form (what the what-if page edits)."""
    return {
        "fairness_k": plan.fairness_k,
        "max_priority_streak": plan.max_priority_streak,
        "counters": [
            {
                "number": c.number,
                "shifts": [format_shift(a, b) for a, b in c.shifts],
                "services": {codes[sid]: w for sid, w in sorted(c.weights.items()) if sid in codes},
            }
            for c in plan.counters
        ],
    }
