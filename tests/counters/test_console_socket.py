"""The console's server side without a browser: the login form, the picker, one console
per counter (claim), and every console action over the socket with its refusals (another
console, a stale token, bad input), each answered with the console state."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask, g
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from counters import events
from queue_server.models import Counter, Event, Token
from tests.conftest import bearer
from tests.support.api import issue_at_kiosk
from tests.support.factories import socketio_client

C1 = "1" * 32
C2 = "2" * 32


class FreshClient(FlaskClient):
    """The suite's app context outlives each request, so ``g`` (the cached caller, CSRF
    token and locale) would leak from one request into the next: start each one clean."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        for name in list(vars(g)):
            delattr(g, name)
        return super().open(*args, **kwargs)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    app.test_client_class = FreshClient
    return app.test_client()


def csrf(page: bytes) -> str:
    found = re.search(rb'name="csrf_token" value="([^"]+)"', page) or re.search(
        rb'name="csrf-token" content="([^"]+)"', page
    )
    assert found, page[:500]
    return found.group(1).decode()


def login(client: FlaskClient, username: str, password: str) -> str:
    """Through the real form; returns a fresh CSRF token of the session."""
    token = csrf(client.get("/counter").data)
    r = client.post("/counter/login", data={"username": username, "password": password, "csrf_token": token})
    assert r.status_code == 303, r.data[:300]
    return csrf(client.get("/counter").data)


def pick_counter(client: FlaskClient, token: str, counter: Counter, console: str = C1) -> Any:
    """Take ``counter`` through the console's picker form (the form is what is under test)."""
    return client.post("/counter/open", data={"counter": counter.id, "console": console, "csrf_token": token})


class Console:
    def __init__(self, app: Flask, client: FlaskClient, counter: Counter, console: str = C1) -> None:
        self.counter_id = counter.id
        self.console = console
        self.io = socketio_client(app, client=client)
        assert self.io.is_connected()

    def join(self) -> dict[str, Any]:
        return self.io.emit(  # type: ignore[no-any-return]
            "join", {"screen": "console", "counter": self.counter_id, "console": self.console}, callback=True
        )

    def snapshot(self) -> dict[str, Any]:
        found = [m for m in self.io.get_received() if m["name"] == "snapshot"]
        assert found
        return found[-1]["args"][0]  # type: ignore[no-any-return]

    def act(self, action: str, **data: Any) -> dict[str, Any]:
        payload = {"action": action, "counter": self.counter_id, "console": self.console, **data}
        return self.io.emit("console_action", payload, callback=True)  # type: ignore[no-any-return]


@pytest.fixture
def clerk1(
    app: Flask, client: FlaskClient, passwords: dict[str, str], counter_no: Callable[[int], Counter]
) -> Console:
    token = login(client, "clerk1", passwords["clerk1"])
    assert pick_counter(client, token, counter_no(1)).status_code == 303
    console = Console(app, client, counter_no(1))
    assert console.join()["ok"]
    return console


def test_login_form_needs_csrf_and_refuses_bad_passwords(
    client: FlaskClient, passwords: dict[str, str]
) -> None:
    page = client.get("/counter")
    assert page.status_code == 200 and b'name="csrf_token"' in page.data and b'id="username"' in page.data
    r = client.post("/counter/login", data={"username": "clerk1", "password": passwords["clerk1"]})
    assert r.status_code == 400  # no CSRF token: refused, not logged in
    token = csrf(page.data)
    r = client.post("/counter/login", data={"username": "clerk1", "password": "nope", "csrf_token": token})
    assert r.status_code == 401 and b"Wrong username or password." in r.data
    r = client.post("/counter/login?lang=ur", data={"username": "", "password": "", "csrf_token": token})
    assert r.status_code == 400 and "اپنا یوزر نیم اور پاس ورڈ لکھیں" in r.get_data(as_text=True)
    assert b"Choose your counter" not in client.get("/counter?lang=en").data


def test_failed_logins_are_throttled_with_the_same_answer(
    client: FlaskClient, app: Flask, passwords: dict[str, str], session: Session
) -> None:
    token = csrf(client.get("/counter").data)
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        client.post("/counter/login", data={"username": "clerk1", "password": "nope", "csrf_token": token})
    r = client.post(
        "/counter/login", data={"username": "clerk1", "password": passwords["clerk1"], "csrf_token": token}
    )
    assert r.status_code == 401 and b"Wrong username or password." in r.data
    failures = session.scalars(select(Event).where(Event.kind == "login_failed")).all()
    assert len(failures) == app.config["LOGIN_MAX_FAILURES"]  # each one audited


