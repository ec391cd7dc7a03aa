"""Faults survived, with real processes and real databases.

PostgreSQL and Redis are shared services here: they are never stopped. A TCP proxy
(tests/support/proxy.py) stands between the server process and the service and is cut,
which the server cannot tell from a dead database (connections reset, new ones refused).
The length of a cut is KHIDMAT_FAULT_CUT_SECONDS (default 2; the issue's 30 s is the same
test with a longer wait). SIGKILL is the real signal; a full disk is SQLite's real
SQLITE_FULL, from ``PRAGMA max_page_count``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import threading
import time
import uuid
from collections import Counter as Tally
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from queue_server.audit import verify_chain
from queue_server.extensions import db
from queue_server.models import Centre, Token
from tests.conftest import PG_URL, REDIS_URL, bearer, fresh_database_url
from tests.queue_server.test_socket_auth import Screen
from tests.support.live import LiveServer, seed
from tests.support.proxy import TcpProxy

CUT_SECONDS = float(os.environ.get("KHIDMAT_FAULT_CUT_SECONDS", "2"))


class Traffic:
    """Kiosk issues and counters calling through the HTTP API, every answer recorded."""

    def __init__(self, server: LiveServer, counters: dict[int, int], clerks: dict[int, str]) -> None:
        self.server = server
        self.counters = counters
        self.clerks = clerks
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.issued: list[dict[str, Any]] = []  # acknowledged (201)
        self.called: list[tuple[int, int]] = []  # (counter number, token id) acknowledged (200)
        self.answers: list[tuple[float, int, dict[str, Any]]] = []
        self.threads = [threading.Thread(target=self._issue, args=(self.server.keys["clerk8"],))]
        self.threads += [threading.Thread(target=self._counter, args=(n,)) for n in counters]

    def _post(self, http: requests.Session, path: str, **kw: Any) -> requests.Response | None:
        try:
            r = http.post(self.server.url + path, timeout=10, **kw)
        except requests.RequestException:
            return None
        body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
        with self.lock:
            self.answers.append((time.monotonic(), r.status_code, body))
        return r

    def _issue(self, key: str) -> None:
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {key}"
        while not self.stop.is_set():
            r = self._post(
                http,
                "/api/v1/centres/demo/tokens",
                json={"service": "character", "idempotency_key": uuid.uuid4().hex},
            )
            if r is not None and r.status_code == 201:
                with self.lock:
                    self.issued.append(r.json())
            self.stop.wait(0.02)

    def _counter(self, number: int) -> None:
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {self.clerks[number]}"
        counter_id = self.counters[number]
        while not self.stop.is_set():
            r = self._post(http, f"/api/v1/counters/{counter_id}/call-next")
            if r is None or r.status_code != 200:
                self.stop.wait(0.05)
                continue
            token_id = r.json()["id"]
            with self.lock:
                self.called.append((number, token_id))
            for action in ("start", "complete"):
                # a cut may fall between the steps: the clerk presses again until it holds
                while not self.stop.is_set():
                    done = self._post(http, f"/api/v1/tokens/{token_id}/{action}")
                    if done is not None and (done.status_code == 200 or done.status_code == 409):
                        break
                    self.stop.wait(0.05)

    def __enter__(self) -> Traffic:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)

    def wait_for(self, condition: Callable[[], bool], seconds: float = 30) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(0.05)
        return False


def open_counters(server: LiveServer, numbers: tuple[int, ...]) -> tuple[dict[int, int], dict[int, str]]:
    """Counters ``numbers`` opened by their clerks: their ids, and the clerks' keys."""
    return {n: server.open_counter(n) for n in numbers}, {n: server.keys[f"clerk{n}"] for n in numbers}


def check_books(database_url: str, traffic: Traffic) -> None:
    """Nothing lost, doubled or half-written: every acknowledged token is stored with its
    number, no number twice, no token called by two counters, an acknowledged call is no
    longer waiting, and the event chain recomputes."""
    engine = create_engine(database_url)
    with engine.connect() as conn:
        stored = {
            r.id: (r.number, r.state) for r in conn.execute(text("SELECT id, number, state FROM tokens"))
        }
        centre_id = conn.execute(text("SELECT id FROM centres WHERE code = 'demo'")).scalar_one()
    with Session(engine) as session:
        chain = verify_chain(session, centre_id)
    engine.dispose()
    lost = [t["number"] for t in traffic.issued if stored.get(t["id"], ("",))[0] != t["number"]]
    assert lost == [], f"acknowledged but lost: {lost}"
    numbers = Tally(number for number, _ in stored.values())
    assert [n for n, c in numbers.items() if c > 1] == []
    twice = [t for t, c in Tally(token for _, token in traffic.called).items() if c > 1]
    assert twice == [], f"called by two counters: {twice}"
    still_waiting = [t for _, t in traffic.called if stored[t][1] in ("waiting", "WAITING")]
    assert still_waiting == []
    assert chain.ok, chain


