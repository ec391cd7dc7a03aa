"""Province side: register a node per centre and append the batches it pushes.

Each centre owns its records, so a batch is appended, never merged: it must continue the
chain the province holds for that centre (sequence, previous hash, recomputed hash), or
the whole batch is refused and nothing of it is stored. Records the province holds
already (a batch re-sent after a lost answer) are compared by hash and skipped. Any event
kind travels: the chain is checked, not the kinds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from queue_server.audit import record_hash
from queue_server.audit_verify import CHECKPOINT_KIND
from queue_server.checkpoints import witness_checkpoint
from queue_server.clock import utcnow
from queue_server.credentials import key_hash, new_key
from queue_server.errors import N_, Conflict, Forbidden, NotFound, ValidationFailed
from queue_server.models import Centre, WitnessedCheckpoint
from queue_server.models.sync import SyncedEvent, SyncNode

BATCH_MAX = 1000


class ChainRefused(Conflict):
    code = "chain_refused"


def register_node(session: Session, centre_code: str) -> tuple[SyncNode, str]:
    """Create (or re-key) the node of a centre; return it with its new secret key."""
    centre = session.scalar(select(Centre).where(Centre.code == centre_code))
    if centre is None:
        raise NotFound(N_("No centre %(centre)s."), centre=centre_code)
    key = new_key("node")
    node = session.scalar(select(SyncNode).where(SyncNode.centre_id == centre.id))
    if node is None:
        node = SyncNode(centre_id=centre.id, key_hash=key_hash(key), last_seq=0)
        session.add(node)
    else:
        node.key_hash = key_hash(key)
    session.flush()
    return node, key


def check_centre(session: Session, node: SyncNode, centre_code: str) -> Centre:
    """A node key pushes its own centre only."""
    centre = session.get(Centre, node.centre_id)
    assert centre is not None
    if centre.code != centre_code:
        raise Forbidden(N_("This node key belongs to another centre."))
    return centre


@dataclass(frozen=True)
class BatchResult:
    stored: int
    skipped: int
    last_seq: int
    last_hash: str


def _parse_at(value: Any) -> datetime:
    try:
        at = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise ValidationFailed(N_("An event has a malformed time.")) from exc
    if at.tzinfo is None:
        raise ValidationFailed(N_("An event has a time without a zone."))
    return at


def append_batch(
    session: Session, node: SyncNode, origin_centre_id: int, events: list[dict[str, Any]], pending: int
) -> BatchResult:
    """Verify and append one batch in the caller's transaction; refuse it whole if any
    record does not continue the chain (ChainRefused names the record)."""
    if len(events) > BATCH_MAX:
        raise ValidationFailed(N_("At most %(n)s events per batch."), n=BATCH_MAX)
    if node.origin_centre_id is not None and node.origin_centre_id != origin_centre_id:
        raise ChainRefused(N_("This centre's chain came from another node database (centre id differs)."))
    node.origin_centre_id = origin_centre_id
    last_seq, last_hash = node.last_seq, node.last_hash
    stored = skipped = 0
    centre = session.get(Centre, node.centre_id)
    assert centre is not None

    def witness(checkpoint: Any) -> None:
        """A signed head the node made travels in its chain: the province keeps it in its
        own witness chain, so a node that later rewrites its history and re-signs it is
        refused (two heads for one record) and the province's copy can be checked against
        heads it could not have signed itself."""
        if not isinstance(checkpoint, dict) or not {"signed", "signature", "public_key"} <= set(checkpoint):
            raise ChainRefused(N_("A checkpoint in the batch is malformed."))
        witness_checkpoint(session, centre, checkpoint)

    for raw in events:
        try:
            seq = int(raw["seq"])
            fields: dict[str, Any] = {
                "at": _parse_at(raw["at"]),
                "kind": str(raw["kind"]),
                "actor": str(raw["actor"]),
                "token_id": raw.get("token_id"),
                "counter_id": raw.get("counter_id"),
                "service_id": raw.get("service_id"),
                "data": raw.get("data") or {},
            }
            prev_hash, digest = str(raw["prev_hash"]), str(raw["hash"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValidationFailed(N_("An event in the batch is malformed.")) from exc
        if seq <= last_seq:
            held = session.scalar(
                select(SyncedEvent.hash).where(
                    SyncedEvent.centre_id == node.centre_id, SyncedEvent.seq == seq
                )
            )
            recomputed = record_hash(prev_hash, centre_id=origin_centre_id, seq=seq, **fields)
            if held != digest or recomputed != digest:
                raise ChainRefused(
                    N_(
                        "Event %(seq)s differs from the one the province holds: the node's record was changed."
                    ),
                    seq=seq,
                )
            skipped += 1
            continue
        if seq != last_seq + 1:
            raise ChainRefused(
                N_("Event %(seq)s does not follow event %(last)s: records are missing."),
                seq=seq,
                last=last_seq,
            )
        if prev_hash != last_hash:
            raise ChainRefused(
                N_("Event %(seq)s does not continue the chain (previous hash differs)."), seq=seq
            )
        expected = record_hash(prev_hash, centre_id=origin_centre_id, seq=seq, **fields)
        if expected != digest:
            raise ChainRefused(N_("Event %(seq)s was altered after it was recorded (hash differs)."), seq=seq)
        session.add(
            SyncedEvent(
                centre_id=node.centre_id,
                origin_centre_id=origin_centre_id,
                seq=seq,
                prev_hash=prev_hash,
                hash=digest,
                **fields,
            )
        )
        if fields["kind"] == CHECKPOINT_KIND:
            witness(fields["data"])
        last_seq, last_hash = seq, digest
        stored += 1
    node.last_seq, node.last_hash = last_seq, last_hash
    node.last_sync_at = utcnow()
    node.last_error = None
    node.backlog = max(int(pending), 0)
    session.flush()
    return BatchResult(stored, skipped, last_seq, last_hash)


def record_refusal(session: Session, node_id: int, message: str) -> None:
    """Remember why a node's batch was refused (its own transaction: the batch rolled back)."""
    node = session.get(SyncNode, node_id)
    if node is not None:
        node.last_error = message[:500]
        node.last_error_at = utcnow()
        session.flush()


