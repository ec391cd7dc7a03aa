"""The real server: the core API calls of DESIGN.md with staff and device keys, and the
realtime hub with real Socket.IO clients over websockets."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import socketio

from tests.support.live import listen


def client_for(server: Any, key: str) -> tuple[socketio.Client, dict[str, list[Any]]]:
    received: dict[str, list[Any]] = {}
    client = socketio.Client(reconnection=False)
    events = ("snapshot", "token_called", "token_changed", "queue_changed", "counter_changed")
    listen(client, events, lambda name, data: received.setdefault(name, []).append(data))
    client.connect(server.url, transports=["websocket"], auth={"key": key}, wait_timeout=10)
    return client, received


def wait_for(received: dict[str, list[Any]], name: str, count: int = 1, timeout: float = 10) -> list[Any]:
    done = threading.Event()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(received.get(name, [])) >= count:
            return received[name]
        done.wait(0.05)
    raise AssertionError(f"no {name} within {timeout}s; got {list(received)}")


def test_core_api_with_keys_and_a_display_sees_the_call(live_server: Any) -> None:
    s = live_server
    services = s.api("GET", "/api/v1/centres/demo/services", s.keys["kiosk"]).json()
    assert len(services["services"]) == 19
    display, got = client_for(s, s.keys["display"])
    try:
        joined = display.call("join", {"screen": "display", "centre": "demo"}, timeout=10)
        assert joined["ok"]
        assert wait_for(got, "snapshot")[0]["centre"]["code"] == "demo"
        issued = s.api(
            "POST",
            "/api/v1/centres/demo/tokens",
            s.keys["kiosk"],
            json={"service": "character", "priority": "normal"},
        )
        assert issued.status_code == 201, issued.text
        body = issued.json()
        assert body["number"] == "A001" and body["position"] == 1
        counters = s.api("GET", "/api/v1/centres/demo/counters", s.keys["clerk1"]).json()["counters"]
        first = next(c for c in counters if c["number"] == 1)
        assert s.api("POST", f"/api/v1/counters/{first['id']}/open", s.keys["clerk1"]).status_code == 200
        called = s.api("POST", f"/api/v1/counters/{first['id']}/call-next", s.keys["clerk1"])
        assert called.status_code == 200 and called.json()["number"] == "A001"
        call = wait_for(got, "token_called")[0]
        assert call["token"]["number"] == "A001" and call["token"]["counter"] == 1
        assert "public_code" not in call["token"], "a public screen never gets the tracking code"
        assert s.api("POST", f"/api/v1/counters/{first['id']}/call-next", s.keys["clerk1"]).status_code == 409
        tid = body["id"]
        for action in ("recall", "start", "park", "unpark", "complete"):
            r = s.api("POST", f"/api/v1/tokens/{tid}/{action}", s.keys["clerk1"], json={})
            assert r.status_code == 200, (action, r.text)
        assert s.api("POST", f"/api/v1/counters/{first['id']}/call-next", s.keys["clerk1"]).status_code == 204
        track = s.api("GET", f"/api/v1/track/{body['public_code']}").json()
        assert track["state"] == "done" and track["number"] == "A001"
    finally:
        display.disconnect()


def test_counter_calls_over_the_socket(live_server: Any) -> None:
    s = live_server
    clerk, got = client_for(s, s.keys["clerk2"])
    try:
        counters = s.api("GET", "/api/v1/centres/demo/counters", s.keys["clerk2"]).json()["counters"]
        second = next(c for c in counters if c["number"] == 2)
        s.api("POST", f"/api/v1/counters/{second['id']}/open", s.keys["clerk2"])
        assert clerk.call("join", {"screen": "counter", "counter": second["id"]}, timeout=10)["ok"]
        empty = clerk.call("call_next", {"counter": second["id"]}, timeout=10)
        assert empty == {"ok": True, "token": None}
        s.api("POST", "/api/v1/centres/demo/tokens", s.keys["kiosk"], json={"service": "overseas"})
        reply = clerk.call("call_next", {"counter": second["id"]}, timeout=10)
        assert reply["ok"] and reply["token"]["number"] == "T001"
        bad = clerk.call("token_action", {"token": reply["token"]["id"], "action": "complete"}, timeout=10)
        assert (
            bad["ok"] is False and bad["error"] == "illegal_transition" and bad["current_state"] == "called"
        )
    finally:
        clerk.disconnect()


@pytest.mark.parametrize("who", ["display", "kiosk"])
def test_devices_cannot_act_at_counters(live_server: Any, who: str) -> None:
    s = live_server
    r = s.api("POST", "/api/v1/counters/1/call-next", s.keys[who])
    assert r.status_code == 403 and r.json()["error"] == "forbidden"


def test_a_stopping_server_closes_its_screens_sockets_and_they_reconnect_to_the_next(live_server: Any) -> None:
    """gunicorn gives a stopping worker 10 s (``graceful_timeout``) to finish its requests;
    a screen's websocket never finishes, so without ``serving.close_screens_on_stop`` the
    stop lasts the whole 10 s. The socket is closed at the transport, not with a Socket.IO
    disconnect (which a client takes as final): the screen reconnects by itself."""
    s = live_server
    got: dict[str, list[Any]] = {}
    display = socketio.Client(reconnection=True, reconnection_delay=0.2, reconnection_delay_max=0.5)
    display.on("connect", lambda: got.setdefault("connect", []).append(True))
    display.on("disconnect", lambda reason=None: got.setdefault("disconnect", []).append(reason))
    display.connect(s.url, transports=["websocket"], auth={"key": s.keys["display"]}, wait_timeout=10)
    try:
        assert display.call("join", {"screen": "display", "centre": "demo"}, timeout=10)["ok"]
        first_link = display.eio.ws
        started = time.monotonic()
        s.stop()
        assert time.monotonic() - started < 10, "the stop waited for the screen's socket"
        assert "closed 1 sockets" in s.log()
        reason = wait_for(got, "disconnect")[0]
        assert reason != display.reason.SERVER_DISCONNECT, reason
        first_link.shutdown()  # the client library leaves a socket closed by its server open
        s.start()
        wait_for(got, "connect", count=2, timeout=20)  # back by itself, to the restarted server
        assert display.call("join", {"screen": "display", "centre": "demo"}, timeout=10)["ok"]
    finally:
        display.disconnect()
