"""Devices saying they are still there: kiosks through their status check, displays and
kiosks through the socket's periodic re-join. The dashboard calls a screen offline when it
has not been seen for a while (statistics.SCREEN_OFFLINE_SECONDS)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, update
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
