"""What keeps after-commit read models cheap (issue 15): a burst of commits is built once
more, not once each, and a tracking page nobody has open is not built."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from queue_server import operations, publish, rooms
from queue_server.auth import staff_actor
from queue_server.extensions import db
from queue_server.models import Centre, Staff, Token
from queue_server.operations import announce
from queue_server.publish import Message, add_sink, is_rebuild, publish_built, remove_sink, watched
from queue_server.read import queue_state
from queue_server.realtime import hub
from queue_server.unit_of_work import end_reading, reading, run_in_transaction
from tests.support.factories import make_token, socketio_client


def test_a_burst_of_commits_is_built_once_more_not_once_each(
    app: Flask, session: Session, centre: Centre
) -> None:
    """While a keyed builder runs, two more commits with its key return without building;
    it then runs once more, afresh, and shows the last commit."""
    centre_id = centre.id
    end_reading()
    building, release = threading.Event(), threading.Event()
    shown: list[tuple[str, bool]] = []

    def build(reader: Session) -> list[Message]:
        shown.append((reader.get_one(Centre, centre_id).name_en, is_rebuild(reader)))
        if len(shown) == 1:
            building.set()
            assert release.wait(10)
        return []

    def rename(name: str) -> None:
        def work(s: Session) -> None:
            s.get_one(Centre, centre_id).name_en = name
            publish_built(s, build, key=("test-burst", centre_id))

        with app.app_context():
            run_in_transaction(work)
            db.session.remove()

    first = threading.Thread(target=rename, args=("first",))
    first.start()
    assert building.wait(10)
    rename("second")  # each returns at once: its build is folded into the running one
    rename("third")
    assert shown == [("first", False)]
    release.set()
    first.join(10)
    assert shown == [("first", False), ("third", True)]
    rename("fourth")  # the key is free again: built at once, by the committing thread
    assert shown[-1] == ("fourth", False)


@pytest.fixture
def clerk(session: Session) -> Any:
    return staff_actor(session.scalars(select(Staff).filter_by(username="clerk1")).one())


def test_a_tracking_page_nobody_has_open_is_not_built(
    session: Session, centre: Centre, clerk: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two tokens cancelled in one change: only the page someone has open is built."""
    open_page, closed_page = make_token(session, centre), make_token(session, centre)
    open_room = rooms.token(open_page.public_code)
    monkeypatch.setattr(announce, "watched", lambda room: not room.startswith("token:") or room == open_room)
    built: list[int] = []
    payload = announce.track_payload

    def counted(reader: Session, token: Any) -> dict[str, Any]:
        built.append(token.id)
        return payload(reader, token)

    monkeypatch.setattr(announce, "track_payload", counted)
    sent: list[Message] = []
    add_sink(sent.append)
    try:
        ids = (open_page.id, closed_page.id)
        run_in_transaction(lambda s: [operations.cancel(s, token_id, clerk, "left") for token_id in ids])
    finally:
        remove_sink(sent.append)
    assert built == [open_page.id]
    pages = [m for m in sent if m.event == "token_changed" and "view" in m.payload]
    assert [m.rooms for m in pages] == [(open_room,)]
    assert pages[0].payload["view"]["state"] == "cancelled"



