"""Appointments booked from the phone for a slot of a service, checked in at the kiosk."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from queue_server.clock import utcnow
from queue_server.extensions import db
from queue_server.models.centre import Centre, Service
from queue_server.models.types import UTCDateTime, enum_column
from queue_server.states import AppointmentState


class Appointment(db.Model):  # type: ignore[name-defined,misc]
    """One booking. The name and mobile number are the citizen's own, kept only as long as
    the README says (``appointments.purge_personal``); the booking code is the citizen's key."""

    __tablename__ = "appointments"
    __table_args__ = (Index("ix_appointments_slot", "centre_id", "service_id", "slot_start", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"))
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    slot_start: Mapped[datetime] = mapped_column(UTCDateTime)
    code: Mapped[str] = mapped_column(String(12), unique=True)
    name: Mapped[str] = mapped_column(String(80), default="")
    phone: Mapped[str] = mapped_column(String(16), default="")
    language: Mapped[str] = mapped_column(String(8), default="ur")
    state: Mapped[AppointmentState] = mapped_column(enum_column(AppointmentState))
    otp_hash: Mapped[str] = mapped_column(String(64), default="")
    otp_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    otp_attempts: Mapped[int] = mapped_column(default=0)
    token_id: Mapped[int | None] = mapped_column(ForeignKey("tokens.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    centre: Mapped[Centre] = relationship()
    service: Mapped[Service] = relationship()


class RemoteToken(db.Model):  # type: ignore[name-defined,misc]
    """A token taken from the phone (joining the queue remotely). It keeps its place from
    the moment it was taken, but no counter calls it until the citizen checks in at the
    kiosk with ``code``; until then it is passed over without holding anyone up."""

    __tablename__ = "remote_tokens"

    token_id: Mapped[int] = mapped_column(ForeignKey("tokens.id"), primary_key=True)
    code: Mapped[str] = mapped_column(String(12), unique=True)
    phone: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    checked_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
