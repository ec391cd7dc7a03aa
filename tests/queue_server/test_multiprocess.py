"""The production recipe: two ``khidmat serve`` processes (gevent workers) on one
PostgreSQL database and one Redis message queue.

A call made through process A reaches a display connected to process B (and back); a CLI
command (end of day) reaches the screens of both; and six counters spread over both
processes, half over HTTP and half over the socket, drain a few hundred tokens calling
none twice and leaving none behind, while a display on each process sees every call once.
Skipped (with the reason) unless KHIDMAT_TEST_DATABASE_URL is PostgreSQL and
KHIDMAT_TEST_REDIS_URL is set, as CI sets both.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter as Tally
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text

from tests.conftest import PG_URL, REDIS_URL, fresh_database_url
from tests.queue_server.test_socket_auth import Screen
from tests.support.live import LiveServer, seed

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

TOKENS = int(os.environ.get("KHIDMAT_RACE_TOKENS", "300")) // 2  # six counters, two processes
COUNTERS = (1, 2, 3, 4, 5, 6)  # 1-3 work through process A over HTTP, 4-6 through B over the socket


@dataclass
class Cluster:
    a: LiveServer
    b: LiveServer
    env: dict[str, str]
    keys: dict[str, str]

    def khidmat(self, *args: str) -> subprocess.CompletedProcess[str]:
        cli = str(Path(sys.executable).with_name("khidmat"))
        return subprocess.run(
            [cli, *args], env=self.a.environment(), capture_output=True, text=True, timeout=120, check=False
        )

    def counter_ids(self) -> dict[int, int]:
        counters = self.a.api("GET", "/api/v1/centres/demo/counters", self.keys["manager"]).json()["counters"]
        return {c["number"]: c["id"] for c in counters}


@pytest.fixture
def services_configured() -> None:
    if not PG_URL.startswith("postgresql"):
        pytest.skip("needs KHIDMAT_TEST_DATABASE_URL pointing at PostgreSQL")
    if not REDIS_URL:
        pytest.skip("needs KHIDMAT_TEST_REDIS_URL (Redis, the message queue between processes)")


@pytest.fixture
def cluster(services_configured: None, database_template: str, tmp_path: Path) -> Iterator[Cluster]:
    url = fresh_database_url(database_template, tmp_path)
    instance = tmp_path / "cluster"
    instance.mkdir()
    secrets = seed(url, instance)
    # a channel of its own, so parallel runs on the same Redis never hear each other
    env = {"KHIDMAT_REDIS_URL": REDIS_URL, "KHIDMAT_SOCKETIO_CHANNEL": f"test-{uuid.uuid4().hex}"}
    servers = [LiveServer(url, instance, env=env, async_mode="gevent") for _ in range(2)]
    try:
        for server in servers:
            server.keys, server.passwords = secrets["keys"], secrets["passwords"]
            server.start(timeout=60)
        yield Cluster(servers[0], servers[1], env, secrets["keys"])
    finally:
        for server in servers:
            server.stop()


def test_the_two_processes_are_gevent_servers_on_postgres_and_redis(cluster: Cluster) -> None:
    for server in (cluster.a, cluster.b):
        health = server.api("GET", "/healthz").json()
        assert health == {"status": "ok", "database": "ok", "redis": "ok"}
        log = server.log()
        assert "Using worker: gevent" in log and "async_mode=gevent" in log
        # psycopg waits cooperatively (its blocking C wait would freeze a gevent worker)
        assert "psycopg wait=wait_" in log and "psycopg wait=wait_c" not in log
    assert cluster.a.process is not None and cluster.b.process is not None
    assert cluster.a.process.pid != cluster.b.process.pid and cluster.a.port != cluster.b.port


def test_a_call_through_one_process_reaches_a_display_on_the_other(cluster: Cluster) -> None:
    keys, counters = cluster.keys, cluster.counter_ids()
    display_b = Screen(cluster.b.url, keys["display"])
    display_a = Screen(cluster.a.url, keys["display"])
    try:
        assert display_b.call("join", {"screen": "display", "centre": "demo"})["ok"]
        assert display_a.call("join", {"screen": "display", "centre": "demo"})["ok"]
        assert (
            cluster.a.api("POST", f"/api/v1/counters/{counters[1]}/open", keys["clerk1"]).status_code == 200
        )
        assert (
            cluster.b.api("POST", f"/api/v1/counters/{counters[2]}/open", keys["clerk2"]).status_code == 200
        )
        for server in (cluster.a, cluster.b):
            issued = server.api(
                "POST", "/api/v1/centres/demo/tokens", keys["kiosk"], json={"service": "character"}
            )
            assert issued.status_code == 201
        first = cluster.a.api("POST", f"/api/v1/counters/{counters[1]}/call-next", keys["clerk1"]).json()
        seen_on_b = display_b.wait_for("token_called")[0]
        assert seen_on_b["token"]["id"] == first["id"] and seen_on_b["token"]["counter"] == 1
        second = cluster.b.api("POST", f"/api/v1/counters/{counters[2]}/call-next", keys["clerk2"]).json()
        seen_on_a = display_a.wait_for("token_called", 2)
        assert [c["token"]["id"] for c in seen_on_a] == [first["id"], second["id"]]
        assert display_b.wait_for("counter_changed"), "counter changes travel too"
    finally:
        display_a.close()
        display_b.close()


def test_a_tracking_page_on_one_process_follows_calls_made_through_the_other(cluster: Cluster) -> None:
    """Process A builds a page's positions only for rooms some process has a socket in
    (``realtime.occupancy``, through Redis): a page on B is one, though A has no socket in
    it, and so is a second page opened on B after A has read the rooms once."""
    keys, counters = cluster.keys, cluster.counter_ids()
    for number in (1, 2):
        opened = cluster.a.api("POST", f"/api/v1/counters/{counters[number]}/open", keys[f"clerk{number}"])
        assert opened.status_code == 200
    issued = [
        cluster.a.api("POST", "/api/v1/centres/demo/tokens", keys["kiosk"], json={"service": "character"}).json()
        for _ in range(4)
    ]
    page = Screen(cluster.b.url)
    try:
        assert page.call("join", {"screen": "track", "code": issued[3]["public_code"]})["ok"]
        assert page.wait_for("snapshot")[0]["number"] == issued[3]["number"]
        assert cluster.a.api("POST", f"/api/v1/counters/{counters[1]}/call-next", keys["clerk1"]).status_code == 200
        position = page.wait_for("position")[-1]
        assert (position["number"], position["ahead"]) == (issued[3]["number"], 2)
    finally:
        page.close()
    other = Screen(cluster.b.url)
    try:
        assert other.call("join", {"screen": "track", "code": issued[2]["public_code"]})["ok"]
        assert cluster.a.api("POST", f"/api/v1/counters/{counters[2]}/call-next", keys["clerk2"]).status_code == 200
        position = other.wait_for("position")[-1]
        assert (position["number"], position["ahead"]) == (issued[2]["number"], 0)
    finally:
        other.close()


def test_end_of_day_from_the_cli_reaches_screens_on_both_processes(cluster: Cluster) -> None:
    keys = cluster.keys
    # Office hours (the test servers run round the clock): a centre closed at its day
    # boundary closes every token left at end of day.
    office = create_engine(cluster.a.database_url)
    with office.begin() as conn:
        conn.execute(
            text("UPDATE opening_hours SET is_round_the_clock = false, opens_at = '08:00:00', closes_at = '16:00:00'")
        )
    office.dispose()
    for _ in range(3):
        cluster.b.api("POST", "/api/v1/centres/demo/tokens", keys["kiosk"], json={"service": "tenant"})
    join = {"screen": "display", "centre": "demo"}
    screens = [Screen(cluster.a.url, keys["display"]), Screen(cluster.b.url, keys["display"])]
    try:
        for screen in screens:
            assert screen.call("join", join)["ok"]
            before = screen.wait_for("snapshot")[0]
            assert sum(s["waiting"] for s in before["services"]) == 3
            # what live.js does: a refresh is answered by joining again
            screen.client.on("refresh", lambda _data, screen=screen: screen.client.emit("join", join))
        done = cluster.khidmat("end-of-day", "--centre", "demo")
        assert done.returncode == 0, done.stderr
        assert "closed 3 tokens" in done.stdout
        for screen in screens:
            fresh = screen.wait_for("snapshot", 2)[-1]
            assert sum(s["waiting"] for s in fresh["services"]) == 0
    finally:
        for screen in screens:
            screen.close()


def test_counters_on_both_processes_never_call_a_token_twice(cluster: Cluster) -> None:
    keys, counters = cluster.keys, cluster.counter_ids()
    services = ["character", "verification", "overseas", "employee", "tenant", "vehicle", "token_tax"]
    services += ["learner", "licence_renewal", "lost_document", "crime_report", "fir_copy"]
    displays = [Screen(cluster.a.url, keys["display"]), Screen(cluster.b.url, keys["display"])]
    for display in displays:
        assert display.call("join", {"screen": "display", "centre": "demo"})["ok"]

    def issue(i: int) -> int:
        server = (cluster.a, cluster.b)[i % 2]
        body = {"service": services[i % len(services)]}
        response = server.api("POST", "/api/v1/centres/demo/tokens", keys["manager"], json=body)
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    with ThreadPoolExecutor(4) as pool:
        issued = list(pool.map(issue, range(TOKENS)))
    assert len(set(issued)) == TOKENS

    called: list[tuple[int, int]] = []
    lock = threading.Lock()
    failures: list[str] = []

    def over_http(number: int) -> None:
        server, key, counter = cluster.a, keys[f"clerk{number}"], counters[number]
        assert server.api("POST", f"/api/v1/counters/{counter}/open", key).status_code == 200
        while True:
            response = server.api("POST", f"/api/v1/counters/{counter}/call-next", key)
            if response.status_code == 204:
                return
            assert response.status_code == 200, response.text
            token = response.json()["id"]
            with lock:
                called.append((token, number))
            for action in ("start", "complete"):
                done = server.api("POST", f"/api/v1/tokens/{token}/{action}", key, json={})
                assert done.status_code == 200, (action, done.text)

    def over_socket(number: int) -> None:
        key, counter = keys[f"clerk{number}"], counters[number]
        assert cluster.b.api("POST", f"/api/v1/counters/{counter}/open", key).status_code == 200
        console = Screen(cluster.b.url, key)
        try:
            assert console.call("join", {"screen": "counter", "counter": counter})["ok"]
            while True:
                reply = console.call("call_next", {"counter": counter})
                assert reply["ok"], reply
                if reply["token"] is None:
                    return
                token = reply["token"]["id"]
                with lock:
                    called.append((token, number))
                for action in ("start", "complete"):
                    done = console.call("token_action", {"token": token, "action": action})
                    assert done["ok"], (action, done)
        finally:
            console.close()

    def counter_worker(number: int) -> None:
        try:
            (over_http if number <= 3 else over_socket)(number)
        except BaseException as exc:  # reported below, failing the test
            failures.append(f"counter {number}: {exc!r}")

    workers = [threading.Thread(target=counter_worker, args=(n,)) for n in COUNTERS]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    try:
        assert failures == [], "\n".join(
            [*failures, "A:", cluster.a.log()[-3000:], "B:", cluster.b.log()[-3000:]]
        )
        ids = [token for token, _ in called]
        twice = [token for token, n in Tally(ids).items() if n > 1]
        assert twice == [], f"{len(twice)} tokens called twice"
        assert sorted(ids) == sorted(issued), "every token called exactly once"
        assert {n for _, n in called} == set(COUNTERS), "every counter took part"
        left = cluster.b.api("GET", "/api/v1/centres/demo/services", keys["manager"]).json()["services"]
        assert sum(s["waiting"] for s in left) == 0
        for display in displays:  # each display, on either process, saw every call once
            calls = display.wait_for("token_called", TOKENS, timeout=60)
            assert sorted(c["token"]["id"] for c in calls if c["kind"] == "call") == sorted(issued)
    finally:
        for display in displays:
            display.close()
    verify = cluster.khidmat("audit", "verify", "--centre", "demo")
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_login_throttling_holds_across_processes(cluster: Cluster) -> None:
    """Failures are counted in the shared store (Redis): guessing through both processes
    throttles as fast. A throttled answer looks like any failed login (issue 19): even the
    right password is refused from the guessing address, on either process."""

    def login(server: LiveServer, password: str) -> int:
        browser = requests.Session()
        token = browser.get(server.url + "/api/v1/auth/csrf", timeout=10).json()["csrf_token"]
        return browser.post(
            server.url + "/api/v1/auth/login",
            json={"username": "clerk5", "password": password},
            headers={"X-CSRFToken": token},
            timeout=10,
        ).status_code

    for attempt in range(5):  # LOGIN_MAX_FAILURES, alternating between the processes
        assert login((cluster.a, cluster.b)[attempt % 2], "wrong") == 401
    right = cluster.a.passwords["clerk5"]
    assert login(cluster.a, right) == 401
    assert login(cluster.b, right) == 401


# How `khidmat serve` decides (no services needed) ----------------------------------------

SQLITE = {"KHIDMAT_DATABASE_URL": "sqlite:////tmp/x.sqlite3"}
POSTGRES = {"KHIDMAT_DATABASE_URL": "postgresql+psycopg://u@h/db"}


def page_csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html) or re.search(
        r'name="csrf-token" content="([^"]+)"', html
    )
    assert found, html[:300]
    return found.group(1)


def browser_login(http: requests.Session, url: str, username: str, password: str) -> str:
    """Log in through the real form, as a browser does; returns the page's CSRF token."""
    token = page_csrf(http.get(url + "/counter", timeout=10).text)
    r = http.post(
        url + "/counter/login",
        data={"username": username, "password": password, "csrf_token": token},
        allow_redirects=False,
        timeout=10,
    )
    assert r.status_code == 303, r.text[:300]
    return page_csrf(http.get(url + "/counter", timeout=10).text)


