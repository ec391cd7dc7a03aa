"""The one place the system reads the time (tests move it with time-machine)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo


def utcnow() -> datetime:
    return datetime.now(UTC)


def local_day(tz: ZoneInfo, at: datetime | None = None) -> date:
    """The centre's business day: the local calendar date in its time zone."""
    return (at or utcnow()).astimezone(tz).date()
