"""Appending to and verifying the per-centre hash chain of events.

Each record's hash covers its own fields and the previous record's hash, so an edited,
inserted or deleted record breaks the chain from that point (``khidmat audit verify``).
Appends update the centre's chain head row first, which serialises them per centre on
PostgreSQL (SQLite serialises every writer already). A transaction's first append moves
the head from where this process last committed it, in one conditional UPDATE; only when
it moved elsewhere meanwhile is it read first.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import bindparam, event, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, SessionTransaction, scoped_session

from queue_server.actors import Actor
from queue_server.audit_verify import chain_hash
from queue_server.clock import utcnow
from queue_server.models import ChainHead, Event
from queue_server.models.event import GENESIS_HASH


def record_hash(
    prev_hash: str,
    *,
    centre_id: int,
    seq: int,
    at: datetime,
    kind: str,
    actor: str,
    token_id: int | None,
    counter_id: int | None,
    service_id: int | None,
    data: dict[str, Any],
) -> str:
    return chain_hash(
        prev_hash,
        {
            "centre_id": centre_id,
            "seq": seq,
            "at": hashed_time(at),
            "kind": kind,
            "actor": actor,
            "token_id": token_id,
            "counter_id": counter_id,
            "service_id": service_id,
            "data": data,
        },
    )


def hashed_time(at: datetime) -> str:
    return at.isoformat(timespec="microseconds")


_HEADS = ChainHead.__table__
_EVENTS = Event.__table__
# Built once: the hot path appends an event or two per operation.
_ADVANCE_HEAD = (
    update(_HEADS)
    .where(_HEADS.c.centre_id == bindparam("head_centre"))
    .values(last_seq=_HEADS.c.last_seq + 1)
    .returning(_HEADS.c.last_seq, _HEADS.c.last_hash)
)
_SET_HEAD = (
    update(_HEADS)
    .where(_HEADS.c.centre_id == bindparam("head_centre"))
    .values(last_seq=bindparam("seq"), last_hash=bindparam("digest"))
)
# session.info: centre id -> (the (sub)transaction that appended last, its seq and hash).
# A second event of one operation (start opens a request, complete closes one) then costs
# its record and the head's new values: two statements, not three.
_KNOWN_HEADS = "khidmat_chain_heads"
# A transaction's first append moves the head from where this process last committed it
# (``_MOVE_HEAD``) instead of reading it first: the UPDATE matches only a head that is
# exactly that one still, under the same row lock (PostgreSQL) or writer's lock (SQLite) as
# a read, so a stale guess costs one statement and the head is read as before; nothing is
# ever appended to a guess.
GUESS_REST = 7  # after a guess that missed, the centre's next transactions that read first
GUESS_REST_MOST = 511  # ... doubled after each further miss, up to this


class _CommittedHeads:
    """Per centre, the head (seq, hash) this process committed last, and how many of its
    transactions still read the head first after a guess that missed. A centre served by
    one process always hits. One served by several processes mostly misses (measured: 1 in
    9 hits with two processes taking turns), and a miss costs one statement more than a
    read: resting after a miss, twice as long after each further one, keeps that near a
    read's cost."""

    def __init__(self) -> None:
        self.heads: dict[int, tuple[int, str]] = {}
        self.resting: dict[int, int] = {}
        self.rest: dict[int, int] = {}  # the next rest, after a miss

    def guess(self, centre_id: int) -> tuple[int, str] | None:
        resting = self.resting.get(centre_id, 0)
        if resting:
            self.resting[centre_id] = resting - 1
            return None
        return self.heads.get(centre_id)

    def hit(self, centre_id: int) -> None:
        self.rest.pop(centre_id, None)

    def missed(self, centre_id: int) -> None:
        rest = self.rest.get(centre_id, GUESS_REST)
        self.resting[centre_id] = rest
        self.rest[centre_id] = min(2 * rest + 1, GUESS_REST_MOST)


_committed_heads: WeakKeyDictionary[Engine, _CommittedHeads] = WeakKeyDictionary()
_MOVE_HEAD = (
    update(_HEADS)
    .where(
        _HEADS.c.centre_id == bindparam("head_centre"),
        _HEADS.c.last_seq == bindparam("was_seq"),
        _HEADS.c.last_hash == bindparam("was_hash"),
    )
    .values(last_seq=bindparam("seq"), last_hash=bindparam("digest"))
)
_INSERT_EVENT = insert(_EVENTS).returning(_EVENTS.c.id)

AppendHook = Callable[[Session, str, int], None]
_on_append: list[AppendHook] = []


def on_append(hook: AppendHook) -> None:
    """Call ``hook(session, kind, centre_id)`` for every event appended (the metrics count
    them once the transaction commits)."""
    _on_append.append(hook)


