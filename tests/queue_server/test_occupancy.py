"""Which rooms have a socket in them (``realtime.occupancy``): counted in this process,
shared between processes through Redis, entered before a screen's snapshot is read, so a
builder skips only what nobody watches and never what someone does."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from redis.exceptions import RedisError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from queue_server import publish
from queue_server.errors import N_, Forbidden
from queue_server.extensions import db
from queue_server.models import Centre
from queue_server.realtime import hub
from queue_server.realtime.occupancy import Occupancy, _Shared, occupancy
from queue_server.realtime.screens import SCREENS, screen
from queue_server.redis_link import redis_client
from tests.conftest import REDIS_URL
from tests.support.factories import socketio_client


def test_a_room_is_watched_while_one_of_its_sockets_is_in_it(app: Flask) -> None:
    with app.app_context():
        rooms = occupancy()
        rooms.enter("sid-1", ["token:A", "centre:1:display"])
        rooms.enter("sid-2", ["token:A"])
        assert rooms.held() == {"token:A": 2, "centre:1:display": 1}
        rooms.enter("sid-1", ["centre:1:display"])  # a second join replaces the first's rooms
        assert rooms.held() == {"token:A": 1, "centre:1:display": 1}
        rooms.leave("sid-2")
        assert hub.watching("token:A") is False
        assert hub.watching("centre:1:display") is True
        rooms.leave("sid-1")
        rooms.leave("sid-1")  # (twice: nothing more)
        assert rooms.held() == {}


@pytest.fixture
def probe_screen(app: Flask) -> Iterator[list[Any]]:
    """A screen ``probe`` whose snapshot says whether its room was watched while it was
    read; ``{"refuse": true}`` makes the read refuse, ``{"change": name}`` renames the
    centre elsewhere after the join's first read and before its rooms are entered."""
    seen: list[Any] = []
    engine = db.engine

    def rename(name: str) -> None:
        with engine.begin() as other:
            other.execute(update(Centre).values(name_en=name))

    def join_probe(s: Session, _actor: Any, data: dict[str, Any]) -> Any:
        name = s.scalar(select(Centre.name_en))  # the handler's own reads
        if data.get("change"):  # a change committed now (elsewhere), before the rooms are entered
            elsewhere = threading.Thread(target=rename, args=(data["change"],))
            elsewhere.start()
            elsewhere.join(10)

        def read() -> dict[str, Any]:
            seen.append(hub.watching("probe:room"))
            if data.get("refuse"):
                raise Forbidden(N_("You are not allowed to do this."))
            return {"watched": seen[-1], "name": s.scalar(select(Centre.name_en)), "was": name}

        return ["probe:room"], read

    screen("probe")(join_probe)
    try:
        yield seen
    finally:
        SCREENS.pop("probe", None)


def test_a_screen_s_rooms_are_entered_before_its_snapshot_is_read(app: Flask, probe_screen: list[Any]) -> None:
    """So a change committed after the read is built for the screen (a builder asks after
    its commit); a join refused while reading leaves the socket's rooms as they were."""
    page = socketio_client(app)
    with app.app_context():
        assert hub.watching("probe:room") is False
    assert page.emit("join", {"screen": "probe"}, callback=True)["ok"]
    snapshot = [m["args"][0] for m in page.get_received() if m["name"] == "snapshot"]
    assert [s["watched"] for s in snapshot] == [True]
    refused = page.emit("join", {"screen": "probe", "refuse": True}, callback=True)
    assert refused["ok"] is False and refused["error"] == "forbidden"
    assert probe_screen == [True, True]
    with app.app_context():
        assert hub.watching("probe:room") is True  # still in it: the refused join changed nothing
    page.disconnect()
    with app.app_context():
        assert hub.watching("probe:room") is False
        assert occupancy().held() == {}


def test_a_change_committed_before_the_rooms_are_entered_is_in_the_snapshot(
    app: Flask, centre: Centre, probe_screen: list[Any]
) -> None:
    """Its builder may have found nobody watching, so the snapshot must hold it: it is read
    afresh after the rooms are entered, though the join had read before (on SQLite a read
    transaction sees the database as at its first statement)."""
    page = socketio_client(app)
    assert page.emit("join", {"screen": "probe", "change": "Renamed"}, callback=True)["ok"]
    snapshot = [m["args"][0] for m in page.get_received() if m["name"] == "snapshot"]
    assert snapshot == [{"watched": True, "name": "Renamed", "was": centre.name_en}]
    page.disconnect()


# -- between processes, through Redis --------------------------------------------------------


@pytest.fixture
def channel() -> Iterator[str]:
    if not REDIS_URL:
        pytest.skip("needs KHIDMAT_TEST_REDIS_URL (Redis, shared between processes)")
    name = f"test-{uuid.uuid4().hex}"
    yield name
    client = redis_client(REDIS_URL)
    keys = list(client.scan_iter(f"{name}:*"))
    if keys:
        client.delete(*keys)


