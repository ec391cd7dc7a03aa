"""The notification outbox and the port its messages leave through.

An operation that has something to tell a citizen ("almost your turn") calls ``enqueue``
inside its transaction: a ``Notification`` row is written with the change that caused it,
so a rolled-back change never notifies and a committed one is never forgotten. After the
commit, ``deliver_pending`` hands the pending rows to the configured ``Notifier``
(``KHIDMAT_NOTIFIER``: ``log`` by default, or ``sms`` through an SMPP or HTTP gateway, see
``queue_server.sms``). The due rows are claimed by one conditional UPDATE first, so two
deliverers never send one twice; the background worker sends outside any transaction and
writes the outcomes after, and a claim lost with its process is taken again once its lease
(``SENDING_LEASE``) ends. A failed send waits (exponential back-off) and is tried
again up to MAX_ATTEMPTS times; SMS parts the gateway acknowledged are recorded and never
sent again; delivery receipts mark a message delivered or undelivered.

Delivery starts by itself after each commit that queued something (a background worker,
``queue_server.realtime.workers``), except in testing, where the tests call ``deliver_pending`` themselves and read what the
``LogNotifier`` recorded.

Size: the outbox's whole life (queuing, the claim, the send outside any transaction, the
outcome, the receipts and the per-number limit) is one contract with the adapters, kept in
one place. Debt: the delivery (``claim_due`` … ``record_outcomes``) could be a module of
its own.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from flask import Flask, current_app
from sqlalchemy import bindparam, delete, event, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from queue_server.clock import utcnow
from queue_server.models import (
    Appointment,
    Notification,
    NotificationStatus,
    ServiceRequest,
    SmsPart,
    SmsRecipient,
    Token,
)
from queue_server.publish import after_commit
from queue_server.realtime.workers import Worker, app_worker

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
BATCH = 100
_KICK_FLAG = "khidmat_notify_kick"


@dataclass(frozen=True)
class OutgoingNotification:
    """What an adapter gets: plain values, no database session, nothing personal."""

    id: int
    centre_id: int
    token_id: int | None
    kind: str
    channel: str
    payload: dict[str, Any]
    # For adapters that reach a person (``needs_recipient``): where, in which language,
    # and the parts a gateway already acknowledged on an earlier attempt.
    recipient: str = ""
    language: str = ""
    acked: frozenset[int] = frozenset()
    # Filled by the adapter as parts are acknowledged: (part, of_parts, message id).
    acks: list[tuple[int, int, str]] = field(default_factory=list, compare=False)


class NoRecipient(Exception):
    """Nobody gave a number for this token: nothing to send, nothing to retry."""


class Notifier(Protocol):
    """A way out for notifications. ``send`` raises when the message did not leave."""

    channel: str

    def send(self, notification: OutgoingNotification) -> None: ...


@dataclass
class LogNotifier:
    """Writes each notification to the log and keeps it in ``sent`` (tests read it)."""

    channel: str = "log"
    sent: list[OutgoingNotification] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def send(self, notification: OutgoingNotification) -> None:
        with self._lock:
            self.sent.append(notification)
        log.info(
            "notification %s %s token=%s %s",
            notification.id,
            notification.kind,
            notification.token_id,
            notification.payload,
        )


def _sms_notifier(app: Flask) -> Notifier:
    from queue_server.sms.notifier import SmsNotifier

    return SmsNotifier.from_config(app.config)


NOTIFIERS: dict[str, Callable[[Flask], Notifier]] = {"log": lambda app: LogNotifier(), "sms": _sms_notifier}
_EXTENSION_KEY = "khidmat_notifier"


def notifier_for(app: Flask) -> Notifier:
    """The app's notifier, built once from ``NOTIFIER`` (``KHIDMAT_NOTIFIER``)."""
    notifier = app.extensions.get(_EXTENSION_KEY)
    if notifier is None:
        name = str(app.config.get("NOTIFIER") or "log")
        factory = NOTIFIERS.get(name)
        if factory is None:
            raise RuntimeError(f"unknown KHIDMAT_NOTIFIER {name!r}; known: {', '.join(sorted(NOTIFIERS))}")
        notifier = app.extensions[_EXTENSION_KEY] = factory(app)
    return notifier  # type: ignore[no-any-return]


