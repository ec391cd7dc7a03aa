"""Centre days: the business day an instant belongs to, and when a centre is open.

Pure rules on plain values (no Flask, no session), so they are tested without an app.

- A centre's **business day** runs from its day boundary (``day_starts_at``, a local time,
  midnight by default) to the next one. A 24/7 centre sets its shift change, e.g. 08:00:
  then 07:59 on the 6th still belongs to the business day of the 5th. Numbering restarts
  and end of day runs at the boundary.
- **Opening hours** are per weekday of the business day: closed, round the clock (the whole
  business day), or from ``opens_at`` to ``closes_at`` local time on that day's calendar
  date (a ``closes_at`` at or before ``opens_at`` closes on the next calendar date: a night
  shift). A **holiday** closes its business day whatever the weekday says.
- Local times that do not exist (a daylight-saving gap) or exist twice (a fold) are taken
  as ``zoneinfo`` does with ``fold=0``; the business day of an instant is decided against
  the same UTC day starts, so every instant belongs to exactly one business day.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MIDNIGHT = time(0, 0)
# How far ahead ``next_opening`` looks (a centre closed longer than this has no next opening).
LOOKAHEAD_DAYS = 62


@dataclass(frozen=True)
class DayHours:
    """The hours of one weekday (0 = Monday … 6 = Sunday)."""

    weekday: int
    opens_at: time | None = None
    closes_at: time | None = None
    is_closed: bool = False
    is_round_the_clock: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise ValueError(f"weekday must be 0-6, not {self.weekday}")
        if self.is_closed and self.is_round_the_clock:
            raise ValueError("a day cannot be both closed and round the clock")
        if not (self.is_closed or self.is_round_the_clock) and (
            self.opens_at is None or self.closes_at is None
        ):
            raise ValueError("an open day needs opens_at and closes_at")


@dataclass(frozen=True)
class CentreCalendar:
    """What the rules need to know about a centre. A weekday missing from ``hours`` is
    closed; ``holidays`` are business days on which the centre is closed."""

    timezone: str = "Asia/Karachi"
    day_starts_at: time = MIDNIGHT
    hours: tuple[DayHours, ...] = ()
    holidays: frozenset[date] = field(default_factory=frozenset)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def hours_of(self, weekday: int) -> DayHours:
        for entry in self.hours:
            if entry.weekday == weekday:
                return entry
        return DayHours(weekday, is_closed=True)


def _as_utc(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("an instant must carry its time zone")
    return at.astimezone(UTC)


def day_start(tz: ZoneInfo, day_starts_at: time, day: date) -> datetime:
    """The UTC instant at which business day ``day`` begins."""
    return datetime.combine(day, day_starts_at, tzinfo=tz).astimezone(UTC)


def day_span(tz: ZoneInfo, day_starts_at: time, day: date) -> tuple[datetime, datetime]:
    """The UTC [start, end) of business day ``day``."""
    return day_start(tz, day_starts_at, day), day_start(tz, day_starts_at, day + timedelta(days=1))


def business_day(tz: ZoneInfo, day_starts_at: time, at: datetime) -> date:
    """The business day the instant ``at`` belongs to: its local date, or the day before
    when ``at`` comes before that date's boundary."""
    at = _as_utc(at)
    candidate = at.astimezone(tz).date()
    # Around a DST change the local date and the boundary can disagree by one; step until
    # ``at`` lies inside the span.
    while at < day_start(tz, day_starts_at, candidate):
        candidate -= timedelta(days=1)
    while at >= day_start(tz, day_starts_at, candidate + timedelta(days=1)):
        candidate += timedelta(days=1)
    return candidate


def hours_on(calendar: CentreCalendar, day: date) -> DayHours:
    """The hours that apply to business day ``day`` (a holiday is closed)."""
    if day in calendar.holidays:
        return DayHours(day.weekday(), is_closed=True)
    return calendar.hours_of(day.weekday())


def open_span(calendar: CentreCalendar, day: date) -> tuple[datetime, datetime] | None:
    """The UTC [opens, closes) of business day ``day``, or None when it is closed."""
    hours = hours_on(calendar, day)
    tz = calendar.tz
    if hours.is_closed:
        return None
    if hours.is_round_the_clock:
        return day_span(tz, calendar.day_starts_at, day)
    assert hours.opens_at is not None and hours.closes_at is not None
    opens = datetime.combine(day, hours.opens_at, tzinfo=tz).astimezone(UTC)
    closes_day = day if hours.closes_at > hours.opens_at else day + timedelta(days=1)
    closes = datetime.combine(closes_day, hours.closes_at, tzinfo=tz).astimezone(UTC)
    return opens, closes


def is_open(calendar: CentreCalendar, at: datetime) -> bool:
    """Whether the centre is open at the instant ``at``. The previous day's span is checked
    too: a night shift or a late closing can reach into the next business day."""
    at = _as_utc(at)
    today = business_day(calendar.tz, calendar.day_starts_at, at)
    for day in (today - timedelta(days=1), today, today + timedelta(days=1)):
        span = open_span(calendar, day)
        if span is not None and span[0] <= at < span[1]:
            return True
    return False


