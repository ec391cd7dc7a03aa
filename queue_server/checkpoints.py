"""Signed checkpoints of each centre's chain head: making, keeping, witnessing, checking.

``make_checkpoint`` signs the centre's chain head (sequence number and hash) with the
instance's Ed25519 key and appends the signed head to the chain as a ``checkpoint`` event,
so it travels with the centre's records. After the commit it is also appended to the
checkpoint log in the instance folder, beside the key: a copy outside the database. The
background ``Checkpointer`` does this at least every ``AUDIT_CHECKPOINT_SECONDS`` (default
one hour) for every centre whose chain moved; ``end_of_day`` does it once more.

The signing key never enters the database: ``AUDIT_SIGNING_KEY_PATH`` names it, by default
``audit_signing_key.pem`` in the instance folder, generated on first use (mode 0600) like
the session secret. Someone who can write the database but not read that file can rewrite
the chain and its head, but cannot sign the new heads: ``verify_centre`` finds the
checkpoints that no longer fit.

A province that receives a centre's records keeps the centre's signed heads in its own
chain (``witness_checkpoint``), so the centre cannot later rewrite what the province saw.

Size: making, keeping, witnessing and checking signed heads share the signed format; apart,
the format would be split.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask, current_app
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from queue_server.actors import SYSTEM, Actor
from queue_server.audit import append_event, hashed_time
from queue_server.audit_verify import (
    CHECKPOINT_KIND,
    EXPORT_FORMAT,
    GENESIS_HASH,
    Anchor,
    AuditReport,
    ChainChecker,
    canonical,
    chain_hash,
    key_id,
    signature_valid,
)
from queue_server.clock import utcnow
from queue_server.errors import N_, Conflict, ValidationFailed
from queue_server.models import Centre, ChainHead, Event, WitnessedCheckpoint
from queue_server.publish import after_commit
from queue_server.realtime.workers import Worker

log = logging.getLogger(__name__)

KEY_FILE = "audit_signing_key.pem"
LOG_FILE = "audit-checkpoints.jsonl"
_SIGNER_KEY = "khidmat_audit_signer"


@dataclass(frozen=True)
class Signer:
    private_key: Ed25519PrivateKey
    public_key: str  # base64 of the 32 raw bytes

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)

    def sign(self, signed: dict[str, Any]) -> dict[str, Any]:
        signature = base64.b64encode(self.private_key.sign(canonical(signed))).decode()
        return {
            "signed": signed,
            "signature": signature,
            "public_key": self.public_key,
            "key_id": self.key_id,
        }


def load_signer(path: Path) -> Signer:
    """Read the signing key, generating it (mode 0600) the first time."""
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            pem = path.read_bytes()
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
    private = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(private, Ed25519PrivateKey):
        raise RuntimeError(f"{path} is not an Ed25519 private key")
    raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return Signer(private, base64.b64encode(raw).decode())


def key_path(app: Flask) -> Path:
    return Path(app.config.get("AUDIT_SIGNING_KEY_PATH") or Path(app.instance_path) / KEY_FILE)


def log_path(app: Flask) -> Path:
    return Path(app.config.get("AUDIT_CHECKPOINT_LOG") or Path(app.instance_path) / LOG_FILE)


def signer_for(app: Flask) -> Signer:
    cached = app.extensions.get(_SIGNER_KEY)
    if cached is None:
        cached = app.extensions[_SIGNER_KEY] = load_signer(key_path(app))
    return cached  # type: ignore[no-any-return]


def trusted_keys(app: Flask) -> set[str]:
    """The instance's own public key (when it has one) and any listed in AUDIT_TRUSTED_KEYS
    (earlier keys, comma-separated base64)."""
    keys = {k.strip() for k in str(app.config.get("AUDIT_TRUSTED_KEYS") or "").split(",") if k.strip()}
    if key_path(app).exists():
        keys.add(signer_for(app).public_key)
    return keys


# Making ---------------------------------------------------------------------------------


def make_checkpoint(
    session: Session,
    centre: Centre,
    actor: Actor,
    reason: str,
    *,
    day: date | None = None,
    min_age: float | None = None,
) -> Event | None:
    """Sign the centre's chain head and append it as a checkpoint event. Returns None when
    there is nothing to sign: no records yet, the head is a checkpoint already, or (with
    ``min_age`` seconds) the last checkpoint is younger than that. The caller commits."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    heads = ChainHead.__table__
    row = session.execute(
        select(heads.c.last_seq, heads.c.last_hash).where(heads.c.centre_id == centre.id).with_for_update()
    ).one_or_none()
    if row is None:
        return None
    seq, head = row
    if reason != "end_of_day":
        last_kind = session.scalar(select(Event.kind).where(Event.centre_id == centre.id, Event.seq == seq))
        if last_kind == CHECKPOINT_KIND:
            return None
    now = utcnow()
    if min_age is not None:
        last_at = session.scalar(
            select(func.max(Event.at)).where(Event.centre_id == centre.id, Event.kind == CHECKPOINT_KIND)
        )
        if isinstance(last_at, str):
            last_at = datetime.fromisoformat(last_at)
        if last_at is not None:
            last_at = last_at if last_at.tzinfo else last_at.replace(tzinfo=now.tzinfo)
            if now - last_at < timedelta(seconds=min_age):
                return None
    signed = {
        "v": 1,
        "centre_id": centre.id,
        "centre_code": centre.code,
        "seq": seq,
        "head": head,
        "at": hashed_time(now),
        "reason": reason,
        "day": day.isoformat() if day else None,
    }
    checkpoint = signer_for(app).sign(signed)
    event = append_event(session, centre.id, CHECKPOINT_KIND, actor, data=checkpoint, at=now)
    after_commit(session, lambda: _keep_outside(app, checkpoint))
    return event


