"""Replay a day and score wait predictors against the waits that happened.

At each token's issue the centre's state is rebuilt from the record (who waits, which
counters are open, which are busy and since when, recent service times and arrivals), and
every predictor gives its figure for that token:

- ``project``: ``queue_server.estimate.forecast``, the estimate shown to citizens, in the
  whole minutes shown;
- ``legacy``: the queue-length estimate it replaced (capacity shared by weight);
- ``QL``, ``LES``, ``HOL``: the standard predictors of Ibrahim & Whitt (2009):
  QL = (n + 1) / (s μ) with n tokens of the service ahead, s open counters serving it and
  1/μ its recent mean service time; LES = the wait of the last token of the service to be
  called; HOL = how long the token at the head of the service's line has waited (0 when
  nobody waits, as the new token is then the head).

Scores are per service: mean absolute error and root mean square error, in minutes.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from queue_server import dispatch, estimate
from queue_server.simulation.engine import at
from queue_server.simulation.model import DayRecord, Visit

PREDICTORS = ("project", "QL", "LES", "HOL", "legacy")
ARRIVAL_WINDOW = 3600.0
RECENT_PER_COUNTER = 10


@dataclass(frozen=True)
class Prediction:
    visit: Visit
    actual: float  # seconds
    predicted: Mapping[str, float]  # predictor -> seconds


def _occupancy(v: Visit) -> float | None:
    if v.called_at is None or v.finished_at is None or v.outcome == "no_show":
        return None
    return v.finished_at - v.called_at


def predict_day(record: DayRecord) -> list[Prediction]:
    """Every predictor's figure for every first visit that was called."""
    plan = record.plan
    visits = sorted(record.visits, key=lambda v: (v.issued_at, v.visit_id))
    defaults = {s.service_id: s.mean_service_seconds for s in record.services.values()}
    targets = {s.service_id: s.target_seconds for s in record.services.values()}
    ended = sorted(
        (v for v in record.visits if v.finished_at is not None and v.called_at is not None),
        key=lambda v: v.finished_at or 0.0,
    )
    out: list[Prediction] = []
    for visit in visits:
        if not visit.is_first or visit.called_at is None:
            continue
        t = visit.issued_at
        order = (t, visit.visit_id)
        # The state just before this token: a call at the very same instant counts only if
        # it was of a token issued before this one.
        waiting = [
            v
            for v in visits
            if (v.issued_at, v.visit_id) < order
            # called at or after t, or never called and not gone (cancelled) before t
            and (v.called_at >= t if v.called_at is not None else (v.finished_at or math.inf) > t)
        ]
        done = [v for v in ended if (v.finished_at or 0.0) <= t]
        samples: dict[int, list[float]] = defaultdict(list)
        per_counter: dict[int, list[float]] = defaultdict(list)
        for v in done:
            occ = _occupancy(v)
            if occ is not None:
                samples[v.service_id].append(occ)
                if v.counter_id is not None:
                    per_counter[v.counter_id].append(occ)
        means = estimate.service_means(samples, defaults)
        open_plans = [c for c in plan.counters if c.is_open(t)]
        busy = {
            v.counter_id: v
            for v in record.visits
            if v.counter_id is not None
            and v.called_at is not None
            and (v.called_at < t or (v.called_at == t and (v.issued_at, v.visit_id) < order))
            and t < (v.finished_at or math.inf)
        }
        recent = [v for v in visits if v.is_first and t - ARRIVAL_WINDOW <= v.issued_at < t]
        rates: dict[int, float] = defaultdict(float)
        for v in recent:
            rates[v.service_id] += 60.0 / ARRIVAL_WINDOW
        snapshot = estimate.QueueSnapshot(
            now=at(t),
            counters=tuple(
                estimate.ForecastCounter(
                    c.counter_id,
                    c.weights,
                    t - b.called_at if (b := busy.get(c.counter_id)) and b.called_at is not None else 0.0,
                    b.service_id if b else None,
                )
                for c in open_plans
            ),
            waiting=tuple(
                dispatch.Candidate(v.visit_id, v.service_id, at(v.queued_at), v.is_priority) for v in waiting
            ),
            service_seconds=means,
            arrivals_per_minute=dict(rates),
            max_priority_streak=plan.max_priority_streak,
            fairness_k=plan.fairness_k,
            target_seconds=targets,
        )
        s = visit.service_id
        predicted: dict[str, float] = {}
        minutes = estimate.forecast(snapshot, [(s, visit.is_priority)]).new_minutes(s, visit.is_priority)
        if minutes is not None:
            predicted["project"] = 60.0 * minutes
        same = [v for v in waiting if v.service_id == s]
        ahead = [v for v in same if v.is_priority] if visit.is_priority else same
        servers = sum(1 for c in open_plans if s in c.weights)
        if servers:
            predicted["QL"] = (len(ahead) + 1) * means[s] / servers
        called = [
            v for v in record.visits if v.service_id == s and v.called_at is not None and v.called_at < t
        ]
        last = max(called, key=lambda v: (v.called_at or 0.0, v.visit_id), default=None)
        predicted["LES"] = (last.wait or 0.0) if last is not None else 0.0
        predicted["HOL"] = t - min(v.queued_at for v in same) if same else 0.0
        capacities = []
        for c in open_plans:
            if s in c.weights:
                mean = estimate.recent_mean(per_counter.get(c.counter_id, []), means[s], RECENT_PER_COUNTER)
                capacities.append(estimate.CounterCapacity(c.weights[s], sum(c.weights.values()), mean))
        legacy = estimate.expected_wait_minutes(len(ahead), capacities)
        if legacy is not None:
            predicted["legacy"] = 60.0 * legacy
        out.append(Prediction(visit, visit.wait or 0.0, predicted))
    return out


@dataclass(frozen=True)
class Score:
    n: int
    mae: float  # minutes
    rmse: float  # minutes


def score(predictions: Sequence[Prediction], by_service: bool = True) -> dict[int | None, dict[str, Score]]:
    """Per service (or None for all): per predictor, MAE and RMSE in minutes over the
    tokens every predictor had a figure for (so all are scored on the same tokens)."""
    groups: dict[int | None, list[Prediction]] = defaultdict(list)
    for p in predictions:
        if all(name in p.predicted for name in PREDICTORS):
            groups[None].append(p)
            if by_service:
                groups[p.visit.service_id].append(p)
    out: dict[int | None, dict[str, Score]] = {}
    for key, preds in groups.items():
        out[key] = {}
        for name in PREDICTORS:
            errors = [(p.predicted[name] - p.actual) / 60.0 for p in preds]
            mae = sum(abs(e) for e in errors) / len(errors)
            rmse = math.sqrt(sum(e * e for e in errors) / len(errors))
            out[key][name] = Score(len(errors), mae, rmse)
    return out