def test_a_second_console_on_the_other_process_is_refused(cluster: Cluster) -> None:
    """One console per counter across processes: a tab on process A has counter 1; a
    second tab, which nginx sent to process B, is refused while A's is connected, and takes
    over once it is gone."""
    counter = cluster.counter_ids()[1]
    password = cluster.a.passwords["clerk1"]
    first, second = uuid.uuid4().hex, uuid.uuid4().hex
    tab_a, tab_b = requests.Session(), requests.Session()
    token_a = browser_login(tab_a, cluster.a.url, "clerk1", password)
    opened = tab_a.post(
        cluster.a.url + "/counter/open",
        data={"counter": counter, "console": first, "csrf_token": token_a},
        allow_redirects=False,
        timeout=10,
    )
    assert opened.status_code == 303, opened.text[:300]
    console_a = Screen(cluster.a.url, cluster.keys["clerk1"])
    try:
        assert console_a.call("join", {"screen": "console", "counter": counter, "console": first})["ok"]
        token_b = browser_login(tab_b, cluster.b.url, "clerk1", password)

        def claim_on_b() -> requests.Response:
            return tab_b.post(
                cluster.b.url + "/counter/claim",
                json={"counter": counter, "console": second},
                headers={"X-CSRFToken": token_b},
                timeout=10,
            )

        refused = claim_on_b()
        assert refused.status_code == 409, refused.text[:300]
        assert refused.json()["error"] == "counter_open_elsewhere"
    finally:
        console_a.close()
    deadline = time.monotonic() + 15
    while (taken := claim_on_b()).status_code == 409 and time.monotonic() < deadline:
        time.sleep(0.2)  # process A hears the disconnect and drops the console from Redis
    assert taken.status_code == 200, taken.text[:300]


