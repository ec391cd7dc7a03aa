"""How soon a manager's dashboard shows a change on the floor.

Run: .venv/bin/python bench/bench_dashboard_latency.py [--changes 40] [--database-url URL]

Starts a real ``khidmat serve`` on a fresh seeded database (SQLite by default), connects a
Socket.IO client as the manager and joins the ``dashboard`` screen, then issues tokens
through the API one at a time and, every fifth one, opens a counter and calls.
For each change it measures the time from the API's answer (the change is committed) to
the first ``stats`` push showing it. Floor, in the same run: the time from the same
answer to the core's own ``queue_changed`` event on the same socket. Prints figures only.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import socketio

from tests.support.live import LiveServer, listen, seed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--changes", type=int, default=40)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        instance = Path(folder)
        url = args.database_url or f"sqlite:///{instance / 'latency.sqlite3'}"
        if not args.database_url:
            from flask_migrate import upgrade

            from queue_server.app import create_app

            app = create_app(
                {"DATABASE_URL": url, "SECRET_KEY": "x", "INSTANCE_PATH": instance, "TESTING": True}
            )
            with app.app_context():
                upgrade()
        secrets_ = seed(url, instance)
        server = LiveServer(url, instance)
        server.keys = secrets_["keys"]
        server.start()
        try:
            run(server, args.changes)
        finally:
            server.stop()


def run(server: LiveServer, changes: int) -> None:
    lock = threading.Lock()
    seen: list[tuple[float, str, dict[str, Any]]] = []
    client = socketio.Client(reconnection=False)
    listen(client, ("stats", "queue_changed"), lambda name, data: _record(lock, seen, name, data))
    client.connect(
        server.url, transports=["websocket"], auth={"key": server.keys["manager"]}, wait_timeout=10
    )
    assert client.call("join", {"screen": "dashboard", "centre": "demo"}, timeout=10)["ok"]
    time.sleep(1.0)
    counters = server.api("GET", "/api/v1/centres/demo/counters", server.keys["clerk1"]).json()["counters"]
    first = next(c for c in counters if c["number"] == 1)
    server.api("POST", f"/api/v1/counters/{first['id']}/open", server.keys["clerk1"])
    stats_ms: list[float] = []
    core_ms: list[float] = []
    waiting = 0
    for i in range(changes):
        time.sleep(0.3)
        with lock:
            seen.clear()
        if i % 5 == 4:
            r = server.api("POST", f"/api/v1/counters/{first['id']}/call-next", server.keys["clerk1"])
            answered = time.perf_counter()
            if r.status_code == 200:
                waiting -= 1
                token = r.json()["id"]
                server.api("POST", f"/api/v1/tokens/{token}/start", server.keys["clerk1"], json={})
                server.api("POST", f"/api/v1/tokens/{token}/complete", server.keys["clerk1"], json={})
        else:
            # issued by staff: the kiosk's own rate limit (30 a minute) would refuse some
            r = server.api(
                "POST", "/api/v1/centres/demo/tokens", server.keys["manager"], json={"service": "character"}
            )
            answered = time.perf_counter()
            assert r.status_code == 201, r.text
            waiting += 1
        deadline = time.monotonic() + 5
        got_stats = got_core = None
        while time.monotonic() < deadline and (got_stats is None or got_core is None):
            with lock:
                for at, name, data in seen:
                    if name == "stats" and got_stats is None and data["totals"]["waiting"] == waiting:
                        got_stats = at
                    if name == "queue_changed" and got_core is None:
                        got_core = at
            time.sleep(0.002)
        if got_stats is not None:
            stats_ms.append((got_stats - answered) * 1000)
        if got_core is not None:
            core_ms.append((got_core - answered) * 1000)
    client.disconnect()
    print(f"dashboard latency over {changes} changes (issue, or call+start+complete), {len(stats_ms)} seen")
    print("| from the API's answer to | median ms | p95 ms | max ms |\n|---|---:|---:|---:|")
    for label, values in (
        ("the dashboard's `stats` push", stats_ms),
        ("the core's `queue_changed` (floor)", core_ms),
    ):
        if values:
            values.sort()
            p95 = values[min(len(values) - 1, math.ceil(0.95 * len(values)) - 1)]
            print(f"| {label} | {statistics.median(values):.0f} | {p95:.0f} | {values[-1]:.0f} |")


def _record(
    lock: threading.Lock, seen: list[tuple[float, str, dict[str, Any]]], name: str, data: Any
) -> None:
    with lock:
        seen.append((time.perf_counter(), name, data))


if __name__ == "__main__":
    main()
