"""The centre-day rules alone: no app, no database."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from queue_server.centre_days import (
    CentreCalendar,
    DayHours,
    business_day,
    closing_time,
    day_span,
    deadline,
    describe,
    hours_on,
    is_open,
    next_opening,
    parse_clock,
    parse_hours,
    shown_hours,
)

KARACHI = ZoneInfo("Asia/Karachi")  # UTC+5, no daylight saving
LONDON = ZoneInfo("Europe/London")  # daylight saving: 2026-03-29 01:00 UTC, 2026-10-25 01:00 UTC
EIGHT = time(8, 0)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def week(opens: time, closes: time, closed: tuple[int, ...] = (6,)) -> tuple[DayHours, ...]:
    return tuple(DayHours(w, is_closed=True) if w in closed else DayHours(w, opens, closes) for w in range(7))


ROUND_THE_CLOCK = tuple(DayHours(w, is_round_the_clock=True) for w in range(7))
OFFICE = CentreCalendar("Asia/Karachi", hours=week(EIGHT, time(16, 0)))
ALWAYS_8 = CentreCalendar("Asia/Karachi", day_starts_at=EIGHT, hours=ROUND_THE_CLOCK)


def test_midnight_boundary_in_karachi_is_the_local_date() -> None:
    # 18:59 UTC is 23:59 in Karachi; 19:00 UTC is 00:00 the next day.
    assert business_day(KARACHI, time(0), utc(2026, 12, 4, 18, 59)) == date(2026, 12, 4)
    assert business_day(KARACHI, time(0), utc(2026, 12, 4, 19, 0)) == date(2026, 12, 5)
    assert day_span(KARACHI, time(0), date(2026, 12, 5)) == (utc(2026, 12, 4, 19), utc(2026, 12, 5, 19))


def test_an_eight_oclock_boundary_keeps_the_night_in_the_previous_day() -> None:
    # 02:59 UTC is 07:59 local on the 6th: still the business day of the 5th.
    assert business_day(KARACHI, EIGHT, utc(2026, 12, 6, 2, 59)) == date(2026, 12, 5)
    assert business_day(KARACHI, EIGHT, utc(2026, 12, 6, 3, 0)) == date(2026, 12, 6)
    assert business_day(KARACHI, EIGHT, utc(2026, 12, 5, 19, 30)) == date(2026, 12, 5)  # 00:30 local
    start, end = day_span(KARACHI, EIGHT, date(2026, 12, 5))
    assert (start, end) == (utc(2026, 12, 5, 3), utc(2026, 12, 6, 3))


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        business_day(KARACHI, time(0), datetime(2026, 12, 5, 12))


@pytest.mark.parametrize("boundary", [time(0), time(1, 30), EIGHT, time(23, 30)])
def test_with_daylight_saving_every_instant_is_in_exactly_its_days_span(boundary: time) -> None:
    # Walk both DST changes of 2026 in London in 10-minute steps.
    for first in (utc(2026, 3, 27), utc(2026, 10, 23)):
        for step in range(4 * 24 * 6):
            at = first + timedelta(minutes=10 * step)
            day = business_day(LONDON, boundary, at)
            start, end = day_span(LONDON, boundary, day)
            assert start <= at < end, (boundary, at, day)


def test_daylight_saving_makes_a_day_23_or_25_hours_long() -> None:
    spring = day_span(LONDON, time(0), date(2026, 3, 29))
    autumn = day_span(LONDON, time(0), date(2026, 10, 25))
    assert spring[1] - spring[0] == timedelta(hours=23)
    assert autumn[1] - autumn[0] == timedelta(hours=25)
    # 07:59 local summer time on the 30th (06:59 UTC) is still the 29th with an 08:00 boundary.
    assert business_day(LONDON, EIGHT, utc(2026, 3, 30, 6, 59)) == date(2026, 3, 29)
    assert business_day(LONDON, EIGHT, utc(2026, 3, 30, 7, 0)) == date(2026, 3, 30)


def test_office_hours_open_close_and_next_opening() -> None:
    saturday = date(2026, 12, 5)
    assert is_open(OFFICE, utc(2026, 12, 5, 3, 0))  # 08:00 local
    assert not is_open(OFFICE, utc(2026, 12, 5, 2, 59))
    assert not is_open(OFFICE, utc(2026, 12, 5, 11, 0))  # 16:00 local: closed
    assert closing_time(OFFICE, saturday) == utc(2026, 12, 5, 11, 0)
    # Saturday evening: Sunday is closed, so it opens on Monday at 08:00.
    assert next_opening(OFFICE, utc(2026, 12, 5, 12, 0)) == utc(2026, 12, 7, 3, 0)
    assert next_opening(OFFICE, utc(2026, 12, 5, 5, 0)) == utc(2026, 12, 5, 5, 0)  # open now
    assert shown_hours(OFFICE, utc(2026, 12, 6, 5, 0)) == (EIGHT, time(16, 0))  # Monday's


def test_a_closed_weekday_has_no_closing_and_the_deadline_moves_to_the_next_open_day() -> None:
    sunday = date(2026, 12, 6)
    assert hours_on(OFFICE, sunday).is_closed
    assert closing_time(OFFICE, sunday) is None
    assert not is_open(OFFICE, utc(2026, 12, 6, 5, 0))
    assert deadline(OFFICE, sunday) == utc(2026, 12, 7, 11, 0)


def test_a_holiday_closes_its_day_whatever_the_weekday_says() -> None:
    calendar = CentreCalendar(
        "Asia/Karachi", hours=week(EIGHT, time(16, 0)), holidays=frozenset({date(2026, 12, 25)})
    )
    assert not is_open(calendar, utc(2026, 12, 25, 5, 0))  # a Friday, 10:00 local
    assert closing_time(calendar, date(2026, 12, 25)) is None
    assert next_opening(calendar, utc(2026, 12, 25, 5, 0)) == utc(2026, 12, 26, 3, 0)
    assert is_open(calendar, utc(2026, 12, 24, 5, 0))


def test_round_the_clock_is_always_open_and_closes_at_the_boundary() -> None:
    for hour in range(0, 48, 1):
        assert is_open(ALWAYS_8, utc(2026, 12, 5) + timedelta(hours=hour))
    assert closing_time(ALWAYS_8, date(2026, 12, 5)) == utc(2026, 12, 6, 3, 0)
    assert shown_hours(ALWAYS_8, utc(2026, 12, 5, 12)) == (EIGHT, EIGHT)
    at = utc(2026, 12, 5, 21, 0)
    assert next_opening(ALWAYS_8, at) == at


def test_round_the_clock_with_a_holiday_reopens_at_the_next_boundary() -> None:
    calendar = CentreCalendar(
        "Asia/Karachi", day_starts_at=EIGHT, hours=ROUND_THE_CLOCK, holidays=frozenset({date(2026, 12, 25)})
    )
    assert is_open(calendar, utc(2026, 12, 25, 2, 59))  # 07:59 local on the 25th: still the 24th
    assert not is_open(calendar, utc(2026, 12, 25, 3, 0))
    assert next_opening(calendar, utc(2026, 12, 25, 3, 0)) == utc(2026, 12, 26, 3, 0)


def test_a_night_shift_closes_the_next_morning() -> None:
    nights = CentreCalendar("Asia/Karachi", hours=week(time(20, 0), time(6, 0), closed=()))
    assert closing_time(nights, date(2026, 12, 5)) == utc(2026, 12, 6, 1, 0)  # 06:00 on the 6th
    assert is_open(nights, utc(2026, 12, 5, 20, 0))  # 01:00 local on the 6th
    assert not is_open(nights, utc(2026, 12, 6, 2, 0))  # 07:00 local
    assert next_opening(nights, utc(2026, 12, 6, 2, 0)) == utc(2026, 12, 6, 15, 0)


def test_a_centre_that_never_opens_has_no_next_opening() -> None:
    shut = CentreCalendar("Asia/Karachi", hours=())
    assert next_opening(shut, utc(2026, 12, 5)) is None
    assert shown_hours(shut, utc(2026, 12, 5)) is None
    assert deadline(shut, date(2026, 12, 5)) == day_span(KARACHI, time(0), date(2026, 12, 5))[1]


def test_malformed_hours_are_refused() -> None:
    with pytest.raises(ValueError):
        DayHours(7, EIGHT, time(16))
    with pytest.raises(ValueError):
        DayHours(1, is_closed=True, is_round_the_clock=True)
    with pytest.raises(ValueError):
        DayHours(1, opens_at=EIGHT)


def test_hours_are_read_from_short_specs() -> None:
    week = parse_hours("mon-sat=08:00-16:00") + parse_hours("sun=closed")
    assert [describe(h) for h in week] == ["08:00-16:00"] * 6 + ["closed"]
    assert {h.weekday for h in parse_hours("all=24h")} == set(range(7))
    assert [h.weekday for h in parse_hours("sat,sun=20:00-06:00")] == [5, 6]
    assert parse_clock("8:05") == time(8, 5)


@pytest.mark.parametrize(
    "bad", ["mon", "mon=9-5", "fri-mon=closed", "xyz=24h", "mon=25:00-16:00", "mon=08:0-16:00", "mon=open"]
)
def test_malformed_hour_specs_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="mon|HH:MM|days|forward"):
        parse_hours(bad)
