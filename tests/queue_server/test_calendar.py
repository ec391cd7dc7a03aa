"""Changing a centre's calendar: the operation, its refusals and the ``centre-days`` and
``counter-printer`` commands."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, time
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from queue_server import centre_days
from queue_server.actors import Actor
from queue_server.errors import Forbidden
from queue_server.models import Centre, CentreHoliday, Counter, Event
from queue_server.operations.calendar import set_calendar


def test_a_manager_sets_the_boundary_hours_and_holidays(
    session: Session, centre: Centre, actor_of: Callable[[str], Actor]
) -> None:
    calendar = set_calendar(
        session,
        centre,
        actor_of("manager"),
        day_starts_at=time(8, 0),
        hours=centre_days.parse_hours("fri=24h"),
        add_holidays=[(date(2026, 12, 25), "Quaid-e-Azam Day", "یوم قائد اعظم")],
    )
    session.commit()
    assert calendar.day_starts_at == time(8, 0)
    assert [centre_days.describe(h) for h in calendar.hours] == ["08:00-16:00"] * 4 + [
        "24h",
        "08:00-16:00",
        "closed",
    ]
    assert calendar.holidays == frozenset({date(2026, 12, 25)})
    set_calendar(session, centre, actor_of("manager"), remove_holidays=[date(2026, 12, 25)])
    session.commit()
    assert session.scalar(select(func.count()).select_from(CentreHoliday)) == 0
    assert session.scalar(select(func.count()).where(Event.kind == "calendar_changed")) == 2


def test_a_clerk_may_not_change_the_calendar(
    session: Session, centre: Centre, actor_of: Callable[[str], Actor]
) -> None:
    with pytest.raises(Forbidden):
        set_calendar(session, centre, actor_of("clerk1"), day_starts_at=time(8, 0))
    session.rollback()
    assert session.get(Centre, centre.id).day_starts_at == time(0, 0)  # type: ignore[union-attr]


def test_the_commands_show_and_change_the_calendar_and_a_counters_printer(
    runner: Any, session: Session, centre: Centre, counter_no: Callable[[int], Counter]
) -> None:
    shown = json.loads(runner.invoke(args=["centre-days", "demo"]).output)
    assert shown["day_starts_at"] == "00:00" and shown["hours"]["sun"] == "closed"
    changed = runner.invoke(args=["centre-days", "demo", "--day-starts-at", "08:00", "--hours", "all=24h"])
    assert changed.exit_code == 0, changed.output
    assert set(json.loads(changed.output)["hours"].values()) == {"24h"}
    bad = runner.invoke(args=["centre-days", "demo", "--hours", "mon=25:00-16:00"])
    assert bad.exit_code != 0 and "HH:MM" in bad.output
    printer = runner.invoke(args=["counter-printer", "demo", "3", '{"kind": "memory"}'])
    assert printer.exit_code == 0, printer.output
    session.expire_all()
    assert counter_no(3).printer == {"kind": "memory"}
    assert runner.invoke(args=["counter-printer", "demo", "99"]).exit_code != 0
    assert runner.invoke(args=["counter-printer", "demo", "3", "[1]"]).exit_code != 0
    assert centre.business_day() is not None and session.get(Centre, centre.id).day_starts_at == time(8, 0)  # type: ignore[union-attr]


def test_a_calendar_is_read_once_per_change_and_every_change_is_seen(
    app: Any, session: Session, centre: Centre, actor_of: Callable[[str], Actor]
) -> None:
    """A process keeps each centre's calendar by its stamp: a fresh session reads no hours
    or holidays again, and every change (hours set, a holiday added, one removed in bulk,
    hours edited through the ORM) gives a new stamp, so the next session sees it."""
    from sqlalchemy import event

    from queue_server.extensions import db
    from queue_server.models import OpeningHours
    from queue_server.unit_of_work import run_in_transaction

    centre_id = centre.id
    read: list[str] = []

    def spy(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "FROM opening_hours" in statement or "FROM centre_holidays" in statement:
            read.append(statement)

    def fresh() -> centre_days.CentreCalendar:
        db.session.remove()
        found = db.session.get(Centre, centre_id)
        assert found is not None
        return found.calendar()

    def change(work: Callable[[Session], object]) -> centre_days.CentreCalendar:
        run_in_transaction(lambda s: work(s))
        return fresh()

    boss = actor_of("manager")
    fresh()
    event.listen(db.engine, "before_cursor_execute", spy)
    try:
        fresh()
        assert read == [], "kept: nothing read again"
        christmas = date(2026, 12, 25)
        added = change(
            lambda s: set_calendar(
                s, s.get_one(Centre, centre_id), boss, add_holidays=[(christmas, "x", "y")]
            )
        )
        assert added.holidays == {christmas}
        weekly = change(
            lambda s: set_calendar(
                s, s.get_one(Centre, centre_id), boss, hours=centre_days.parse_hours("sun=24h")
            )
        )
        assert centre_days.describe(weekly.hours[6]) == "24h"
        removed = change(
            lambda s: set_calendar(s, s.get_one(Centre, centre_id), boss, remove_holidays=[christmas])
        )
        assert removed.holidays == frozenset()

        def by_hand(s: Session) -> None:
            sunday = s.get_one(OpeningHours, (centre_id, 6))
            sunday.is_round_the_clock, sunday.is_closed = False, True

        assert centre_days.describe(change(by_hand).hours[6]) == "closed"
        in_sql = "UPDATE opening_hours SET is_closed = false, is_round_the_clock = true WHERE weekday = 6"
        assert centre_days.describe(change(lambda s: s.execute(text(in_sql))).hours[6]) == "24h", (
            "a trigger stamps it"
        )
        read.clear()
        fresh()
        assert read == []
    finally:
        event.remove(db.engine, "before_cursor_execute", spy)
