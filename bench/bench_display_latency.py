"""Call-to-screen latency on the public display, against a bare Flask-SocketIO broadcast.

Run: .venv/bin/python bench/bench_display_latency.py [--screens 10,100,500] [--rounds 6]
     gevent (PostgreSQL):  ... --mode gevent --pg-url URL --screens 10,100,500,2000
     two processes:        ... --mode gevent --workers 2 --pg-url URL --redis-url URL

Two servers, both up for the whole run, each started as its own process the way production
runs it: by default gunicorn with one gthread worker, Flask-SocketIO in threading mode,
``--threads 600`` so that 500 sockets each hold a thread, on SQLite. ``--mode gevent``
runs gevent workers (both servers) and needs PostgreSQL (``--pg-url``, a database of the
bench's own: its schema is dropped); ``--workers 2 --redis-url`` runs two processes of each
server sharing a Redis message queue (the bench's own Redis database: it is flushed),
with the screens spread over both by the kernel. The server's resident memory before and
after connecting the screens gives the memory per screen.

  khidmat   ``khidmat serve`` on a fresh seeded database. N python-socketio
            websocket clients authenticate with the display's device key and join the
            display screen of the demo centre. Each round calls a token a kiosk issued
            before the screens went quiet (until 2026-12-07 the kiosk issued it just before
            the call, so every screen got the issue's queue summary, 7.5 KB, first, and
            the call queued behind it: khidmat's rows up to then count that too); the
            time is taken from sending ``POST /api/v1/counters/<id>/call-next`` (clerk key)
            to each screen receiving ``token_called`` (the first of a call's two
            deliveries to a screen); then the clerk finishes the token and the kiosk issues the next.
            Everything a real call does runs: the dispatch transaction and audit event on
            SQLite, the token/queue/counter events to every screen, and the spoken
            announcement rendered by espeak-ng after the commit.
  floor     a bare Flask-SocketIO app on the same kind of server: the same N clients join a
            room and ``POST /emit`` broadcasts one ``token_called``-sized message to it; the
            time is taken from sending the request to each client receiving it.
  floor+2   the same bare app, but the request also broadcasts a ``queue_changed`` and a
            ``counter_changed`` of realistic size after the ``token_called``, as a call
            does: how much of khidmat's figure is the number of messages, not the app.

All clients live in this one process (a thread or two each), so both rows carry the same
client-side overhead, and on a small machine the clients, not the server, may be what
is slow: at 500 screens they use more than a core. Before each round the bench waits
until no screen has received anything for ``QUIET_SECONDS`` (0.8 s: the server's
``QUEUE_SUMMARY_SECONDS`` plus 0.3 s, so the summary a burst owes its centre belongs to
the round before) and the clients' process used under a tenth of a core meanwhile, so a
round never measures the previous one's backlog (the silence alone was not enough:
khidmat's rounds send more, and a call then queued behind the clients' reading of the
last round's events). Latency samples are (round x screen); p50/p99 are over all of them.
Prints figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
import socketio  # noqa: E402

from queue_server.config import Config  # noqa: E402

THREADS = 600
# Silence that ends a round: longer than a burst's owed queue summary takes to come (the
# server runs the default QUEUE_SUMMARY_SECONDS; the bench gives it no KHIDMAT_ settings).
QUIET_SECONDS = max(0.4, Config.QUEUE_SUMMARY_SECONDS + 0.3)
ROOM = "centre:1:display"
SAMPLE_TOKEN = {
    "token": {
        "id": 1,
        "number": "A001",
        "state": "called",
        "priority": "normal",
        "service": {"code": "character", "name_en": "Character certificate", "name_ur": "کریکٹر سرٹیفکیٹ"},
        "counter": 1,
        "called_at": "2026-11-28T09:00:00+00:00",
        "recalls": 0,
    },
    "kind": "call",
}

SAMPLE_QUEUE = {
    "centre_id": 1,
    "services": [
        {
            "id": i,
            "code": f"service_{i}",
            "name_en": "Character certificate (another district)",
            "name_ur": "دوسرے ضلع کا کریکٹر سرٹیفکیٹ",
            "prefix": chr(65 + i),
            "group": "general",
            "target_wait_minutes": 20,
            "is_active": True,
            "waiting": 3,
            "longest_wait_seconds": 420,
            "eta_minutes": 12,
        }
        for i in range(19)
    ],
}
SAMPLE_COUNTER = {
    "counter": {
        "id": 1,
        "number": 1,
        "name": "Counter 1",
        "state": "open",
        "clerk": "Clerk One",
        "current": SAMPLE_TOKEN["token"],
        "services": ["character", "character_other", "verification"],
    }
}

# --- the bare floor app (run in its own process with --serve-bare) -------------------------


def bare_app(mode: str = "threading", redis_url: str | None = None) -> Any:
    from flask import Flask, request
    from flask_socketio import SocketIO, join_room

    app = Flask("bare")
    sio = SocketIO(
        app,
        async_mode=mode,
        message_queue=redis_url or None,
        channel="bench-bare",
        cors_allowed_origins=[],
        logger=False,
        engineio_logger=False,
    )

    def on_join(_data: Any = None) -> dict[str, bool]:
        join_room(ROOM)
        return {"ok": True}

    sio.on_event("join", on_join)

    @app.post("/emit")
    def emit() -> dict[str, bool]:
        sio.emit("token_called", SAMPLE_TOKEN, to=ROOM)
        if request.args.get("all") == "1":  # what a call also sends every screen
            sio.emit("queue_changed", SAMPLE_QUEUE, to=ROOM)
            sio.emit("counter_changed", SAMPLE_COUNTER, to=ROOM)
        return {"ok": True}

    @app.get("/healthz")
    def healthz() -> str:
        return "ok"

    return app


def serve_bare(port: int, threads: int, mode: str, workers: int, redis_url: str | None) -> None:
    """The same server kind as ``khidmat serve`` (queue_server/serving.py): gthread, or
    gevent workers; several workers share a Redis message queue."""
    from gunicorn.app.base import BaseApplication

    options: dict[str, Any] = {
        "bind": f"127.0.0.1:{port}",
        "workers": workers,
        "timeout": 60,
        "graceful_timeout": 10,
        "loglevel": "warning",
    }
    if mode == "gevent":
        options.update(worker_class="gevent", worker_connections=max(2000, threads))
    else:
        options.update(worker_class="gthread", threads=threads)

    class Bare(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            return bare_app(mode, redis_url)

    Bare().run()


# --- processes ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited early:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if requests.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"server did not start:\n{log.read_text(errors='replace')[-3000:]}")


def family(pid: int) -> list[int]:
    """A process and all its descendants (gunicorn master and workers)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parents[int(entry)] = int(
                    Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1]
                )
            except OSError:
                continue
    found = [pid]
    for p in found:
        found += [c for c, parent in parents.items() if parent == p]
    return found


