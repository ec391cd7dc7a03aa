"""Side effects released only after the transaction commits.

Operations call ``publish`` (and ``after_commit``) during their transaction; the callbacks
wait in ``session.info`` and run once the outermost commit succeeds. A rollback drops them,
so no screen ever shows a change that did not happen.

A read model (a queue summary, a tracking page's view) is not built inside the write
transaction: ``publish_built`` queues a builder that runs after the commit, in a read-only
session of its own (one per commit, however many builders), so the writer's lock is held
only for the change itself. Builders and plain messages go out in the order they were queued.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

_PENDING = "khidmat_after_commit"


@dataclass(frozen=True)
class Message:
    """One realtime event for some rooms; ``payload`` is plain JSON-able data, and
    ``centre_id`` the centre the change happened in (the dashboard worker marks it stale;
    None for what belongs to no centre)."""

    event: str
    rooms: tuple[str, ...]
    payload: dict[str, Any] = field(default_factory=dict)
    centre_id: int | None = None


_sinks: list[Callable[[Message], None]] = []


def add_sink(sink: Callable[[Message], None]) -> None:
    if sink not in _sinks:
        _sinks.append(sink)


def remove_sink(sink: Callable[[Message], None]) -> None:
    if sink in _sinks:
        _sinks.remove(sink)


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    session.info.setdefault(_PENDING, []).append(callback)


def publish(session: Session, message: Message) -> None:
    after_commit(session, lambda: _deliver(message))


Builder = Callable[[Session], Iterable[Message]]


def publish_built(session: Session, build: Builder) -> None:
    """Publish the messages ``build(reader)`` returns, built after the commit from what was
    committed, with ``reader`` a read-only session (it must not write)."""
    session.info.setdefault(_PENDING, []).append(_Built(build))


@dataclass(frozen=True)
class _Built:
    build: Builder


def _deliver(message: Message) -> None:
    for sink in list(_sinks):
        sink(message)


@event.listens_for(Session, "after_commit")
def _run_pending(session: Session) -> None:
    from queue_server.database import read_only
    from queue_server.unit_of_work import reading_beside

    pending = session.info.pop(_PENDING, [])
    with contextlib.ExitStack() as reader_scope:
        reader: Session | None = None  # opened for the first builder, closed at the end
        for callback in pending:
            try:
                if isinstance(callback, _Built):
                    if reader is None:
                        reader = reader_scope.enter_context(reading_beside(session))
                    try:
                        with read_only():  # a builder that wrote would be refused
                            messages = list(callback.build(reader))
                    except Exception:
                        reader_scope.close()  # the next builder reads afresh
                        reader = None
                        raise
                    for message in messages:
                        _deliver(message)
                else:
                    callback()
            except Exception:  # a dead screen (or a database gone since) must not undo a committed token
                log.exception("after-commit side effect failed")


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)
