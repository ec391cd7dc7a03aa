"""Presence: a socket join only reads; the device's sighting is kept in memory and the
presence worker writes it, at most once per SEEN_EVERY per device (issue 11)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from queue_server.clock import utcnow
from queue_server.extensions import db
from queue_server.models import Device, DeviceKind
from tests.support.factories import socketio_client


@contextmanager
def statements() -> Iterator[list[str]]:
    """The SQL statements the app's engine runs inside the block."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", note)


def writes(seen: list[str]) -> list[str]:
    return [s for s in seen if s.lstrip().split(None, 1)[0].upper() in {"INSERT", "UPDATE", "DELETE"}]


def display_seen(session: Session) -> Any:
    seen = session.scalar(select(Device.last_seen_at).where(Device.kind == DeviceKind.DISPLAY))
    session.rollback()
    return seen


def test_a_join_writes_nothing(app: Flask, keys: dict[str, str], session: Session) -> None:
    assert display_seen(session) is None
    display = socketio_client(app, keys["display"])  # (connecting may audit the key's address)
    try:
        with statements() as seen:
            assert display.emit("join", {"screen": "display", "centre": "demo"}, callback=True)["ok"]
            assert display.emit("join", {"screen": "display", "centre": "demo"}, callback=True)["ok"]
        assert any(s.lstrip().upper().startswith("SELECT") for s in seen), "the listener hears the join"
        assert writes(seen) == []
    finally:
        display.disconnect()
    assert display_seen(session) is None, "nothing is written by the join itself"


def test_the_presence_worker_writes_what_the_joins_noted(
    app: Flask, keys: dict[str, str], session: Session
) -> None:
    from queue_server.realtime.presence import presence

    display = socketio_client(app, keys["display"])
    try:
        assert display.emit("join", {"screen": "display", "centre": "demo"}, callback=True)["ok"]
    finally:
        display.disconnect()
    worker = presence(app)
    assert not worker.is_running, "never started by itself in testing"
    assert len(worker.pending()) == 1
    with statements() as seen:
        assert worker.run_once() == 1
    assert len(writes(seen)) == 1, "one statement for the batch"
    assert display_seen(session) is not None
    assert worker.pending() == {}
    assert worker.run_once() == 0, "nothing new: nothing written"


def test_the_flush_honours_seen_every(app: Flask, session: Session, keys: dict[str, str]) -> None:
    from queue_server.operations.devices import SEEN_EVERY
    from queue_server.realtime.presence import presence

    device_id = session.scalar(select(Device.id).where(Device.kind == DeviceKind.DISPLAY))
    assert device_id is not None
    now = utcnow().replace(microsecond=0)
    recent = now - SEEN_EVERY / 2
    session.execute(update(Device).where(Device.id == device_id).values(last_seen_at=recent))
    session.commit()
    worker = presence(app)
    worker.note(device_id, now)
    assert worker.run_once() == 0, "recorded less than SEEN_EVERY ago: left alone"
    assert display_seen(session) == recent
    worker.note(device_id, now + SEEN_EVERY)
    assert worker.run_once() == 1
    assert display_seen(session) == now + SEEN_EVERY


def test_a_failed_flush_keeps_the_sightings(
    app: Flask, monkeypatch: pytest.MonkeyPatch, session: Session, keys: dict[str, str]
) -> None:
    import queue_server.realtime.presence as module

    device_id = session.scalar(select(Device.id).where(Device.kind == DeviceKind.DISPLAY))
    session.rollback()  # (a transaction of the test's session holds SQLite's write lock)
    assert device_id is not None
    worker = module.presence(app)
    seen_at = utcnow()

    def gone(*_args: Any) -> int:
        raise RuntimeError("database gone")

    monkeypatch.setattr(module, "note_seen_many", gone)
    worker.note(device_id, seen_at)
    with pytest.raises(RuntimeError):
        worker.run_once()
    assert worker.pending() == {device_id: seen_at}
    monkeypatch.undo()
    assert worker.run_once() == 1
    assert display_seen(session) is not None and abs(display_seen(session) - seen_at) < timedelta(seconds=1)
