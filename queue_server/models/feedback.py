"""What citizens tell the centre (feedback) and what the centre tells them (the notification
outbox). Neither holds anything personal: a notification names a token, never a person."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from queue_server.clock import utcnow
from queue_server.extensions import db
from queue_server.models.types import UTCDateTime, enum_column

RATING_MIN = 1
RATING_MAX = 5
COMMENT_MAX = 500


class NotificationStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # claimed by one deliverer; no second one sends it
    SENT = "sent"
    FAILED = "failed"  # gave up after the last attempt
    DELIVERED = "delivered"  # the gateway's receipt says the phone has it (SMS)
    UNDELIVERED = "undelivered"  # the gateway's receipt says it never arrived (SMS)
    SKIPPED = "skipped"  # nobody to send it to (no number given for the token)
    THROTTLED = "throttled"  # the number had its share of messages for the hour


class Feedback(db.Model):  # type: ignore[name-defined,misc]
    """One rating (1-5) and an optional short comment per token, left once, after service."""

    __tablename__ = "feedback"
    __table_args__ = (Index("ix_feedback_centre_created", "centre_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("tokens.id"), unique=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"))
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    counter_id: Mapped[int | None] = mapped_column(ForeignKey("counters.id"))
    rating: Mapped[int] = mapped_column()
    comment: Mapped[str] = mapped_column(String(COMMENT_MAX), default="")
    language: Mapped[str] = mapped_column(String(8), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Notification(db.Model):  # type: ignore[name-defined,misc]
    """The outbox: written in the transaction of the change that caused it, sent after.
    One of each kind per token (the unique constraint makes a second one impossible)."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("token_id", "kind"),
        Index("ix_notifications_status", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"))
    token_id: Mapped[int | None] = mapped_column(ForeignKey("tokens.id"))
    # A booking's messages (its SMS code, its confirmation) name the booking, not a token.
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointments.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[NotificationStatus] = mapped_column(
        enum_column(NotificationStatus), default=NotificationStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str] = mapped_column(String(200), default="")
    # Back-off: a failed send waits until then before the next attempt.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A keyed hash of the phone number it went to (per-number limits without the number).
    recipient_key: Mapped[str] = mapped_column(String(64), default="", index=True)


class SmsRecipient(db.Model):  # type: ignore[name-defined,misc]
    """The mobile number a citizen gave on the tracking page for one token's messages.
    Personal, so kept apart from the outbox and the event log, and deleted at end of day
    (``notify.purge_recipients``)."""

    __tablename__ = "sms_recipients"

    token_id: Mapped[int] = mapped_column(ForeignKey("tokens.id"), primary_key=True)
    phone: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(8), default="ur")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SmsPart(db.Model):  # type: ignore[name-defined,misc]
    """One SMS part the gateway acknowledged (so it is never sent again), and its receipt."""

    __tablename__ = "sms_parts"
    __table_args__ = (UniqueConstraint("notification_id", "part"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id"), index=True)
    part: Mapped[int] = mapped_column()
    of_parts: Mapped[int] = mapped_column()
    message_id: Mapped[str] = mapped_column(String(65), index=True)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    receipt: Mapped[str] = mapped_column(String(16), default="")  # DELIVRD, UNDELIV, ...
    receipt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
