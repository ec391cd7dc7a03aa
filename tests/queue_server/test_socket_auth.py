"""Socket events × callers, with real Socket.IO clients against a running server.

Screens join only what their caller may watch (a display its own centre's hall, a clerk
the counter they hold, a manager the dashboard, anyone a token they hold the code of);
only counter staff call and act on tokens over the socket; every socket event names the
callers it admits; a malformed payload gets an error reply, never silence; another
site's page cannot borrow a browser's session for the socket; and events of one centre
never reach another centre's screens.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import socketio

from tests.support.live import listen

SCREEN_EVENTS = (
    "snapshot",
    "token_called",
    "token_changed",
    "position",
    "queue_changed",
    "counter_changed",
    "refresh",
    "service_state",
)


class Screen:
    """A Socket.IO client that records what it receives."""

    def __init__(
        self,
        url: str,
        key: str | None = None,
        headers: dict[str, str] | None = None,
        origin: str | None = None,
    ) -> None:
        self.received: dict[str, list[Any]] = {}
        # the websocket client sends the server's own origin unless told another
        options = {"origin": origin} if origin else {}
        self.client = socketio.Client(reconnection=False, websocket_extra_options=options)
        self._arrived = threading.Condition()
        listen(self.client, SCREEN_EVENTS, self._record)
        self.client.connect(
            url,
            transports=["websocket"],
            auth={"key": key} if key else {},
            headers=headers or {},
            wait_timeout=10,
        )

    def _record(self, name: str, data: Any) -> None:
        with self._arrived:
            self.received.setdefault(name, []).append(data)
            self._arrived.notify_all()

    def call(self, event: str, data: Any = None) -> Any:
        return self.client.call(event, data, timeout=10)

    def wait_for(self, name: str, count: int = 1, timeout: float = 15) -> list[Any]:
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.received.get(name, [])) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {name} (x{count}) within {timeout}s; got {list(self.received)}")
                self._arrived.wait(left)
            return list(self.received[name])

    def close(self) -> None:
        self.client.disconnect()


def khidmat(server: Any, *args: str) -> str:
    cli = str(Path(sys.executable).with_name("khidmat"))
    done = subprocess.run(
        [cli, *args], env=server.environment(), capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def two_centres(live_server: Any) -> dict[str, Any]:
    """The live demo centre plus ``north`` with its own clerk, kiosk and display."""
    north = json.loads(khidmat(live_server, "seed-demo", "--code", "north", "--json"))
    keys = {f"{d['kind']}_other": d["key"] for d in north["devices"]}
    clerk = json.loads(
        khidmat(
            live_server, "create-staff", "north_clerk", "--role", "clerk", "--centre", "north", "--api-key"
        )
    )
    keys["clerk_other"] = clerk["api_key"]
    s = live_server
    counters = {
        code: {
            c["number"]: c["id"]
            for c in s.api("GET", f"/api/v1/centres/{code}/counters", s.keys["admin"]).json()["counters"]
        }
        for code in ("demo", "north")
    }
    return {"keys": {**s.keys, **keys}, "counters": counters}


def refused(reply: Any, error: str) -> bool:
    return isinstance(reply, dict) and reply.get("ok") is False and reply.get("error") == error


def test_screens_join_only_what_their_caller_may_watch(live_server: Any, two_centres: dict[str, Any]) -> None:
    s, keys = live_server, two_centres["keys"]
    demo_counter = two_centres["counters"]["demo"][1]
    assert s.api("POST", f"/api/v1/counters/{demo_counter}/open", keys["clerk1"]).status_code == 200
    token = s.api("POST", "/api/v1/centres/demo/tokens", keys["kiosk"], json={"service": "character"}).json()
    table: dict[str, list[tuple[Any, str | None]]] = {
        # caller: [(join payload, None = admitted or the refusal's error code)]
        "anonymous": [
            ({"screen": "display", "centre": "demo"}, "unauthenticated"),
            ({"screen": "kiosk", "centre": "demo"}, "unauthenticated"),
            ({"screen": "counter", "counter": demo_counter}, "unauthenticated"),
            ({"screen": "dashboard", "centre": "demo"}, "unauthenticated"),
            ({"screen": "track", "code": token["public_code"]}, None),
        ],
        "display": [
            ({"screen": "display", "centre": "demo"}, None),
            ({"screen": "display", "centre": "north"}, "forbidden"),
            ({"screen": "kiosk", "centre": "demo"}, "forbidden"),
            ({"screen": "counter", "counter": demo_counter}, "forbidden"),
            ({"screen": "dashboard", "centre": "demo"}, "forbidden"),
        ],
        "kiosk": [
            ({"screen": "kiosk", "centre": "demo"}, None),
            ({"screen": "display", "centre": "demo"}, "forbidden"),
            ({"screen": "counter", "counter": demo_counter}, "forbidden"),
        ],
        "display_other": [
            ({"screen": "display", "centre": "north"}, None),
            ({"screen": "display", "centre": "demo"}, "forbidden"),
        ],
        "kiosk_other": [({"screen": "kiosk", "centre": "demo"}, "forbidden")],
        "clerk_other": [
            ({"screen": "display", "centre": "demo"}, "forbidden"),
            ({"screen": "counter", "counter": demo_counter}, "forbidden"),
            ({"screen": "dashboard", "centre": "demo"}, "forbidden"),
        ],
        "clerk1": [
            ({"screen": "counter", "counter": demo_counter}, None),
            ({"screen": "counter", "counter": two_centres["counters"]["demo"][2]}, "forbidden"),
            ({"screen": "dashboard", "centre": "demo"}, "forbidden"),
        ],
        "clerk2": [({"screen": "counter", "counter": demo_counter}, "forbidden")],
        "manager": [
            ({"screen": "dashboard", "centre": "demo"}, None),
            ({"screen": "counter", "counter": demo_counter}, None),
            ({"screen": "dashboard", "centre": "north"}, "forbidden"),
        ],
        "admin": [({"screen": "dashboard", "centre": "north"}, None)],
    }
    wrong: list[str] = []
    for caller, joins in table.items():
        screen = Screen(s.url, keys.get(caller))
        try:
            for payload, expected in joins:
                before = len(screen.received.get("snapshot", []))
                reply = screen.call("join", payload)
                if expected is None:
                    if not (isinstance(reply, dict) and reply.get("ok")):
                        wrong.append(f"{caller} {payload}: refused {reply}")
                    else:
                        screen.wait_for("snapshot", before + 1)
                elif not refused(reply, expected):
                    wrong.append(f"{caller} {payload}: expected {expected}, got {reply}")
        finally:
            screen.close()
    assert wrong == [], "\n".join(wrong)


def test_only_counter_staff_call_and_act_over_the_socket(
    live_server: Any, two_centres: dict[str, Any]
) -> None:
    s, keys = live_server, two_centres["keys"]
    counter = two_centres["counters"]["demo"][1]
    assert s.api("POST", f"/api/v1/counters/{counter}/open", keys["clerk1"]).status_code == 200
    issued = s.api("POST", "/api/v1/centres/demo/tokens", keys["kiosk"], json={"service": "character"}).json()
    attempts = {
        "anonymous": "unauthenticated",
        "display": "forbidden",
        "kiosk": "forbidden",
        "display_other": "forbidden",
        "clerk_other": "forbidden",
        "clerk2": "forbidden",  # of the centre, but counter 1 is not hers
    }
    wrong: list[str] = []
    for caller, expected in attempts.items():
        screen = Screen(s.url, keys.get(caller))
        try:
            reply = screen.call("call_next", {"counter": counter})
            if not refused(reply, expected):
                wrong.append(f"{caller} call_next: {reply}")
            reply = screen.call("token_action", {"token": issued["id"], "action": "start"})
            # clerk2 may act on tokens in general (she is refused for the token's state)
            if not (refused(reply, expected) or (caller == "clerk2" and reply.get("ok") is False)):
                wrong.append(f"{caller} token_action: {reply}")
        finally:
            screen.close()
    assert wrong == [], "\n".join(wrong)
    state = s.api("GET", f"/api/v1/tokens/{issued['id']}", keys["manager"]).json()["state"]
    assert state == "waiting", "a refused socket call changed the token"
    clerk = Screen(s.url, keys["clerk1"])
    try:
        reply = clerk.call("call_next", {"counter": counter})
        assert reply["ok"] and reply["token"]["id"] == issued["id"]
        reply = clerk.call("token_action", {"token": issued["id"], "action": "start"})
        assert reply["ok"] and reply["token"]["state"] == "serving"
        # the action's input is validated as the API validates it (one registry)
        reply = clerk.call("token_action", {"token": issued["id"], "action": "complete", "outcome": "lunch"})
        assert reply["ok"] is False and reply["error"] == "invalid" and "outcome" in reply["message"], reply
        reply = clerk.call("token_action", {"token": issued["id"], "action": "teleport"})
        assert reply["ok"] is False and reply["message"] == "Unknown action.", reply
        reply = clerk.call("token_action", {"token": issued["id"], "action": "complete", "outcome": "referred"})
        assert reply["ok"] and reply["token"]["state"] == "done", reply
    finally:
        clerk.close()


def socket_events(tmp_path: Path) -> list[str]:
    """The events the app binds (its own and the UI packages'), from a fresh app's hub."""
    from queue_server.app import create_app
    from queue_server.extensions import socketio as hub

    create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'events.sqlite3'}",
            "SECRET_KEY": "x" * 32,
            "INSTANCE_PATH": tmp_path,
        }
    )
    return sorted(e for e in hub.server.handlers["/"] if e not in ("connect", "disconnect", "join"))


def test_every_socket_event_refuses_anonymous_and_device_callers(
    live_server: Any, two_centres: dict[str, Any], tmp_path: Path
) -> None:
    """Generated from the server's own handler table: an event added anywhere is covered.
    Only ``join`` (screens, with its own table above) may admit devices or anonymous callers."""
    events = socket_events(tmp_path / "app")
    assert {"call_next", "token_action"} <= set(events)
    s, keys = live_server, two_centres["keys"]
    payloads = [
        None,
        {},
        {"counter": 1, "token": 1, "action": "start", "kind": "call_next", "centre": "demo"},
    ]
    wrong: list[str] = []
    for caller in ("anonymous", "display", "kiosk"):
        screen = Screen(s.url, keys.get(caller))
        try:
            for event in events:
                for payload in payloads:
                    reply = screen.call(event, payload)
                    if not (isinstance(reply, dict) and reply.get("ok") is False):
                        wrong.append(f"{caller} {event} {payload}: {reply}")
        finally:
            screen.close()
    assert wrong == [], "\n".join(wrong)


@pytest.mark.parametrize(
    ("event", "payload"),
    [
        ("join", None),
        ("join", "display"),
        ("join", {"screen": "nope"}),
        ("join", {"screen": "display"}),
        ("join", {"screen": "display", "centre": 5}),
        ("join", {"screen": "display", "centre": "x" * 10_000}),
        ("join", {"screen": "display", "centre": "de\x00mo"}),
        ("join", {"screen": "counter", "counter": "1"}),
        ("join", {"screen": "counter", "counter": True}),
        ("join", {"screen": "counter", "counter": 2**63}),
        ("join", {"screen": "counter", "counter": -1}),
        ("join", {"screen": "track", "code": ["x"]}),
        ("join", {"screen": "track", "code": "\x00" * 20}),
        ("call_next", {"counter": 2**63}),
        ("call_next", {"counter": 10**30}),
        ("call_next", {"counter": True}),
        ("call_next", [1]),
        ("token_action", {"token": 2**63, "action": "start"}),
        ("token_action", {"token": 1, "action": "complete", "outcome": {"x": 1}}),
        ("token_action", {"token": 1, "action": ["start"]}),
        ("token_action", {"token": False, "action": "start"}),
    ],
)
def test_malformed_socket_payloads_get_an_error_reply(live_server: Any, event: str, payload: Any) -> None:
    manager = Screen(live_server.url, live_server.keys["manager"])
    try:
        reply = manager.call(event, payload)
        assert isinstance(reply, dict) and reply.get("ok") is False and reply.get("error"), reply
        assert manager.call("join", {"screen": "display", "centre": "demo"})["ok"], "the socket still works"
    finally:
        manager.close()
    log = live_server.log()
    assert "Traceback" not in log, log[log.find("Traceback") - 300 :]


@pytest.mark.parametrize("key", ["kq_dev_unknown", "x" * 5000, "kq\x00", "kq_staff_" + "A" * 43])
def test_a_bad_key_is_refused_at_connect(live_server: Any, key: str) -> None:
    client = socketio.Client(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(live_server.url, transports=["websocket"], auth={"key": key}, wait_timeout=10)
    client.disconnect()


def browser_session(server: Any, username: str) -> requests.Session:
    browser = requests.Session()
    token = browser.get(server.url + "/api/v1/auth/csrf", timeout=10).json()["csrf_token"]
    login = browser.post(
        server.url + "/api/v1/auth/login",
        json={"username": username, "password": server.passwords[username]},
        headers={"X-CSRFToken": token},
        timeout=10,
    )
    assert login.status_code == 200, login.text
    return browser


def test_the_browser_session_authenticates_the_socket_only_from_the_same_origin(live_server: Any) -> None:
    s = live_server
    browser = browser_session(s, "manager")
    cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
    same = Screen(s.url, headers={"Cookie": cookie}, origin=s.url)
    try:
        assert same.call("join", {"screen": "dashboard", "centre": "demo"})["ok"], "the session is the caller"
    finally:
        same.close()
    for elsewhere in ("http://evil.example", s.url.replace("127.0.0.1", "localhost"), "null"):
        with pytest.raises(socketio.exceptions.ConnectionError):
            Screen(s.url, headers={"Cookie": cookie}, origin=elsewhere)


def test_events_stay_in_their_centre(live_server: Any, two_centres: dict[str, Any]) -> None:
    s, keys, counters = live_server, two_centres["keys"], two_centres["counters"]
    demo_display = Screen(s.url, keys["display"])
    north_display = Screen(s.url, keys["display_other"])
    try:
        assert demo_display.call("join", {"screen": "display", "centre": "demo"})["ok"]
        assert north_display.call("join", {"screen": "display", "centre": "north"})["ok"]
        s.api("POST", f"/api/v1/counters/{counters['demo'][1]}/open", keys["clerk1"])
        s.api("POST", "/api/v1/centres/demo/tokens", keys["kiosk"], json={"service": "character"})
        called = s.api("POST", f"/api/v1/counters/{counters['demo'][1]}/call-next", keys["clerk1"]).json()
        assert demo_display.wait_for("token_called")[0]["token"]["id"] == called["id"]
        # then the same in north: its display's first call must be its own
        s.api("POST", f"/api/v1/counters/{counters['north'][1]}/open", keys["clerk_other"])
        s.api("POST", "/api/v1/centres/north/tokens", keys["kiosk_other"], json={"service": "character"})
        north_call = s.api(
            "POST", f"/api/v1/counters/{counters['north'][1]}/call-next", keys["clerk_other"]
        ).json()
        calls = north_display.wait_for("token_called")
        assert [c["token"]["id"] for c in calls] == [north_call["id"]]
        assert all(c["token"]["id"] != north_call["id"] for c in demo_display.received["token_called"])
    finally:
        demo_display.close()
        north_display.close()


def test_a_websocket_thread_ending_on_a_gone_client_is_not_a_traceback(tmp_path: Path) -> None:
    """python-engineio's writer thread may find the client already gone when it closes the
    socket; once the app is made that is quiet, while any other exception in a thread is
    still reported. (In a child process: pytest replaces the thread hook in its own.)"""
    script = f"""
import threading
from simple_websocket import ConnectionClosed
from queue_server.app import create_app
create_app({{"SECRET_KEY": "x" * 32, "INSTANCE_PATH": {str(tmp_path)!r}}})
def gone():
    raise ConnectionClosed(1005, "")
def broken():
    raise RuntimeError("a real fault")
for target in (gone, broken):
    thread = threading.Thread(target=target, name="Thread-x (writer)")
    thread.start()
    thread.join()
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parents[2],
    )
    assert done.returncode == 0, done.stderr
    assert "ConnectionClosed" not in done.stderr
    assert "RuntimeError: a real fault" in done.stderr
