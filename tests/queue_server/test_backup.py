"""``khidmat backup`` and ``khidmat restore``: a busy day backed up while it is written,
restored into another database, and verified there (chain and signed checkpoints), on
SQLite and on PostgreSQL (a second database beside the test database)."""

from __future__ import annotations

import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from queue_server import operations as ops
from queue_server.actors import SYSTEM, Actor
from queue_server.app import create_app
from queue_server.checkpoints import make_checkpoint
from queue_server.extensions import db
from queue_server.models import Centre, Counter, Event, Token
from queue_server.unit_of_work import run_in_transaction
from tests.conftest import PG_URL


@pytest.fixture
def busy_day(
    session: Session, centre: Centre, actor_of: Callable[[str], Actor], counter_no: Callable[[int], Counter]
) -> None:
    """Four counters, sixty tokens over three services, calls, no-shows, a checkpoint."""
    clerks = [actor_of(f"clerk{n}") for n in range(1, 5)]
    for n, clerk in enumerate(clerks, start=1):
        ops.open_counter(session, counter_no(n).id, clerk)
    services = [s.code for s in centre.services if s.is_active][:3]
    for i in range(60):
        ops.issue_token(session, centre, services[i % 3], SYSTEM)
    session.commit()
    for round_ in range(8):
        for n, clerk in enumerate(clerks, start=1):
            token = ops.call_next(session, counter_no(n).id, clerk)
            if token is None:
                continue
            if (round_ + n) % 5 == 0:
                ops.no_show(session, token.id, clerk)
            else:
                ops.start(session, token.id, clerk)
                ops.complete(session, token.id, clerk)
            session.commit()
        if round_ == 3:
            make_checkpoint(session, centre, SYSTEM, "interval")
            session.commit()


@pytest.fixture
def restore_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty database to restore into: a new SQLite file, or <test database>_restore."""
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'restored.sqlite3'}"
        return
    name = f"{make_url(PG_URL).database}_restore"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def figures(session: Session) -> dict[str, Any]:
    return {
        "events": session.scalar(select(func.count()).select_from(Event)),
        "tokens": sorted((t.number, t.state.value) for t in session.scalars(select(Token))),
        "last_hash": session.scalar(select(Event.hash).order_by(Event.centre_id, Event.seq.desc()).limit(1)),
    }


def test_a_busy_day_is_backed_up_while_written_restored_and_verified(
    app: Flask,
    session: Session,
    centre: Centre,
    busy_day: None,
    actor_of: Callable[[str], Actor],
    app_config: dict[str, Any],
    restore_url: str,
    tmp_path: Path,
) -> None:
    # a writer keeps issuing tokens while the backup runs: the copy is one consistent moment
    centre_id = centre.id
    session.rollback()  # on SQLite every transaction holds the write lock: hold none
    stop = threading.Event()
    issued: list[str] = []

    def writer() -> None:
        with app.app_context():
            while not stop.is_set():
                number = run_in_transaction(
                    lambda s: ops.issue_token(s, s.get(Centre, centre_id), "character", SYSTEM).token.number
                )
                issued.append(number)
                stop.wait(0.01)
            db.session.remove()

    thread = threading.Thread(target=writer)
    thread.start()
    while len(issued) < 2 and thread.is_alive():
        stop.wait(0.01)
    try:
        out = tmp_path / "backups" / "day.bak"
        result = app.test_cli_runner().invoke(args=["backup", "-o", str(out)])
        before = len(issued)
        deadline = time.monotonic() + 30
        while len(issued) == before and thread.is_alive() and time.monotonic() < deadline:
            stop.wait(0.01)  # the writer goes on after the copy: the copy is not the end of the day
    finally:
        stop.set()
        thread.join(30)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert len(issued) > before >= 2

    ops.end_of_day(session, centre, actor_of("manager"))  # the day goes on after that backup, and ends
    session.commit()
    evening = tmp_path / "backups" / "evening.bak"
    assert app.test_cli_runner().invoke(args=["backup", "-o", str(evening)]).exit_code == 0
    original = figures(session)

    restored = create_app({**app_config, "DATABASE_URL": restore_url})
    with restored.app_context():  # the CLI runs in the current app context: make it this one
        result = restored.test_cli_runner().invoke(args=["restore", str(evening), "--yes"])
    assert result.exit_code == 0, result.output
    assert "demo: ok" in result.output and "2 signed checkpoints agree" in result.output
    with restored.app_context():
        assert figures(db.session) == original
        db.session.remove()

    # The midday backup is a consistent moment too (its chain is whole), but the checkpoint
    # log outside the database knows the day went on: the restore says what was lost.
    with restored.app_context():
        result = restored.test_cli_runner().invoke(args=["restore", str(out), "--yes"])
    assert result.exit_code == 1 and "restored" in result.output
    assert "records missing at the end" in result.output and "checkpoint log" in result.output
    with restored.app_context():
        copy = figures(db.session)
        chain = list(db.session.scalars(select(Event).order_by(Event.seq)))
        db.session.remove()
        db.engine.dispose()
    everything = {e.seq: e.hash for e in session.scalars(select(Event).where(Event.centre_id == centre.id))}
    assert chain and all(everything[e.seq] == e.hash for e in chain) and len(chain) < len(everything)
    assert len({n for n, _ in copy["tokens"]}) == len(copy["tokens"])  # no number twice


def test_restore_refuses_what_is_not_a_backup(
    app: Flask, tmp_path: Path, session: Session, centre: Centre
) -> None:
    junk = tmp_path / "junk.bak"
    junk.write_bytes(b"not a database at all" * 100)
    before = session.scalar(select(func.count()).select_from(Centre))
    result = app.test_cli_runner().invoke(args=["restore", str(junk), "--yes"])
    assert result.exit_code != 0 and "failed" in result.output or "not an SQLite database" in result.output
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Centre)) == before == 1


def test_backup_refuses_to_overwrite(app: Flask, tmp_path: Path, centre: Centre) -> None:
    out = tmp_path / "exists.bak"
    out.write_text("keep me")
    result = app.test_cli_runner().invoke(args=["backup", "-o", str(out)])
    assert result.exit_code != 0 and "exists already" in result.output and out.read_text() == "keep me"


def test_backup_default_goes_to_the_instance_folder(app: Flask, centre: Centre) -> None:
    result = app.test_cli_runner().invoke(args=["backup"])
    assert result.exit_code == 0, result.output
    made = list((Path(app.instance_path) / "backups").iterdir())
    assert len(made) == 1 and made[0].name.startswith("khidmat-") and str(made[0]) in result.output
