"""Side effects released only after the transaction commits.

Operations call ``publish`` (and ``after_commit``) during their transaction; the callbacks
wait in ``session.info`` and run once the outermost commit succeeds. A rollback drops them,
so no screen ever shows a change that did not happen.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

_PENDING = "khidmat_after_commit"


@dataclass(frozen=True)
class Message:
    """One realtime event for some rooms; ``payload`` is plain JSON-able data."""

    event: str
    rooms: tuple[str, ...]
    payload: dict[str, Any] = field(default_factory=dict)


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
    def deliver() -> None:
        for sink in list(_sinks):
            sink(message)

    after_commit(session, deliver)


@event.listens_for(Session, "after_commit")
def _run_pending(session: Session) -> None:
    pending = session.info.pop(_PENDING, [])
    for callback in pending:
        try:
            callback()
        except Exception:  # a dead screen must not undo a committed token
            log.exception("after-commit side effect failed")


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)