def rss_kib(pid: int) -> int:
    """Resident memory of a server (master and workers), KiB."""
    total = 0
    for p in family(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a server so far, master and workers."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for p in family(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def seed_database(workdir: Path, pg_url: str | None = None) -> tuple[str, dict[str, str]]:
    """A fresh demo centre: SQLite under ``workdir``, or PostgreSQL (its public schema is
    dropped and recreated: give the bench a database of its own)."""
    from flask_migrate import upgrade
    from sqlalchemy import text

    from queue_server.app import create_app
    from queue_server.extensions import db
    from queue_server.seed import seed_demo

    url = pg_url or f"sqlite:///{workdir / 'bench.sqlite3'}"
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench-secret-0123456789abcdef-0123456789", "INSTANCE_PATH": workdir})
    with app.app_context():
        if url.startswith("postgresql"):
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        upgrade()
        result = seed_demo(db.session())
        db.session.commit()
        db.engine.dispose()
    keys = {p["username"]: p["api_key"] for p in result.staff}
    keys.update({d["kind"]: d["key"] for d in result.devices})
    return url, keys


def start_khidmat(
    workdir: Path, url: str, port: int, threads: int, mode: str, workers: int, redis_url: str | None
) -> tuple[subprocess.Popen[bytes], Path]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KHIDMAT_")}
    env.update(
        KHIDMAT_DATABASE_URL=url,
        KHIDMAT_INSTANCE_PATH=str(workdir),
        KHIDMAT_SECRET_KEY="bench-secret-0123456789abcdef-0123456789",
        KHIDMAT_ISSUE_RATE_LIMIT="1000000",  # one kiosk issues every round's token
        # as an operator serving this many screens would: the admission limit (190 by default)
        # at one socket per server thread in threading mode, unbounded by threads in gevent
        KHIDMAT_SOCKET_MAX_TOTAL=str(threads if mode == "threading" else 100_000),
        PYTHONUNBUFFERED="1",
    )
    if redis_url:
        env["KHIDMAT_REDIS_URL"] = redis_url
    khidmat = str(Path(sys.executable).with_name("khidmat"))
    cmd = [khidmat, "serve", "--host", "127.0.0.1", "--port", str(port), "--threads", str(threads)]
    cmd += ["--async-mode", mode, "--workers", str(workers)]
    log = workdir / "khidmat.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return proc, log


def start_bare(
    workdir: Path, port: int, threads: int, mode: str, workers: int, redis_url: str | None
) -> tuple[subprocess.Popen[bytes], Path]:
    log = workdir / "bare.log"
    cmd = [sys.executable, __file__, "--serve-bare", str(port), "--threads", str(threads), "--mode", mode]
    if mode == "gevent":  # patch before anything is imported, as khidmat serve does
        boot = "from gevent import monkey; monkey.patch_all(); import runpy, sys; sys.argv = sys.argv[1:]; "
        boot += "runpy.run_path(sys.argv[0], run_name='__main__')"
        cmd = [sys.executable, "-c", boot, *cmd[1:]]
    cmd += ["--workers", str(workers)] + (["--redis-url", redis_url] if redis_url else [])
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return proc, log


# --- screens ---------------------------------------------------------------------------------


@dataclass
class Screens:
    """N websocket clients; each records when it received ``token_called``."""

    clients: list[socketio.Client] = field(default_factory=list)
    received: list[float | None] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    arrived: threading.Condition = field(init=False)
    count: int = 0
    last_message: float = 0.0  # perf_counter of the latest message of any kind, any client

    def __post_init__(self) -> None:
        self.arrived = threading.Condition(self.lock)

    def connect(self, url: str, n: int, auth: dict[str, str] | None, join: dict[str, Any]) -> None:
        self.received = [None] * n

        def one(i: int) -> socketio.Client:
            client = socketio.Client(reconnection=False)
            client.on("token_called", lambda _data, i=i: self._got(i))
            client.on("changes", lambda items, i=i: self._change(i, items))  # (khidmat: a change's events)
            client.on("*", lambda *_args: self._any())
            client.connect(url, transports=["websocket"], auth=auth or {}, wait_timeout=30)
            reply = client.call("join", join, timeout=30)
            if not reply or not reply.get("ok"):
                raise SystemExit(f"join refused: {reply}")
            return client

        with ThreadPoolExecutor(max_workers=16) as pool:
            self.clients = list(pool.map(one, range(n)))

    def _any(self) -> None:
        self.last_message = time.perf_counter()

    def _change(self, i: int, items: list[Any]) -> None:
        self._any()
        if any(name == "token_called" for name, _ in items):
            self._got(i)

    def wait_quiet(self, quiet: float = QUIET_SECONDS, timeout: float = 60) -> None:
        """Until no screen has received anything for ``quiet`` seconds and this process
        (all the clients) used under a tenth of a core meanwhile: the previous round's
        events (start, complete, queue and counter changes) are all delivered and handled.
        (``quiet`` is longer than the server's QUEUE_SUMMARY_SECONDS: the summary a change
        in a burst owes its centre comes that late, and belongs to the previous round.)
        The clients' silence alone is not enough: with hundreds of them in this process on
        a small machine, they are still reading a backlog when none has handled anything
        for a while, and the next call would queue behind it."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            cpu, began = time.process_time(), time.perf_counter()
            time.sleep(quiet)
            busy = (time.process_time() - cpu) / (time.perf_counter() - began)
            if time.perf_counter() - self.last_message >= quiet and busy < 0.1:
                return

    def _got(self, i: int) -> None:
        now = time.perf_counter()
        self.last_message = now
        with self.lock:
            if self.received[i] is None:
                self.received[i] = now
                self.count += 1
                if self.count == len(self.received):
                    self.arrived.notify_all()

    def arm(self) -> None:
        with self.lock:
            self.received = [None] * len(self.clients)
            self.count = 0

    def wait_all(self, timeout: float) -> list[float | None]:
        with self.lock:
            self.arrived.wait_for(lambda: self.count == len(self.received), timeout=timeout)
            return list(self.received)

    def close(self) -> None:
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(lambda c: c.disconnect(), self.clients))


@dataclass
class Result:
    latencies_ms: list[float] = field(default_factory=list)
    request_ms: list[float] = field(default_factory=list)
    missed: int = 0  # a screen that had not received the call 15 s after the request
    dropped: int = 0  # screens no longer connected at the end of the row
    kib_per_screen: float = float("nan")  # server resident memory added per connected screen
    measured_s: float = 0.0  # wall time of the rounds (from each request to its last screen)
    server_cpu_s: float = 0.0  # the server's CPU meanwhile
    clients_cpu_s: float = 0.0  # this process's (the screens') CPU meanwhile

    def cores(self, cpu_s: float) -> float:
        return cpu_s / self.measured_s if self.measured_s else float("nan")


def measure_round(result: Result, screens: Screens, trigger: Callable[[], float]) -> None:
    """One call: ``trigger`` sends the request and returns the perf_counter time it was sent."""
    screens.arm()
    sent = trigger()
    result.request_ms.append((time.perf_counter() - sent) * 1000)
    for t in screens.wait_all(timeout=15):
        if t is None:
            result.missed += 1
        else:
            result.latencies_ms.append((t - sent) * 1000)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


# --- the two rows ------------------------------------------------------------------------------


class Khidmat:
    def __init__(self, url: str, keys: dict[str, str]) -> None:
        self.url = url
        self.keys = keys
        self.http = requests.Session()
        counters = self.get("/api/v1/centres/demo/counters", "manager")["counters"]
        self.counter_id = next(c["id"] for c in counters if c["number"] == 1)
        self.post(f"/api/v1/counters/{self.counter_id}/open", "clerk1")
        self.token_id: int | None = None
        self.issue()

    def issue(self) -> None:
        """The next call's token, issued before the screens go quiet: its own events (the
        queue summary to every screen) are not the call's to wait behind."""
        self.post("/api/v1/centres/demo/tokens", "kiosk", {"service": "character"})

    def get(self, path: str, who: str) -> Any:
        r = self.http.get(self.url + path, headers={"Authorization": f"Bearer {self.keys[who]}"}, timeout=30)
        r.raise_for_status()
        return r.json()

    def post(self, path: str, who: str, body: dict[str, Any] | None = None) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.keys[who]}"}
        r = self.http.post(self.url + path, json=body or {}, headers=headers, timeout=30)
        if r.status_code >= 400:
            raise SystemExit(f"{path}: {r.status_code} {r.text}")
        return r

    def trigger(self) -> float:
        sent = time.perf_counter()
        r = self.post(f"/api/v1/counters/{self.counter_id}/call-next", "clerk1")
        self.token_id = r.json()["id"]
        return sent

    def after(self) -> None:
        self.post(f"/api/v1/tokens/{self.token_id}/start", "clerk1")
        self.post(f"/api/v1/tokens/{self.token_id}/complete", "clerk1")
        self.issue()


