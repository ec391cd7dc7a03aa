"""The event log: append-only, hash-chained per centre."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from queue_server.extensions import db
from queue_server.models.types import UTCDateTime

GENESIS_HASH = "0" * 64


class Event(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("centre_id", "seq"),
        Index("ix_events_centre_at", "centre_id", "at"),
        Index("ix_events_token", "token_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"))
    seq: Mapped[int] = mapped_column()
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(60))  # "staff:3", "device:1", "system", "citizen"
    token_id: Mapped[int | None] = mapped_column()
    counter_id: Mapped[int | None] = mapped_column()
    service_id: Mapped[int | None] = mapped_column()
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class ChainHead(db.Model):  # type: ignore[name-defined,misc]
    """The last link of a centre's chain. Updating it first serialises appends per centre."""

    __tablename__ = "event_chain_heads"

    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"), primary_key=True)
    last_seq: Mapped[int] = mapped_column(default=0)
    last_hash: Mapped[str] = mapped_column(String(64), default=GENESIS_HASH)


class WitnessedCheckpoint(db.Model):  # type: ignore[name-defined,misc]
    """A centre's signed chain head as the province received it, in the province's own chain
    (one chain across every centre: a unique previous hash means it cannot fork)."""

    __tablename__ = "witnessed_checkpoints"
    __table_args__ = (UniqueConstraint("signature"), UniqueConstraint("prev_hash"))

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"), index=True)
    seq: Mapped[int] = mapped_column()
    head: Mapped[str] = mapped_column(String(64))
    signed: Mapped[dict[str, Any]] = mapped_column(JSON)
    signature: Mapped[str] = mapped_column(String(120))
    public_key: Mapped[str] = mapped_column(String(64))
    witnessed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
