"""Alerts for a centre's manager: a service's longest wait past its target, a queue past
a set length, an open counter calling nobody while people wait for it, a kiosk printer
in fault.

``conditions`` is the pure rule: live figures and thresholds in, what should be alerted
out. This module reads; the changes (raising and clearing, thresholds, acknowledging) are
``operations.alerts``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from queue_server.clock import utcnow
from queue_server.models import Alert, AlertSettings, Centre
from queue_server.read import statistics

WAIT_OVER_TARGET = "wait_over_target"
QUEUE_TOO_LONG = "queue_too_long"
COUNTER_IDLE = "counter_idle"
PRINTER_FAULT = "printer_fault"
KINDS = (WAIT_OVER_TARGET, QUEUE_TOO_LONG, COUNTER_IDLE, PRINTER_FAULT)

# field -> (lowest, highest) a manager may set
LIMITS = {"wait_target_percent": (50, 500), "queue_length": (0, 500), "idle_minutes": (0, 240)}


@dataclass(frozen=True)
class Thresholds:
    wait_target_percent: int = 100
    queue_length: int = 20  # 0: off
    idle_minutes: int = 5  # 0: off
    is_wait_enabled: bool = True
    is_printer_enabled: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {
            "wait_target_percent": self.wait_target_percent,
            "queue_length": self.queue_length,
            "idle_minutes": self.idle_minutes,
            "is_wait_enabled": self.is_wait_enabled,
            "is_printer_enabled": self.is_printer_enabled,
        }


@dataclass(frozen=True)
class Condition:
    kind: str
    subject: str  # "service:<id>", "counter:<id>", "device:<id>"
    value: int
    threshold: int
    data: dict[str, Any] = field(default_factory=dict)


def conditions(live: dict[str, Any], thresholds: Thresholds, now: datetime) -> list[Condition]:
    """What deserves an alert in a centre's live figures (``statistics.live_centre``). Pure."""
    out: list[Condition] = []
    waiting_for: dict[int, int] = {}
    for s in live["services"]:
        waiting_for[s["id"]] = s["waiting"]
        about = {"code": s["code"], "name_en": s["name_en"], "name_ur": s["name_ur"]}
        limit = s["target_wait_minutes"] * 60 * thresholds.wait_target_percent // 100
        if thresholds.is_wait_enabled and s["waiting"] and s["longest_wait_seconds"] > limit:
            out.append(
                Condition(WAIT_OVER_TARGET, f"service:{s['id']}", s["longest_wait_seconds"], limit, about)
            )
        if thresholds.queue_length and s["waiting"] > thresholds.queue_length:
            out.append(
                Condition(QUEUE_TOO_LONG, f"service:{s['id']}", s["waiting"], thresholds.queue_length, about)
            )
    if thresholds.idle_minutes:
        limit = thresholds.idle_minutes * 60
        for c in live["counters"]:
            if c["state"] != "open" or c["current"] is not None or not c["idle_since"]:
                continue
            waiting = sum(waiting_for.get(sid, 0) for sid in c["services"])
            idle = int((now - datetime.fromisoformat(c["idle_since"])).total_seconds())
            if waiting and idle >= limit:
                about = {"number": c["number"], "clerk": c["clerk"], "waiting": waiting}
                out.append(Condition(COUNTER_IDLE, f"counter:{c['id']}", idle, limit, about))
    if thresholds.is_printer_enabled:
        for p in live["devices"]["printers"]:
            if p["level"] == "error":
                about = {"name": p["name"], "status": p["status"]}
                out.append(Condition(PRINTER_FAULT, f"device:{p['id']}", 0, 0, about))
    return out


def open_key(centre_id: int, kind: str, subject: str) -> str:
    return f"{centre_id}:{kind}:{subject}"


def thresholds_for(session: Session, centre: Centre) -> Thresholds:
    row = session.get(AlertSettings, centre.id)
    if row is None:
        return Thresholds()
    return Thresholds(
        row.wait_target_percent,
        row.queue_length,
        row.idle_minutes,
        row.is_wait_enabled,
        row.is_printer_enabled,
    )


def live_unless_changed(
    session: Session, centre: Centre, now: datetime | None = None, *, figures: bool = True
) -> dict[str, Any] | None:
    """The live figures when ``evaluate`` would raise or clear nothing; None when it would.
    Reads only, so a caller can check under a read transaction and write only when needed.
    ``figures=False``: only what the alerts read (``statistics.live_centre``)."""
    now = now or utcnow()
    live = statistics.live_centre(session, centre, now, figures=figures)
    wanted = {
        open_key(centre.id, c.kind, c.subject) for c in conditions(live, thresholds_for(session, centre), now)
    }
    current = {a.open_key for a in statistics.open_alerts(session, [centre.id])}
    return live if wanted == current else None


def recent(session: Session, centre: Centre, since: datetime, limit: int = 50) -> list[Alert]:
    return list(
        session.scalars(
            select(Alert)
            .where(Alert.centre_id == centre.id, Alert.raised_at >= since)
            .order_by(Alert.raised_at.desc())
            .limit(limit)
        )
    )
