"""Documents sent to the citizen's door instead of being collected at the centre."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from queue_server.clock import utcnow
from queue_server.extensions import db
from queue_server.models.request import ServiceRequest
from queue_server.models.types import UTCDateTime, enum_column
from queue_server.states import DeliveryState


class Delivery(db.Model):  # type: ignore[name-defined,misc]
    """One dispatch of a ready request's documents. The address is personal: it is shown
    masked in lists, never on a public page, and erased ``RETENTION_DAYS`` after the
    delivery ends (``operations.deliveries.settle``)."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_centre_state", "centre_id", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"), unique=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"))
    state: Mapped[DeliveryState] = mapped_column(enum_column(DeliveryState))
    address: Mapped[str] = mapped_column(Text, default="")
    courier: Mapped[str] = mapped_column(String(60), default="")
    consignment: Mapped[str] = mapped_column(String(40), default="")
    return_reason: Mapped[str] = mapped_column(String(32), default="")
    marked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    request: Mapped[ServiceRequest] = relationship()
