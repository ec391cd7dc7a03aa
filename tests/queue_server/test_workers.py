"""The background-worker policy (queue_server.realtime.workers): started at most once, never
by itself in testing, a failed round logged by name with the loop going on, a wake runs a
round promptly (wakes together make one), an idle worker ends and a wake starts it again,
and a worker whose app was replaced stops."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from queue_server.extensions import socketio
from queue_server.realtime.workers import Worker


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return check()


def retire(name: str, app: Flask) -> None:
    """Make a newer worker of the name: the running one stops at its next wake."""
    Worker(app, name, interval_key=None, default_interval=60, work=lambda: None)


def test_not_started_by_itself_in_testing(app: Flask) -> None:
    rounds: list[int] = []
    worker = Worker(app, "test idle", interval_key=None, default_interval=0.01, work=lambda: rounds.append(1))
    worker.ensure_started()
    worker.wake()
    time.sleep(0.2)
    assert rounds == [] and not worker.is_running
    worker.run_once()
    assert rounds == [1], "the tests drive a round themselves"


def test_started_at_most_once(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[Any] = []
    monkeypatch.setitem(app.config, "TESTING", False)
    monkeypatch.setattr(socketio, "start_background_task", lambda target, *a: started.append(target))
    worker = Worker(app, "test once", interval_key=None, default_interval=60, work=lambda: None)
    callers = [threading.Thread(target=worker.ensure_started) for _ in range(8)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    worker.wake()
    worker.ensure_started()
    assert started == [worker.run]


def test_interval_comes_from_the_config(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "TEST_WORKER_SECONDS", 7)
    assert Worker(app, "test config", interval_key="TEST_WORKER_SECONDS", default_interval=60).interval == 7.0
    assert Worker(app, "test config", interval_key="TEST_NO_SUCH_KEY", default_interval=60).interval == 60.0


def test_a_failing_round_is_logged_and_the_next_runs(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    rounds: list[int] = []

    def flaky() -> None:
        rounds.append(1)
        if len(rounds) == 1:
            raise RuntimeError("first round fails")

    worker = Worker(app, "test flaky", interval_key=None, default_interval=0.02, work=flaky)
    with caplog.at_level(logging.ERROR, logger="queue_server.realtime.workers"):
        assert worker.start()
        try:
            assert eventually(lambda: len(rounds) >= 2), "the loop goes on after a failure"
        finally:
            retire("test flaky", app)
            assert eventually(lambda: not worker.is_running), "a worker whose app was replaced stops"
    failed = [r for r in caplog.records if "test flaky" in r.getMessage()]
    assert failed and failed[0].exc_info is not None and "first round fails" in str(failed[0].exc_info[1])


def test_a_round_ends_with_the_session_removed_in_its_own_app_context(app: Flask) -> None:
    from flask import current_app

    from queue_server.extensions import db

    seen: list[Any] = []

    def work() -> None:
        seen.append((current_app._get_current_object(), db.session()))  # type: ignore[attr-defined]

    outer = db.session()
    worker = Worker(app, "test context", interval_key=None, default_interval=60, work=work)
    worker.run_once()
    (where, inner), = seen
    assert where is app and inner is not outer, "its own session"
    assert db.session() is outer, "the caller's session is untouched"


def test_a_wake_runs_a_round_promptly_and_wakes_together_make_one(app: Flask) -> None:
    rounds: list[float] = []
    worker = Worker(
        app, "test wake", interval_key=None, default_interval=60, coalesce=0.2, work=lambda: rounds.append(1)
    )
    assert worker.start()
    assert not worker.start(), "running already"
    try:
        time.sleep(0.1)
        assert rounds == [], "nothing before the interval or a wake"
        woken_at = time.monotonic()
        for _ in range(5):
            worker.wake()
        assert eventually(lambda: len(rounds) >= 1, timeout=5)
        assert time.monotonic() - woken_at < 5, "promptly, not after the 60 s interval"
        time.sleep(0.5)
        assert len(rounds) == 1, "the wakes of one instant make one round"
    finally:
        retire("test wake", app)
        worker.wake()
        assert eventually(lambda: not worker.is_running)


def test_an_idle_worker_ends_and_a_wake_starts_it_again(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "TESTING", False)
    left = [2]

    def work() -> bool:
        left[0] -= 1
        return left[0] > 0

    worker = Worker(app, "test until idle", interval_key=None, default_interval=0.02, work=work, until_idle=True)
    worker.wake()
    assert eventually(lambda: left[0] == 0 and not worker.is_running), "ends when nothing is left"
    left[0] = 1
    worker.wake()
    assert eventually(lambda: left[0] == 0 and not worker.is_running), "the next wake starts it again"
