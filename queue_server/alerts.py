"""Alerts for a centre's manager: a service's longest wait past its target, a queue past
a set length, an open counter calling nobody while people wait for it, a kiosk printer
in fault.

``conditions`` is the pure rule: live figures and thresholds in, what should be alerted
out. ``evaluate`` holds it against the alerts that are open: it raises the new ones and
clears those whose condition has passed, each with an event in the centre's log
(``alert_raised``, ``alert_cleared``), and tells the dashboards after commit. It runs when
a dashboard looks and from the dashboard's background worker; the unique ``open_key``
keeps two processes evaluating at once from raising one alert twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from queue_server import rooms, statistics
from queue_server.actors import SYSTEM, Actor
from queue_server.audit import append_event
from queue_server.clock import utcnow
from queue_server.errors import N_, Forbidden, NotFound, ValidationFailed
from queue_server.models import Alert, AlertSettings, Centre
from queue_server.publish import Message, publish

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


def _ids(subject: str) -> dict[str, int]:
    kind, _, ident = subject.partition(":")
    if not ident.isdigit():
        return {}
    return {"service": {"service_id": int(ident)}, "counter": {"counter_id": int(ident)}}.get(kind, {})


def _tell(session: Session, centre_id: int, payload: dict[str, Any]) -> None:
    publish(
        session,
        Message(
            "alerts_changed",
            (rooms.dashboard(centre_id), rooms.PROVINCE),
            {"centre_id": centre_id, **payload},
        ),
    )


@dataclass
class Evaluation:
    raised: list[Alert]
    cleared: list[Alert]
    live: dict[str, Any]

    @property
    def changed(self) -> bool:
        return bool(self.raised or self.cleared)


def live_unless_changed(
    session: Session, centre: Centre, now: datetime | None = None
) -> dict[str, Any] | None:
    """The live figures when ``evaluate`` would raise or clear nothing; None when it would.
    Reads only, so a caller can check under a read transaction and write only when needed."""
    now = now or utcnow()
    live = statistics.live_centre(session, centre, now)
    wanted = {
        open_key(centre.id, c.kind, c.subject) for c in conditions(live, thresholds_for(session, centre), now)
    }
    current = {a.open_key for a in statistics.open_alerts(session, [centre.id])}
    return live if wanted == current else None


def evaluate(session: Session, centre: Centre, now: datetime | None = None) -> Evaluation:
    """Raise and clear the centre's alerts to match its live figures. Flushes, never commits."""
    now = now or utcnow()
    live = statistics.live_centre(session, centre, now)
    wanted = {
        open_key(centre.id, c.kind, c.subject): c
        for c in conditions(live, thresholds_for(session, centre), now)
    }
    current = {a.open_key: a for a in statistics.open_alerts(session, [centre.id])}
    raised: list[Alert] = []
    cleared: list[Alert] = []
    for key, c in wanted.items():
        if key in current:
            continue
        alert = Alert(
            centre_id=centre.id,
            kind=c.kind,
            subject=c.subject,
            open_key=key,
            value=c.value,
            threshold=c.threshold,
            data=c.data,
            raised_at=now,
        )
        session.add(alert)
        session.flush()
        append_event(
            session,
            centre.id,
            "alert_raised",
            SYSTEM,
            at=now,
            **_ids(c.subject),
            data={
                "alert": alert.id,
                "kind": c.kind,
                "subject": c.subject,
                "value": c.value,
                "threshold": c.threshold,
            },
        )
        raised.append(alert)
    for held_key, alert in current.items():
        if held_key in wanted:
            continue
        alert.cleared_at = now
        alert.open_key = None
        session.flush()
        append_event(
            session,
            centre.id,
            "alert_cleared",
            SYSTEM,
            at=now,
            **_ids(alert.subject),
            data={"alert": alert.id, "kind": alert.kind, "subject": alert.subject},
        )
        cleared.append(alert)
    if raised or cleared:
        live["alerts"] = [statistics.alert_public(a) for a in statistics.open_alerts(session, [centre.id])]
        _tell(
            session,
            centre.id,
            {
                "raised": [statistics.alert_public(a) for a in raised],
                "cleared": [statistics.alert_public(a) for a in cleared],
            },
        )
    return Evaluation(raised, cleared, live)


def update_thresholds(session: Session, centre: Centre, actor: Actor, values: dict[str, Any]) -> Thresholds:
    """A manager sets the centre's thresholds. Refuses values out of range and anyone who
    is not a manager of the centre. The change is an event."""
    if not actor.is_manager or not actor.may_act_in(centre.id):
        raise Forbidden(N_("Only a manager may change the alert thresholds."))
    for name, (low, high) in LIMITS.items():
        value = values.get(name)
        if value is not None and not (isinstance(value, int) and low <= value <= high):
            raise ValidationFailed(
                N_("%(field)s must be between %(low)s and %(high)s."), field=name, low=low, high=high
            )
    row = session.get(AlertSettings, centre.id)
    if row is None:
        row = AlertSettings(centre_id=centre.id, **Thresholds().as_dict())
        session.add(row)
    before = thresholds_for(session, centre).as_dict()
    for name in Thresholds().as_dict():
        if values.get(name) is not None:
            setattr(row, name, values[name])
    row.updated_at = utcnow()
    row.updated_by = actor.label
    session.flush()
    after = thresholds_for(session, centre)
    append_event(
        session,
        centre.id,
        "alert_settings_changed",
        actor,
        data={"before": before, "after": after.as_dict()},
    )
    _tell(session, centre.id, {"thresholds": after.as_dict()})
    return after


def acknowledge(session: Session, alert_id: int, actor: Actor) -> Alert:
    """A manager has seen an open alert: it stays until its condition clears, marked seen."""
    alert = session.scalar(select(Alert).where(Alert.id == alert_id).with_for_update())
    if alert is None or not actor.may_act_in(alert.centre_id):
        raise NotFound(N_("No alert %(id)s."), id=alert_id)
    if not actor.is_manager:
        raise Forbidden(N_("You are not allowed to do this."))
    if alert.acknowledged_at is None:
        alert.acknowledged_at = utcnow()
        alert.acknowledged_by = actor.label
        session.flush()
        append_event(
            session,
            alert.centre_id,
            "alert_acknowledged",
            actor,
            data={"alert": alert.id, "kind": alert.kind, "subject": alert.subject},
        )
        _tell(session, alert.centre_id, {"acknowledged": alert.id})
    return alert


def recent(session: Session, centre: Centre, since: datetime, limit: int = 50) -> list[Alert]:
    return list(
        session.scalars(
            select(Alert)
            .where(Alert.centre_id == centre.id, Alert.raised_at >= since)
            .order_by(Alert.raised_at.desc())
            .limit(limit)
        )
    )