def verify_synced_chain(session: Session, centre_id: int) -> tuple[int, int | None, str]:
    """Recompute the chain the province holds for a node's centre: (checked, broken seq, reason)."""
    prev = "0" * 64
    expected = 1
    rows = session.scalars(
        select(SyncedEvent).where(SyncedEvent.centre_id == centre_id).order_by(SyncedEvent.seq)
    )
    checked = 0
    for ev in rows:
        if ev.seq != expected:
            return checked, expected, "missing record"
        if ev.prev_hash != prev:
            return checked, ev.seq, "previous hash differs"
        digest = record_hash(
            prev,
            centre_id=ev.origin_centre_id,
            seq=ev.seq,
            at=ev.at,
            kind=ev.kind,
            actor=ev.actor,
            token_id=ev.token_id,
            counter_id=ev.counter_id,
            service_id=ev.service_id,
            data=ev.data,
        )
        if digest != ev.hash:
            return checked, ev.seq, "content altered"
        prev = ev.hash
        expected += 1
        checked += 1
    held = dict(
        session.execute(
            select(SyncedEvent.seq, SyncedEvent.hash).where(SyncedEvent.centre_id == centre_id)
        ).all()
    )
    for witnessed in session.scalars(
        select(WitnessedCheckpoint)
        .where(WitnessedCheckpoint.centre_id == centre_id)
        .order_by(WitnessedCheckpoint.seq)
    ):
        if witnessed.seq in held and held[witnessed.seq] != witnessed.head:
            return checked, witnessed.seq, "differs from the head the node signed"
    return checked, None, ""


def nodes_overview(session: Session) -> list[dict[str, Any]]:
    """Every registered node for the province dashboard: its last successful sync, last
    error and backlog (events the node reported still pending), times in the centre's zone."""
    out = []
    query = select(SyncNode, Centre).join(Centre, Centre.id == SyncNode.centre_id).order_by(Centre.code)
    for node, centre in session.execute(query).all():

        def local(at: datetime | None, tz: Any = centre.tz) -> str | None:
            return at.astimezone(tz).strftime("%Y-%m-%d %H:%M") if at else None

        out.append(
            {
                "code": centre.code,
                "name_en": centre.name_en,
                "name_ur": centre.name_ur,
                "held": node.last_seq,
                "backlog": node.backlog,
                "last_sync_at": local(node.last_sync_at),
                "last_error": node.last_error,
                "last_error_at": local(node.last_error_at),
                "is_failing": node.last_error is not None,
            }
        )
    return out
