"""The dispatch rule: which waiting token counter C calls next. Pure: plain values in,
a decision out (DESIGN.md, "Dispatch rule").

Candidates are the centre's waiting tokens of today whose service is in C's work profile,
or that were transferred to C itself. The best is the maximum of, in order:

1. transferred to C itself;
2. a priority class (senior citizen, person with disability) over normal;
3. waited seconds (from the original issue time) × the service's weight at C;
4. the earlier issue time, then the lower id.

No-starvation guard: once C has called ``max_priority_streak`` priority tokens in a row,
priority is ignored for the next call if any normal token is eligible, so the
longest-waiting normal citizen is taken. A streak limit of 0 disables the guard.

Fairness bound: with ``fairness_k`` set, a normal token that has waited longer than
``fairness_k`` × its service's target wait competes as if its service's weight were the
highest weight at C. Weights then still order everyone within the bound, but a light
service cannot be held back indefinitely while C's heavier services keep having someone
waiting: an overdue token is passed over only by tokens that waited longer than it did
(or by priority and direct transfers). ``None`` (the default) keeps the plain rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

NO_TARGETS: Mapping[int, float] = MappingProxyType({})


@dataclass(frozen=True)
class Candidate:
    token_id: int
    service_id: int
    queued_at: datetime
    is_priority: bool = False
    target_counter_id: int | None = None


@dataclass(frozen=True)
class CounterView:
    counter_id: int
    weights: Mapping[int, int]  # service id -> weight (1-9)
    priority_streak: int = 0
    max_priority_streak: int = 0
    # The fairness bound (see the module docstring): k, and service id -> target wait in
    # seconds. A service without a target is never overdue.
    fairness_k: float | None = None
    target_seconds: Mapping[int, float] = field(default_factory=lambda: NO_TARGETS)

    @property
    def top_weight(self) -> int:
        return max(self.weights.values(), default=1)

    def effective_weight(self, service_id: int, waited_seconds: float) -> int:
        """The weight ``waited × weight`` uses: the profile's, or the top one when overdue."""
        weight = self.weights.get(service_id, 1)
        if self.fairness_k is None:
            return weight
        target = self.target_seconds.get(service_id)
        if target is not None and target > 0 and waited_seconds > self.fairness_k * target:
            return max(weight, self.top_weight)
        return weight


def is_eligible(candidate: Candidate, counter: CounterView) -> bool:
    if candidate.target_counter_id is not None:
        return candidate.target_counter_id == counter.counter_id
    return candidate.service_id in counter.weights


def guard_active(candidates: list[Candidate], counter: CounterView) -> bool:
    """True when the streak limit is reached and a normal token is eligible."""
    return (
        counter.max_priority_streak > 0
        and counter.priority_streak >= counter.max_priority_streak
        and any(not c.is_priority for c in candidates)
    )


def _ranking(
    candidates: Iterable[Candidate], counter: CounterView, now: datetime
) -> tuple[list[Candidate], Callable[[Candidate], tuple[bool, bool, float, float, int]]]:
    """The eligible candidates, and the key that orders them (greatest first)."""
    eligible = [c for c in candidates if is_eligible(c, counter)]
    ignore_priority = guard_active(eligible, counter)

    def key(c: Candidate) -> tuple[bool, bool, float, float, int]:
        is_direct = c.target_counter_id == counter.counter_id
        waited = max(0.0, (now - c.queued_at).total_seconds())
        weight = counter.effective_weight(c.service_id, waited)
        priority = c.is_priority and not ignore_priority
        return (is_direct, priority, waited * weight, -c.queued_at.timestamp(), -c.token_id)

    return eligible, key


def rank(candidates: Iterable[Candidate], counter: CounterView, now: datetime) -> list[Candidate]:
    """Every eligible candidate, best first."""
    eligible, key = _ranking(candidates, counter, now)
    return sorted(eligible, key=key, reverse=True)


def choose(candidates: Iterable[Candidate], counter: CounterView, now: datetime) -> Candidate | None:
    """The first of ``rank`` without ordering the rest (the forecast asks once per call it
    replays). Keys end in the token id, so no two are equal and the first maximum is it."""
    eligible, key = _ranking(candidates, counter, now)
    return max(eligible, key=key) if eligible else None


def next_streak(counter: CounterView, chosen: Candidate) -> int:
    """The counter's priority streak after calling ``chosen``."""
    if chosen.target_counter_id == counter.counter_id:
        return counter.priority_streak
    return counter.priority_streak + 1 if chosen.is_priority else 0