def append_event(
    session: Session,
    centre_id: int,
    kind: str,
    actor: Actor,
    *,
    token_id: int | None = None,
    counter_id: int | None = None,
    service_id: int | None = None,
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> Event:
    """Append one event to the centre's chain, in the caller's transaction. The record is
    written through its table (the ORM's unit of work costs more than the row); the Event
    returned holds its fields and id, outside the session."""
    payload = json.loads(json.dumps(data or {}, default=str))
    at = at or utcnow()
    label = actor.label

    def sealed(seq: int, prev: str) -> str:
        return record_hash(
            prev,
            centre_id=centre_id,
            seq=seq,
            at=at,
            kind=kind,
            actor=label,
            token_id=token_id,
            counter_id=counter_id,
            service_id=service_id,
            data=payload,
        )

    # The head row is read and written through its table too, never as a ChainHead object
    # (verify_chain reads it afresh). Flush first: the caller's changes go before the record.
    session.flush()
    own = session() if isinstance(session, scoped_session) else session  # (the app's is scoped)
    transaction = own.get_nested_transaction() or own.get_transaction()  # (None: this append begins it)
    known: dict[int, tuple[SessionTransaction, int, str]] = session.info.setdefault(_KNOWN_HEADS, {})
    held = known.get(centre_id)
    head_set = False
    if held is not None and transaction is not None and held[0] is transaction:
        # This transaction appended last, in this same (sub)transaction, and holds the head
        # since (its row lock on PostgreSQL, the writer's lock on SQLite): no need to read it.
        seq, prev = held[1] + 1, held[2]
        digest = sealed(seq, prev)
    else:
        heads = _committed_heads.get(own.get_bind().engine) if held is None else None
        committed = heads.guess(centre_id) if heads is not None else None
        if heads is not None and committed is not None:
            # The head this process committed last: move it from there to this record in
            # one statement. No row matches when another transaction moved it since.
            seq, prev = committed[0] + 1, committed[1]
            digest = sealed(seq, prev)
            moved = session.execute(
                _MOVE_HEAD,
                {"head_centre": centre_id, "was_seq": seq - 1, "was_hash": prev, "seq": seq, "digest": digest},
            )
            head_set = moved.rowcount == 1  # type: ignore[attr-defined]
            (heads.hit if head_set else heads.missed)(centre_id)
        if not head_set:
            head = session.execute(_ADVANCE_HEAD, {"head_centre": centre_id}).one_or_none()
            if head is None:
                session.execute(insert(_HEADS).values(centre_id=centre_id, last_seq=1, last_hash=GENESIS_HASH))
                seq, prev = 1, GENESIS_HASH
            else:
                seq, prev = head
            digest = sealed(seq, prev)
    fields = {
        "centre_id": centre_id,
        "seq": seq,
        "at": at,
        "kind": kind,
        "actor": label,
        "token_id": token_id,
        "counter_id": counter_id,
        "service_id": service_id,
        "data": payload,
        "prev_hash": prev,
        "hash": digest,
    }
    event_id = session.execute(_INSERT_EVENT, fields).scalar_one()
    if not head_set:
        # The head is exact after every append (a checkpoint may read it in the same transaction).
        session.execute(_SET_HEAD, {"head_centre": centre_id, "seq": seq, "digest": digest})
    begun = own.get_nested_transaction() or own.get_transaction()
    assert begun is not None  # (the statements above began one if none had begun)
    known[centre_id] = (begun, seq, digest)
    for hook in _on_append:
        hook(session, kind, centre_id)
    return Event(id=event_id, **fields)


@event.listens_for(Session, "after_commit")
def _remember_heads(session: Session) -> None:
    """Keep the heads this transaction committed, for the next one's first append. One
    left by a savepoint is not kept (it may have been undone): the next append reads it."""
    known: dict[int, tuple[SessionTransaction, int, str]] | None = session.info.get(_KNOWN_HEADS)
    if known:
        heads = _committed_heads.setdefault(session.get_bind().engine, _CommittedHeads())
        for centre_id, (transaction, seq, digest) in known.items():
            if transaction.parent is None:
                heads.heads[centre_id] = (seq, digest)


@dataclass(frozen=True)
class ChainReport:
    centre_id: int
    checked: int
    broken_seq: int | None = None
    broken_id: int | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_seq is None


@event.listens_for(Session, "after_transaction_end")
def _forget_heads(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # (a savepoint's end is told apart by its own identity)
        session.info.pop(_KNOWN_HEADS, None)


def verify_chain(session: Session, centre_id: int) -> ChainReport:
    """Recompute the centre's chain; name the first record that does not fit."""
    prev = GENESIS_HASH
    expected_seq = 1
    checked = 0
    rows = session.execute(select(Event).where(Event.centre_id == centre_id).order_by(Event.seq)).scalars()
    for record in rows.yield_per(2000):
        if record.seq != expected_seq:
            return ChainReport(centre_id, checked, expected_seq, record.id, "missing record")
        if record.prev_hash != prev:
            return ChainReport(centre_id, checked, record.seq, record.id, "previous hash differs")
        digest = record_hash(
            prev,
            centre_id=record.centre_id,
            seq=record.seq,
            at=record.at,
            kind=record.kind,
            actor=record.actor,
            token_id=record.token_id,
            counter_id=record.counter_id,
            service_id=record.service_id,
            data=record.data,
        )
        if digest != record.hash:
            return ChainReport(centre_id, checked, record.seq, record.id, "content altered")
        prev = record.hash
        expected_seq += 1
        checked += 1
    head = session.get(ChainHead, centre_id, populate_existing=True)  # as it is now, not as loaded
    if head is not None and (head.last_seq != checked or head.last_hash != prev):
        return ChainReport(centre_id, checked, checked + 1, None, "records missing at the end")
    return ChainReport(centre_id, checked)