def _keep_outside(app: Flask, checkpoint: dict[str, Any]) -> None:
    path = log_path(app)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(checkpoint, ensure_ascii=False, sort_keys=True) + "\n")
    except OSError:  # the checkpoint is in the chain already; the copy is a second anchor
        log.exception("could not append the checkpoint to %s", path)


def logged_checkpoints(app: Flask, centre_id: int) -> list[dict[str, Any]]:
    """The checkpoints of one centre kept in the instance folder's log."""
    found = []
    try:
        with log_path(app).open(encoding="utf-8") as fh:
            for line in fh:
                try:
                    checkpoint = json.loads(line)
                except ValueError:
                    continue
                if (
                    isinstance(checkpoint, dict)
                    and (checkpoint.get("signed") or {}).get("centre_id") == centre_id
                ):
                    found.append(checkpoint)
    except FileNotFoundError:
        pass
    return found


class Checkpointer(Worker):
    """Per process: signs each centre's head every ``AUDIT_CHECKPOINT_SECONDS`` when it moved
    (a background worker, ``queue_server.realtime.workers``; 0 turns it off). Several
    processes may run one; a centre checkpointed less than half an interval ago by any of
    them is left alone."""

    def __init__(self, app: Flask) -> None:
        super().__init__(app, "audit checkpoints", interval_key="AUDIT_CHECKPOINT_SECONDS", default_interval=0)

    def start(self) -> bool:
        return self.interval > 0 and super().start()

    def round(self) -> int:
        return self.checkpoint_centres()

    def checkpoint_centres(self) -> int:
        """Checkpoint every centre that needs it; return how many were signed."""
        from queue_server.unit_of_work import run_in_transaction

        ids = run_in_transaction(lambda s: list(s.scalars(select(Centre.id).order_by(Centre.id))))
        made = 0
        for centre_id in ids:

            def work(s: Session, centre_id: int = centre_id) -> bool:
                centre = s.get(Centre, centre_id)
                return centre is not None and (
                    make_checkpoint(s, centre, SYSTEM, "interval", min_age=self.interval / 2) is not None
                )

            made += run_in_transaction(work)
        return made


_checkpointer: Checkpointer | None = None


def checkpointer() -> Checkpointer | None:
    return _checkpointer


def init_app(app: Flask) -> None:
    """Start the checkpoint job with the first change a serving process publishes."""
    global _checkpointer
    from queue_server.publish import Message, add_sink, observes_only

    _checkpointer = Checkpointer(app)

    def on_message(_message: Message) -> None:
        current = _checkpointer
        if current is not None:
            current.ensure_started()

    if not getattr(init_app, "_sink_added", False):
        add_sink(on_message, watching=observes_only)
        init_app._sink_added = True  # type: ignore[attr-defined]


# Checking -------------------------------------------------------------------------------


