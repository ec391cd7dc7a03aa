"""Atomic call-next: many counters calling at once never get the same token and never
leave a waiting one, in threads (on the database the suite runs on: SQLite, and
PostgreSQL in CI's second run) and in two OS processes (PostgreSQL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter as Tally
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from queue_server.audit import verify_chain
from queue_server.models import Centre, Event, Token, TokenState
from tests.conftest import PG_URL
from tests.support.race import build_race_centre, drain, issue_many

TOKENS = int(os.environ.get("KHIDMAT_RACE_TOKENS", "2000"))


def prepare(session: Session, tokens: int) -> Centre:
    build_race_centre(session)
    session.commit()
    issue_many(session, "race", tokens)
    session.commit()
    centre = session.scalar(select(Centre).where(Centre.code == "race"))
    # End this thread's transaction: on SQLite every transaction holds the write lock.
    session.commit()
    return centre  # type: ignore[return-value]


def check_each_called_once(session: Session, centre_id: int, called: list[int], tokens: int) -> None:
    duplicates = [tid for tid, n in Tally(called).items() if n > 1]
    assert duplicates == [], f"{len(duplicates)} tokens called twice"
    assert len(called) == tokens
    session.expire_all()
    states = Tally(session.scalars(select(Token.state).where(Token.centre_id == centre_id)))
    assert states == {TokenState.DONE: tokens}, f"left behind: {states}"
    call_events = Tally(
        session.scalars(
            select(Event.token_id).where(Event.centre_id == centre_id, Event.kind == "token_called")
        )
    )
    assert len(call_events) == tokens and max(call_events.values()) == 1
    assert verify_chain(session, centre_id).ok


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_eight_threads_drain_2000_tokens_each_exactly_once(app: Flask, session: Session) -> None:
    centre = prepare(session, TOKENS)
    called = drain(app, "race", list(range(1, 9)))
    session.commit()
    check_each_called_once(session, centre.id, called, TOKENS)
    per_service = Tally(session.scalars(select(Token.service_id).where(Token.centre_id == centre.id)))
    assert len(per_service) == 3


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_two_processes_drain_without_a_double_call(app: Flask, session: Session, tmp_path: Path) -> None:
    if not PG_URL:
        pytest.skip("needs PostgreSQL: set KHIDMAT_TEST_DATABASE_URL")
    centre_id = prepare(session, TOKENS).id
    session.close()
    cmd = [sys.executable, "-m", "tests.support.race", PG_URL, "race"]
    procs = [
        subprocess.Popen(
            [*cmd, "1", "4", "4", str(tmp_path / "a")], stdout=subprocess.PIPE, cwd=Path(__file__).parents[2]
        ),
        subprocess.Popen(
            [*cmd, "5", "4", "4", str(tmp_path / "b")], stdout=subprocess.PIPE, cwd=Path(__file__).parents[2]
        ),
    ]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    first, second = (json.loads(out.decode().strip().splitlines()[-1]) for out in outputs)
    assert first and second, "both processes took part"
    check_each_called_once(session, centre_id, first + second, TOKENS)


def test_the_retry_takes_the_next_best_when_the_best_is_gone(app: Flask, session: Session) -> None:
    """The step the race relies on: a candidate taken in between is skipped, not re-called."""
    from queue_server.operations.tokens import _take

    centre = prepare(session, 2)
    tokens = session.scalars(select(Token).where(Token.centre_id == centre.id).order_by(Token.id)).all()
    counter = centre.counters[0]
    from queue_server.clock import utcnow

    assert _take(session, tokens[0].id, counter, utcnow()) is True
    assert _take(session, tokens[0].id, counter, utcnow()) is False
    count = session.scalar(select(func.count()).where(Token.state == TokenState.CALLED))
    assert count == 1
