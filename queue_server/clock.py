"""The one place the system reads the time (tests move it with time-machine; seeding a
centre's history moves it with ``travel``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

_set_now: ContextVar[datetime | None] = ContextVar("khidmat_clock", default=None)


def utcnow() -> datetime:
    override = _set_now.get()
    return override if override is not None else datetime.now(UTC)


def local_day(tz: ZoneInfo, at: datetime | None = None) -> date:
    """The centre's business day: the local calendar date in its time zone."""
    return (at or utcnow()).astimezone(tz).date()


class Travel:
    """A clock standing still at a chosen time until moved (see ``travel``)."""

    def move_to(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("an aware datetime is needed")
        _set_now.set(at.astimezone(UTC))


@contextmanager
def travel(at: datetime) -> Iterator[Travel]:
    """Within the block, ``utcnow`` answers ``at`` (then wherever ``move_to`` puts it):
    what lets the history seeder play past days through the real operations."""
    token = _set_now.set(None)
    clock = Travel()
    clock.move_to(at)
    try:
        yield clock
    finally:
        _set_now.reset(token)
