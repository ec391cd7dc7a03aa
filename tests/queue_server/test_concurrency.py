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

# Enough for every counter to race every other many times over; set higher for a soak.
TOKENS = int(os.environ.get("KHIDMAT_RACE_TOKENS", "300"))


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
def test_eight_threads_drain_the_queue_calling_each_token_exactly_once(app: Flask, session: Session) -> None:
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

    assert _take(session, tokens[0].id, counter, utcnow()) is tokens[0]
    assert tokens[0].state == TokenState.CALLED and tokens[0].counter_id == counter.id, "as the UPDATE left it"
    assert _take(session, tokens[0].id, counter, utcnow()) is None
    count = session.scalar(select(func.count()).where(Token.state == TokenState.CALLED))
    assert count == 1


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_profiles_changing_while_counters_call_keep_every_token_called_once(
    app: Flask, session: Session
) -> None:
    """An administrator rewrites the work profiles of counters 1-3 over and over (services
    dropped and added, weights changed) while all four counters drain the queue; counter 4
    keeps serving everything, so the queue empties. Every token is called exactly once."""
    import threading

    from queue_server.actors import SYSTEM
    from queue_server.operations import setup
    from queue_server.unit_of_work import run_in_transaction

    tokens = 150
    build_race_centre(session, counters=4)
    session.commit()
    issue_many(session, "race", tokens)
    session.commit()
    centre = session.scalar(select(Centre).where(Centre.code == "race"))
    assert centre is not None
    centre_id = centre.id
    session.commit()
    profiles = [{"x": 3}, {"y": 1, "z": 9}, {"x": 1, "y": 2, "z": 3}, {"z": 2}, {"x": 9, "z": 1}]
    done = threading.Event()
    changes: list[int] = []
    problems: list[BaseException] = []

    def change_profiles() -> None:
        try:
            with app.app_context():
                i = 0
                while not done.is_set():
                    number, profile = 1 + i % 3, profiles[i % len(profiles)]

                    def work(s: Session, number: int = number, profile: dict[str, int] = profile) -> None:
                        here = s.get(Centre, centre_id)
                        setup.update_counter(s, SYSTEM, here, number, {"profile": profile})

                    run_in_transaction(work)
                    changes.append(i)
                    i += 1
        except BaseException as exc:
            problems.append(exc)

    changer = threading.Thread(target=change_profiles)
    changer.start()
    try:
        called = drain(app, "race", [1, 2, 3, 4])
    finally:
        done.set()
        changer.join()
    assert problems == []
    assert len(changes) > 5, "the profiles changed while the counters called"
    session.commit()
    check_each_called_once(session, centre_id, called, tokens)
    assert session.scalar(select(func.count(Event.id)).where(Event.kind == "admin.counter_changed")) >= 5