def enqueue(
    session: Session,
    *,
    centre_id: int,
    token_id: int | None,
    kind: str,
    payload: dict[str, Any],
    appointment_id: int | None = None,
) -> int | None:
    """Queue one notification in the caller's transaction; delivery starts after commit.
    One of each kind per token: a second is quietly not queued (even when two transactions
    race for it: ON CONFLICT DO NOTHING, never an error that would undo the caller's
    change). Returns the new row's id, or None when it was queued already."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    statement = _enqueue_statement(session.get_bind().dialect.name)
    values = {
        "centre_id": centre_id,
        "token_id": token_id,
        "appointment_id": appointment_id,
        "kind": kind,
        "channel": notifier_for(app).channel,
        "payload": payload,
        "created_at": utcnow(),
    }
    new_id = session.execute(statement, values).scalar_one_or_none()
    if new_id is not None and not session.info.get(_KICK_FLAG):
        session.info[_KICK_FLAG] = True

        def kick() -> None:
            session.info.pop(_KICK_FLAG, None)
            start_delivery(app)

        after_commit(session, kick)
    return new_id  # type: ignore[no-any-return]


@functools.lru_cache(maxsize=4)
def _enqueue_statement(dialect: str) -> Any:
    """``enqueue``'s INSERT, built once per dialect with bound parameters (every call that
    brings a token near its turn runs it)."""
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect]
    table = Notification.__table__
    return (
        insert(table)
        .values(
            {name: bindparam(name, type_=table.c[name].type) for name in _ENQUEUED}
            | {"status": NotificationStatus.PENDING, "attempts": 0, "last_error": ""}
        )
        .on_conflict_do_nothing(index_elements=["token_id", "kind"])  # type: ignore[attr-defined]
        .returning(table.c.id)
    )


_ENQUEUED = ("centre_id", "token_id", "appointment_id", "kind", "channel", "payload", "created_at")


@event.listens_for(Session, "after_rollback")
def _forget_kick(session: Session) -> None:
    session.info.pop(_KICK_FLAG, None)  # its after-commit kick was dropped with the rest


def start_delivery(app: Flask) -> None:
    """Deliver what is pending in the background (not in testing: tests deliver). One
    worker per app (``queue_server.realtime.workers``): a kick while it runs wakes it; it
    keeps going while anything waits for a retry (or, with SMS, for a receipt), every
    ``NOTIFY_RETRY_SECONDS``, and ends when nothing does; the next kick starts it again."""
    delivery_worker(app).wake()


_WORKER_KEY = "khidmat_notify_delivery"


def delivery_worker(app: Flask) -> Worker:
    return app_worker(
        app,
        _WORKER_KEY,
        lambda app: Worker(
            app,
            "notification delivery",
            interval_key="NOTIFY_RETRY_SECONDS",
            default_interval=30,
            work=lambda: _deliver_round(app),
            until_idle=True,
        ),
    )


def _deliver_round(app: Flask) -> bool:
    """Deliver what is due; whether anything still waits (then the worker goes on). The
    claim and the outcome are two short transactions, and the sends between them hold none:
    on SQLite a transaction holds the writer's lock, and every token operation of the
    server would wait for the gateway's answers."""
    from queue_server.unit_of_work import run_in_transaction

    notifier = notifier_for(app)
    claims = run_in_transaction(lambda s: claim_due(s, notifier))
    send_claimed(notifier, claims)

    def finish(session: Session) -> bool:
        record_outcomes(session, notifier, claims)
        return _still_waiting(session, notifier)

    return run_in_transaction(finish)


def _still_waiting(session: Session, notifier: Notifier) -> bool:
    # SENDING too: a claim left by a deliverer that died is sent again once its lease ends.
    statuses = [NotificationStatus.PENDING, NotificationStatus.SENDING]
    if getattr(notifier, "polls_receipts", False):
        statuses.append(NotificationStatus.SENT)  # a receipt may still come over the link
    recent = utcnow() - timedelta(hours=1)
    return (
        session.scalar(
            select(Notification.id)
            .where(Notification.channel == notifier.channel, Notification.status.in_(statuses))
            .where(Notification.created_at >= recent)
            .limit(1)
        )
        is not None
    )


def deliver_pending(session: Session, notifier: Notifier, limit: int = BATCH) -> int:
    """Send pending notifications of the notifier's channel whose back-off has passed,
    oldest first, all in the caller's transaction (the background worker sends between two
    transactions of its own instead: ``_deliver_round``); return how many were sent. A failed
    send waits ``retry_delay`` and is tried again, up to MAX_ATTEMPTS, then marked failed.
    The caller commits."""
    claims = claim_due(session, notifier, limit)
    send_claimed(notifier, claims)
    return record_outcomes(session, notifier, claims)


@dataclass
class Claim:
    """One notification claimed for sending, and what became of it."""

    outgoing: OutgoingNotification
    appointment_id: int | None
    attempts: int  # this one included
    last_error: str
    status: NotificationStatus = NotificationStatus.SENDING
    recipient_key: str = ""
    sent_within_hour: int = 0  # to the same number, before this batch
    sent_at: datetime | None = None
    next_attempt_at: datetime | None = None


# A claim's lease: a notification still SENDING this long after its claim was lost with
# its deliverer (a crash between the claim and the outcome) and is claimed again. Longer
# than any batch takes to send, so a live deliverer's claim is never taken from it.
SENDING_LEASE = timedelta(minutes=15)

