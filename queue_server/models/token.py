"""Tokens and the scoped counter rows that number them."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from queue_server.extensions import db
from queue_server.models.centre import Centre, Counter, Service
from queue_server.models.types import UTCDateTime, enum_column
from queue_server.states import PrintState, Priority, TokenState

OPEN_STATES = (TokenState.WAITING, TokenState.CALLED, TokenState.SERVING, TokenState.PARKED)
AT_COUNTER_STATES = (TokenState.CALLED, TokenState.SERVING)


class Token(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "tokens"
    __table_args__ = (
        UniqueConstraint("origin_service_id", "business_day", "seq"),
        UniqueConstraint("device_id", "idempotency_key"),
        Index("ix_tokens_queue", "centre_id", "state", "business_day"),
        Index("ix_tokens_counter_state", "counter_id", "state"),
        Index("ix_tokens_centre_issued", "centre_id", "issued_at"),
        Index("ix_tokens_centre_day", "centre_id", "business_day", "state"),  # dashboards, reports
        # the wait forecast's recent counter times: a service's last done tokens
        Index("ix_tokens_service_done", "centre_id", "service_id", "state", "finished_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"))
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    # The service that issued the number (A042 stays A042 after a transfer).
    origin_service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    business_day: Mapped[date] = mapped_column(Date)
    seq: Mapped[int] = mapped_column()
    number: Mapped[str] = mapped_column(String(8))
    public_code: Mapped[str] = mapped_column(String(32), unique=True)
    priority: Mapped[Priority] = mapped_column(enum_column(Priority), default=Priority.NORMAL)
    state: Mapped[TokenState] = mapped_column(enum_column(TokenState))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The original issue time: kept through transfers and requeues, so the citizen keeps
    # their place fairly. The dispatch rule counts waiting time from here.
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    called_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_called_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    counter_id: Mapped[int | None] = mapped_column(ForeignKey("counters.id"))
    target_counter_id: Mapped[int | None] = mapped_column(ForeignKey("counters.id"))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"))
    idempotency_key: Mapped[str | None] = mapped_column(String(64))
    recall_count: Mapped[int] = mapped_column(default=0)
    transfer_count: Mapped[int] = mapped_column(default=0)
    outcome: Mapped[str | None] = mapped_column(String(32))
    eta_minutes: Mapped[int | None] = mapped_column()
    # The queue-length baseline's figure at issue (QL), so the dashboard can show how much
    # better or worse the shown estimate is doing, live.
    eta_ql_minutes: Mapped[int | None] = mapped_column()
    ahead_at_issue: Mapped[int | None] = mapped_column()
    print_state: Mapped[PrintState] = mapped_column(enum_column(PrintState), default=PrintState.NOT_PRINTED)

    centre: Mapped[Centre] = relationship()
    service: Mapped[Service] = relationship(foreign_keys=[service_id])
    counter: Mapped[Counter | None] = relationship(foreign_keys=[counter_id])
    target_counter: Mapped[Counter | None] = relationship(foreign_keys=[target_counter_id])


class ScopedSequence(db.Model):  # type: ignore[name-defined,misc]
    """A counter row per (centre, scope, local day), incremented atomically in SQL."""

    __tablename__ = "scoped_sequences"

    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"), primary_key=True)
    scope: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    last_value: Mapped[int] = mapped_column(default=0)


# The table's columns, for plain Core statements on the hot paths (the forecast's snapshot,
# call-next's reads): they skip the ORM's statement and row handling. (A session still
# autoflushes before a Core statement, as before an ORM one: SQLAlchemy 2.)
TOKEN_COLUMNS = Token.__table__.c