# PostgreSQL cut under a running server ---------------------------------------------------


@pytest.fixture
def pg_server_behind_proxy(
    database_template: str, tmp_path: Path
) -> Iterator[tuple[LiveServer, TcpProxy, str]]:
    if not PG_URL.startswith("postgresql"):
        pytest.skip("needs KHIDMAT_TEST_DATABASE_URL pointing at PostgreSQL")
    url = fresh_database_url(database_template, tmp_path)
    real = make_url(url)
    proxy = TcpProxy(real.host or "127.0.0.1", real.port or 5432).start()
    proxied = real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    instance = tmp_path / "pg-cut"
    instance.mkdir()
    secrets = seed(url, instance)
    # a transaction the cut left half-open holds its locks at most this long
    server = LiveServer(proxied, instance, env={"KHIDMAT_PG_IDLE_IN_TRANSACTION_SECONDS": "3"})
    server.keys, server.passwords = secrets["keys"], secrets["passwords"]
    try:
        server.start(timeout=60)
        yield server, proxy, url
    finally:
        server.stop()
        proxy.cut()


@pytest.mark.postgres
@pytest.mark.slow
def test_postgres_cut_under_counters_calling(
    pg_server_behind_proxy: tuple[LiveServer, TcpProxy, str],
) -> None:
    server, proxy, url = pg_server_behind_proxy
    counters, clerks = open_counters(server, (1, 2))
    display = Screen(server.url, server.keys["display"])
    assert display.call("join", {"screen": "display", "centre": "demo"})["ok"]
    with Traffic(server, counters, clerks) as traffic:
        assert traffic.wait_for(lambda: len(traffic.called) >= 4 and len(traffic.issued) >= 6)
        proxy.cut()
        cut_at = time.monotonic()
        time.sleep(CUT_SECONDS)
        health = requests.get(server.url + "/healthz", timeout=10)
        assert health.status_code == 503 and health.json()["database"].startswith("error")
        # the hall's screen is told, and shows itself offline (queue_server/static/live.js)
        assert display.wait_for("service_state")[0] == {"database": "down"}
        refused_join = display.call("join", {"screen": "display", "centre": "demo"})
        assert refused_join["ok"] is False and refused_join["error"] == "database_unavailable", refused_join
        during = [(status, body) for at, status, body in list(traffic.answers) if at > cut_at + 0.3]
        snapshots = len(display.received.get("snapshot", []))
        proxy.restore()
        restored_at = time.monotonic()
        issued_before = len(traffic.issued)
        called_before = len(traffic.called)
        # it recovers by itself: no restart, the next requests succeed
        assert traffic.wait_for(
            lambda: len(traffic.issued) > issued_before + 3 and len(traffic.called) > called_before + 1
        ), server.log()
        # the screen recovers by itself: told the database is back, it joins again
        assert display.wait_for("service_state", 2)[1] == {"database": "up"}
        assert display.call("join", {"screen": "display", "centre": "demo"})["ok"]
        assert len(display.wait_for("snapshot", snapshots + 1)) > snapshots
    display.client.disconnect()
    assert during, "the clients were asking during the cut"
    refused = [(s, b) for s, b in during if s >= 500]
    assert refused and {s for s, _ in refused} == {503}, Tally(s for s, _ in during)
    assert {b["error"] for _, b in refused} <= {"database_unavailable", "busy"}
    assert all(b["message"] for _, b in refused)
    assert all(s != 500 for _, s, _ in traffic.answers), [b for _, s, b in traffic.answers if s == 500]
    assert requests.get(server.url + "/healthz", timeout=10).status_code == 200
    assert "Traceback" not in server.log() or "unexpected error" not in server.log()
    assert time.monotonic() - restored_at < 60
    check_books(url, traffic)


