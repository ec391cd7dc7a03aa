"""Staff, their API keys, and devices (kiosks and displays)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from queue_server.clock import utcnow
from queue_server.extensions import db
from queue_server.models.types import UTCDateTime, enum_column
from queue_server.states import DeviceKind, Role, is_province_admin


class Staff(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(120), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(enum_column(Role))
    # None for a province-wide admin.
    centre_id: Mapped[int | None] = mapped_column(ForeignKey("centres.id"), index=True)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    api_keys: Mapped[list[StaffApiKey]] = relationship(back_populates="staff")

    def may_act_in(self, centre_id: int) -> bool:
        return is_province_admin(self.role, self.centre_id) or self.centre_id == centre_id


class StaffApiKey(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "staff_api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(60), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The address the key was last used from: a use from another one is an audited event.
    last_address: Mapped[str] = mapped_column(String(64), default="")

    staff: Mapped[Staff] = relationship(back_populates="api_keys")


class Device(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"), index=True)
    kind: Mapped[DeviceKind] = mapped_column(enum_column(DeviceKind))
    name: Mapped[str] = mapped_column(String(60))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Printer settings for a kiosk (kiosk.printing.PrinterConfig.from_dict).
    printer: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    printer_status: Mapped[str] = mapped_column(String(24), default="unknown")
    printer_status_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_address: Mapped[str] = mapped_column(String(64), default="")  # of the key's last use
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
