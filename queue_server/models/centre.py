"""Centres, their services and counters with work profiles."""

from __future__ import annotations

import secrets
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    String,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from queue_server import centre_days
from queue_server.clock import utcnow
from queue_server.extensions import db
from queue_server.models.types import UTCDateTime, enum_column
from queue_server.states import CounterState, Turnaround

# 3 × target: weights keep their full effect for as long as a wait is merely long (targets
# are 15-30 min, so 45-90 min), and no light service starves behind heavy ones past it.
DEFAULT_FAIRNESS_K = 3.0

if TYPE_CHECKING:
    from queue_server.models.people import Staff


class Centre(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "centres"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_en: Mapped[str] = mapped_column(String(120))
    name_ur: Mapped[str] = mapped_column(String(120))
    district: Mapped[str] = mapped_column(String(80), default="")
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Karachi")
    # The business day runs from this local time to the next day's (midnight by default; a
    # centre open round the clock sets its shift change). Numbering restarts here.
    day_starts_at: Mapped[time] = mapped_column(Time, default=time(0, 0))
    # How many priority tokens a counter may call in a row before it must take the
    # longest-waiting normal one (the no-starvation guard of the dispatch rule).
    max_priority_streak: Mapped[int] = mapped_column(default=3)
    max_recalls: Mapped[int] = mapped_column(default=3)
    almost_turn_ahead: Mapped[int] = mapped_column(default=3)
    notice_en: Mapped[str] = mapped_column(Text, default="")
    notice_ur: Mapped[str] = mapped_column(Text, default="")
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A new random value whenever the opening hours or holidays change, set by database
    # triggers (migration 0001, so SQL by hand counts too): a process keeps each centre's
    # calendar by it, so that nearly every request of the day does not read the same hours
    # and holidays again.
    calendar_stamp: Mapped[int] = mapped_column(BigInteger, default=lambda: new_stamp())

    services: Mapped[list[Service]] = relationship(back_populates="centre", order_by="Service.sort_order")
    counters: Mapped[list[Counter]] = relationship(back_populates="centre", order_by="Counter.number")
    opening_hours: Mapped[list[OpeningHours]] = relationship(
        back_populates="centre", order_by="OpeningHours.weekday", cascade="all, delete-orphan"
    )
    holidays: Mapped[list[CentreHoliday]] = relationship(
        back_populates="centre", order_by="CentreHoliday.day", cascade="all, delete-orphan"
    )

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def boundary(self) -> time:
        return self.day_starts_at if self.day_starts_at is not None else centre_days.MIDNIGHT

    @property
    def fairness_k(self) -> float | None:
        """The dispatch rule's fairness bound (``settings["fairness_k"]``): a token that has
        waited longer than k × its service's target competes with the top weight. Unset:
        DEFAULT_FAIRNESS_K; ``null`` or 0 switches the bound off."""
        value = (self.settings or {}).get("fairness_k", DEFAULT_FAIRNESS_K)
        if value is None or isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            return None
        return float(value)

    def business_day(self, at: datetime | None = None) -> date:
        """The business day of the instant ``at`` (now by default)."""
        return centre_days.business_day(self.tz, self.boundary, at or utcnow())

    def day_span(self, day: date) -> tuple[datetime, datetime]:
        """The UTC [start, end) of business day ``day``."""
        return centre_days.day_span(self.tz, self.boundary, day)

    def calendar(self) -> centre_days.CentreCalendar:
        """The centre's hours and holidays as plain values for the rules in ``centre_days``.
        A centre with no hours set keeps the old default: every day 08:00-16:00. Kept per
        process by ``calendar_stamp``; built afresh from the rows when this session has
        them loaded (they may hold changes not flushed yet)."""
        loaded = "opening_hours" in self.__dict__ or "holidays" in self.__dict__
        key = (self.id, self.calendar_stamp, self.timezone, self.boundary)
        keep = not loaded and key[0] is not None and key[1] is not None
        if keep and key in _CALENDARS:
            return _CALENDARS[key]
        hours = tuple(h.as_rule() for h in self.opening_hours) or DEFAULT_HOURS
        found = centre_days.CentreCalendar(
            timezone=self.timezone,
            day_starts_at=self.boundary,
            hours=hours,
            holidays=frozenset(h.day for h in self.holidays),
        )
        if keep:  # (read from the database just now, under the stamp read with the centre)
            if len(_CALENDARS) >= _CALENDARS_KEPT:
                _CALENDARS.clear()
            _CALENDARS[key] = found
        return found


_CALENDARS: dict[tuple[int, int, str, time], centre_days.CentreCalendar] = {}
_CALENDARS_KEPT = 4096


def new_stamp() -> int:
    return secrets.randbits(62)


DEFAULT_HOURS = tuple(centre_days.DayHours(w, time(8, 0), time(16, 0)) for w in range(7))


class OpeningHours(db.Model):  # type: ignore[name-defined,misc]
    """A centre's hours on one weekday (0 = Monday): closed, round the clock, or from
    ``opens_at`` to ``closes_at`` (local; a closing at or before the opening is the next
    morning). A centre with no rows at all uses ``DEFAULT_HOURS``."""

    __tablename__ = "opening_hours"
    __table_args__ = (
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday"),
        CheckConstraint("NOT (is_closed AND is_round_the_clock)", name="one_kind"),
        CheckConstraint(
            "is_closed OR is_round_the_clock OR (opens_at IS NOT NULL AND closes_at IS NOT NULL)",
            name="times",
        ),
    )

    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"), primary_key=True)
    weekday: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    opens_at: Mapped[time | None] = mapped_column(Time)
    closes_at: Mapped[time | None] = mapped_column(Time)
    is_closed: Mapped[bool] = mapped_column(default=False)
    is_round_the_clock: Mapped[bool] = mapped_column(default=False)

    centre: Mapped[Centre] = relationship(back_populates="opening_hours")

    def as_rule(self) -> centre_days.DayHours:
        return centre_days.DayHours(
            weekday=self.weekday,
            opens_at=self.opens_at,
            closes_at=self.closes_at,
            is_closed=bool(self.is_closed),
            is_round_the_clock=bool(self.is_round_the_clock),
        )


class CentreHoliday(db.Model):  # type: ignore[name-defined,misc]
    """A business day on which the centre is closed whatever its weekly hours say."""

    __tablename__ = "centre_holidays"
    __table_args__ = (UniqueConstraint("centre_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"), index=True)
    day: Mapped[date] = mapped_column(Date)
    name_en: Mapped[str] = mapped_column(String(120), default="")
    name_ur: Mapped[str] = mapped_column(String(120), default="")

    centre: Mapped[Centre] = relationship(back_populates="holidays")


class CatalogueService(db.Model):  # type: ignore[name-defined,misc]
    """A service of the province's catalogue, defined once. A centre offers it by enabling
    it: a ``Service`` row of that centre copies these figures, except the ones the centre
    overrides (``Service.overrides``), and follows later changes to the catalogue."""

    __tablename__ = "catalogue_services"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_en: Mapped[str] = mapped_column(String(120))
    name_ur: Mapped[str] = mapped_column(String(120))
    group: Mapped[str] = mapped_column(String(32), default="general")
    prefix: Mapped[str] = mapped_column(String(2))
    target_wait_minutes: Mapped[int] = mapped_column(default=20)
    turnaround: Mapped[Turnaround] = mapped_column(enum_column(Turnaround), default=Turnaround.SAME_DAY)
    turnaround_days: Mapped[int] = mapped_column(default=0)
    fee: Mapped[int] = mapped_column(default=0)  # rupees
    documents: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    default_service_minutes: Mapped[int] = mapped_column(default=6)
    sort_order: Mapped[int] = mapped_column(default=0)


class Service(db.Model):  # type: ignore[name-defined,misc]
    """A service a centre offers: its copy of a catalogue entry (``catalogue_id``) with the
    centre's local overrides, or a purely local service (no catalogue entry)."""

    __tablename__ = "services"
    __table_args__ = (
        UniqueConstraint("centre_id", "code"),
        UniqueConstraint("centre_id", "prefix"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name_en: Mapped[str] = mapped_column(String(120))
    name_ur: Mapped[str] = mapped_column(String(120))
    group: Mapped[str] = mapped_column(String(32), default="general")
    prefix: Mapped[str] = mapped_column(String(2))
    target_wait_minutes: Mapped[int] = mapped_column(default=20)
    turnaround: Mapped[Turnaround] = mapped_column(enum_column(Turnaround), default=Turnaround.SAME_DAY)
    turnaround_days: Mapped[int] = mapped_column(default=0)
    fee: Mapped[int] = mapped_column(default=0)  # rupees
    documents: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    default_service_minutes: Mapped[int] = mapped_column(default=6)
    is_active: Mapped[bool] = mapped_column(default=True)
    sort_order: Mapped[int] = mapped_column(default=0)
    catalogue_id: Mapped[int | None] = mapped_column(ForeignKey("catalogue_services.id"), index=True)
    # The fields this centre sets itself, {field: value}; the rest follow the catalogue.
    overrides: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    centre: Mapped[Centre] = relationship(back_populates="services")
    catalogue: Mapped[CatalogueService | None] = relationship()

    @property
    def is_same_day(self) -> bool:
        return self.turnaround in (Turnaround.ON_THE_SPOT, Turnaround.SAME_DAY)


class Counter(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "counters"
    __table_args__ = (UniqueConstraint("centre_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"), index=True)
    number: Mapped[int] = mapped_column()
    name: Mapped[str] = mapped_column(String(60), default="")
    state: Mapped[CounterState] = mapped_column(enum_column(CounterState), default=CounterState.CLOSED)
    # One clerk per counter and one counter per clerk: the unique constraint makes the
    # second holds impossible even when two logins race.
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), unique=True)
    session_id: Mapped[str | None] = mapped_column(String(64))
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    priority_streak: Mapped[int] = mapped_column(default=0)
    zone: Mapped[str] = mapped_column(String(32), default="")  # display zones group counters
    # A ticket printer at the desk (the kiosk's printer settings, kiosk.printing.PrinterConfig
    # keys), for tokens the clerk issues where there is no kiosk. None: no printer.
    printer: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    centre: Mapped[Centre] = relationship(back_populates="counters")
    staff: Mapped[Staff | None] = relationship()
    profile: Mapped[list[WorkProfileEntry]] = relationship(
        back_populates="counter", cascade="all, delete-orphan"
    )

    @property
    def label(self) -> str:
        return str(self.number)


class WorkProfileEntry(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "work_profile_entries"

    counter_id: Mapped[int] = mapped_column(ForeignKey("counters.id"), primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"), primary_key=True)
    weight: Mapped[int] = mapped_column(default=1)

    counter: Mapped[Counter] = relationship(back_populates="profile")
    service: Mapped[Service] = relationship()
