"""One unit of work per entry point (issue 11): a transaction ends only in
``queue_server/unit_of_work.py``. Views, socket handlers, commands and background work
commit through ``run_in_transaction``/``unit_of_work``, end their reads with ``reading``
or ``end_reading``, and nest with ``savepoint``."""

from __future__ import annotations

import ast
import gc
import logging
import re
import threading
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from queue_server import operations
from queue_server.actors import Actor
from queue_server.auth import AuditedLoginRefusal, staff_actor
from queue_server.database import WriteInRead
from queue_server.errors import ValidationFailed
from queue_server.extensions import db
from queue_server.models import Centre, Counter, Priority, Staff
from queue_server.publish import Message, add_sink, publish, publish_built, remove_sink
from queue_server.read import queue_state
from queue_server.seed import SeedResult
from queue_server.unit_of_work import end_reading, reading, run_in_transaction, savepoint
from tests.support.factories import make_token, open_counter

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("queue_server", "counters", "kiosk", "display")
ENDS_A_TRANSACTION = {"commit", "rollback", "begin_nested"}


def transaction_ends(path: Path) -> list[int]:
    return [
        node.lineno
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ENDS_A_TRANSACTION
    ]


def test_no_transaction_is_ended_outside_the_unit_of_work() -> None:
    scanned, found = 0, []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = str(path.relative_to(ROOT))
            if name == "queue_server/unit_of_work.py":
                continue
            scanned += 1
            found += [f"{name}:{line}" for line in transaction_ends(path)]
    assert scanned > 50, "the scan found the modules"
    assert found == [], f"commit/rollback by hand (use queue_server.unit_of_work): {found}"


def test_the_scan_sees_a_commit_by_hand(tmp_path: Path) -> None:
    module = tmp_path / "view.py"
    module.write_text("def view(s):\n    s.add(1)\n    s.commit()\n    db.session.rollback()\n")
    assert transaction_ends(module) == [3, 4]


def _name(session: Session, centre_id: int) -> str:
    with reading(session):
        return session.scalars(select(Centre.name_en).where(Centre.id == centre_id)).one()


def test_a_refusal_undoes_the_work_but_a_recorded_one_keeps_it(
    app: Flask, session: Session, centre: Centre
) -> None:
    centre_id = centre.id

    def rename_then_refuse(name: str, refusal: Exception) -> None:
        def work(s: Session) -> None:
            s.get_one(Centre, centre_id).name_en = name
            s.flush()
            raise refusal

        with pytest.raises(type(refusal)):
            run_in_transaction(work)

    before = _name(session, centre_id)
    rename_then_refuse("Undone", ValidationFailed("no"))
    assert _name(session, centre_id) == before

    rename_then_refuse("Kept", AuditedLoginRefusal("Wrong username or password."))
    assert _name(session, centre_id) == "Kept"


def test_a_savepoint_is_undone_alone(app: Flask, session: Session, centre: Centre) -> None:
    centre_id = centre.id

    def refused_row(s: Session) -> None:
        with savepoint(s):
            s.get_one(Centre, centre_id).name_en = "Inner"
            s.flush()
            raise ValidationFailed("this row is refused")

    def work(s: Session) -> None:
        s.get_one(Centre, centre_id).name_en = "Outer"
        with pytest.raises(ValidationFailed):
            refused_row(s)

    run_in_transaction(work)
    assert _name(session, centre_id) == "Outer"


