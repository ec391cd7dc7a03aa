"""Security review fixes (issue 19), socket side: the caller is checked again on every
action (a revoked key, a deactivated clerk or device, a changed password stop at once
and the socket is dropped), and anonymous sockets cannot take every thread."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from queue_server.actors import SYSTEM
from queue_server.models import Counter, Device, ServiceRequest, Staff, StaffApiKey, Token, TokenState
from tests.conftest import bearer
from tests.counters.test_console_socket import Console, FreshClient, login, pick_counter
from tests.support.api import issue_at_kiosk
from tests.support.factories import socketio_client


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    app.test_client_class = FreshClient
    return app.test_client()


@pytest.fixture
def console(
    app: Flask, client: FlaskClient, passwords: dict[str, str], counter_no: Callable[[int], Counter]
) -> Console:
    token = login(client, "clerk1", passwords["clerk1"])
    assert pick_counter(client, token, counter_no(1)).status_code == 303
    desk = Console(app, client, counter_no(1))
    assert desk.join()["ok"]
    return desk


def stopped(reply: Any, io: Any) -> bool:
    return reply.get("ok") is False and reply.get("error") == "unauthenticated" and not io.is_connected()


def staff_named(session: Session, username: str) -> Staff:
    found = session.scalar(select(Staff).where(Staff.username == username))
    assert found is not None
    return found


def test_a_deactivated_clerk_is_stopped_at_the_next_console_action(
    console: Console, client: FlaskClient, keys: dict[str, str], session: Session
) -> None:
    issued = issue_at_kiosk(client, keys)
    called = console.act("call_next")
    assert called["ok"] and called["token"]["number"] == issued["number"]
    started = console.act("start", token=called["token"]["id"], expect="called")
    assert started["ok"], started
    req_id = session.scalar(select(ServiceRequest.id).where(ServiceRequest.token_id == called["token"]["id"]))
    assert req_id is not None
    assert console.act("request_detail", request=req_id)["ok"]
    staff_named(session, "clerk1").is_active = False
    session.commit()
    reply = console.act("request_detail", request=req_id)
    assert stopped(reply, console.io) and "request" not in reply


def test_a_changed_password_stops_the_console_at_once(
    console: Console, client: FlaskClient, keys: dict[str, str], session: Session
) -> None:
    from queue_server.operations.accounts import set_password

    issue_at_kiosk(client, keys)
    set_password(session, staff_named(session, "clerk1").id, "a-new-password-0123", SYSTEM)
    session.commit()
    assert stopped(console.act("call_next"), console.io)
    waiting = session.scalars(select(Token.state)).all()
    assert waiting == [TokenState.WAITING], "nothing was called"


def test_a_revoked_key_stops_socket_calls_at_once(
    app: Flask,
    client: FlaskClient,
    keys: dict[str, str],
    session: Session,
    counter_no: Callable[[int], Counter],
) -> None:
    counter_id = counter_no(2).id
    assert (
        client.post(f"/api/v1/counters/{counter_id}/open", headers=bearer(keys["clerk2"])).status_code == 200
    )
    io = socketio_client(app, keys["clerk2"])
    assert io.is_connected()
    assert io.emit("call_next", {"counter": counter_id}, callback=True) == {"ok": True, "token": None}
    issue_at_kiosk(client, keys)
    clerk = staff_named(session, "clerk2")
    for api_key in session.scalars(select(StaffApiKey).where(StaffApiKey.staff_id == clerk.id)):
        api_key.revoked_at = datetime.now(UTC)
    session.commit()
    reply = io.emit("call_next", {"counter": counter_id}, callback=True)
    assert stopped(reply, io)
    assert session.scalars(select(Token.state)).all() == [TokenState.WAITING]


def test_a_deactivated_device_is_dropped_when_it_joins_again(
    app: Flask, keys: dict[str, str], session: Session
) -> None:
    io = socketio_client(app, keys["display"])
    assert io.emit("join", {"screen": "display", "centre": "demo"}, callback=True)["ok"]
    display = session.scalar(select(Device).where(Device.kind == "display"))
    assert display is not None
    display.is_active = False
    session.commit()
    assert stopped(io.emit("join", {"screen": "display", "centre": "demo"}, callback=True), io)


# 2. Anonymous sockets cannot starve the server ----------------------------------------


def already() -> tuple[int, int, int]:
    """Sockets this process holds already (earlier tests' clients): (all, anonymous, anonymous
    from the test client's address), so the limits below count from there."""
    from queue_server.realtime.hub import connections

    held = connections()
    anonymous = [c for c in held if c.actor is None]
    return len(held), len(anonymous), sum(1 for c in anonymous if c.address == "?")


def test_anonymous_sockets_are_bounded_and_devices_keep_a_reserve(app: Flask, keys: dict[str, str]) -> None:
    total, anonymous_now, _ = already()
    app.config.update(
        SOCKET_MAX_TOTAL=total + 4, SOCKET_MAX_ANONYMOUS=anonymous_now + 2, SOCKET_MAX_PER_ADDRESS=10_000
    )
    anonymous = [socketio_client(app) for _ in range(3)]
    assert [c.is_connected() for c in anonymous] == [True, True, False]
    display = socketio_client(app, keys["display"])
    kiosk = socketio_client(app, keys["kiosk"])
    assert display.is_connected() and kiosk.is_connected(), "the reserve is for paired devices and staff"
    assert not socketio_client(app, keys["clerk1"]).is_connected(), "the total is bounded"
    anonymous[0].disconnect()
    again = socketio_client(app)
    assert again.is_connected(), "a socket that left frees its place"
    for c in (anonymous[1], again, display, kiosk):
        c.disconnect()


def test_anonymous_sockets_per_address_are_bounded(app: Flask) -> None:
    _, anonymous_now, here = already()
    app.config.update(SOCKET_MAX_PER_ADDRESS=here + 2, SOCKET_MAX_ANONYMOUS=anonymous_now + 10)
    clients = [socketio_client(app) for _ in range(3)]
    assert [c.is_connected() for c in clients] == [True, True, False]
    for c in clients[:2]:
        c.disconnect()


def test_tracking_joins_and_lookups_of_valid_codes_are_rate_limited(
    app: Flask, client: FlaskClient, keys: dict[str, str]
) -> None:
    app.config.update(TRACK_LOOKUPS_PER_MINUTE=3)
    code = issue_at_kiosk(client, keys)["public_code"]
    io = socketio_client(app)
    replies = [io.emit("join", {"screen": "track", "code": code}, callback=True) for _ in range(4)]
    assert [r["ok"] for r in replies] == [True, True, True, False]
    assert replies[-1]["error"] == "rate_limited"
    io.disconnect()
    # the page and the API count the same way (here from the test client's own address)
    statuses = [client.get(f"/api/v1/track/{code}").status_code for _ in range(2)]
    statuses.append(client.get(f"/t/{code}").status_code)
    assert statuses == [200, 200, 200]
    assert client.get(f"/api/v1/track/{code}").status_code == 429
