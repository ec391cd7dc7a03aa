"""The notification outbox and the port its messages leave through.

An operation that has something to tell a citizen ("almost your turn") calls ``enqueue``
inside its transaction: a ``Notification`` row is written with the change that caused it,
so a rolled-back change never notifies and a committed one is never forgotten. After the
commit, ``deliver_pending`` hands the pending rows to the configured ``Notifier``
(``KHIDMAT_NOTIFIER``, default ``log``); an SMS gateway plugs in later as another adapter.
Each row is claimed with a conditional UPDATE first, so two deliverers never send it twice.

Delivery starts by itself after each commit that queued something (a background task),
except in testing, where the tests call ``deliver_pending`` themselves and read what the
``LogNotifier`` recorded.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from flask import Flask, current_app
from sqlalchemy import event, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from queue_server.clock import utcnow
from queue_server.models import Notification, NotificationStatus
from queue_server.publish import after_commit

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


NOTIFIERS: dict[str, Callable[[], Notifier]] = {"log": LogNotifier}
_EXTENSION_KEY = "khidmat_notifier"


def notifier_for(app: Flask) -> Notifier:
    """The app's notifier, built once from ``NOTIFIER`` (``KHIDMAT_NOTIFIER``)."""
    notifier = app.extensions.get(_EXTENSION_KEY)
    if notifier is None:
        name = str(app.config.get("NOTIFIER") or "log")
        factory = NOTIFIERS.get(name)
        if factory is None:
            raise RuntimeError(f"unknown KHIDMAT_NOTIFIER {name!r}; known: {', '.join(sorted(NOTIFIERS))}")
        notifier = app.extensions[_EXTENSION_KEY] = factory()
    return notifier  # type: ignore[no-any-return]


def enqueue(
    session: Session,
    *,
    centre_id: int,
    token_id: int | None,
    kind: str,
    payload: dict[str, Any],
) -> int | None:
    """Queue one notification in the caller's transaction; delivery starts after commit.
    One of each kind per token: a second is quietly not queued (even when two transactions
    race for it: ON CONFLICT DO NOTHING, never an error that would undo the caller's
    change). Returns the new row's id, or None when it was queued already."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect]
    statement = (
        insert(Notification)
        .values(
            centre_id=centre_id,
            token_id=token_id,
            kind=kind,
            channel=notifier_for(app).channel,
            payload=payload,
            status=NotificationStatus.PENDING,
            attempts=0,
            last_error="",
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["token_id", "kind"])  # type: ignore[attr-defined]
        .returning(Notification.id)
    )
    new_id = session.execute(statement).scalar_one_or_none()
    if new_id is not None and not session.info.get(_KICK_FLAG):
        session.info[_KICK_FLAG] = True

        def kick() -> None:
            session.info.pop(_KICK_FLAG, None)
            start_delivery(app)

        after_commit(session, kick)
    return new_id  # type: ignore[no-any-return]


@event.listens_for(Session, "after_rollback")
def _forget_kick(session: Session) -> None:
    session.info.pop(_KICK_FLAG, None)  # its after-commit kick was dropped with the rest


def start_delivery(app: Flask) -> None:
    """Deliver what is pending in a background task (not in testing: tests deliver)."""
    if app.testing:
        return
    from queue_server.extensions import socketio

    socketio.start_background_task(_deliver_in_background, app)


def _deliver_in_background(app: Flask) -> None:
    from queue_server.extensions import db
    from queue_server.unit_of_work import run_in_transaction

    with app.app_context():
        try:
            run_in_transaction(lambda s: deliver_pending(s, notifier_for(app)))
        except Exception:  # the rows stay pending; the next commit retries them
            log.exception("notification delivery failed")
        finally:
            db.session.remove()


def deliver_pending(session: Session, notifier: Notifier, limit: int = BATCH) -> int:
    """Send pending notifications of the notifier's channel, oldest first; return how many
    left. A failed send is retried on a later run, up to MAX_ATTEMPTS, then marked failed.
    The caller commits."""
    ids = session.scalars(
        select(Notification.id)
        .where(Notification.status == NotificationStatus.PENDING, Notification.channel == notifier.channel)
        .order_by(Notification.id)
        .limit(limit)
    ).all()
    delivered = 0
    for notification_id in ids:
        claimed = session.execute(
            update(Notification)
            .where(Notification.id == notification_id, Notification.status == NotificationStatus.PENDING)
            .values(status=NotificationStatus.SENDING, attempts=Notification.attempts + 1)
            .returning(Notification.attempts)
            .execution_options(synchronize_session=False)
        ).scalar_one_or_none()
        if claimed is None:
            continue  # another deliverer has it
        row = session.get(Notification, notification_id, populate_existing=True)
        assert row is not None
        outgoing = OutgoingNotification(
            row.id, row.centre_id, row.token_id, row.kind, row.channel, dict(row.payload or {})
        )
        try:
            notifier.send(outgoing)
        except Exception as exc:  # an adapter's failure must not lose the notification
            log.warning("notification %s not sent: %s", row.id, exc)
            row.last_error = str(exc)[:200]
            row.status = NotificationStatus.FAILED if claimed >= MAX_ATTEMPTS else NotificationStatus.PENDING
            continue
        row.status = NotificationStatus.SENT
        row.sent_at = utcnow()
        delivered += 1
    session.flush()
    return delivered