def test_a_transaction_reads_a_centre_once_but_a_counter_each_time_it_is_looked_up(
    session: Session, demo: SeedResult
) -> None:
    """The identity map holds rows only weakly: a centre or service a check let go of is
    kept until the transaction ends, not read again by the next lookup; a counter is read
    again every time (under its lock, its latest state)."""
    centre_id, counter_id = session.execute(
        select(Centre.id, Counter.id).join(Counter, Counter.centre_id == Centre.id).limit(1)
    ).one()
    session.commit()
    session.expunge_all()  # (nothing the fixtures loaded stays in the session)
    tables: list[str] = []

    def read(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        found = re.search(r"\bFROM\s+(\w+)", statement)
        if statement.startswith("SELECT") and found:
            tables.append(found.group(1))

    def look_up_three_times(s: Session) -> None:
        for _ in range(3):
            assert s.get_one(Centre, centre_id).code == "demo"  # let go of at once
            assert s.get_one(Counter, counter_id).centre_id == centre_id
            gc.collect()

    event.listen(db.engine, "before_cursor_execute", read)
    try:
        run_in_transaction(look_up_three_times)
        run_in_transaction(look_up_three_times)
    finally:
        event.remove(db.engine, "before_cursor_execute", read)
    assert tables.count("centres") == 2, tables  # once in each transaction
    assert tables.count("counters") == 6, tables


def another_writer_renames(app: Flask, centre_id: int, name: str = "Written") -> bool:
    """Whether a writer on another thread gets the centre renamed within 30 s."""
    wrote = threading.Event()

    def writer() -> None:
        with app.app_context():
            run_in_transaction(lambda s: setattr(s.get(Centre, centre_id), "name_en", name))
            db.session.remove()
            wrote.set()

    thread = threading.Thread(target=writer)
    thread.start()
    done = wrote.wait(30)
    thread.join()
    return done


def test_a_reading_unit_holds_no_write_lock_and_ends_its_transaction(
    app: Flask, session: Session, centre: Centre
) -> None:
    centre_id = centre.id
    end_reading()  # the fixtures' own transaction
    with reading() as s:
        seen = s.scalars(select(Centre.name_en).where(Centre.id == centre_id)).one()
        assert another_writer_renames(app, centre_id), "a write waited for a reader"
        assert s.in_transaction()
    assert seen != "Written"
    assert not db.session().in_transaction()
    assert _name(session, centre_id) == "Written"


def _probe_routes(app: Flask, centre_id: int) -> None:
    def writes_by_hand() -> str:
        db.session.get(Centre, centre_id).name_en = "Changed by a GET"
        db.session.flush()
        return "wrote"

    def writes_in_a_unit() -> str:
        run_in_transaction(lambda s: setattr(s.get(Centre, centre_id), "name_en", "Recorded"))
        return db.session.get(Centre, centre_id).name_en  # (read again, in a new read)

    app.add_url_rule("/probe/by-hand", view_func=writes_by_hand)
    app.add_url_rule("/probe/unit", view_func=writes_in_a_unit)


def test_a_get_request_reads_only_and_a_write_in_it_is_refused(
    app: Flask, session: Session, centre: Centre, caplog: pytest.LogCaptureFixture
) -> None:
    centre_id = centre.id
    _probe_routes(app, centre_id)
    end_reading()
    client = app.test_client()
    with caplog.at_level(logging.ERROR):
        refused = client.get("/probe/by-hand")
    assert refused.status_code == 500
    assert any(isinstance(r.exc_info and r.exc_info[1], WriteInRead) for r in caplog.records)
    assert _name(session, centre_id) != "Changed by a GET"
    # What a GET must record goes through a unit of work of its own, which ends the read.
    answer = client.get("/probe/unit")
    assert answer.status_code == 200 and answer.text == "Recorded"
    assert _name(session, centre_id) == "Recorded"


def test_a_get_request_holds_no_write_lock(app: Flask, session: Session, centre: Centre) -> None:
    centre_id = centre.id
    end_reading()

    def looks() -> str:
        seen = db.session.get(Centre, centre_id).name_en  # its transaction is open now
        return f"{seen}|{another_writer_renames(app, centre_id)}"

    app.add_url_rule("/probe/looks", view_func=looks)
    seen, ok = app.test_client().get("/probe/looks").text.split("|")
    assert ok == "True", "a write waited for a GET"
    assert seen != "Written" and _name(session, centre_id) == "Written"


def test_read_models_are_built_after_the_commit(
    app: Flask, session: Session, centre: Centre, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The queue summary a call announces is built once the call's transaction has ended:
    while it is built, another writer can take the counter's row (PostgreSQL) or the
    database's write lock (SQLite), and it shows the call as committed."""
    counter = open_counter(session, centre, 1)
    make_token(session, centre, "character")
    counter_id, clerk = counter.id, actor_of_clerk(session)
    end_reading()
    built: list[bool] = []

    def other_writer_goes_through() -> bool:
        done = threading.Event()

        def write() -> None:
            with app.app_context():
                run_in_transaction(lambda s: setattr(s.get(Counter, counter_id), "priority_streak", 0))
                db.session.remove()
                done.set()

        threading.Thread(target=write, daemon=True).start()
        return done.wait(5)

    summary = queue_state.queue_summary

    def watched(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        built.append(other_writer_goes_through())
        return summary(*args, **kwargs)

    monkeypatch.setattr(queue_state, "queue_summary", watched)
    waiting: list[int] = []

    def sink(message: Message) -> None:
        if message.event == "queue_changed":
            waiting.append(sum(s["waiting"] for s in message.payload["services"]))

    add_sink(sink)
    try:
        called = run_in_transaction(lambda s: operations.call_next(s, counter_id, clerk))
    finally:
        remove_sink(sink)
    assert called is not None
    assert built == [True], "built after the commit, with the lock free"
    assert waiting == [0]


def actor_of_clerk(session: Session) -> Actor:
    return staff_actor(session.scalars(select(Staff).filter_by(username="clerk1")).one())


def test_every_message_of_a_day_carries_its_centre(session: Session, centre: Centre) -> None:
    """Issue, call, start, complete, a priority token and a cancel: every message names the
    centre, and the waiting tokens' places go out as ``position`` events to their own rooms."""
    sent: list[Message] = []
    add_sink(sent.append)
    try:
        counter = open_counter(session, centre, 1)
        clerk = actor_of_clerk(session)
        tokens = [make_token(session, centre, "character") for _ in range(3)]
        make_token(session, centre, "character", priority=Priority.SENIOR, reason="elderly")
        called = run_in_transaction(lambda s: operations.call_next(s, counter.id, clerk))
        run_in_transaction(lambda s: operations.start(s, called.id, clerk))
        run_in_transaction(lambda s: operations.complete(s, called.id, clerk))
        run_in_transaction(lambda s: operations.cancel(s, tokens[2].id, clerk, "left"))
    finally:
        remove_sink(sent.append)
    assert len(sent) > 10 and {m.centre_id for m in sent} == {centre.id}
    positions = [m for m in sent if m.event == "position"]
    assert positions and all(len(m.rooms) == 1 and m.rooms[0].startswith("token:") for m in positions)
    assert not any(m.event == "token_changed" and "ahead" in m.payload and "view" not in m.payload for m in sent)


def test_a_builder_that_fails_or_writes_stops_nothing_else(
    app: Flask, session: Session, centre: Centre, caplog: pytest.LogCaptureFixture
) -> None:
    """A read model that cannot be built (or that tries to write, which the read refuses)
    is logged; the messages queued around it still go out, and the commit stands."""
    centre_id = centre.id
    end_reading()
    sent: list[str] = []

    def sink(message: Message) -> None:
        sent.append(message.event)

    def writes(reader: Session) -> list[Message]:
        reader.get(Centre, centre_id).name_en = "Written by a read"
        reader.flush()
        return [Message("never", ("r",), centre_id=centre_id)]

    def work(s: Session) -> None:
        s.get(Centre, centre_id).name_en = "Committed"
        publish(s, Message("before", ("r",), centre_id=centre_id))
        publish_built(s, lambda _reader: [Message("broken", ("r",), {"x": 1 / 0})])
        publish_built(s, writes)
        publish(s, Message("after", ("r",), centre_id=centre_id))
        publish_built(s, lambda reader: [Message("built", ("r",), {"name": reader.get(Centre, centre_id).name_en})])

    add_sink(sink)
    try:
        with caplog.at_level(logging.ERROR):
            run_in_transaction(work)
    finally:
        remove_sink(sink)
    assert sent == ["before", "after", "built"]
    assert any(isinstance(r.exc_info and r.exc_info[1], WriteInRead) for r in caplog.records)
    assert _name(session, centre_id) == "Committed"