def test_with_no_tracking_page_of_the_centre_open_a_call_reads_no_positions(
    app: Flask, session: Session, centre: Centre, clerk: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The positions builder asks the centre's tracking room first: nobody there, it reads
    neither the centre nor its waiting tokens (with a page open, it does: the test above
    and tests/display/test_tracking.py)."""
    for _ in range(3):
        make_token(session, centre)
    asked: list[str] = []

    def watched(room: str) -> bool:  # the screens, and no tracking page
        asked.append(room)
        return room.startswith("centre:") and room != rooms.tracking(centre.id)

    monkeypatch.setattr(announce, "watched", watched)
    read: list[int] = []
    monkeypatch.setattr(announce, "_first_waiting", lambda *args: read.append(1) or [])
    counter = next(c for c in centre.counters if c.number == 1)
    run_in_transaction(lambda s: operations.open_counter(s, counter.id, clerk))
    run_in_transaction(lambda s: operations.call_next(s, counter.id, clerk))
    assert rooms.tracking(centre.id) in asked
    assert not [room for room in asked if room.startswith("token:")]
    assert read == [1]  # (once, in the transaction: the "almost your turn" notices; not in the build)

def test_a_reader_begins_only_for_a_builder_that_reads_and_then_as_a_read(
    app: Flask, session: Session, centre: Centre
) -> None:
    """After a commit, builders share a read-only session. It takes its connection at its
    first statement: builders that find nobody watching (most commits of a busy centre)
    cost no connection, BEGIN or ROLLBACK, and one that reads begins as a read (on SQLite
    a plain BEGIN: no write lock, which the next writer would wait for)."""
    centre_id = centre.id
    end_reading()
    checkouts: list[int] = []
    begins: list[str] = []

    def checkout(*_args: Any) -> None:
        checkouts.append(1)

    def statement(_conn: Any, _cursor: Any, text: str, *_rest: Any) -> None:
        if text.startswith("BEGIN"):
            begins.append(text)

    def commit_with(build: Any) -> tuple[int, list[str]]:
        checkouts.clear()
        begins.clear()
        run_in_transaction(lambda s: publish_built(s, build, key=("probe", centre_id)))
        return len(checkouts), list(begins)

    codes: list[str] = []
    event.listen(db.engine, "checkout", checkout)
    event.listen(db.engine, "before_cursor_execute", statement)
    try:
        idle = commit_with(lambda reader: [])
        reading = commit_with(lambda reader: codes.append(reader.get(Centre, centre_id).code) or [])
    finally:
        event.remove(db.engine, "checkout", checkout)
        event.remove(db.engine, "before_cursor_execute", statement)
    assert codes == [centre.code]
    assert reading[0] == idle[0] + 1, (idle, reading)  # the reader's connection, only when it reads
    if db.engine.dialect.name == "sqlite":
        assert reading[1] == [*idle[1], "BEGIN"]  # (the writer's own BEGIN, if any, and the reader's)


def test_a_room_is_watched_when_a_socket_of_this_process_is_in_it(
    app: Flask, session: Session, centre: Centre
) -> None:
    """The hub's answer to ``publish.watched`` in one process: a socket in the room here
    (between processes, one in any: ``tests/queue_server/test_occupancy.py``)."""
    token = make_token(session, centre)
    room = rooms.token(token.public_code)
    assert hub.watching(room) is False
    page = socketio_client(app)
    assert page.emit("join", {"screen": "track", "code": token.public_code}, callback=True)["ok"]
    assert hub.watching(room) is True
    assert watched(room) is True
    page.disconnect()
    assert hub.watching(room) is False


def test_the_screens_estimates_are_kept_a_few_seconds_and_the_last_change_follows(
    app: Flask, session: Session, centre: Centre, clerk: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A summary after a change (an issue, a cancellation, a call) shows the centre's last
    expected waits while they are younger than SCREEN_ESTIMATES_SECONDS, and the screens
    are owed a fresh summary when that age is reached: the worker's round then shows what
    the queue as it stands gives. An issue computes only its own token's figure (for its
    ticket, exact), not the screens' forecast."""
    app.config["SCREEN_ESTIMATES_SECONDS"] = 60
    clock = [1000.0]
    monkeypatch.setattr(announce, "monotonic", lambda: clock[0])
    sent: list[Message] = []
    add_sink(sent.append, watching=lambda room: not room.startswith("token:"))  # the screens, no page

    def character_eta() -> int | None:
        summaries = [m for m in sent if m.event == "queue_changed" and "services" in m.payload]
        assert summaries, [m.event for m in sent]
        services = {s["code"]: s for s in summaries[-1].payload["services"]}
        sent.clear()
        return services["character"]["eta_minutes"]

    def exact_eta() -> int | None:
        session.expire_all()
        fresh = {s["code"]: s for s in queue_state.queue_summary(session, session.get_one(Centre, centre.id))}
        end_reading()
        return fresh["character"]["eta_minutes"]

    def ticket_is_exact(token: Token) -> None:
        session.expire_all()
        figure = queue_state.eta_for(session, centre, token.service_id, 0, token_id=token.id)
        end_reading()
        assert token.eta_minutes == figure is not None, "the ticket's own figure is exact"

    try:
        worker = announce._estimates_worker(app)
        tokens = [make_token(session, centre)]
        first = character_eta()
        assert first == exact_eta() and first is not None, "nothing kept yet: this change computes it"
        assert worker.owed() == {}
        tokens += [make_token(session, centre) for _ in range(5)]
        assert character_eta() == first, "kept: an issue does not compute the screens' forecast"
        ticket_is_exact(tokens[-1])
        assert worker.owed() == {centre.id: 1060.0}, "owed once, when the kept minutes turn 60 s old"
        clock[0] = 1060.0
        assert worker.run_once() is False
        after_issues = character_eta()
        assert after_issues == exact_eta() != first, "the fresh summary counts the five issued since"
        for left, token in enumerate(tokens[:4], start=1):
            clock[0] += 1
            run_in_transaction(lambda s, t=token.id: operations.cancel(s, t, clerk, "left"))
            shown = next(m for m in reversed(sent) if m.event == "queue_changed").payload["services"]
            counts = {s["code"]: s["waiting"] for s in shown}
            assert counts["character"] == 6 - left, "the counts are read afresh: exact"
            assert character_eta() == after_issues, "kept: no forecast for this change"
        assert exact_eta() != after_issues, "four tokens fewer ahead: the minutes do change"
        assert worker.owed() == {centre.id: 1120.0}
        clock[0] = 1119.0
        assert worker.run_once() is True and sent == [], "not due yet"
        clock[0] = 1120.0
        assert worker.run_once() is False
        assert character_eta() == exact_eta(), "the fresh summary shows the queue as it stands"
        assert worker.owed() == {}
        app.config["SCREEN_ESTIMATES_SECONDS"] = 0
        ticket_is_exact(make_token(session, centre))
        assert character_eta() == exact_eta() and worker.owed() == {}, "0: every summary computes its own"
        run_in_transaction(lambda s: operations.cancel(s, tokens[4].id, clerk, "left"))
        assert character_eta() == exact_eta() and worker.owed() == {}
    finally:
        remove_sink(sent.append)


def test_a_burst_of_changes_shows_its_summary_at_most_every_queue_summary_seconds(
    app: Flask, session: Session, centre: Centre, clerk: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first change after a quiet spell sends the centre's summary with it; a change
    less than QUEUE_SUMMARY_SECONDS after that summary sends none (the call's own messages
    still go at once), and the centre is owed one at that age, which shows every change
    since. A call after a quiet spell goes alone and is owed its summary likewise. Where no
    screen watches, the observers' bare message is never held back."""
    app.config["QUEUE_SUMMARY_SECONDS"] = 10
    clock = [500.0]
    monkeypatch.setattr(announce, "monotonic", lambda: clock[0])
    sent: list[Message] = []
    add_sink(sent.append, watching=lambda room: room.startswith("centre:"))  # the screens

    def summaries() -> list[dict[str, int]]:
        shown = [m for m in sent if m.event == "queue_changed" and "services" in m.payload]
        sent.clear()
        return [{s["code"]: s["waiting"] for s in m.payload["services"]} for m in shown]

    try:
        worker = announce._estimates_worker(app)
        counter = next(c for c in centre.counters if c.number == 1)
        run_in_transaction(lambda s: operations.open_counter(s, counter.id, clerk))
        assert [s["character"] for s in summaries()] == [0]
        clock[0] = 600.0
        make_token(session, centre)
        assert [s["character"] for s in summaries()] == [1], "the first change: at once"
        clock[0] += 3
        for _ in range(2):
            make_token(session, centre)
        assert summaries() == [] and worker.owed() == {centre.id: 610.0}, "a burst: none now"
        clock[0] += 1
        called = run_in_transaction(lambda s: operations.call_next(s, counter.id, clerk))
        assert called is not None and [m.event for m in sent if m.event == "token_called"] == ["token_called"]
        assert summaries() == [] and worker.owed() == {centre.id: 610.0}
        clock[0] = 609.0
        assert worker.run_once() is True and sent == [], "not due yet"
        clock[0] = 610.0
        assert worker.run_once() is False and worker.owed() == {}
        assert [s["character"] for s in summaries()] == [2], "three issued, one called since"
        clock[0] = 621.0
        make_token(session, centre)
        assert [s["character"] for s in summaries()] == [3], "quiet for longer: at once again"
        run_in_transaction(lambda s: operations.no_show(s, called.id, clerk))  # (the queue is as it was)
        clock[0] = 660.0
        run_in_transaction(lambda s: operations.call_next(s, counter.id, clerk))
        assert [m.event for m in sent if m.event == "token_called"] == ["token_called"]
        assert summaries() == [] and worker.owed() == {centre.id: 670.0}, "a call: its summary after it"
        clock[0] = 665.0
        make_token(session, centre)
        assert summaries() == [] and worker.owed() == {centre.id: 670.0}, "in the call's window"
        clock[0] = 670.0
        assert worker.run_once() is False and worker.owed() == {}
        assert [s["character"] for s in summaries()] == [3], "one called, one issued"
    finally:
        remove_sink(sent.append)
    observed: list[Message] = []
    add_sink(observed.append, watching=publish.observes_only)  # (no screen: the observers only)
    try:
        clock[0] += 1
        make_token(session, centre)
        make_token(session, centre)
    finally:
        remove_sink(observed.append)
    assert [m.payload for m in observed if m.event == "queue_changed"] == [{"centre_id": centre.id}] * 2


def test_a_summary_the_worker_folds_into_another_build_is_of_its_own_centre(
    app: Flask, session: Session, centre: Centre
) -> None:
    """The worker's round binds each due centre to its build: a build folded into another
    thread's build of the same key runs there later, after the round has moved on to the
    next centre, and must still be the summary of its own."""
    worker = announce._estimates_worker(app)
    later = centre.id + 1000  # due in the same round, after this one (no such centre: nothing built)
    held = publish._Built(lambda reader: [], ("queue_changed", centre.id))
    assert publish._claim(held), "another thread builds this centre's summary now"
    add_sink(_ignore, watching=lambda room: True)
    try:
        worker.owe(centre.id, 0.0)
        worker.owe(later, 0.0)
        assert worker.run_once() is False and worker.owed() == {}
        folded = publish._next_run(held)
        assert folded is not None, "folded into the running build, which runs it when done"
        with app.app_context(), reading() as reader:
            built = list(folded.build(reader))
    finally:
        publish._release(held)
        remove_sink(_ignore)
    assert [(m.event, m.payload["centre_id"]) for m in built] == [("queue_changed", centre.id)]
    assert "services" in built[0].payload


def _ignore(_message: Message) -> None:
    pass


def test_a_change_that_keeps_the_forecast_reads_no_snapshot_for_screens_or_pages(
    app: Flask, session: Session, centre: Centre, clerk: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the kept forecast is young, a cancellation's summary and the tracking pages'
    positions both take their minutes from it: the snapshot a forecast needs (six queries)
    is not read, with every screen and page open."""
    app.config["SCREEN_ESTIMATES_SECONDS"] = 60
    sent: list[Message] = []
    add_sink(sent.append, watching=lambda room: True)
    try:
        tokens = [make_token(session, centre) for _ in range(4)]  # each issue's forecast is kept
        read: list[int] = []
        snapshot = queue_state.counter_capacities
        monkeypatch.setattr(
            queue_state, "counter_capacities", lambda s, c, *a, **k: read.append(c.id) or snapshot(s, c, *a, **k)
        )
        sent.clear()
        run_in_transaction(lambda s: operations.cancel(s, tokens[0].id, clerk, "left"))
    finally:
        remove_sink(sent.append)
    positions = [m.payload for m in sent if m.event == "position"]
    assert [(p["number"], p["ahead"]) for p in positions] == [(t.number, i) for i, t in enumerate(tokens[1:])]
    summary = next(m.payload for m in sent if m.event == "queue_changed" and "services" in m.payload)
    assert {s["code"]: s["waiting"] for s in summary["services"]}["character"] == 3
    assert read == [], "no snapshot read for this change"
