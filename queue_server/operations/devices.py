"""Devices saying they are still there: kiosks through their status check, displays and
kiosks through the socket's periodic re-join (noted in memory, written by the presence
worker: queue_server.realtime.presence). The dashboard calls a screen offline when it
has not been seen for a while (statistics.SCREEN_OFFLINE_SECONDS)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, or_, update
from sqlalchemy.orm import Session

from queue_server.models import Device

SEEN_EVERY = timedelta(seconds=60)  # at most one write per device per minute


def note_seen(session: Session, device_id: int, now: datetime) -> bool:
    """Record that the device was seen now, unless it was recorded less than SEEN_EVERY
    ago. True when the row was written."""
    written = session.execute(
        update(Device)
        .where(
            Device.id == device_id,
            or_(Device.last_seen_at.is_(None), Device.last_seen_at < now - SEEN_EVERY),
        )
        .values(last_seen_at=now)
        .returning(Device.id)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    return written is not None


def note_seen_many(session: Session, seen: dict[int, datetime]) -> int:
    """``note_seen`` for many devices in one statement (the presence worker's batch): each
    row is written unless it was recorded less than SEEN_EVERY before its sighting.
    Returns how many rows were written, as the driver counts them."""
    if not seen:
        return 0
    table = Device.__table__
    statement = (
        update(table)
        .where(
            table.c.id == bindparam("device_id"),
            or_(table.c.last_seen_at.is_(None), table.c.last_seen_at < bindparam("stale_before")),
        )
        .values(last_seen_at=bindparam("seen_at"))
    )
    rows = [
        {"device_id": device_id, "seen_at": at, "stale_before": at - SEEN_EVERY}
        for device_id, at in sorted(seen.items())
    ]
    result = session.connection().execute(statement, rows)
    return max(result.rowcount, 0)
