"""A real ``khidmat serve`` (gunicorn) in a subprocess, on a seeded database, for the
websocket and browser tests; and the headless Chromium that drives its pages."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import update

from queue_server.app import create_app
from queue_server.extensions import db
from queue_server.models import OpeningHours
from queue_server.seed import seed_demo

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--autoplay-policy=no-user-gesture-required",
]


def wait_true(page: Any, expression: str, timeout: float = 30000) -> None:
    """Wait until ``expression`` is truthy in the page, under the page's own Content-Security-
    Policy: Playwright's ``wait_for_function`` polls a string predicate through ``eval`` inside
    the page, which a policy without ``'unsafe-eval'`` refuses; ``evaluate`` runs through the
    debugging protocol, which the policy does not govern."""
    deadline = time.monotonic() + timeout / 1000
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise TimeoutError(f"not true after {timeout:.0f} ms: {expression}")
        page.wait_for_timeout(50)


def listen(client: Any, names: Iterable[str], handler: Callable[[str, Any], None]) -> None:
    """Have a python-socketio ``client`` hand ``handler(name, payload)`` the events
    ``names`` as a screen's live.js hands them on: each one sent alone, and each one of a
    change's several sent together in one ``changes`` delivery, in order."""
    wanted = tuple(names)
    for name in wanted:
        client.on(name, lambda data, name=name: handler(name, data))

    def changes(items: Any) -> None:
        for name, data in items:
            if name in wanted:
                handler(name, data)

    client.on("changes", changes)


def unpacked(received: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A Flask-SocketIO test client's ``get_received()``, with each ``changes`` delivery
    replaced by the events it carries, as ``{"name": ..., "args": [payload]}``."""
    events = []
    for event in received:
        if event["name"] == "changes":
            events.extend({"name": name, "args": [data]} for name, data in event["args"][0])
        else:
            events.append(event)
    return events


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def seed(database_url: str, instance: Path) -> dict[str, Any]:
    """Seed the demo centre into the database; return its secrets by name."""
    # TESTING: no background work (the dashboard hub) left behind in the test process.
    app = create_app(
        {"DATABASE_URL": database_url, "SECRET_KEY": "live", "INSTANCE_PATH": instance, "TESTING": True}
    )
    with app.app_context():
        result = seed_demo(db.session())
        # Open round the clock, so that screens do not show "closed" because of the hour
        # the suite happens to run at; the tests of closed hours set the hours they need.
        db.session.execute(update(OpeningHours).values(is_closed=False, is_round_the_clock=True))
        db.session.commit()
        db.engine.dispose()
    keys = {p["username"]: p["api_key"] for p in result.staff}
    keys.update({d["kind"]: d["key"] for d in result.devices})
    return {"keys": keys, "passwords": {p["username"]: p["password"] for p in result.staff}}


class LiveServer:
    def __init__(
        self,
        database_url: str,
        instance: Path,
        *,
        env: dict[str, str] | None = None,
        port: int | None = None,
        workers: int = 1,
        async_mode: str = "threading",
        cwd: Path | None = None,
    ) -> None:
        self.database_url = database_url
        self.cwd = cwd
        self.instance = instance
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra_env = env or {}
        self.workers = workers
        self.async_mode = async_mode
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = instance / f"server-{self.port}.log"
        self.keys: dict[str, str] = {}
        self.passwords: dict[str, str] = {}

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KHIDMAT_")}
        env.update(
            KHIDMAT_DATABASE_URL=self.database_url,
            KHIDMAT_INSTANCE_PATH=str(self.instance),
            KHIDMAT_SECRET_KEY="live-test-secret-0123456789abcdef",  # fixed: a restart keeps sessions valid
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 90) -> LiveServer:
        khidmat = str(Path(sys.executable).with_name("khidmat"))
        cmd = [
            khidmat,
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            "--async-mode",
            self.async_mode,
        ]
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            cmd, env=self.environment(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.cwd
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log()}")
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.15)
        raise RuntimeError(f"server did not start in {timeout}s:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-6000:]
        except FileNotFoundError:
            return ""

    def api(self, method: str, path: str, key: str | None = None, **kw: Any) -> requests.Response:
        headers = kw.pop("headers", {})
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return requests.request(method, self.url + path, headers=headers, timeout=10, **kw)

    # The domain over HTTP, as the kiosk and the clerks do it --------------------------

    def issue(self, service: str = "character") -> dict[str, Any]:
        """A token of ``service`` from the kiosk; its JSON."""
        r = self.api("POST", "/api/v1/centres/demo/tokens", self.keys["kiosk"], json={"service": service})
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]

    def counter_ids(self) -> dict[int, int]:
        """Counter number -> id, from the manager's listing."""
        rows = self.api("GET", "/api/v1/centres/demo/counters", self.keys["manager"]).json()["counters"]
        return {c["number"]: c["id"] for c in rows}

    def open_counter(self, number: int) -> int:
        """Counter ``number`` opened by ``clerk<number>``; its id."""
        cid = self.counter_ids()[number]
        r = self.api("POST", f"/api/v1/counters/{cid}/open", self.keys[f"clerk{number}"])
        assert r.status_code == 200, r.text
        return cid
