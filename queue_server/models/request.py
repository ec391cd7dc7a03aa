"""Requests: the application processed for a citizen after service starts."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from queue_server.extensions import db
from queue_server.models.centre import Counter, Service
from queue_server.models.people import Staff
from queue_server.models.token import Token
from queue_server.models.types import UTCDateTime, enum_column
from queue_server.states import RequestState


class ServiceRequest(db.Model):  # type: ignore[name-defined,misc]
    """One application, opened when service of a token starts. CNIC and phone live here
    only, for this request; lists show them masked and no public screen ever gets them."""

    __tablename__ = "requests"
    __table_args__ = (Index("ix_requests_staff_state", "staff_id", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"), index=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("tokens.id"), index=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    counter_id: Mapped[int | None] = mapped_column(ForeignKey("counters.id"))
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    business_day: Mapped[date] = mapped_column(Date)
    state: Mapped[RequestState] = mapped_column(enum_column(RequestState))
    applicant_name: Mapped[str] = mapped_column(String(120), default="")
    cnic: Mapped[str] = mapped_column(String(15), default="")
    phone: Mapped[str] = mapped_column(String(16), default="")
    documents_checked: Mapped[list[str]] = mapped_column(JSON, default=list)
    fee_received: Mapped[int] = mapped_column(default=0)
    notes: Mapped[str] = mapped_column(Text, default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ready_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A collection call brings a waiting citizen back to the counter when it is ready.
    collection_called_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    collection_calls: Mapped[int] = mapped_column(default=0)
    # End of day carries an unfinished request over to the next day; late if it was due.
    carried_over_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    carry_overs: Mapped[int] = mapped_column(default=0)
    is_late: Mapped[bool] = mapped_column(default=False)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    token: Mapped[Token] = relationship()
    service: Mapped[Service] = relationship()
    staff: Mapped[Staff | None] = relationship()
    counter: Mapped[Counter | None] = relationship()