def test_a_manager_is_sent_to_the_dashboard(client: FlaskClient, passwords: dict[str, str]) -> None:
    token = csrf(client.get("/counter").data)
    client.post(
        "/counter/login", data={"username": "manager", "password": passwords["manager"], "csrf_token": token}
    )
    page = client.get("/counter")
    assert page.status_code == 403 and b"Managers use the dashboard" in page.data


def test_picker_lists_counters_and_opens_one(
    client: FlaskClient, passwords: dict[str, str], counter_no: Callable[[int], Counter], session: Session
) -> None:
    token = login(client, "clerk1", passwords["clerk1"])
    page = client.get("/counter").get_data(as_text=True)
    assert page.count('class="counter-card free"') == 8
    assert pick_counter(client, token, counter_no(1), console="short").status_code == 400
    assert pick_counter(client, token, counter_no(1)).status_code == 303
    session.expire_all()
    counter = counter_no(1)
    assert counter.staff is not None and counter.staff.username == "clerk1" and counter.session_id == C1
    assert 'id="console-config"' in client.get("/counter").get_data(as_text=True)


def test_one_clerk_per_counter_from_the_picker(
    app: Flask, client: FlaskClient, passwords: dict[str, str], counter_no: Callable[[int], Counter]
) -> None:
    first, second = app.test_client(), app.test_client()
    pick_counter(first, login(first, "clerk1", passwords["clerk1"]), counter_no(1))
    token = login(second, "clerk2", passwords["clerk2"])
    r = pick_counter(second, token, counter_no(1), console=C2)
    assert r.status_code == 409 and b"already open by Clerk 1" in r.data


def test_a_second_console_is_refused_while_the_first_is_connected(
    app: Flask, client: FlaskClient, clerk1: Console, counter_no: Callable[[int], Counter], session: Session
) -> None:
    r = client.post(
        "/counter/claim", json={"counter": clerk1.counter_id, "console": C2}, headers=csrf_header(client)
    )
    assert r.status_code == 409 and r.get_json()["error"] == "counter_open_elsewhere"
    assert "already open in another window" in r.get_json()["message"]
    other = Console(app, client, counter_no(1), console=C2)
    refused = other.join()
    assert refused["ok"] is False and refused["error"] == "console_replaced"
    assert other.act("call_next")["error"] == "console_replaced"
    # The first console goes away: the second takes over, and the first may no longer act.
    clerk1.io.disconnect()
    r = client.post(
        "/counter/claim", json={"counter": clerk1.counter_id, "console": C2}, headers=csrf_header(client)
    )
    assert r.status_code == 200
    assert other.join()["ok"]
    session.expire_all()
    assert counter_no(1).session_id == C2
    assert session.scalar(select(Event.kind).where(Event.kind == "counter_console_claimed")) is not None
    stale = Console(app, client, counter_no(1), console=C1)
    assert stale.act("call_next")["error"] == "console_replaced"


def csrf_header(client: FlaskClient) -> dict[str, str]:
    return {"X-CSRFToken": csrf(client.get("/counter").data)}


def test_claim_needs_csrf_and_a_login(client: FlaskClient, clerk1: Console) -> None:
    r = client.post("/counter/claim", json={"counter": clerk1.counter_id, "console": C1})
    assert r.status_code == 400  # no CSRF header
    anonymous = client.application.test_client()
    r = anonymous.post("/counter/claim", json={"counter": 1, "console": C1}, headers=csrf_header(anonymous))
    assert r.status_code == 401


