"""Server-side login sessions and the deletable notes that events point to."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from queue_server.clock import utcnow
from queue_server.extensions import db
from queue_server.models.types import UTCDateTime


class LoginSession(db.Model):  # type: ignore[name-defined,misc]
    """One browser login of a member of staff, or one paired kiosk/display browser.

    The cookie carries a random nonce; only its SHA-256 is stored here, so neither a copy
    of the database nor the secret key alone can make a valid session. A session ends at
    ``expires_at``, on logout, or when it is revoked (``ended_at`` set)."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    nonce_hash: Mapped[str] = mapped_column(String(64), unique=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"), index=True)
    address: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_reason: Mapped[str] = mapped_column(String(24), default="")


class EventNote(db.Model):  # type: ignore[name-defined,misc]
    """Free text given with an event (an out-of-order reason, a cancel reason, a notice).

    The hash-chained event keeps only a reason code; the text lives here, where it can be
    deleted (``khidmat notes purge``, after ``NOTE_RETENTION_DAYS``) without breaking the
    chain: a CNIC typed into a reason must never be impossible to remove."""

    __tablename__ = "event_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"), index=True)
    event_id: Mapped[int] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
