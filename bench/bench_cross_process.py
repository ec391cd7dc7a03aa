"""How fast a call reaches hall displays on the other server process, through Redis.

Run: .venv/bin/python bench/bench_cross_process.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/DB
     [--redis-url redis://127.0.0.1:6379/3] [--displays 50] [--calls 40]

Starts two ``khidmat serve`` processes (gevent) on a fresh seeded PostgreSQL database
(its tables are dropped and rebuilt: use a scratch database) and one Redis channel of its
own; connects ``--displays`` display sockets, half to each process; then calls tokens one
at a time through process A over HTTP. For each call it measures the time from sending
the request to the ``token_called`` event on every display (the event is sent after the
commit, often before the HTTP answer is back). Floors, in the same run: the HTTP answer
itself, and the displays on process A (no hop through another process). Prints figures only.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import socketio
from sqlalchemy import create_engine, text

from tests.support.live import LiveServer, listen, seed


def rebuild(url: str, instance: Path) -> None:
    from flask_migrate import upgrade

    from queue_server.app import create_app
    from queue_server.extensions import db

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench-secret-0123456789abcdef-0123456789", "INSTANCE_PATH": instance})
    with app.app_context():
        upgrade()
        db.engine.dispose()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--database-url", required=True, help="a scratch PostgreSQL database")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/3")
    parser.add_argument("--displays", type=int, default=50)
    parser.add_argument("--calls", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        instance = Path(folder)
        rebuild(args.database_url, instance)
        secrets = seed(args.database_url, instance)
        keys = secrets["keys"]
        env = {"KHIDMAT_REDIS_URL": args.redis_url, "KHIDMAT_SOCKETIO_CHANNEL": f"bench-{uuid.uuid4().hex}"}
        servers = [LiveServer(args.database_url, instance, env=env, async_mode="gevent") for _ in range(2)]
        for server in servers:
            server.start(timeout=60)
        a, b = servers
        arrivals: dict[tuple[str, int], list[float]] = {}  # (process, token id) -> arrival times
        lock = threading.Lock()
        clients: list[socketio.Client] = []
        try:
            for i in range(args.displays):
                where, server = ("A", a) if i % 2 == 0 else ("B", b)
                client = socketio.Client(reconnection=False)

                def on_call(_name: str, data: dict[str, Any], where: str = where) -> None:
                    now = time.perf_counter()
                    with lock:
                        arrivals.setdefault((where, data["token"]["id"]), []).append(now)

                listen(client, ("token_called",), on_call)
                client.connect(
                    server.url, transports=["websocket"], auth={"key": keys["display"]}, wait_timeout=20
                )
                assert client.call("join", {"screen": "display", "centre": "demo"}, timeout=20)["ok"]
                clients.append(client)
            counter = next(
                c["id"]
                for c in a.api("GET", "/api/v1/centres/demo/counters", keys["clerk1"]).json()["counters"]
                if c["number"] == 1
            )
            a.api("POST", f"/api/v1/counters/{counter}/open", keys["clerk1"])
            for _ in range(args.calls):
                a.api("POST", "/api/v1/centres/demo/tokens", keys["manager"], json={"service": "character"})
            per_side = {"A": (args.displays + 1) // 2, "B": args.displays // 2}
            latency: dict[str, list[float]] = {"A": [], "B": [], "http": []}
            for _ in range(args.calls):
                sent = time.perf_counter()
                called = a.api("POST", f"/api/v1/counters/{counter}/call-next", keys["clerk1"])
                latency["http"].append((time.perf_counter() - sent) * 1000)
                token = called.json()["id"]
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    with lock:
                        done = all(len(arrivals.get((s, token), [])) >= per_side[s] for s in "AB")
                    if done:
                        break
                    time.sleep(0.002)
                with lock:
                    for side in "AB":
                        latency[side] += [(t - sent) * 1000 for t in arrivals.get((side, token), [])]
                a.api("POST", f"/api/v1/tokens/{token}/start", keys["clerk1"])
                a.api("POST", f"/api/v1/tokens/{token}/complete", keys["clerk1"], json={})
            expected = {side: per_side[side] * args.calls for side in "AB"} | {"http": args.calls}
            per_side["http"] = 0
            rows = (
                ("http", "call-next HTTP answer (floor)"),
                ("A", "displays on A (floor)"),
                ("B", "displays on B, via Redis"),
            )
            for side, label in rows:
                values = latency[side]
                print(
                    f"{label:30} displays={per_side[side]:4} samples={len(values)}/{expected[side]}"
                    f"  p50={percentile(values, 0.5):7.1f} ms  p99={percentile(values, 0.99):7.1f} ms"
                    f"  mean={statistics.fmean(values):7.1f} ms"
                )
        finally:
            for client in clients:
                client.disconnect()
            for server in servers:
                server.stop()


if __name__ == "__main__":
    main()