def test_every_console_action_answers_with_the_state(
    clerk1: Console, client: FlaskClient, keys: dict[str, str], session: Session
) -> None:
    snapshot = clerk1.snapshot()
    assert snapshot["counter"]["number"] == 1 and snapshot["current"] is None
    assert [p["code"] for p in snapshot["profile"]] == ["character", "character_other", "verification"]
    nobody = clerk1.act("call_next")
    assert nobody["ok"] is True and nobody["token"] is None and nobody["state"]["current"] is None
    a1, a2 = issue_at_kiosk(client, keys), issue_at_kiosk(client, keys)
    called = clerk1.act("call_next")
    assert called["token"]["number"] == a1["number"] and called["state"]["current"]["state"] == "called"
    assert clerk1.act("recall", token=a1["id"], expect="called")["state"]["current"]["recalls"] == 1
    started = clerk1.act("start", token=a1["id"], expect="called")
    request = started["state"]["current"]["request"]
    assert request["state"] == "open" and request["untouched"] is True
    bad = clerk1.act(
        "request_save", request=request["id"], record=True, expect="open",
        fields={"applicant_name": "Sana Bibi", "cnic": "3520212345671", "phone": "0321 7654321x"},
    )  # fmt: skip
    assert bad["ok"] is False and bad["error"] == "invalid_phone" and bad["field"] == "phone"
    assert bad["state"]["current"]["request"]["applicant_name"] == ""
    saved = clerk1.act(
        "request_save", request=request["id"], record=True, expect="open",
        fields={"applicant_name": "Sana Bibi", "cnic": "3520212345671", "phone": "0321 7654321"},
    )  # fmt: skip
    assert saved["ok"] and saved["request"]["state"] == "in_process"
    assert saved["request"]["cnic"] == "35202-1234567-1" and saved["request"]["phone"] == "0321-7654321"
    listed = saved["state"]["requests"][0]
    assert listed["cnic"] == "35202-*******-1" and listed["phone"] == "0321-*****21"
    assert clerk1.act("park", token=a1["id"], expect="serving")["state"]["parked"][0]["id"] == a1["id"]
    assert clerk1.act("call_next")["token"]["number"] == a2["number"]
    assert clerk1.act("no_show", token=a2["id"], expect="called")["state"]["no_shows"][0]["id"] == a2["id"]
    assert clerk1.act("requeue", token=a2["id"], expect="no_show")["token"]["state"] == "waiting"
    assert clerk1.act("unpark", token=a1["id"], expect="parked")["state"]["current"]["id"] == a1["id"]
    assert (
        clerk1.act("request_advance", request=request["id"], expect="in_process")["request"]["state"]
        == "ready"
    )
    done = clerk1.act("complete", token=a1["id"], expect="serving")
    assert done["token"]["state"] == "done" and done["state"]["served_today"] == 1
    collected = clerk1.act("request_collection_call", request=request["id"], expect="ready")
    assert collected["ok"] and collected["request"]["collection_calls"] == 1
    assert clerk1.act("request_detail", request=request["id"])["request"]["cnic"] == "35202-1234567-1"
    delivered = clerk1.act("request_advance", request=request["id"], expect="ready")
    assert delivered["request"]["state"] == "delivered" and delivered["state"]["requests"] == []
    assert clerk1.act("pause")["state"]["counter"]["state"] == "paused"
    refused = clerk1.act("call_next")
    assert (
        refused["ok"] is False and refused["error"] == "counter_not_open" and "paused" in refused["message"]
    )
    assert clerk1.act("resume")["state"]["counter"]["state"] == "open"
    transferred_to = clerk1.act("call_next")["token"]
    clerk1.act("start", token=transferred_to["id"], expect="called")
    moved = clerk1.act("transfer", token=transferred_to["id"], expect="serving", service="bank")
    assert moved["token"]["service"]["code"] == "bank" and moved["state"]["current"] is None
    assert clerk1.act("close") == {"ok": True, "closed": True}
    session.expire_all()
    assert session.scalar(select(Counter.staff_id).where(Counter.id == clerk1.counter_id)) is None


def test_reject_withdraw_and_transfer_to_a_counter_over_the_socket(
    clerk1: Console, client: FlaskClient, keys: dict[str, str], counter_no: Callable[[int], Counter]
) -> None:
    for verb, state in (("request_reject", "rejected"), ("request_withdraw", "withdrawn")):
        t = issue_at_kiosk(client, keys)
        clerk1.act("call_next")
        request = clerk1.act("start", token=t["id"], expect="called")["state"]["current"]["request"]
        no_reason = clerk1.act(verb, request=request["id"], reason="", expect="open")
        assert no_reason["error"] == "reason_required"
        closed = clerk1.act(verb, request=request["id"], reason="Not eligible by law", expect="open")
        assert closed["request"]["state"] == state
        assert clerk1.act("complete", token=t["id"], expect="serving", outcome="not_eligible")["ok"]
    t = issue_at_kiosk(client, keys)
    clerk1.act("call_next")
    clerk1.act("start", token=t["id"], expect="called")
    nowhere = clerk1.act("transfer", token=t["id"], expect="serving", to_counter=99)
    assert nowhere["ok"] is False and "no counter 99" in nowhere["message"]
    moved = clerk1.act("transfer", token=t["id"], expect="serving", to_counter=2)
    assert moved["token"]["target_counter"] == 2


