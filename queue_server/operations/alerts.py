"""Raising, clearing and acknowledging a centre's alerts, and setting its thresholds.

``evaluate`` holds the rule (``alerts.conditions``) against the alerts that are open: it
raises the new ones and clears those whose condition has passed, each with an event in the
centre's log (``alert_raised``, ``alert_cleared``), and tells the dashboards after commit.
Only the dashboard's background worker runs it (on every change, and every sweep for what
time alone changes); looking at a dashboard reads. The unique ``open_key`` keeps two
processes evaluating at once from raising one alert twice. Flushes, never commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from queue_server import rooms
from queue_server.actors import SYSTEM, Actor
from queue_server.alerts import LIMITS, Thresholds, conditions, open_key, thresholds_for
from queue_server.audit import append_event
from queue_server.clock import utcnow
from queue_server.errors import N_, Forbidden, NotFound, ValidationFailed
from queue_server.models import Alert, AlertSettings, Centre
from queue_server.publish import Message, publish
from queue_server.read import statistics


@dataclass
class Evaluation:
    raised: list[Alert]
    cleared: list[Alert]
    live: dict[str, Any]

    @property
    def changed(self) -> bool:
        return bool(self.raised or self.cleared)


def evaluate(
    session: Session, centre: Centre, now: datetime | None = None, *, figures: bool = True
) -> Evaluation:
    """Raise and clear the centre's alerts to match its live figures. Flushes, never commits.
    ``figures=False``: from what the alerts read only (``statistics.live_centre``)."""
    now = now or utcnow()
    live = statistics.live_centre(session, centre, now, figures=figures)
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
            centre_id=centre_id,
        ),
    )
