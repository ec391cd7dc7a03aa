"""Node-to-province sync: on the province, a registered node per centre and the chain it
pushed; on a node, how far the province has acknowledged its chain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from queue_server.clock import utcnow
from queue_server.extensions import db
from queue_server.models.event import GENESIS_HASH
from queue_server.models.types import UTCDateTime


class SyncNode(db.Model):  # type: ignore[name-defined,misc]
    """Province side: the node that owns a centre's records, its key and its progress."""

    __tablename__ = "sync_nodes"

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    origin_centre_id: Mapped[int | None] = mapped_column()  # the centre's id in the node's database
    last_seq: Mapped[int] = mapped_column(default=0)
    last_hash: Mapped[str] = mapped_column(String(64), default=GENESIS_HASH)
    last_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    backlog: Mapped[int] = mapped_column(default=0)  # events the node reported still pending
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SyncedEvent(db.Model):  # type: ignore[name-defined,misc]
    """Province side: a node's event exactly as the node hashed it (the node's own ids), so
    the chain can be recomputed here. Appended only after the batch continues the chain."""

    __tablename__ = "synced_events"
    __table_args__ = (UniqueConstraint("centre_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"))  # the province's centre
    origin_centre_id: Mapped[int] = mapped_column()
    seq: Mapped[int] = mapped_column()
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(60))
    token_id: Mapped[int | None] = mapped_column()
    counter_id: Mapped[int | None] = mapped_column()
    service_id: Mapped[int | None] = mapped_column()
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class NodeSyncState(db.Model):  # type: ignore[name-defined,misc]
    """Node side: what the province last acknowledged for this centre, and the last error."""

    __tablename__ = "node_sync_state"

    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"), primary_key=True)
    acked_seq: Mapped[int] = mapped_column(default=0)
    acked_hash: Mapped[str] = mapped_column(String(64), default=GENESIS_HASH)
    last_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))


class SyncedRow(db.Model):  # type: ignore[name-defined,misc]
    """Province side: a token a node synced into the province's own rows, and the clerk
    (by the node's username, as a province staff id) who last called it on the node."""

    __tablename__ = "synced_rows"

    token_id: Mapped[int] = mapped_column(ForeignKey("tokens.id"), primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"), index=True)
    called_by: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