def process(channel: str, url: str = "", **config: Any) -> Occupancy:
    """One server process's registry: its own name, as each process has."""
    app = Flask(__name__)
    app.config.update(TESTING=True, REDIS_URL=url or REDIS_URL, SOCKETIO_CHANNEL=channel, **config)
    return Occupancy(app)


def in_a_change(rooms: Occupancy, room: str) -> bool:
    """``rooms.watching(room)`` asked as a change's builder asks: after the change began."""
    with publish._one_change():
        return rooms.watching(room)


@pytest.mark.redis
def test_a_room_entered_in_one_process_is_watched_in_another(channel: str) -> None:
    a, b = process(channel), process(channel)
    assert in_a_change(b, "token:X") is False
    a.enter("sid-1", ["token:X"])
    assert in_a_change(b, "token:X") is True  # read after the change began: never stale
    a.enter("sid-2", ["token:X"])
    a.leave("sid-1")
    assert in_a_change(b, "token:X") is True
    a.leave("sid-2")
    assert in_a_change(b, "token:X") is False
    # one round trip per change while nothing moved: the copy is kept
    with publish._one_change():
        first = b.watching("token:Y")
        assert b._shared is not None and b._shared.union is not None
        kept = b._shared.union
        assert b.watching("token:Z") is first is False
        assert b._shared.union is kept


@pytest.mark.redis
def test_many_threads_entering_and_leaving_leave_redis_as_the_process_holds(channel: str) -> None:
    """Additions and removals of one room race from 16 threads: Redis ends with exactly
    the rooms still held, never without a room a socket is in."""
    a, b = process(channel), process(channel)
    start = threading.Barrier(16)

    def churn(n: int) -> None:
        start.wait()
        for i in range(40):
            a.enter(f"sid-{n}", [f"token:{i % 3}", "centre:1:display"])
            a.enter(f"sid-{n}", [])
        if n % 2:
            a.enter(f"sid-{n}", ["token:kept"])

    threads = [threading.Thread(target=churn, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert a.held() == {"token:kept": 8}
    assert a._shared is not None
    members = redis_client(REDIS_URL).smembers(a._shared.own_key())
    assert {m.decode() for m in members} == {"token:kept"}
    assert in_a_change(b, "token:kept") is True
    assert [in_a_change(b, room) for room in ("token:0", "token:1", "token:2", "centre:1:display")] == [False] * 4


@pytest.mark.redis
def test_the_heartbeat_restores_what_redis_lost_and_drops_dead_processes(channel: str) -> None:
    a, b, dead = process(channel), process(channel), process(channel)
    a.enter("sid-1", ["token:A"])
    dead.enter("sid-9", ["token:D"])
    client = redis_client(REDIS_URL)
    assert a._shared is not None and dead._shared is not None
    client.delete(a._shared.own_key(), dead._shared.own_key())  # a restart lost a's; dead's expired
    assert in_a_change(b, "token:A") is False
    a.run_once()  # a's heartbeat: its rooms written again, the others told to read again
    assert in_a_change(b, "token:A") is True
    processes = {p.decode() for p in client.smembers(f"{channel}:rooms:processes")}
    assert processes == {a._shared.process}  # dead's entry dropped (b holds no room, so none)
    assert in_a_change(b, "token:D") is False


@pytest.mark.redis
def test_a_set_expires_when_its_process_stops_renewing_it(channel: str) -> None:
    a = process(channel, ROOMS_EXPIRE_SECONDS=1)
    a.enter("sid-1", ["token:A"])
    assert a._shared is not None
    ttl = redis_client(REDIS_URL).ttl(a._shared.own_key())
    assert 0 < ttl <= 1


@pytest.mark.redis
def test_after_a_failed_write_the_next_one_writes_the_whole_set(
    channel: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = process(channel), process(channel)
    a.enter("sid-1", ["token:A"])
    real = _Shared.write
    failing = [True]

    def write_once_failing(self: _Shared, *args: Any) -> None:
        if failing.pop() if failing else False:
            self.synced = False
            raise RedisError("connection lost")
        real(self, *args)

    monkeypatch.setattr(_Shared, "write", write_once_failing)
    a.enter("sid-2", ["token:B"])  # lost on the way: the process keeps going
    a.leave("sid-1")  # written whole: B in, A out
    assert a._shared is not None
    assert {m.decode() for m in redis_client(REDIS_URL).smembers(a._shared.own_key())} == {"token:B"}
    assert in_a_change(b, "token:B") is True and in_a_change(b, "token:A") is False


def test_when_redis_cannot_be_reached_every_room_counts_as_watched() -> None:
    unreachable = process("test-unreachable", url="redis://127.0.0.1:9/0")
    unreachable.enter("sid-1", ["token:A"])  # (logged, not raised)
    assert unreachable.watching("token:A") is True
    assert unreachable.watching("token:nobody") is True
    assert unreachable._shared is not None and unreachable._shared.synced is False