def test_a_gevent_server_runs_its_own_code_whatever_directory_it_starts_in(
    services_configured: None, database_template: str, tmp_path: Path
) -> None:
    """``serve`` re-executes itself for gevent (``python -m queue_server.serving``); ``-m``
    would import a ``queue_server`` found in the working directory (another checkout, a
    backup) before the installed one. Started beside a copy that refuses to import, the
    server still runs its own."""
    url = fresh_database_url(database_template, tmp_path)
    instance = tmp_path / "instance"
    instance.mkdir()
    seed(url, instance)
    elsewhere = tmp_path / "another-checkout"
    (elsewhere / "queue_server").mkdir(parents=True)
    (elsewhere / "queue_server" / "__init__.py").write_text('raise ImportError("the copy in the directory")\n')
    server = LiveServer(url, instance, async_mode="gevent", cwd=elsewhere)
    try:
        server.start(timeout=60)
        assert server.api("GET", "/healthz").json()["database"] == "ok"
        assert "Using worker: gevent" in server.log() and "the copy in the directory" not in server.log()
    finally:
        server.stop()


def test_serve_picks_the_worker_class_from_the_database() -> None:
    from queue_server.serving import plan

    embedded = plan(workers=None, threads=200, async_mode=None, env=SQLITE)
    assert embedded["mode"] == "threading" and embedded["options"]["worker_class"] == "gthread"
    assert embedded["options"]["workers"] == 1 and embedded["options"]["threads"] == 200
    production = plan(workers=None, threads=200, async_mode=None, env=POSTGRES)
    assert production["mode"] == "gevent" and production["options"]["worker_class"] == "gevent"
    scaled = plan(workers=3, threads=1, async_mode=None, env={**POSTGRES, "KHIDMAT_REDIS_URL": "redis://x"})
    assert scaled["options"]["workers"] == 3