# Redis cut between two processes ----------------------------------------------------------


@pytest.fixture
def pair_behind_redis_proxy(
    database_template: str, tmp_path: Path
) -> Iterator[tuple[LiveServer, LiveServer, TcpProxy]]:
    if not PG_URL.startswith("postgresql"):
        pytest.skip("needs KHIDMAT_TEST_DATABASE_URL pointing at PostgreSQL")
    if not REDIS_URL:
        pytest.skip("needs KHIDMAT_TEST_REDIS_URL")
    url = fresh_database_url(database_template, tmp_path)
    real = make_url(REDIS_URL)
    proxy = TcpProxy(real.host or "127.0.0.1", real.port or 6379).start()
    proxied = real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    instance = tmp_path / "redis-cut"
    instance.mkdir()
    secrets = seed(url, instance)
    env = {"KHIDMAT_REDIS_URL": proxied, "KHIDMAT_SOCKETIO_CHANNEL": f"test-{uuid.uuid4().hex}"}
    servers = [LiveServer(url, instance, env=env, async_mode="gevent") for _ in range(2)]
    try:
        for s in servers:
            s.keys, s.passwords = secrets["keys"], secrets["passwords"]
            s.start(timeout=60)
        yield servers[0], servers[1], proxy
    finally:
        for s in servers:
            s.stop()
        proxy.cut()


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
def test_redis_cut_between_two_processes(
    pair_behind_redis_proxy: tuple[LiveServer, LiveServer, TcpProxy],
) -> None:
    a, b, proxy = pair_behind_redis_proxy
    keys = a.keys
    listing = a.api("GET", "/api/v1/centres/demo/counters", keys["manager"]).json()["counters"]
    ids = {c["number"]: c["id"] for c in listing}
    assert a.api("POST", f"/api/v1/counters/{ids[1]}/open", keys["clerk1"]).status_code == 200
    assert b.api("POST", f"/api/v1/counters/{ids[2]}/open", keys["clerk2"]).status_code == 200
    display_a, display_b = Screen(a.url, keys["display"]), Screen(b.url, keys["display"])
    try:
        for screen in (display_a, display_b):
            assert screen.call("join", {"screen": "display", "centre": "demo"})["ok"]
        proxy.cut()
        time.sleep(CUT_SECONDS / 2)
        for server, number, clerk, screen in ((a, 1, "clerk1", display_a), (b, 2, "clerk2", display_b)):
            health = server.api("GET", "/healthz")
            assert health.status_code == 503 and health.json()["redis"].startswith("error")
            assert health.json()["database"] == "ok"
            # each process keeps serving its own clients
            issued = server.api(
                "POST", "/api/v1/centres/demo/tokens", keys[clerk], json={"service": "character"}
            )
            assert issued.status_code == 201, issued.text
            called = server.api("POST", f"/api/v1/counters/{ids[number]}/call-next", keys[clerk])
            assert called.status_code == 200, called.text
            seen = screen.wait_for("token_called", timeout=10)
            assert called.json()["id"] in [c["token"]["id"] for c in seen]
            for action in ("start", "complete"):
                done = server.api("POST", f"/api/v1/tokens/{called.json()['id']}/{action}", keys[clerk])
                assert done.status_code == 200, done.text
        time.sleep(CUT_SECONDS / 2)
        proxy.restore()
        for server in (a, b):  # recovery without a restart
            deadline = time.monotonic() + 30
            while server.api("GET", "/healthz").status_code != 200 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert server.api("GET", "/healthz").json() == {"status": "ok", "database": "ok", "redis": "ok"}
        # and the processes hear each other again: a call through B reaches A's display
        deadline = time.monotonic() + 30
        reached = False
        while not reached and time.monotonic() < deadline:
            assert (
                b.api(
                    "POST", "/api/v1/centres/demo/tokens", keys["clerk2"], json={"service": "character"}
                ).status_code
                == 201
            )
            done = b.api("POST", f"/api/v1/counters/{ids[2]}/call-next", keys["clerk2"]).json()["id"]
            for action in ("start", "complete"):
                assert b.api("POST", f"/api/v1/tokens/{done}/{action}", keys["clerk2"]).status_code == 200
            end = time.monotonic() + 3
            while time.monotonic() < end and not reached:
                reached = done in [c["token"]["id"] for c in display_a.received.get("token_called", [])]
                time.sleep(0.1)
        assert reached, "a call through B never reached A's display after Redis came back"
    finally:
        display_a.close()
        display_b.close()