_OUTBOX = Notification.__table__.c
_DUE = (_OUTBOX.channel == bindparam("for_channel")) & or_(
    (_OUTBOX.status == NotificationStatus.PENDING)
    & or_(_OUTBOX.next_attempt_at.is_(None), _OUTBOX.next_attempt_at <= bindparam("now")),
    (_OUTBOX.status == NotificationStatus.SENDING) & (_OUTBOX.next_attempt_at <= bindparam("now")),
)
# Built once: every commit that queues a notification starts a round. The condition is
# checked again on each row as it is updated, so of two deliverers only one claims a row.
_CLAIM = (
    update(Notification.__table__)
    .where(
        _OUTBOX.id.in_(select(_OUTBOX.id).where(_DUE).order_by(_OUTBOX.id).limit(bindparam("limit")).scalar_subquery()),
        _DUE,
    )
    .values(
        status=NotificationStatus.SENDING,
        attempts=_OUTBOX.attempts + 1,
        next_attempt_at=bindparam("lease_end", type_=_OUTBOX.next_attempt_at.type),
    )
    .returning(
        _OUTBOX.id, _OUTBOX.centre_id, _OUTBOX.token_id, _OUTBOX.kind, _OUTBOX.channel, _OUTBOX.payload,
        _OUTBOX.appointment_id, _OUTBOX.attempts, _OUTBOX.last_error,
    )
)
_OUTCOME = (
    update(Notification.__table__)
    .where(_OUTBOX.id == bindparam("claimed"), _OUTBOX.status == NotificationStatus.SENDING)
    .values(
        status=bindparam("outcome", type_=_OUTBOX.status.type),
        sent_at=bindparam("sent", type_=_OUTBOX.sent_at.type),
        last_error=bindparam("error"),
        next_attempt_at=bindparam("next_attempt", type_=_OUTBOX.next_attempt_at.type),
        recipient_key=bindparam("key"),
    )
)


def claim_due(session: Session, notifier: Notifier, limit: int = BATCH) -> list[Claim]:
    """Claim the due notifications of the notifier's channel (one statement), oldest
    first, each addressed if the notifier reaches a person: one with nobody to send it to
    is skipped here, without a send."""
    now = utcnow()
    rows = session.execute(
        _CLAIM, {"for_channel": notifier.channel, "now": now, "limit": limit, "lease_end": now + SENDING_LEASE}
    ).all()
    claims = [
        Claim(
            OutgoingNotification(row.id, row.centre_id, row.token_id, row.kind, row.channel, dict(row.payload or {})),
            row.appointment_id,
            row.attempts,
            row.last_error,
        )
        for row in sorted(rows, key=lambda row: row.id)  # (RETURNING keeps no order)
    ]
    if getattr(notifier, "needs_recipient", False):
        for claim in claims:
            claim.outgoing = _addressed(session, claim)
            if not claim.outgoing.recipient:
                claim.status = NotificationStatus.SKIPPED
                continue
            claim.recipient_key = recipient_key(claim.outgoing.recipient)
            claim.sent_within_hour = _sent_within_hour(session, claim.recipient_key, now)
    return claims


def send_claimed(notifier: Notifier, claims: list[Claim]) -> None:
    """Send each claim still to be sent, noting its outcome on it; touches no database. A
    number that had its hourly share, counting what this batch sent it, is throttled."""
    limit = int(current_app.config.get("SMS_PER_NUMBER_PER_HOUR", 6))
    sent_now: dict[str, int] = defaultdict(int)
    for claim in claims:
        if claim.status != NotificationStatus.SENDING:
            continue
        if claim.recipient_key and claim.sent_within_hour + sent_now[claim.recipient_key] >= limit:
            claim.status = NotificationStatus.THROTTLED
            continue
        try:
            notifier.send(claim.outgoing)
        except NoRecipient:
            claim.status = NotificationStatus.SKIPPED
            continue
        except Exception as exc:  # an adapter's failure must not lose the notification
            log.warning("notification %s not sent: %s", claim.outgoing.id, exc)
            claim.last_error = str(exc)[:200]
            claim.status = NotificationStatus.FAILED if claim.attempts >= MAX_ATTEMPTS else NotificationStatus.PENDING
            claim.next_attempt_at = utcnow() + retry_delay(claim.attempts)
            continue
        claim.status = NotificationStatus.SENT
        claim.sent_at = utcnow()
        sent_now[claim.recipient_key] += 1


