"""A centre's opening hours as the simulator counts time: seconds from local midnight."""

from __future__ import annotations

from datetime import date

from queue_server import centre_days
from queue_server.models import Centre


def hours_seconds(centre: Centre, day: date | None = None) -> tuple[float, float]:
    """The centre's opening and closing on ``day`` (its weekly hours; without a day, the
    first weekday it opens), as seconds from local midnight. Round the clock: the whole day."""
    calendar = centre.calendar()
    if day is not None:
        entries = [centre_days.hours_on(calendar, day)]
    else:
        entries = [calendar.hours_of(w) for w in range(7)]
    for hours in entries:
        if hours.is_round_the_clock:
            return 0.0, 86400.0
        if not hours.is_closed and hours.opens_at is not None and hours.closes_at is not None:
            opens = hours.opens_at.hour * 3600.0 + hours.opens_at.minute * 60.0
            closes = hours.closes_at.hour * 3600.0 + hours.closes_at.minute * 60.0
            return opens, closes if closes > opens else closes + 86400.0
    return 8 * 3600.0, 16 * 3600.0
