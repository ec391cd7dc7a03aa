"""A centre's calendar: its day boundary, weekly opening hours and holidays."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, time

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from queue_server import centre_days
from queue_server.actors import Actor
from queue_server.audit import append_event
from queue_server.errors import N_, Forbidden, ValidationFailed
from queue_server.models import Centre, CentreHoliday, OpeningHours
from queue_server.operations import announce


def set_calendar(
    session: Session,
    centre: Centre,
    actor: Actor,
    *,
    day_starts_at: time | None = None,
    hours: Iterable[centre_days.DayHours] = (),
    add_holidays: Iterable[tuple[date, str, str]] = (),
    remove_holidays: Iterable[date] = (),
) -> centre_days.CentreCalendar:
    """Change the day boundary, the hours of the weekdays given (others keep theirs; a
    centre that had none starts from the default week) and the holidays (date, English
    name, Urdu name). Refuses anyone but a manager of the centre or an admin, and a
    boundary with seconds. The change takes effect at once: numbering follows the new
    boundary from the next token on. Recorded as one ``calendar_changed`` event."""
    if not actor.is_manager or not actor.may_act_in(centre.id):
        raise Forbidden(N_("Only a manager may change the centre's hours."))
    changes: dict[str, object] = {}
    if day_starts_at is not None:
        if day_starts_at.second or day_starts_at.microsecond:
            raise ValidationFailed(N_("The day boundary is a time in minutes, such as 08:00."))
        centre.day_starts_at = day_starts_at
        changes["day_starts_at"] = day_starts_at.strftime("%H:%M")
    new_hours = {h.weekday: h for h in hours}
    if new_hours:
        current = {h.weekday: h for h in centre.calendar().hours}
        current.update(new_hours)
        rows = {row.weekday: row for row in centre.opening_hours}
        for weekday, rule in sorted(current.items()):
            row = rows.get(weekday)
            if row is None:
                row = OpeningHours(weekday=weekday)
                centre.opening_hours.append(row)
            row.opens_at, row.closes_at = rule.opens_at, rule.closes_at
            row.is_closed, row.is_round_the_clock = rule.is_closed, rule.is_round_the_clock
        changes["hours"] = {
            centre_days.WEEKDAYS[w]: centre_days.describe(h) for w, h in sorted(new_hours.items())
        }
    removed = sorted(set(remove_holidays))
    if removed:
        session.execute(
            delete(CentreHoliday).where(CentreHoliday.centre_id == centre.id, CentreHoliday.day.in_(removed))
        )
        session.expire(centre, ["holidays"])
        changes["holidays_removed"] = [d.isoformat() for d in removed]
    added = []
    for day, name_en, name_ur in add_holidays:
        row = session.scalar(
            select(CentreHoliday).where(CentreHoliday.centre_id == centre.id, CentreHoliday.day == day)
        )
        if row is None:
            row = CentreHoliday(centre_id=centre.id, day=day)
            session.add(row)
        row.name_en, row.name_ur = name_en[:120], name_ur[:120]
        added.append(day.isoformat())
    if added:
        session.expire(centre, ["holidays"])
        changes["holidays_added"] = added
    session.flush()
    session.expire(centre, ["calendar_stamp"])  # (the triggers gave it a new one)
    append_event(session, centre.id, "calendar_changed", actor, data=changes)
    announce.centre_refresh(session, centre)
    return centre.calendar()