def record_outcomes(session: Session, notifier: Notifier, claims: list[Claim]) -> int:
    """Write what became of the claims (one statement for all), the SMS parts the gateway
    acknowledged, and the receipts that came meanwhile; how many were sent."""
    if claims:
        session.execute(
            _OUTCOME,
            [
                {
                    "claimed": claim.outgoing.id,
                    "outcome": claim.status,
                    "sent": claim.sent_at,
                    "error": claim.last_error,
                    "next_attempt": claim.next_attempt_at,
                    "key": claim.recipient_key,
                }
                for claim in claims
            ],
        )
        _expire_loaded(session, claims)
    for claim in claims:  # (the claims are left as they are: a retried transaction writes them again)
        for part, of_parts, message_id in claim.outgoing.acks:
            session.add(SmsPart(notification_id=claim.outgoing.id, part=part, of_parts=of_parts, message_id=message_id))
    session.flush()
    receipts = getattr(notifier, "receipts", None)
    if receipts is not None:
        record_receipts(session, receipts())
    return sum(claim.status == NotificationStatus.SENT for claim in claims)


def _expire_loaded(session: Session, claims: list[Claim]) -> None:
    """Rows of these notifications the session holds are read again at their next use (the
    outcome was written through the table)."""
    for claim in claims:
        row = session.identity_map.get(session.identity_key(Notification, claim.outgoing.id))  # type: ignore[arg-type]
        if row is not None:
            session.expire(row)


def retry_delay(attempts: int) -> timedelta:
    """Back-off after the ``attempts``-th failed attempt: 30 s, 1, 2, 4 … minutes, at most 15."""
    base = float(current_app.config.get("NOTIFY_RETRY_SECONDS", 30))
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), 900))


def recipient_key(phone: str) -> str:
    """A keyed hash of a number: counts messages per number without keeping the number."""
    secret = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(secret, phone.encode(), hashlib.sha256).hexdigest()


def _addressed(session: Session, claim: Claim) -> OutgoingNotification:
    """The outgoing message with its number and language: the number the citizen gave for
    the token, or for a ready document the request's own number."""
    outgoing = claim.outgoing
    phone, language = "", "ur"
    if claim.appointment_id is not None:
        booking = session.get(Appointment, claim.appointment_id)
        if booking is not None:
            phone, language = booking.phone, booking.language
    elif outgoing.token_id is not None:
        given = session.get(SmsRecipient, outgoing.token_id)
        if given is not None:
            phone, language = given.phone, given.language
        elif outgoing.kind == "request_ready":
            phone = (
                session.scalar(select(ServiceRequest.phone).where(ServiceRequest.token_id == outgoing.token_id)) or ""
            )
    acked = frozenset(session.scalars(select(SmsPart.part).where(SmsPart.notification_id == outgoing.id)))
    return OutgoingNotification(
        outgoing.id, outgoing.centre_id, outgoing.token_id, outgoing.kind, outgoing.channel,
        outgoing.payload, recipient=phone, language=language, acked=acked,
    )


def _sent_within_hour(session: Session, key: str, now: datetime) -> int:
    sent = session.scalar(
        select(func.count(Notification.id)).where(
            Notification.recipient_key == key,
            Notification.status.in_(
                (NotificationStatus.SENT, NotificationStatus.DELIVERED, NotificationStatus.UNDELIVERED)
            ),
            Notification.sent_at >= now - timedelta(hours=1),
        )
    )
    return int(sent or 0)


def record_receipts(session: Session, receipts: list[Any]) -> int:
    """Note each receipt on its part; a message whose parts all arrived is delivered, one
    with a part that failed is undelivered. Returns how many receipts matched a part."""
    matched = 0
    touched: set[int] = set()
    for receipt in receipts:
        part = session.scalar(select(SmsPart).where(SmsPart.message_id == receipt.message_id))
        if part is None:
            continue
        part.receipt, part.receipt_at = receipt.status[:16], utcnow()
        touched.add(part.notification_id)
        matched += 1
    session.flush()
    for notification_id in touched:
        parts = session.scalars(select(SmsPart).where(SmsPart.notification_id == notification_id)).all()
        row = session.get(Notification, notification_id)
        if row is None or row.status != NotificationStatus.SENT:
            continue
        if any(p.receipt and p.receipt != "DELIVRD" for p in parts):
            row.status = NotificationStatus.UNDELIVERED
        elif parts and len(parts) == parts[0].of_parts and all(p.receipt == "DELIVRD" for p in parts):
            row.status = NotificationStatus.DELIVERED
    session.flush()
    return matched


def purge_recipients(session: Session, centre_id: int) -> int:
    """Delete the numbers given for the centre's tokens that have left the hall (end of
    day): a number is kept only while its token can still be called."""
    from queue_server.states import TokenState

    gone = (
        select(Token.id)
        .where(
            Token.centre_id == centre_id,
            Token.state.not_in((TokenState.WAITING, TokenState.CALLED, TokenState.SERVING, TokenState.PARKED)),
        )
        .scalar_subquery()
    )
    result = session.execute(delete(SmsRecipient).where(SmsRecipient.token_id.in_(gone)))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
