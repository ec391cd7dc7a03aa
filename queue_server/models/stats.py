"""Daily aggregates of the token flow, and the alerts a centre's manager is shown.

``DailyStat`` holds, per centre and local day, one row per (origin service, local hour of
issue, counter, clerk) with the counts and sums every report figure is made of; waits are
kept as a sorted list of seconds so percentiles over any date range stay exact.
``DailyStatDay`` marks a day as aggregated, with the token states it was built from, so a
report can tell a stored day that is still true from one that changed since.
Rows are written for days with no token left open (``queue_server.read.statistics``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from queue_server.clock import utcnow
from queue_server.extensions import db
from queue_server.models.types import UTCDateTime


class DailyStat(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "daily_stats"

    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    service_id: Mapped[int] = mapped_column(primary_key=True)  # the service the token was issued for
    hour: Mapped[int] = mapped_column(primary_key=True)  # local hour of issue, 0-23
    counter_id: Mapped[int] = mapped_column(primary_key=True)  # 0: never at a counter
    staff_id: Mapped[int] = mapped_column(primary_key=True)  # the clerk who called it; 0: none
    arrivals: Mapped[int] = mapped_column(default=0)
    called: Mapped[int] = mapped_column(default=0)
    served: Mapped[int] = mapped_column(default=0)
    no_shows: Mapped[int] = mapped_column(default=0)
    cancelled: Mapped[int] = mapped_column(default=0)
    unserved: Mapped[int] = mapped_column(default=0)  # still open when the day was closed
    within_target: Mapped[int] = mapped_column(default=0)  # called within the service's target
    waits: Mapped[list[int]] = mapped_column(JSON, default=list)  # seconds, issue to first call
    service_count: Mapped[int] = mapped_column(default=0)
    service_seconds: Mapped[int] = mapped_column(default=0)
    eta_count: Mapped[int] = mapped_column(default=0)
    eta_abs_error_seconds: Mapped[int] = mapped_column(default=0)
    eta_error_seconds: Mapped[int] = mapped_column(default=0)  # signed: real wait minus promise


class DailyStatDay(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "daily_stat_days"

    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    # token count per state when built: a report rebuilds the day when they differ now
    states: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    built_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AlertSettings(db.Model):  # type: ignore[name-defined,misc]
    """A centre's alert thresholds, set by its manager. No row: the defaults."""

    __tablename__ = "alert_settings"

    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"), primary_key=True)
    # longest current wait above this share of the service's target (100 = the target itself)
    wait_target_percent: Mapped[int] = mapped_column(default=100)
    queue_length: Mapped[int] = mapped_column(default=20)  # waiting in one service; 0: off
    idle_minutes: Mapped[int] = mapped_column(default=5)  # open counter calling nobody; 0: off
    is_wait_enabled: Mapped[bool] = mapped_column(default=True)
    is_printer_enabled: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_by: Mapped[str] = mapped_column(String(60), default="")


class Alert(db.Model):  # type: ignore[name-defined,misc]
    """One raised alert, open until its condition clears. ``open_key`` is set only while
    the alert is open, and is unique: two processes evaluating at once cannot raise the
    same alert twice."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_centre_raised", "centre_id", "raised_at"),
        Index("ix_alerts_centre_cleared", "centre_id", "cleared_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"))
    kind: Mapped[str] = mapped_column(
        String(24)
    )  # wait_over_target|queue_too_long|counter_idle|printer_fault
    subject: Mapped[str] = mapped_column(String(40))  # "service:12", "counter:3", "device:5"
    open_key: Mapped[str | None] = mapped_column(String(80), unique=True)
    value: Mapped[int] = mapped_column(default=0)
    threshold: Mapped[int] = mapped_column(default=0)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[str] = mapped_column(String(60), default="")
