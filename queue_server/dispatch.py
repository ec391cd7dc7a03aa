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
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

NO_TARGETS: Mapping[int, float] = MappingProxyType({})


@dataclass(frozen=True)
class Candidate:
    token_id: int
    service_id: int
    queued_at: datetime
    is_priority: bool = False
    target_counter_id: int | None = None
    # ``queued_at`` in whole microseconds (``microseconds``), set once: the rule compares it
    # for every call the forecast replays, where a property's call cost more than the rest.
    queued_us: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "queued_us", microseconds(self.queued_at))


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
    top_weight: int = field(init=False, repr=False, compare=False)  # (asked at every call replayed)

    def __post_init__(self) -> None:
        object.__setattr__(self, "top_weight", max(self.weights.values(), default=1))


def is_eligible(candidate: Candidate, counter: CounterView) -> bool:
    return may_call(counter, candidate.service_id, candidate.target_counter_id)


def may_call(counter: CounterView, service_id: int, target_counter_id: int | None) -> bool:
    """Whether ``counter`` may call the tokens of a service sent to a counter (or to none)."""
    if target_counter_id is not None:
        return target_counter_id == counter.counter_id
    return service_id in counter.weights


def guard_active(candidates: list[Candidate], counter: CounterView) -> bool:
    """True when the streak limit is reached and a normal token is eligible."""
    return (
        counter.max_priority_streak > 0
        and counter.priority_streak >= counter.max_priority_streak
        and any(not c.is_priority for c in candidates)
    )


_EPOCH_UTC = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH = _EPOCH_UTC.replace(tzinfo=None)  # for naive datetimes (the simulator may use them)
_MICROSECOND = timedelta(microseconds=1)


def microseconds(at: datetime) -> int:
    """``at`` as whole microseconds since the epoch: exact, so waits computed from it are
    the same floats as ``(now - then).total_seconds()`` (both are a count of microseconds
    divided by 10**6), and it orders instants as ``timestamp()`` does."""
    return (at - (_EPOCH if at.tzinfo is None else _EPOCH_UTC)) // _MICROSECOND


def _key(
    counter: CounterView, now_us: int, ignore_priority: bool
) -> Callable[[Candidate], tuple[bool, bool, float, int, int]]:
    """The order of the rule (greatest first) for ``counter`` at ``now_us``. The forecast
    asks it for every call it replays, so it works on whole microseconds (no datetime
    arithmetic) and looks the counter's figures up once."""
    counter_id = counter.counter_id
    weights = counter.weights
    fairness_k = counter.fairness_k
    targets = counter.target_seconds
    top = counter.top_weight if fairness_k is not None else 1

    def key(c: Candidate) -> tuple[bool, bool, float, int, int]:
        queued = c.queued_us
        waited = (now_us - queued) / 1_000_000
        if waited < 0.0:
            waited = 0.0
        weight = weights.get(c.service_id, 1)
        if fairness_k is not None:  # overdue past k × its target: weighs as the top weight
            target = targets.get(c.service_id)
            if target is not None and target > 0 and waited > fairness_k * target and top > weight:
                weight = top
        return (
            c.target_counter_id == counter_id,
            c.is_priority and not ignore_priority,
            waited * weight,
            -queued,
            -c.token_id,
        )

    return key


def rank(candidates: Iterable[Candidate], counter: CounterView, now: datetime) -> list[Candidate]:
    """Every eligible candidate, best first."""
    eligible = [c for c in candidates if is_eligible(c, counter)]
    key = _key(counter, microseconds(now), guard_active(eligible, counter))
    return sorted(eligible, key=key, reverse=True)


def choose(candidates: Iterable[Candidate], counter: CounterView, now: datetime) -> Candidate | None:
    """The first of ``rank`` without ordering the rest."""
    return choose_eligible([c for c in candidates if is_eligible(c, counter)], counter, microseconds(now))


def choose_eligible(eligible: list[Candidate], counter: CounterView, now_us: int) -> Candidate | None:
    """``choose`` among candidates already known to be eligible at ``counter``, at
    ``now_us`` (``microseconds``): what the forecast asks once per call it replays. Keys end
    in the token id, so no two are equal and the first maximum is it."""
    if not eligible:
        return None
    if len(eligible) == 1:
        return eligible[0]
    return max(eligible, key=_key(counter, now_us, guard_active(eligible, counter)))


def next_streak(counter: CounterView, chosen: Candidate) -> int:
    """The counter's priority streak after calling ``chosen``."""
    if chosen.target_counter_id == counter.counter_id:
        return counter.priority_streak
    return counter.priority_streak + 1 if chosen.is_priority else 0