def anchors_for(session: Session, app: Flask, centre: Centre) -> list[Anchor]:
    """Every signed checkpoint known for the centre: in its chain, in the instance folder's
    log, and witnessed (on a province) in the province's chain."""
    anchors = [
        Anchor(data, "chain")
        for data in session.scalars(
            select(Event.data)
            .where(Event.centre_id == centre.id, Event.kind == CHECKPOINT_KIND)
            .order_by(Event.seq)
        )
    ]
    anchors += [Anchor(c, "checkpoint log") for c in logged_checkpoints(app, centre.id)]
    for row in session.scalars(select(WitnessedCheckpoint).where(WitnessedCheckpoint.centre_id == centre.id)):
        anchors.append(
            Anchor(
                {"signed": row.signed, "signature": row.signature, "public_key": row.public_key}, "province"
            )
        )
    return anchors


def record_of(event: Event) -> dict[str, Any]:
    return {
        "centre_id": event.centre_id,
        "seq": event.seq,
        "at": hashed_time(event.at),
        "kind": event.kind,
        "actor": event.actor,
        "token_id": event.token_id,
        "counter_id": event.counter_id,
        "service_id": event.service_id,
        "data": event.data,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


def verify_centre(session: Session, centre: Centre) -> AuditReport:
    """Recompute the centre's chain and hold it against every signed checkpoint: an edit,
    insertion or deletion is named, and so is a history rewritten with every hash
    recomputed (a signed head no longer fits), a checkpoint removed from the chain, or a
    checkpoint not signed by a trusted key."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    keys = trusted_keys(app)
    keys |= set(
        session.scalars(
            select(WitnessedCheckpoint.public_key)
            .where(WitnessedCheckpoint.centre_id == centre.id)
            .distinct()
        )
    )
    checker = ChainChecker(centre.code, centre.id, anchors_for(session, app, centre), keys or None)
    rows = session.execute(select(Event).where(Event.centre_id == centre.id).order_by(Event.seq)).scalars()
    for event in rows.yield_per(2000):
        checker.feed(record_of(event))
    head = session.execute(
        select(ChainHead.last_seq, ChainHead.last_hash).where(ChainHead.centre_id == centre.id)
    ).one_or_none()
    return checker.finish(tuple(head) if head is not None else None)  # type: ignore[arg-type]


def day_checkpoint(session: Session, centre: Centre, day: date) -> dict[str, Any] | None:
    """The checkpoint that closes a day: its end-of-day checkpoint, else the last one signed
    during the day."""
    from queue_server.read.statistics import day_bounds

    start, end = day_bounds(centre, day, day)
    found = list(
        session.scalars(
            select(Event.data)
            .where(
                Event.centre_id == centre.id,
                Event.kind == CHECKPOINT_KIND,
                Event.at >= start,
                Event.at < end + timedelta(days=1),
            )
            .order_by(Event.seq)
        )
    )
    closing = [
        c
        for c in found
        if c["signed"].get("reason") == "end_of_day" and c["signed"].get("day") == day.isoformat()
    ]
    if closing:
        return closing[-1]
    during = [c for c in found if c["signed"].get("at", "") < hashed_time(end)]
    return during[-1] if during else None


def export_day(session: Session, centre: Centre, day: date) -> dict[str, Any]:
    """A self-verifying file of one day: the day's records, continued up to the first
    checkpoint that covers the last of them, with the public key that signed them."""
    from queue_server.read.statistics import day_bounds

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    start, end = day_bounds(centre, day, day)
    first = session.scalar(
        select(func.min(Event.seq)).where(Event.centre_id == centre.id, Event.at >= start, Event.at < end)
    )
    last = session.scalar(
        select(func.max(Event.seq)).where(Event.centre_id == centre.id, Event.at >= start, Event.at < end)
    )
    events: list[dict[str, Any]] = []
    if first is not None:
        closing = session.scalar(
            select(func.min(Event.seq)).where(
                Event.centre_id == centre.id, Event.kind == CHECKPOINT_KIND, Event.seq > last
            )
        )
        query = select(Event).where(Event.centre_id == centre.id, Event.seq >= first)
        if closing is not None:
            query = query.where(Event.seq <= closing)
        events = [record_of(e) for e in session.scalars(query.order_by(Event.seq))]
    return {
        "format": EXPORT_FORMAT,
        "centre": {
            "id": centre.id,
            "code": centre.code,
            "name_en": centre.name_en,
            "name_ur": centre.name_ur,
        },
        "day": day.isoformat(),
        "exported_at": hashed_time(utcnow()),
        "public_key": signer_for(app).public_key,
        "key_id": signer_for(app).key_id,
        "events": events,
        "checkpoints": [
            c
            for c in logged_checkpoints(app, centre.id)
            if events and events[0]["seq"] <= c["signed"]["seq"] <= events[-1]["seq"]
        ],
    }


# Witnessing (on the province) -------------------------------------------------------------


def witness_checkpoint(session: Session, centre: Centre, checkpoint: dict[str, Any]) -> WitnessedCheckpoint:
    """Keep a centre's signed head in the province's own chain. Refuses a checkpoint whose
    signature does not hold, that belongs to another centre, that is signed by another key
    than the centre's earlier ones, or that signs a different head for a sequence number
    already witnessed (the centre's history was rewritten). The same checkpoint twice is
    kept once. The caller commits."""
    if not signature_valid(checkpoint):
        raise ValidationFailed(N_("The checkpoint's signature does not hold."), code="bad_signature")
    signed = checkpoint["signed"]
    if signed.get("centre_code") != centre.code:
        raise ValidationFailed(N_("The checkpoint belongs to another centre."), code="wrong_centre")
    seq, head = signed.get("seq"), signed.get("head")
    if not isinstance(seq, int) or not isinstance(head, str) or len(head) != 64:
        raise ValidationFailed(N_("The checkpoint names no chain head."))
    same = session.scalar(
        select(WitnessedCheckpoint).where(WitnessedCheckpoint.signature == checkpoint["signature"])
    )
    if same is not None:
        return same
    earlier = session.scalars(
        select(WitnessedCheckpoint)
        .where(WitnessedCheckpoint.centre_id == centre.id)
        .order_by(WitnessedCheckpoint.id)
    ).all()
    if earlier and checkpoint["public_key"] not in {w.public_key for w in earlier}:
        raise Conflict(N_("The checkpoint is signed by another key than this centre's."), code="unknown_key")
    for w in earlier:
        if w.seq == seq and w.head != head:
            raise Conflict(
                N_("The centre signed two different heads for record %(seq)s: its history was rewritten."),
                code="rewritten_history",
                seq=seq,
            )
    last = session.scalars(
        select(WitnessedCheckpoint).order_by(WitnessedCheckpoint.id.desc()).limit(1)
    ).first()
    prev = last.hash if last is not None else GENESIS_HASH
    now = utcnow()
    row = WitnessedCheckpoint(
        centre_id=centre.id,
        seq=seq,
        head=head,
        signed=signed,
        signature=checkpoint["signature"],
        public_key=checkpoint["public_key"],
        witnessed_at=now,
        prev_hash=prev,
        hash=witness_hash(prev, centre.code, checkpoint, now),
    )
    session.add(row)
    session.flush()
    return row


def witness_hash(prev: str, centre_code: str, checkpoint: dict[str, Any], at: datetime) -> str:
    return chain_hash(
        prev,
        {
            "centre_id": centre_code,
            "seq": checkpoint["signed"]["seq"],
            "at": hashed_time(at),
            "kind": "witnessed_checkpoint",
            "actor": "province",
            "token_id": None,
            "counter_id": None,
            "service_id": None,
            "data": {
                "signed": checkpoint["signed"],
                "signature": checkpoint["signature"],
                "public_key": checkpoint["public_key"],
            },
        },
    )


def verify_witnessed(session: Session) -> list[str]:
    """Recompute the province's chain of witnessed checkpoints; name what does not fit."""
    problems = []
    prev = GENESIS_HASH
    for row in session.scalars(select(WitnessedCheckpoint).order_by(WitnessedCheckpoint.id)):
        centre = session.get(Centre, row.centre_id)
        checkpoint = {"signed": row.signed, "signature": row.signature, "public_key": row.public_key}
        if (
            row.prev_hash != prev
            or centre is None
            or witness_hash(prev, centre.code, checkpoint, row.witnessed_at) != row.hash
        ):
            problems.append(f"witnessed checkpoint {row.id}: altered")
        elif not signature_valid(checkpoint):
            problems.append(f"witnessed checkpoint {row.id}: signature invalid")
        prev = row.hash
    return problems