@pytest.mark.parametrize(
    ("env", "workers", "mode", "refusal"),
    [
        (SQLITE, 1, "gevent", "gevent with SQLite"),
        ({}, 1, "gevent", "gevent with SQLite"),
        (SQLITE, 2, None, "several workers"),
        (POSTGRES, 2, None, "several workers"),  # no Redis: screens on the other worker would miss events
        (POSTGRES, 1, "eventlet", "async mode"),
        (POSTGRES, -1, None, "at least 1"),
    ],
)
def test_serve_refuses_unsafe_setups(
    env: dict[str, str], workers: int, mode: str | None, refusal: str
) -> None:
    from queue_server.serving import plan

    with pytest.raises(SystemExit, match=refusal):
        plan(workers=workers, threads=10, async_mode=mode, env=env)


@pytest.mark.parametrize(
    ("hops", "trust_host", "expected"),
    [
        ("0", "", "http://127.0.0.1:5000/t/"),
        ("1", "", "https://127.0.0.1:5000/t/"),  # X-Forwarded-Host only when told to trust it
        ("1", "1", "https://queue.example.pk/t/"),
    ],
)
def test_forwarded_headers_are_trusted_only_behind_a_configured_proxy(
    hops: str,
    trust_host: str,
    expected: str,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    demo_keys: dict[str, str],
) -> None:
    from queue_server.serving import load_app

    for name, value in {
        "KHIDMAT_DATABASE_URL": database_url,
        "KHIDMAT_SECRET_KEY": "proxy-test-secret-0123456789abcdef",
        "KHIDMAT_INSTANCE_PATH": str(tmp_path / "proxied"),
        "KHIDMAT_PROXY_HOPS": hops,
        "KHIDMAT_PROXY_TRUST_HOST": trust_host,
    }.items():
        monkeypatch.setenv(name, value)
    app = load_app("threading", int(hops))
    issued = app.test_client().post(
        "/api/v1/centres/demo/tokens",
        json={"service": "character"},
        base_url="http://127.0.0.1:5000",
        headers={
            "Authorization": f"Bearer {demo_keys['kiosk']}",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "queue.example.pk",
            "X-Forwarded-For": "203.0.113.9",
        },
    )
    with app.app_context():
        from queue_server.extensions import db

        db.session.remove()
        db.engine.dispose()
    assert issued.status_code == 201, issued.get_json()
    assert issued.get_json()["tracking_url"].startswith(expected)


@pytest.fixture
def demo_keys(database_url: str, tmp_path: Path) -> dict[str, str]:
    return seed(database_url, tmp_path / "seeded")["keys"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("raw", ["x", "-1", "1.5"])
def test_proxy_hops_must_be_a_count(raw: str) -> None:
    from queue_server.serving import proxy_hops

    with pytest.raises(SystemExit, match="KHIDMAT_PROXY_HOPS"):
        proxy_hops({"KHIDMAT_PROXY_HOPS": raw})
    assert proxy_hops({}) == 0 and proxy_hops({"KHIDMAT_PROXY_HOPS": "2"}) == 2
