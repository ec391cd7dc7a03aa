"""Fewer deliveries per change: a committed change's several events reach each screen
together (``changes``), in the order they were sent, each exactly once, also on a console
that sits in two rooms; what the commit knew goes before a read model is built; the
observers still get every message one by one."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from queue_server import rooms
from queue_server.extensions import socketio
from queue_server.publish import Message, add_sink, remove_sink
from queue_server.realtime.hub import emit_change
from tests.display.test_tracking import Desk, desk, sent  # noqa: F401 (the fixtures)
from tests.support.factories import socketio_client
from tests.support.live import unpacked


def deliveries(received: list[dict[str, Any]]) -> list[list[str]]:
    """Each delivery a socket got, as the names of the events it carried."""
    return [
        [name for name, _ in event["args"][0]] if event["name"] == "changes" else [event["name"]]
        for event in received
    ]


def test_a_call_reaches_a_display_at_once_and_the_rest_of_the_change_in_one_delivery(
    app: Flask, client: FlaskClient, keys: dict[str, str], desk: Desk, sent: list[Message]  # noqa: F811
) -> None:
    desk.issue()
    desk.issue()
    desk.open(1)
    display = socketio_client(app, keys["display"])
    assert display.emit("join", {"screen": "display", "centre": "demo"}, callback=True)["ok"]
    display.get_received()
    sent.clear()
    desk.call(1)
    got = deliveries(display.get_received())
    to_display = [m.event for m in sent if rooms.display(1) in m.rooms]
    assert to_display == ["token_called", "queue_changed", "counter_changed"]
    assert got == [["token_called"], ["queue_changed", "counter_changed"]], (
        "the call at once (the commit knew it), the rest together once the summary is built"
    )
    display.disconnect()


def test_a_console_in_two_rooms_gets_each_event_of_a_change_once(
    app: Flask, client: FlaskClient, keys: dict[str, str], desk: Desk, sent: list[Message]  # noqa: F811
) -> None:
    desk.issue()
    counter_id = desk.open(1)
    clerk = socketio_client(app, keys["clerk1"])
    assert clerk.emit("join", {"screen": "counter", "counter": counter_id}, callback=True)["ok"]
    clerk.get_received()
    sent.clear()
    desk.call(1)
    heard = [e["name"] for e in unpacked(clerk.get_received())]
    to_clerk = [m.event for m in sent if rooms.counters(1) in m.rooms or rooms.counter(counter_id) in m.rooms]
    assert "token_called" in to_clerk
    assert heard == to_clerk, "every event meant for either room, once, in order"
    clerk.disconnect()


def test_rooms_are_grouped_by_what_they_get_and_a_single_event_goes_as_itself(app: Flask) -> None:
    watchers = {}
    for name, room in (("display", rooms.display(7)), ("counter", rooms.counter(70)), ("page", rooms.token("T1"))):
        watchers[name] = socketio_client(app, None)
        sid = socketio.server.manager.sid_from_eio_sid(watchers[name].eio_sid, "/")
        socketio.server.enter_room(sid, room, namespace="/")
    called = Message("token_called", (rooms.display(7), rooms.counter(70), rooms.token("T1")), {"n": 1})
    summary = Message("queue_changed", (rooms.display(7),), {"n": 2})
    position = Message("position", (rooms.token("T1"),), {"n": 3})
    with app.app_context():
        emit_change([called, summary, position])
    got = {name: [(e["name"], e["args"]) for e in w.get_received()] for name, w in watchers.items()}
    assert got["display"] == [("changes", [[["token_called", {"n": 1}], ["queue_changed", {"n": 2}]]])]
    assert got["counter"] == [("token_called", [{"n": 1}])], "a lone event is sent as itself"
    assert got["page"] == [("changes", [[["token_called", {"n": 1}], ["position", {"n": 3}]]])]
    for w in watchers.values():
        w.disconnect()


def test_the_observers_still_hear_each_message_and_a_failing_screen_sink_harms_nothing(
    desk: Desk, sent: list[Message]  # noqa: F811
) -> None:
    batches: list[list[str]] = []

    def broken(messages: Any) -> None:
        batches.append([m.event for m in messages])
        raise RuntimeError("a screen sink that fails")

    add_sink(broken, batch=True)
    try:
        desk.issue()
        desk.open(1)
        sent.clear()
        batches.clear()
        token = desk.call(1)
    finally:
        remove_sink(broken)
    assert token["number"] == "A001", "the call stands"
    assert [e for batch in batches for e in batch] == [m.event for m in sent], "the same messages, in order"
    assert len(batches) < len(sent), "in fewer batches than messages"
