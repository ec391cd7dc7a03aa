"""Appointment slots: when they are and how many bookings each may take. Pure: plain
values in, plain values out (no Flask, no session).

A centre offers bookings in slots of ``slot_minutes`` across its opening hours. A slot of
service S takes at most ``share`` of what the counters that serve S can do in it, so
walk-ins always keep the rest: each counter gives S the part of its time its work profile
weights give S, and one citizen takes S's usual service time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

DEFAULTS: dict[str, Any] = {
    "enabled": False,
    "share": 0.3,  # of the capacity of a slot: walk-ins keep the rest
    "slot_minutes": 30,
    "early_minutes": 30,  # check-in opens this long before the slot
    "late_minutes": 15,  # and closes this long after it starts (then: a no-show)
    "days_ahead": 14,
    "per_phone": 2,  # bookings a mobile number may hold at once
}


@dataclass(frozen=True)
class Policy:
    enabled: bool
    share: float
    slot_minutes: int
    early_minutes: int
    late_minutes: int
    days_ahead: int
    per_phone: int

    @classmethod
    def of(cls, settings: Mapping[str, Any] | None) -> Policy:
        values = {**DEFAULTS, **dict((settings or {}).get("appointments") or {})}
        return cls(
            enabled=bool(values["enabled"]),
            share=min(max(float(values["share"]), 0.0), 1.0),
            slot_minutes=max(int(values["slot_minutes"]), 5),
            early_minutes=max(int(values["early_minutes"]), 0),
            late_minutes=max(int(values["late_minutes"]), 0),
            days_ahead=max(int(values["days_ahead"]), 0),
            per_phone=max(int(values["per_phone"]), 1),
        )


def slot_starts(opens: datetime, closes: datetime, slot_minutes: int) -> list[datetime]:
    """Every slot that fits whole between opening and closing."""
    step = timedelta(minutes=slot_minutes)
    starts, at = [], opens
    while at + step <= closes:
        starts.append(at)
        at += step
    return starts


def capacity(policy: Policy, service_minutes: int, time_shares: Iterable[float]) -> int:
    """Bookings one slot of a service may take. ``time_shares``: for each counter serving
    the service, the share of its time the service gets (its weight over the counter's
    total weight)."""
    served = sum(time_shares) * policy.slot_minutes / max(service_minutes, 1)
    return math.floor(policy.share * served)


def arrival_window(policy: Policy, slot_start: datetime) -> tuple[datetime, datetime]:
    """When a booking may check in: from ``early_minutes`` before the slot to
    ``late_minutes`` after it starts."""
    return (
        slot_start - timedelta(minutes=policy.early_minutes),
        slot_start + timedelta(minutes=policy.late_minutes),
    )