# SIGKILL during a burst of issues and calls ---------------------------------------------


@pytest.mark.slow
def test_sigkill_during_issues_and_calls(live_server: LiveServer) -> None:
    s = live_server
    counters, clerks = open_counters(s, (1, 2, 3))
    with Traffic(s, counters, clerks) as traffic:
        assert traffic.wait_for(lambda: len(traffic.called) >= 10 and len(traffic.issued) >= 15, 60)
        s.stop(signal.SIGKILL)
    check_books(s.database_url, traffic)
    s.start()
    # after the restart the counters go on: the next call is a token nobody had
    called = {t for _, t in traffic.called}
    issued = s.api("POST", "/api/v1/centres/demo/tokens", s.keys["clerk8"], json={"service": "character"})
    assert issued.status_code == 201
    for number in counters:
        r = s.api("POST", f"/api/v1/counters/{counters[number]}/call-next", clerks[number])
        assert r.status_code in (200, 204, 409), r.text
        if r.status_code == 200:
            assert r.json()["id"] not in called


# SQLite disk full -------------------------------------------------------------------------


@pytest.fixture
def sqlite_app(tmp_path: Path, app_config: dict[str, Any]) -> Iterator[Flask]:
    """An SQLite centre of its own, whatever database the run is configured with."""
    from queue_server.app import create_app
    from queue_server.seed import seed_demo
    from tests.conftest import _migrate

    url = f"sqlite:///{tmp_path / 'full.sqlite3'}"
    _migrate(url, tmp_path / "migrate-instance")
    app = create_app({**app_config, "DATABASE_URL": url})
    with app.app_context():
        seed_demo(db.session())
        db.session.commit()
        yield app
        db.session.remove()
        db.engine.dispose()


def test_a_full_disk_on_sqlite_is_a_clear_refusal(sqlite_app: Flask) -> None:
    client = sqlite_app.test_client()
    session = db.session
    centre = session.scalars(select(Centre)).one()
    centre_id = centre.id
    clerk = bearer(_a_clerk_key(session))
    assert (
        client.post("/api/v1/centres/demo/tokens", json={"service": "character"}, headers=clerk).status_code
        == 201
    )
    pages = session.execute(text("PRAGMA page_count")).scalar_one()
    session.rollback()

    def cap(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages + 1}")

    event.listen(db.engine, "connect", cap)
    db.session.remove()
    db.engine.dispose()  # every connection from now on has the cap
    answers = []
    try:
        for _ in range(400):
            r = client.post("/api/v1/centres/demo/tokens", json={"service": "character"}, headers=clerk)
            answers.append(r)
            if r.status_code != 201:
                break
    finally:
        event.remove(db.engine, "connect", cap)
        db.session.remove()
        db.engine.dispose()
    refused = answers[-1]
    assert refused.status_code == 503, refused.text
    body = refused.get_json()
    assert body["error"] == "storage_full" and "disk is full" in body["message"]
    acknowledged = [r.get_json()["number"] for r in answers if r.status_code == 201]
    stored = session.scalars(select(Token.number)).all()
    assert len(stored) == 1 + len(acknowledged) and set(acknowledged) <= set(stored)
    path = make_url(str(db.engine.url)).database
    assert path is not None
    with contextlib.closing(sqlite3.connect(path)) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert verify_chain(session, centre_id).ok
    session.rollback()
    # space again: it goes on, numbering without a gap
    again = client.post("/api/v1/centres/demo/tokens", json={"service": "character"}, headers=clerk)
    assert again.status_code == 201
    assert session.scalar(select(func.count()).select_from(Token)) == len(stored) + 1
    urdu = client.post(
        "/api/v1/centres/demo/tokens",
        json={"service": "character"},
        headers={**clerk, "Accept-Language": "ur"},
    )
    assert urdu.status_code == 201


def _a_clerk_key(session: Any) -> str:
    from queue_server.credentials import key_hash, new_key
    from queue_server.models import Staff, StaffApiKey

    clerk = session.scalars(select(Staff).where(Staff.username == "clerk1")).one()
    key = new_key("staff")
    clerk.api_keys.append(StaffApiKey(key_hash=key_hash(key), label="test"))
    session.commit()
    return key
