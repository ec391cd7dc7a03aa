"""The hash-chained event log: append-only in the database, tampering detected."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, scoped_session

from queue_server import audit
from queue_server import operations as ops
from queue_server.actors import SYSTEM, Actor
from queue_server.audit import append_event, verify_chain
from queue_server.models import Centre, Counter, Event
from queue_server.unit_of_work import savepoint


@pytest.fixture
def history(
    session: Session, centre: Centre, actor_of: Callable[[str], Actor], counter_no: Callable[[int], Counter]
) -> None:
    clerk = actor_of("clerk1")
    ops.open_counter(session, counter_no(1).id, clerk)
    for _ in range(5):
        ops.issue_token(session, centre, "character", SYSTEM)
    session.commit()
    for _ in range(3):
        token = ops.call_next(session, counter_no(1).id, clerk)
        assert token is not None
        ops.start(session, token.id, clerk)
        ops.complete(session, token.id, clerk)
        session.commit()


@pytest.fixture(autouse=True)
def _guard_restored(session: Session) -> Iterator[None]:
    """On PostgreSQL the database outlives the test: put back a guard a test took off."""
    yield
    session.rollback()
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("ALTER TABLE events ENABLE TRIGGER events_no_update"))
        session.commit()


def disable_guard(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("ALTER TABLE events DISABLE TRIGGER events_no_update"))
    else:
        session.execute(text("DROP TRIGGER events_no_update"))
        session.execute(text("DROP TRIGGER events_no_delete"))
    session.commit()


def test_an_intact_chain_verifies(session: Session, centre: Centre, history: None) -> None:
    report = verify_chain(session, centre.id)
    total = session.scalar(select(func.count()).select_from(Event).where(Event.centre_id == centre.id))
    assert report.ok and report.checked == total >= 1 + 5 + 3 * 3


def test_events_of_one_transaction_read_the_head_once_and_an_undone_savepoint_is_noticed(
    session: Session, centre: Centre, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second event of one transaction takes its place in the chain from the first's, not
    from the head row read again; an event in a savepoint that was undone is not taken
    for the last one (the next reads the head afresh). A new transaction moves the head
    this process committed last without reading it; when the head moved meanwhile (another
    process), that move matches nothing and the head is read, and the next transactions of
    the centre read it first for a while (``GUESS_REST``) before they guess again."""
    advances: list[str] = []
    moves: list[int] = []

    def seen(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        if statement.startswith("UPDATE event_chain_heads") and "RETURNING" in statement:
            advances.append(statement)

    def moved(_conn: object, _cursor: object, statement: str, _params: object, _context: object, _many: object) -> None:
        if statement.startswith("UPDATE event_chain_heads") and "last_hash =" in statement:
            moves.append(_cursor.rowcount)  # type: ignore[attr-defined]

    monkeypatch.setattr(audit, "GUESS_REST", 1)
    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", seen)
    event.listen(engine, "after_cursor_execute", moved)
    try:
        append_event(session, centre.id, "note_a", SYSTEM)
        append_event(session, centre.id, "note_b", SYSTEM)
        assert len(advances) == 1
        with contextlib.suppress(LookupError), savepoint(session):
            append_event(session, centre.id, "note_undone", SYSTEM)
            raise LookupError
        append_event(session, centre.id, "note_c", SYSTEM)
        session.commit()
        assert (len(advances), moves) == (3, [])  # the first, the savepoint's, after it
        append_event(session, centre.id, "note_d", SYSTEM)  # a new transaction: no read
        session.commit()
        assert (len(advances), moves) == (3, [1])
        as_committed = dict(audit._committed_heads[engine.engine].heads)
        append_event(session, centre.id, "note_e", SYSTEM)
        session.commit()
        audit._committed_heads[engine.engine].heads.update(as_committed)  # as if note_e came from elsewhere
        append_event(session, centre.id, "note_f", SYSTEM)
        session.commit()
        assert (len(advances), moves) == (4, [1, 1, 0]), "note_f's move found the head moved: it was read"
        for kind in ("note_g", "note_h"):  # (resting after the miss: one transaction here)
            append_event(session, centre.id, kind, SYSTEM)
            session.commit()
    finally:
        event.remove(engine, "before_cursor_execute", seen)
        event.remove(engine, "after_cursor_execute", moved)
    assert (len(advances), moves) == (5, [1, 1, 0, 1]), "note_g read the head, note_h moved it again"
    kinds = session.scalars(select(Event.kind).where(Event.centre_id == centre.id).order_by(Event.seq)).all()
    assert kinds[-8:] == ["note_a", "note_b", "note_c", "note_d", "note_e", "note_f", "note_g", "note_h"]
    report = verify_chain(session, centre.id)
    assert report.ok and report.checked == len(kinds)


def test_an_event_that_begins_its_transaction_is_the_head_the_next_one_moves(
    session: Session, centre: Centre
) -> None:
    """An append can be the first statement of its transaction (no transaction had begun
    when it was called): its head is kept at the commit all the same."""
    centre_id = centre.id
    session.commit()
    moves: list[int] = []

    def moved(_conn: object, _cursor: object, statement: str, _params: object, _context: object, _many: object) -> None:
        if statement.startswith("UPDATE event_chain_heads") and "last_hash =" in statement:
            moves.append(_cursor.rowcount)  # type: ignore[attr-defined]

    own = session() if isinstance(session, scoped_session) else session  # (the app's is scoped)
    engine = session.get_bind()
    event.listen(engine, "after_cursor_execute", moved)
    try:
        for kind in ("note_first", "note_next"):
            assert own.get_transaction() is None
            append_event(session, centre_id, kind, SYSTEM)
            session.commit()
    finally:
        event.remove(engine, "after_cursor_execute", moved)
    assert moves[-1:] == [1], "note_next moved the head note_first committed"
    assert verify_chain(session, centre_id).ok


def test_a_centre_whose_guesses_keep_missing_is_guessed_ever_more_rarely() -> None:
    """Several processes serving one centre: each miss doubles the rest, a hit ends that."""
    heads = audit._CommittedHeads()
    heads.heads[1] = (41, "h")

    def rested() -> int:
        count = 0
        while heads.guess(1) is None:
            count += 1
        return count

    assert rested() == 0
    rests = []
    for _ in range(3):
        heads.missed(1)
        rests.append(rested())
    assert rests == [audit.GUESS_REST, 2 * audit.GUESS_REST + 1, 4 * audit.GUESS_REST + 3]
    heads.hit(1)
    heads.missed(1)
    assert rested() == audit.GUESS_REST, "a hit: back to the first rest"
    for _ in range(12):
        heads.missed(1)
    assert rested() == audit.GUESS_REST_MOST


def test_the_database_refuses_edits_and_deletions(session: Session, history: None) -> None:
    with pytest.raises(DBAPIError, match="append-only"):
        session.execute(text("UPDATE events SET kind = 'x' WHERE seq = 3"))
    session.rollback()
    with pytest.raises(DBAPIError, match="append-only"):
        session.execute(text("DELETE FROM events WHERE seq = 3"))
    session.rollback()


def test_an_edited_record_is_named(session: Session, centre: Centre, history: None) -> None:
    disable_guard(session)
    session.execute(
        text("UPDATE events SET actor = 'staff:999' WHERE seq = 7 AND centre_id = :c"), {"c": centre.id}
    )
    session.commit()
    report = verify_chain(session, centre.id)
    assert not report.ok and report.broken_seq == 7 and report.reason == "content altered"


def test_a_deleted_record_is_found(session: Session, centre: Centre, history: None) -> None:
    disable_guard(session)
    session.execute(text("DELETE FROM events WHERE seq = 4 AND centre_id = :c"), {"c": centre.id})
    session.commit()
    report = verify_chain(session, centre.id)
    assert not report.ok and report.broken_seq == 4 and report.reason == "missing record"


def test_a_removed_tail_is_found(session: Session, centre: Centre, history: None) -> None:
    disable_guard(session)
    session.execute(text("DELETE FROM events WHERE seq >= 14 AND centre_id = :c"), {"c": centre.id})
    session.commit()
    report = verify_chain(session, centre.id)
    assert not report.ok and report.reason == "records missing at the end"


def test_cli_audit_verify_names_the_first_broken_record(
    app: Flask, session: Session, centre: Centre, history: None
) -> None:
    runner: CliRunner = app.test_cli_runner()
    ok = runner.invoke(args=["audit", "verify"])
    total = session.scalar(select(func.count()).select_from(Event))
    assert ok.exit_code == 0 and f"demo: ok ({total} events" in ok.output
    disable_guard(session)
    session.execute(text("UPDATE events SET data = '{}' WHERE seq = 9 AND centre_id = :c"), {"c": centre.id})
    session.commit()
    session.close()
    broken = runner.invoke(args=["audit", "verify", "--centre", "demo"])
    assert broken.exit_code == 1
    assert "BROKEN" in broken.output and "seq 9: content altered" in broken.output
