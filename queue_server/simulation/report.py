"""What a manager reads from a day, simulated or recorded: per service and hour the average
and 90th-percentile wait, the share within target, the mean queue length, late same-day
requests; counter utilisation per hour; a timeline; the longest wait per service."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from queue_server.simulation.model import DayRecord, Visit

HOUR = 3600.0
TIMELINE_STEP = 900.0


def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile by the nearest-rank method (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def _overlap(start: float, end: float, lo: float, hi: float) -> float:
    return max(0.0, min(end, hi) - max(start, lo))


def day_end(record: DayRecord) -> float:
    ends = [v.finished_at for v in record.visits if v.finished_at is not None]
    ends += [end for c in record.plan.counters for _, end in c.shifts]
    return max([*ends, record.plan.closes_at])


def summarise(record: DayRecord) -> dict[str, Any]:
    """The whole report as plain JSON-ready values (minutes, shares, counts)."""
    end = day_end(record)
    first = [v for v in record.visits if v.is_first]
    hours = sorted({int(v.queued_at // HOUR) for v in first})
    by_service: dict[int, list[Visit]] = defaultdict(list)
    for v in record.visits:
        by_service[v.service_id].append(v)

    services = []
    for service_id, spec in sorted(record.services.items()):
        visits = by_service.get(service_id, [])
        if not visits:
            continue
        rows = []
        for hour in sorted({int(v.issued_at // HOUR) for v in visits}):
            in_hour = [v for v in visits if int(v.issued_at // HOUR) == hour]
            rows.append(_figures(in_hour, spec.target_seconds, record, end) | {"hour": hour})
            lo, hi = hour * HOUR, (hour + 1) * HOUR
            queued = sum(
                _overlap(v.issued_at, v.called_at if v.called_at is not None else end, lo, hi) for v in visits
            )
            rows[-1]["queue_length"] = round(queued / HOUR, 2)
        services.append(
            {
                "service_id": service_id,
                "code": spec.code,
                "target_minutes": round(spec.target_seconds / 60, 1),
                **_figures(visits, spec.target_seconds, record, end),
                "hours": rows,
            }
        )

    counters = []
    for plan in record.plan.counters:
        at_counter = [v for v in record.visits if v.counter_id == plan.counter_id and v.called_at is not None]
        per_hour = []
        for hour in range(int(end // HOUR) + 1):
            lo, hi = hour * HOUR, (hour + 1) * HOUR
            open_s = sum(_overlap(s, e, lo, hi) for s, e in plan.shifts)
            busy = sum(_overlap(v.called_at or 0.0, v.finished_at or end, lo, hi) for v in at_counter)
            if open_s > 0 or busy > 0:
                per_hour.append(
                    {"hour": hour, "utilisation": round(min(1.0, busy / open_s) if open_s else 1.0, 3)}
                )
        open_total = sum(e - s for s, e in plan.shifts)
        busy_total = sum((v.finished_at or end) - (v.called_at or 0.0) for v in at_counter)
        counters.append(
            {
                "counter_id": plan.counter_id,
                "number": plan.number,
                "served": sum(1 for v in at_counter if v.outcome in ("served", "transferred")),
                "utilisation": round(busy_total / open_total, 3) if open_total else 0.0,
                "hours": per_hour,
            }
        )
    return {
        "label": record.label,
        "tokens": len(first),
        "hours": hours,
        "total": _figures(record.visits, None, record, end),
        "services": services,
        "counters": counters,
        "timeline": timeline(record, end),
    }


def _figures(visits: Sequence[Visit], target: float | None, record: DayRecord, end: float) -> dict[str, Any]:
    waits = [v.wait for v in visits if v.wait is not None]
    within = [
        w <= (target if target is not None else record.services[v.service_id].target_seconds)
        for v in visits
        if (w := v.wait) is not None
    ]
    return {
        "tokens": len(visits),
        "served": sum(1 for v in visits if v.outcome in ("served", "transferred")),
        "no_show": sum(1 for v in visits if v.outcome == "no_show"),
        "unserved": sum(1 for v in visits if v.called_at is None),
        "avg_wait_minutes": round(sum(waits) / len(waits) / 60, 2) if waits else 0.0,
        "p90_wait_minutes": round(percentile(waits, 0.9) / 60, 2),
        "max_wait_minutes": round(max(waits, default=0.0) / 60, 2),
        "within_target": round(sum(within) / len(within), 3) if within else 1.0,
        "late_same_day": sum(1 for v in visits if _is_late(v, record)),
    }


def _is_late(visit: Visit, record: DayRecord) -> bool:
    """A same-day request not finished by the centre's closing time (or never served)."""
    if not record.services[visit.service_id].is_same_day or visit.outcome in ("no_show", "transferred"):
        return False
    return visit.finished_at is None or visit.finished_at > record.plan.closes_at


def timeline(record: DayRecord, end: float) -> list[dict[str, Any]]:
    """Every 15 minutes: tokens waiting, counters open and busy."""
    start = min(
        [v.issued_at for v in record.visits] + [s for c in record.plan.counters for s, _ in c.shifts] + [end]
    )
    points = []
    t = math.floor(start / TIMELINE_STEP) * TIMELINE_STEP
    while t <= end:
        waiting = sum(
            1 for v in record.visits if v.issued_at <= t and (v.called_at is None or v.called_at > t)
        )
        busy = sum(
            1
            for v in record.visits
            if v.called_at is not None
            and v.called_at <= t < (v.finished_at if v.finished_at is not None else end)
        )
        open_ = sum(1 for c in record.plan.counters if c.is_open(t))
        points.append({"t": int(t), "waiting": waiting, "open": open_, "busy": busy})
        t += TIMELINE_STEP
    return points


def longest_waits(record: DayRecord) -> list[dict[str, Any]]:
    """Per service: the longest wait against its target (the fairness bound's evidence)."""
    out = []
    for service_id, spec in sorted(record.services.items()):
        waits = [v.wait for v in record.visits if v.service_id == service_id and v.wait is not None]
        if not waits:
            continue
        longest = max(waits)
        out.append(
            {
                "code": spec.code,
                "target_minutes": round(spec.target_seconds / 60, 1),
                "longest_minutes": round(longest / 60, 1),
                "ratio": round(longest / spec.target_seconds, 2) if spec.target_seconds else None,
            }
        )
    return out
