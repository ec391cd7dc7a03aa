"""Centres, their services and counters with work profiles."""

from __future__ import annotations

from datetime import datetime, time
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import JSON, ForeignKey, String, Text, Time, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from queue_server.clock import utcnow
from queue_server.extensions import db
from queue_server.models.types import UTCDateTime, enum_column
from queue_server.states import CounterState, Turnaround

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
    opens_at: Mapped[time] = mapped_column(Time, default=time(8, 0))
    closes_at: Mapped[time] = mapped_column(Time, default=time(16, 0))
    # How many priority tokens a counter may call in a row before it must take the
    # longest-waiting normal one (the no-starvation guard of the dispatch rule).
    max_priority_streak: Mapped[int] = mapped_column(default=3)
    max_recalls: Mapped[int] = mapped_column(default=3)
    almost_turn_ahead: Mapped[int] = mapped_column(default=3)
    notice_en: Mapped[str] = mapped_column(Text, default="")
    notice_ur: Mapped[str] = mapped_column(Text, default="")
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    services: Mapped[list[Service]] = relationship(back_populates="centre", order_by="Service.sort_order")
    counters: Mapped[list[Counter]] = relationship(back_populates="centre", order_by="Counter.number")

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class Service(db.Model):  # type: ignore[name-defined,misc]
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

    centre: Mapped[Centre] = relationship(back_populates="services")

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