def next_opening(calendar: CentreCalendar, at: datetime) -> datetime | None:
    """When the centre next opens after ``at`` (UTC): ``at`` itself when it is open, None
    when it does not open within ``LOOKAHEAD_DAYS``. Adjacent spans (round the clock day
    after day) count as one opening."""
    at = _as_utc(at)
    if is_open(calendar, at):
        return at
    today = business_day(calendar.tz, calendar.day_starts_at, at)
    for offset in range(-1, LOOKAHEAD_DAYS + 1):
        span = open_span(calendar, today + timedelta(days=offset))
        if span is not None and span[0] > at:
            return span[0]
    return None


def closing_time(calendar: CentreCalendar, day: date) -> datetime | None:
    """When business day ``day`` closes (UTC), for same-day deadlines: its closing time, the
    end of the business day when it runs round the clock, None when the day is closed."""
    span = open_span(calendar, day)
    return None if span is None else span[1]


def deadline(calendar: CentreCalendar, day: date) -> datetime:
    """The closing time of ``day``, or of the first open day after it (a request taken on a
    closed day, e.g. by a manager on a holiday, is due when the centre next closes); the end
    of the business day when the centre never opens within ``LOOKAHEAD_DAYS``."""
    for offset in range(LOOKAHEAD_DAYS + 1):
        closes = closing_time(calendar, day + timedelta(days=offset))
        if closes is not None:
            return closes
    return day_span(calendar.tz, calendar.day_starts_at, day)[1]


def is_working_day(calendar: CentreCalendar, day: date) -> bool:
    """Whether the centre opens on business day ``day`` at all."""
    return open_span(calendar, day) is not None


def shown_hours(calendar: CentreCalendar, at: datetime) -> tuple[time, time] | None:
    """The local (opens, closes) times to show at ``at``: those of the current business
    day when it opens, else of the next day that does; a day round the clock shows its
    boundary twice. None when the centre does not open within ``LOOKAHEAD_DAYS``."""
    today = business_day(calendar.tz, calendar.day_starts_at, at)
    for offset in range(LOOKAHEAD_DAYS + 1):
        day = today + timedelta(days=offset)
        hours = hours_on(calendar, day)
        if hours.is_closed:
            continue
        if hours.is_round_the_clock:
            return calendar.day_starts_at, calendar.day_starts_at
        assert hours.opens_at is not None and hours.closes_at is not None
        return hours.opens_at, hours.closes_at
    return None


def spans_boundary(calendar: CentreCalendar, day: date) -> bool:
    """Whether the centre is open at the boundary that starts business day ``day`` (a 24/7
    centre, a night shift): then the hall is not empty when the day changes, and the
    tokens still in it carry over into ``day``."""
    return is_open(calendar, day_start(calendar.tz, calendar.day_starts_at, day))


def hall_since(calendar: CentreCalendar, day: date) -> date:
    """The earliest business day whose open tokens are still in the hall on ``day``: the
    day before when the centre was open across the boundary, else ``day`` itself. Tokens
    of older days were closed by end of day (see ``operations.day``)."""
    return day - timedelta(days=1) if spans_boundary(calendar, day) else day


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_clock(text: str) -> time:
    """``HH:MM`` (24-hour) as a time; ValueError for anything else."""
    hours, sep, minutes = text.strip().partition(":")
    if not sep or not (hours.isdigit() and minutes.isdigit()) or len(minutes) != 2:
        raise ValueError(f"{text!r} is not a time HH:MM")
    try:
        return time(int(hours), int(minutes))
    except ValueError:
        raise ValueError(f"{text!r} is not a time HH:MM (00:00 to 23:59)") from None


def parse_hours(spec: str) -> tuple[DayHours, ...]:
    """``DAYS=WHEN`` as the hours of those weekdays. DAYS: ``mon``, ``mon-sat``, ``sat,sun``
    or ``all``; WHEN: ``08:00-16:00`` (a closing at or before the opening is the next
    morning), ``24h`` (round the clock) or ``closed``. ValueError naming what is wrong."""
    days_text, sep, when = spec.strip().lower().partition("=")
    if not sep:
        raise ValueError(f"{spec!r}: write DAYS=WHEN, e.g. mon-sat=08:00-16:00, sun=closed, all=24h")
    weekdays: list[int] = []
    for part in days_text.split(","):
        first, dash, last = part.strip().partition("-")
        if part.strip() == "all":
            weekdays += range(7)
            continue
        if first not in WEEKDAYS or (dash and last not in WEEKDAYS):
            raise ValueError(f"{spec!r}: days are {', '.join(WEEKDAYS)}, ranges like mon-sat, or all")
        start, end = WEEKDAYS.index(first), WEEKDAYS.index(last if dash else first)
        if end < start:
            raise ValueError(f"{spec!r}: a day range runs forward, e.g. mon-sat")
        weekdays += range(start, end + 1)
    when = when.strip()
    if when == "closed":
        return tuple(DayHours(w, is_closed=True) for w in weekdays)
    if when == "24h":
        return tuple(DayHours(w, is_round_the_clock=True) for w in weekdays)
    opens, dash, closes = when.partition("-")
    if not dash:
        raise ValueError(f"{spec!r}: hours are HH:MM-HH:MM, 24h or closed")
    opening, closing = parse_clock(opens), parse_clock(closes)
    return tuple(DayHours(w, opening, closing) for w in weekdays)


def describe(hours: DayHours) -> str:
    """One weekday's hours as ``parse_hours`` reads them back."""
    if hours.is_closed:
        return "closed"
    if hours.is_round_the_clock:
        return "24h"
    assert hours.opens_at is not None and hours.closes_at is not None
    return f"{hours.opens_at:%H:%M}-{hours.closes_at:%H:%M}"