@dataclass
class Row:
    name: str
    base: str
    auth: dict[str, str] | None
    join: dict[str, Any]
    trigger: Callable[[], float]
    after: Callable[[], None]
    results: dict[int, Result] = field(default_factory=dict)


def run(workdir: Path, sizes: list[int], rounds: int, threads: int, args: argparse.Namespace) -> list[Row]:
    """Both servers up for the whole run; for each size, N screens on khidmat for its
    rounds, then N screens on the floor for its rounds."""
    (workdir / "khidmat").mkdir()
    (workdir / "bare").mkdir()
    if args.redis_url:
        import redis as redis_lib

        redis_lib.Redis.from_url(args.redis_url).flushdb()  # the bench's own Redis database
    url, keys = seed_database(workdir / "khidmat", args.pg_url)
    k_port, b_port = free_port(), free_port()
    redis_url = args.redis_url if args.workers > 1 else None
    procs = [
        start_khidmat(workdir / "khidmat", url, k_port, threads, args.mode, args.workers, redis_url),
        start_bare(workdir / "bare", b_port, threads, args.mode, args.workers, redis_url),
    ]
    try:
        k_base, b_base = f"http://127.0.0.1:{k_port}", f"http://127.0.0.1:{b_port}"
        wait_healthy(k_base, *procs[0])
        wait_healthy(b_base, *procs[1])
        app = Khidmat(k_base, keys)
        http = requests.Session()

        def emit(all_events: bool) -> Callable[[], float]:
            def trigger() -> float:
                sent = time.perf_counter()
                http.post(b_base + "/emit", params={"all": int(all_events)}, timeout=30).raise_for_status()
                return sent

            return trigger

        rows = [
            Row(
                "khidmat",
                k_base,
                {"key": keys["display"]},
                {"screen": "display", "centre": "demo"},
                app.trigger,
                app.after,
            ),
            Row("floor", b_base, None, {"screen": "display"}, emit(False), lambda: None),
            Row("floor+2", b_base, None, {"screen": "display"}, emit(True), lambda: None),
        ]
        pid_of = {"khidmat": procs[0][0].pid, "floor": procs[1][0].pid, "floor+2": procs[1][0].pid}
        for row in rows:  # warm-up: first call, first espeak-ng run, caches
            row.trigger()
            row.after()
        for n in sizes:
            for row in rows:  # one row's screens at a time: 2 x 500 clients swamp this machine
                screens = Screens()
                before = rss_kib(pid_of[row.name])
                screens.connect(row.base, n, row.auth, row.join)
                row.results[n] = Result()
                row.results[n].kib_per_screen = (rss_kib(pid_of[row.name]) - before) / n
                for _ in range(rounds):
                    screens.wait_quiet()
                    res = row.results[n]
                    wall, server, clients = time.perf_counter(), cpu_seconds(pid_of[row.name]), time.process_time()
                    measure_round(res, screens, row.trigger)
                    res.measured_s += time.perf_counter() - wall
                    res.server_cpu_s += cpu_seconds(pid_of[row.name]) - server
                    res.clients_cpu_s += time.process_time() - clients
                    row.after()
                row.results[n].dropped = sum(1 for c in screens.clients if not c.connected)
                screens.close()
                time.sleep(1.0)
        return rows
    finally:
        for proc, _log in procs:
            stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--screens", default="10,100,500", help="comma-separated numbers of screens")
    parser.add_argument("--rounds", type=int, default=6, help="calls per size and row")
    parser.add_argument("--threads", type=int, default=THREADS, help="server threads (one per socket)")
    parser.add_argument(
        "--mode",
        choices=("threading", "gevent"),
        default="threading",
        help="server async mode (gevent needs PostgreSQL: --pg-url)",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="server processes (2 or more need --redis-url)"
    )
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("KHIDMAT_BENCH_DATABASE_URL"),
        help="PostgreSQL database of the bench's own (its schema is dropped)",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("KHIDMAT_BENCH_REDIS_URL"),
        help="Redis database of the bench's own (flushed)",
    )
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare, args.threads, args.mode, args.workers, args.redis_url)
        return
    if args.mode == "gevent" and not args.pg_url:
        raise SystemExit("gevent needs PostgreSQL (--pg-url): it freezes on SQLite's write lock")
    if args.workers > 1 and not (args.pg_url and args.redis_url):
        raise SystemExit("several workers need --pg-url and --redis-url")
    # The clients' own closing chatter ("packet queue is empty, aborting") is not a result.
    for name in ("engineio.client", "socketio.client"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    sizes = [int(x) for x in args.screens.split(",") if x.strip()]
    if args.mode == "threading" and max(sizes) + 20 > args.threads:
        raise SystemExit(f"{max(sizes)} screens need more than {args.threads} server threads")
    started = time.monotonic()
    print(
        f"display latency: {args.rounds} calls per size, sizes {sizes}, mode {args.mode}, "
        f"{args.workers} process(es), {'PostgreSQL' if args.pg_url else 'SQLite'}"
        + (f", {args.threads} server threads" if args.mode == "threading" else "")
    )
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-display-") as tmp:
        rows = run(Path(tmp), sizes, args.rounds, args.threads, args)
    print()
    print("call request sent -> token_called received by every screen (ms; samples = calls x screens)")
    header = (
        f"{'screens':>7}  {'row':<8} {'p50':>8} {'p99':>8} {'max':>8} {'request p50':>12}"
        f" {'missed':>7} {'dropped':>8} {'KiB/screen':>10} {'p99/floor':>9} {'server':>7} {'screens':>8}"
    )
    print(header)
    print("-" * len(header))
    for n in sizes:
        floor_p99 = pct(rows[1].results[n].latencies_ms, 99)
        for row in rows:
            name, res = row.name, row.results[n]
            lat = res.latencies_ms
            print(
                f"{n:>7}  {name:<8} {pct(lat, 50):>8.1f} {pct(lat, 99):>8.1f} {max(lat, default=float('nan')):>8.1f}"
                f" {pct(res.request_ms, 50):>12.1f} {res.missed:>7} {res.dropped:>8}"
                f" {res.kib_per_screen:>10.1f} {pct(lat, 99) / floor_p99:>9.2f}"
                f" {res.cores(res.server_cpu_s):>7.2f} {res.cores(res.clients_cpu_s):>8.2f}"
            )
    print()
    print("khidmat: POST call-next (dispatch + audit, its events to every screen, espeak-ng after commit)")
    print("floor:   POST /emit on a bare Flask-SocketIO app, one broadcast; same server kind, same clients")
    print("floor+2: the same, followed by the queue_changed and counter_changed a call also sends")
    print("missed: (call, screen) pairs with no token_called 15 s after the request; dropped: screens")
    print("disconnected by the end of the row (e.g. a ping timeout on a swamped machine)")
    print("KiB/screen: the server's resident memory (master and workers) added by connecting the screens,")
    print("per screen. p99/floor: the row's p99 over the bare broadcast's p99 at the same size.")
    print("server, screens: cores used while calls were measured (from each request to its last screen),")
    print("by the server (master and workers) and by this process (every screen's client).")
    print(f"request p50: the HTTP call's own round trip. Total run {time.monotonic() - started:.0f} s.")
    print(
        f"machine: {os.cpu_count()} CPUs, load average {load_before:.1f} before and "
        f"{os.getloadavg()[0]:.1f} after (other work on the machine inflates every row)"
    )


if __name__ == "__main__":
    main()