def test_a_stale_or_foreign_action_is_refused_and_changes_nothing(
    clerk1: Console, client: FlaskClient, keys: dict[str, str], session: Session
) -> None:
    t = issue_at_kiosk(client, keys)
    clerk1.act("call_next")
    r = client.post(f"/api/v1/tokens/{t['id']}/no-show", headers=bearer(keys["manager"]), json={})
    assert r.status_code == 200
    before = session.scalar(select(Event.id).order_by(Event.id.desc()).limit(1))
    stale = clerk1.act("start", token=t["id"], expect="called")
    assert stale["ok"] is False and stale["error"] == "stale" and stale["status"] == 409
    assert (
        stale["message"]
        == f"Token {t['number']} was changed elsewhere: it is now no-show. The console shows it afresh."
    )
    assert stale["state"]["current"] is None  # the console redraws from the truth
    session.expire_all()
    assert session.get(Token, t["id"]).state.value == "no_show"  # type: ignore[union-attr]
    assert session.scalar(select(Event.id).order_by(Event.id.desc()).limit(1)) == before
    # A token of another counter: refused as stale too.
    other = issue_at_kiosk(client, keys, "bank")
    assert clerk1.act("start", token=other["id"], expect="waiting")["error"] == "stale"
    for bad in (
        {"action": "explode"},
        {"action": "start", "token": "x"},
        {"action": "start", "token": 2**40, "expect": "called"},
        {"action": "request_save"},
        {"action": "request_detail", "request": 2**63},
        {"action": "request_save", "request": 1, "fields": ["not", "a", "dict"]},
        {"action": "transfer", "token": t["id"], "to_counter": 2**40},
    ):
        reply = clerk1.io.emit(
            "console_action", {"counter": clerk1.counter_id, "console": C1, **bad}, callback=True
        )
        assert reply["ok"] is False and reply["message"]
    assert clerk1.io.emit("console_action", "nonsense", callback=True)["ok"] is False
    huge = clerk1.io.emit(
        "console_action", {"action": "state", "counter": 2**40, "console": C1}, callback=True
    )
    assert huge["ok"] is False and huge["error"] == "not_found"


def test_the_console_never_broadcasts_personal_data(
    app: Flask, clerk1: Console, client: FlaskClient, keys: dict[str, str], passwords: dict[str, str]
) -> None:
    watcher_client = app.test_client()
    watcher = socketio_client(app, keys["display"], client=watcher_client)
    assert watcher.emit("join", {"screen": "display", "centre": "demo"}, callback=True)["ok"]
    t = issue_at_kiosk(client, keys)
    clerk1.act("call_next")
    request = clerk1.act("start", token=t["id"], expect="called")["state"]["current"]["request"]
    clerk1.act(
        "request_save", request=request["id"], record=True,
        fields={"applicant_name": "Sana Bibi", "cnic": "35202-7654321-2", "phone": "03001112223"},
    )  # fmt: skip
    clerk1.act("complete", token=t["id"], expect="serving")
    clerk1.act("request_collection_call", request=request["id"])
    heard = repr(watcher.get_received())
    assert "collection" in heard
    for secret in ("7654321", "Sana", "1112223"):
        assert secret not in heard
    # Another clerk's console shares the counters room: it hears nothing personal either.
    assert "7654321" not in repr([m for m in clerk1.io.get_received() if m["name"] != "snapshot"])


def test_presence_is_per_console(clerk1: Console) -> None:
    assert events.is_live(C1)
    assert not events.is_live(C2)
    clerk1.io.disconnect()
    assert not events.is_live(C1)


def test_an_unreachable_redis_never_locks_a_clerk_out(app: Flask) -> None:
    """Console presence across processes lives in Redis; when Redis cannot be reached a
    console counts as gone (the next tab may take the counter) instead of failing."""
    from counters import events

    app.config["REDIS_URL"] = "redis://127.0.0.1:9/0"
    try:
        assert events._shared_presence("c" * 32, joined="sid-1") is False
        assert events.is_live("c" * 32) is False
    finally:
        app.config["REDIS_URL"] = None
