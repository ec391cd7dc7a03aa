"""A token's whole life through a real ``khidmat serve``, each figure beside its floor.

Run: .venv/bin/python bench/bench_server.py [--db sqlite,pg1,pg2] [--clients 1,8,32]
     [--counters 8,32] [--tokens 160] [--seconds 4] [--repeat 2] [--centres 1] [--served 0]

For each database mode a fresh database is seeded (the demo centre, plus counters and
clerks up to the largest ``--counters``) and ``khidmat serve`` is started as a subprocess,
with ``KHIDMAT_BENCH_FLOOR=1`` so that it also serves ``POST /bench/floor``: a bare route
doing one insert in one transaction (``queue_server/floor.py``), the floor.

  sqlite   one process, threading (gunicorn gthread), SQLite in WAL: the embedded default
  pg1      PostgreSQL, one gevent process, Redis message queue
  pg2      PostgreSQL, two gevent processes, Redis message queue
           (pg modes need --pg-url or KHIDMAT_BENCH_DATABASE_URL, and --redis-url or
           KHIDMAT_BENCH_REDIS_URL; the database's public schema is DROPPED and recreated)

Rows, every one with HTTP/1.1 keep-alive clients in threads of this process, each with a
staff API key:
  floor    POST /bench/floor for ``--seconds`` with N clients
  issue    POST /api/v1/centres/demo/tokens for ``--seconds`` with N clients (floor and
           issue alternate, ``--repeat`` times each; medians of the repeats)
  call     ``--tokens`` waiting tokens, N counters each looping call-next -> no-show until
           call-next answers 204 (the counter must be freed to call again): calls/s
  cycle    the same, with call-next -> start -> complete: tokens/s
  Every call row checks that no token was called twice (client side: the ids answered by
  call-next; server side: the audit events) and none was skipped (every issued token
  called, none left waiting).

``--centres N`` seeds N copies of the demo centre and spreads the counters (counter j at
centre j % N), the issuing clients and the screens over them, as a province server's load
is spread: a centre's call-next takes turns (its dispatch lock) and its audit events form
one chain, so one centre's writes are serial whatever the processes; centres are not.
``--served N`` seeds N tokens each centre served earlier today (a centre in its afternoon:
what a change reads of the day's tokens grows through the day).

CPU ms/req is the server processes' user+system CPU time (from /proc, before and after
the row, master and workers) divided by the requests of the row. ``--screens`` hall displays
(default 1) stay connected throughout, as in a centre that is open: what a change builds for
its screens is part of its cost. Prints figures only;
nothing is asserted. Run on a shared machine: read each figure against its floor.
"""

from __future__ import annotations

import argparse
import http.client
import json
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
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TICK = os.sysconf("SC_CLK_TCK")


# --- database and server ---------------------------------------------------------------


@dataclass
class Desk:
    """One counter of the bench: where it is, what it serves, the clerk who holds it."""

    centre: str
    counter_id: int
    number: int
    services: set[str]
    key: str


@dataclass
class Seeded:
    keys: dict[str, str]  # username (or "display@<centre>") -> key
    centres: list[str]  # "demo", then "demo2" ...
    desks: list[Desk]  # interleaved: desk j is counter j // centres + 1 of centre j % centres


def prepare_database(url: str, workdir: Path, counters: int, centres: int = 1, served: int = 0) -> Seeded:
    """Fresh schema; the demo centre (and ``centres - 1`` copies of it, ``demo2`` ...), each
    with counters and clerks enough for ``counters`` spread over them."""
    from flask_migrate import upgrade
    from sqlalchemy import select, text

    from queue_server.app import create_app
    from queue_server.credentials import hash_password, key_hash, new_key
    from queue_server.extensions import db
    from queue_server.floor import create_table
    from queue_server.models import Centre, Counter, Role, Service, Staff, StaffApiKey, WorkProfileEntry
    from queue_server.seed import seed_demo

    app = create_app(
        {
            "DATABASE_URL": url,
            "SECRET_KEY": "bench-secret-0123456789abcdef-0123456789",
            "INSTANCE_PATH": workdir,
        }
    )
    codes = ["demo"] + [f"demo{k}" for k in range(2, centres + 1)]
    per_centre = -(-counters // centres)
    by_centre: dict[str, list[Desk]] = {}
    with app.app_context():
        if url.startswith("postgresql"):
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        upgrade()
        create_table()
        session = db.session()
        password = hash_password("bench-password")
        keys: dict[str, str] = {}
        for code in codes:
            result = seed_demo(session, code)  # (the staff are the first centre's; see below)
            keys.update({p["username"]: p["api_key"] for p in result.staff})
            keys[f"display@{code}"] = next(d["key"] for d in result.devices if d["kind"] == "display")
            centre = session.scalar(select(Centre).where(Centre.code == code))
            assert centre is not None
            services = session.scalars(select(Service).where(Service.centre_id == centre.id)).all()
            have = len(session.scalars(select(Counter).where(Counter.centre_id == centre.id)).all())
            for number in range(have + 1, per_centre + 1):
                counter = Counter(centre_id=centre.id, number=number, name=f"Counter {number}")
                counter.profile = [WorkProfileEntry(service_id=s.id, weight=1) for s in services]
                session.add(counter)
            session.flush()
            prefix = "" if code == "demo" else f"{code}-"
            desks = by_centre[code] = []
            rows = session.scalars(
                select(Counter)
                .where(Counter.centre_id == centre.id, Counter.number <= per_centre)
                .order_by(Counter.number)
            )
            for counter in rows:
                name = f"{prefix}clerk{counter.number}"
                if name not in keys:
                    staff = Staff(
                        username=name,
                        full_name=f"Clerk {counter.number}",
                        role=Role.CLERK,
                        centre_id=centre.id,
                        password_hash=password,
                    )
                    keys[name] = new_key("staff")
                    staff.api_keys.append(StaffApiKey(key_hash=key_hash(keys[name]), label="bench"))
                    session.add(staff)
                served_here = {e.service.code for e in counter.profile if e.weight > 0}
                desks.append(Desk(code, counter.id, counter.number, served_here, keys[name]))
            if served:
                served_today(session, centre, served)
        session.commit()
        db.engine.dispose()
    interleaved = [by_centre[codes[j % centres]][j // centres] for j in range(counters)]
    return Seeded(keys, codes, interleaved)


def served_today(session: Any, centre: Any, n: int, first_seq: int = 0) -> None:
    """``n`` tokens served earlier today at ``centre``, evenly over the day so far (at most
    the last 8 hours), as a centre in its afternoon has: what a change reads grows with
    them where it reads the day's tokens. Plain rows, numbered past any real ticket (from
    ``first_seq`` on, for a second call)."""
    from sqlalchemy import insert

    from queue_server.clock import utcnow
    from queue_server.models import Token, TokenState

    now = utcnow()
    day = centre.business_day(now)
    start = max(centre.day_span(day)[0], now - timedelta(hours=8))
    step = (now - start) / (n + 1)
    services = [s.id for s in centre.services]
    rows = []
    for k in range(first_seq, first_seq + n):
        issued = start + step * (k - first_seq)
        called = issued + step / 2
        sid = services[k % len(services)]
        rows.append(
            {
                "centre_id": centre.id,
                "service_id": sid,
                "origin_service_id": sid,
                "business_day": day,
                "seq": 900_000 + k,
                "number": f"S{k}",
                "public_code": f"bench-served-{centre.id}-{k}",
                "state": TokenState.DONE,
                "issued_at": issued,
                "queued_at": issued,
                "called_at": called,
                "first_called_at": called,
                "started_at": called,
                "finished_at": min(called + timedelta(minutes=5), now),
            }
        )
    session.execute(insert(Token), rows)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    profiled: bool = False

    def pids(self) -> list[int]:
        """The gunicorn master and its workers (and, with --profile, py-spy above them)."""
        parents: dict[int, int] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                except OSError:
                    continue
                parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
        found = [self.proc.pid]
        for pid in found:
            found += [child for child, parent in parents.items() if parent == pid]
        return found

    def server_pids(self) -> list[int]:
        """Without the profiler: its own CPU time is not the server's."""
        return [pid for pid in self.pids() if pid != self.proc.pid or not self.profiled]

    def cpu_seconds(self) -> float:
        total = 0
        for pid in self.server_pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / TICK

    def stop(self) -> None:
        if self.proc.poll() is None:
            if self.profiled:  # stop the server: py-spy then writes its stacks and exits
                for pid in self.pids()[1:2]:
                    os.kill(pid, signal.SIGTERM)
            else:
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)


def start_server(
    workdir: Path,
    url: str,
    redis_url: str | None,
    workers: int,
    threads: int,
    profile: Path | None = None,
    source: Path | None = None,
    gil: bool = False,
) -> Server:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KHIDMAT_")}
    env.update(
        KHIDMAT_DATABASE_URL=url,
        KHIDMAT_INSTANCE_PATH=str(workdir),
        KHIDMAT_SECRET_KEY="bench-secret-0123456789abcdef-0123456789",
        KHIDMAT_BENCH_FLOOR="1",
        PYTHONUNBUFFERED="1",
    )
    if redis_url:
        env["KHIDMAT_REDIS_URL"] = redis_url
    if source is not None:  # serve another checkout's code (before/after comparisons)
        env["PYTHONPATH"] = str(source)
    port = free_port()
    khidmat = str(Path(sys.executable).with_name("khidmat"))
    cmd = [
        khidmat,
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--threads",
        str(threads),
    ]
    if profile is not None:  # sampled stacks of every thread, idle ones too (waits show), or
        # with ``gil`` only the thread holding the GIL: what one process's CPU goes on
        spy = str(Path(sys.executable).with_name("py-spy"))
        cmd = [
            spy,
            "record",
            "--subprocesses",
            "--gil" if gil else "--idle",
            "--format",
            "raw",
            "-r",
            "200",
            "-o",
            str(profile),
            "--",
            *cmd,
        ]
    log = workdir / "server.log"
    with log.open("ab") as out:
        # started in its own directory: a checkout there (the bench's own, run from it)
        # would otherwise be what a gevent server re-executed with ``python -m`` imports,
        # whatever --server-source says, unless the server runs it with -P (3658607 on)
        proc = subprocess.Popen(
            cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=workdir
        )
    server = Server(proc, port, log, profiled=profile is not None)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited early:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200 and len(server.server_pids()) > workers:
                conn.close()
                return server
            conn.close()
        except OSError:
            pass
        time.sleep(0.3)
    server.stop()
    raise SystemExit(f"server did not start:\n{log.read_text(errors='replace')[-3000:]}")


# --- clients -----------------------------------------------------------------------------


class Client:
    """One keep-alive HTTP connection with one key."""

    def __init__(self, port: int, key: str | None) -> None:
        self.port = port
        self.headers = {"Content-Type": "application/json"}
        if key:
            self.headers["Authorization"] = f"Bearer {key}"
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def post(self, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        data = json.dumps(body or {})
        for attempt in range(2):
            try:
                self.conn.request("POST", path, body=data, headers=self.headers)
                r = self.conn.getresponse()
                raw = r.read()
                return r.status, (json.loads(raw) if raw and r.status != 204 else None)
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()  # the server closed an idle keep-alive connection: once more
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def get(self, path: str) -> Any:
        self.conn.request("GET", path, headers=self.headers)
        r = self.conn.getresponse()
        return json.loads(r.read())


@dataclass
class Figure:
    """One row of one run."""

    done: int = 0  # units of work (requests, calls or tokens)
    requests: int = 0
    seconds: float = 0.0
    cpu: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    doubles: int = -1
    skipped: int = -1

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds else float("nan")

    @property
    def cpu_ms(self) -> float:
        return self.cpu * 1000 / self.requests if self.requests else float("nan")


def pct(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def timed_clients(
    server: Server,
    who: list[tuple[str, str]],
    body: Callable[[], dict[str, Any]],
    seconds: float,
    ok: int,
) -> Figure:
    """N clients, each (key, path), posting as fast as answers come, for ``seconds``."""
    fig = Figure()
    lock = threading.Lock()
    clients = [(Client(server.port, key), path) for key, path in who]
    start = threading.Barrier(len(clients) + 1)
    stop_at = [0.0]

    def work(client: Client, path: str) -> None:
        mine: list[float] = []
        errors = 0
        start.wait()
        while time.perf_counter() < stop_at[0]:
            t0 = time.perf_counter()
            status, _ = client.post(path, body())
            mine.append((time.perf_counter() - t0) * 1000)
            errors += status != ok
        with lock:
            fig.latencies += mine
            fig.errors += errors

    threads = [threading.Thread(target=work, args=c) for c in clients]
    for t in threads:
        t.start()
    cpu0 = server.cpu_seconds()
    t0 = time.perf_counter()
    stop_at[0] = t0 + seconds
    start.wait()
    for t in threads:
        t.join()
    fig.seconds = time.perf_counter() - t0
    fig.cpu = server.cpu_seconds() - cpu0
    fig.done = fig.requests = len(fig.latencies)
    return fig


def issue_tokens(server: Server, issuers: list[tuple[str, str]], services: list[str], n: int) -> set[int]:
    """``n`` tokens from 8 clients, token i at issuer i % len(issuers): (key, centre code)."""
    ids: set[int] = set()
    lock = threading.Lock()

    def work(offset: int) -> None:
        clients = [(Client(server.port, key), code) for key, code in issuers]
        for i in range(offset, n, 8):
            client, code = clients[i % len(clients)]
            status, body = client.post(
                f"/api/v1/centres/{code}/tokens", {"service": services[(i // len(clients)) % len(services)]}
            )
            if status != 201:
                raise SystemExit(f"issue: {status} {body}")
            with lock:
                ids.add(body["id"])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return ids


def drain(
    server: Server, counters: list[tuple[int, str]], steps: tuple[str, ...]
) -> tuple[Figure, list[int]]:
    """Each counter loops call-next -> steps until call-next answers 204."""
    fig = Figure()
    called: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(len(counters) + 1)

    def work(counter_id: int, key: str) -> None:
        client = Client(server.port, key)
        mine: list[int] = []
        lat: list[float] = []
        requests = errors = 0
        start.wait()
        while True:
            t0 = time.perf_counter()
            status, body = client.post(f"/api/v1/counters/{counter_id}/call-next")
            lat.append((time.perf_counter() - t0) * 1000)
            requests += 1
            if status == 204:
                break
            if status != 200:
                errors += 1
                continue
            mine.append(body["id"])
            for step in steps:
                s, b = client.post(f"/api/v1/tokens/{body['id']}/{step}")
                requests += 1
                if s != 200:
                    errors += 1
                    print(f"  {step}: {s} {b}", file=sys.stderr)
        with lock:
            called.extend(mine)
            fig.latencies += lat
            fig.requests += requests
            fig.errors += errors

    threads = [threading.Thread(target=work, args=c) for c in counters]
    for t in threads:
        t.start()
    cpu0 = server.cpu_seconds()
    t0 = time.perf_counter()
    start.wait()
    for t in threads:
        t.join()
    fig.seconds = time.perf_counter() - t0
    fig.cpu = server.cpu_seconds() - cpu0
    fig.done = len(called)
    return fig, called


def check_once(url: str, workdir: Path, issued: set[int], called: list[int], fig: Figure) -> None:
    """No token called twice, none skipped: by the answers, and by the audit trail."""
    from sqlalchemy import create_engine, func, select

    from queue_server.models import Event, Token, TokenState

    engine = create_engine(url)
    with engine.connect() as conn:
        events = conn.execute(
            select(Event.token_id, func.count())
            .where(Event.kind == "token_called", Event.token_id.in_(issued))
            .group_by(Event.token_id)
        ).all()
        waiting = conn.scalar(
            select(func.count())
            .select_from(Token)
            .where(Token.id.in_(issued), Token.state == TokenState.WAITING)
        )
    engine.dispose()
    per_token = dict(events)
    fig.doubles = (len(called) - len(set(called))) + sum(1 for n in per_token.values() if n > 1)
    fig.skipped = len(issued - set(called)) + len(issued - set(per_token)) + int(waiting or 0)


# --- one database mode ---------------------------------------------------------------------


@dataclass
class ModeResult:
    name: str
    rows: dict[tuple[str, int], list[Figure]] = field(default_factory=dict)
    screen_events: int = 0
    screen_deliveries: int = 0

    def add(self, row: str, n: int, fig: Figure) -> None:
        self.rows.setdefault((row, n), []).append(fig)


def run_mode(name: str, args: argparse.Namespace, workdir: Path) -> ModeResult:
    workdir.mkdir()
    max_counters = max(args.counters_list)
    if name == "sqlite":
        url, redis, workers = f"sqlite:///{workdir / 'bench.sqlite3'}", None, 1
    else:
        if not args.pg_url or not args.redis_url:
            raise SystemExit(
                f"{name}: give --pg-url and --redis-url (or KHIDMAT_BENCH_DATABASE_URL/REDIS_URL)"
            )
        url, redis, workers = args.pg_url, args.redis_url, (2 if name == "pg2" else 1)
        import redis as redis_lib

        redis_lib.Redis.from_url(redis).flushdb()  # the bench's own Redis database
    seeded = prepare_database(url, workdir, max_counters, args.centres, args.served)
    desks = seeded.desks
    profile = Path(args.profile).resolve() / f"{name}.txt" if args.profile else None
    if profile is not None:
        profile.parent.mkdir(parents=True, exist_ok=True)  # (py-spy writes nothing otherwise)
    source = Path(args.server_source).resolve() if args.server_source else None
    server = start_server(workdir, url, redis, workers, args.threads, profile, source, args.profile_gil)
    result = ModeResult(name if args.centres == 1 else f"{name}/{args.centres}c")
    screens: list[Any] = []
    try:
        screens = connect_screens(server.port, seeded, args.screens)
        for desk in desks:
            status, body = Client(server.port, desk.key).post(f"/api/v1/counters/{desk.counter_id}/open")
            if status != 200:
                raise SystemExit(f"open counter {desk.counter_id}: {status} {body}")
        # services every row's counters serve, at every centre (the first 8 counters of a
        # centre have the demo's profiles)
        served = set.intersection(
            *(
                set().union(*(d.services for d in desks[: min(args.counters_list)] if d.centre == code))
                for code in seeded.centres[: min(args.counters_list)]
            )
        )
        services = sorted(served)
        issuer = seeded.keys["manager"]

        def issuers(n: int) -> list[tuple[str, str]]:
            """A clerk's key of each centre the first ``n`` counters are at (issuing is open to staff)."""
            firsts = {d.centre: d.key for d in reversed(desks[:n])}
            return [(key, code) for code, key in firsts.items()]

        # warm-up: first requests, caches, connections
        timed_clients(server, [(issuer, "/bench/floor")] * 2, dict, 1.0, 201)
        timed_clients(
            server, [(issuer, "/api/v1/centres/demo/tokens")] * 2, lambda: {"service": services[0]}, 1.0, 201
        )
        warm = issue_tokens(server, issuers(8), services, 8)
        fig, called = drain(server, [(d.counter_id, d.key) for d in desks[:8]], ("start", "complete"))
        del warm, called
        for n in args.counters_list:
            active = [(d.counter_id, d.key) for d in desks[:n]]
            tokens = max(args.tokens, 4 * n)
            for _ in range(args.repeat):
                for row, steps in (("call", ("no-show",)), ("cycle", ("start", "complete"))):
                    issued = issue_tokens(server, issuers(n), services, tokens)
                    fig, called = drain(server, active, steps)
                    check_once(url, workdir, issued, called, fig)
                    result.add(row, n, fig)
        spread = iter(range(10**9))
        for n in args.clients_list:
            for _ in range(args.repeat):
                # staff keys of clerks, client i at desk i's centre: one key per client
                who = [desks[i % len(desks)] for i in range(n)]
                floor = [(d.key, "/bench/floor") for d in who]
                result.add("floor", n, timed_clients(server, floor, dict, args.seconds, 201))
                body = lambda: {"service": services[next(spread) % len(services)]}  # noqa: E731
                issue = [(d.key, f"/api/v1/centres/{d.centre}/tokens") for d in who]
                result.add("issue", n, timed_clients(server, issue, body, args.seconds, 201))
        result.screen_events = sum(screen.events for screen in screens)
        result.screen_deliveries = sum(screen.deliveries for screen in screens)
        return result
    finally:
        for screen in screens:
            screen.client.disconnect()
        server.stop()


@dataclass
class Screen:
    client: Any
    events: int = 0
    deliveries: int = 0  # (several events of one change come in one delivery)


def connect_screens(port: int, seeded: Seeded, n: int) -> list[Screen]:
    """``n`` hall displays, screen i at centre i % centres, joined as the browser's do
    (websocket, the display's device key): a centre's changes are built for its screens, so
    the figures include what a centre with its screens on pays."""
    import socketio

    screens = []
    for i in range(n):
        code = seeded.centres[i % len(seeded.centres)]
        key = seeded.keys[f"display@{code}"]
        screen = Screen(socketio.Client(reconnection=False))

        def seen(_data: Any, screen: Screen = screen) -> None:
            screen.events += 1
            screen.deliveries += 1

        def change(items: list[Any], screen: Screen = screen) -> None:
            screen.events += len(items)
            screen.deliveries += 1

        for event in ("queue_changed", "token_called", "counter_changed", "token_changed"):
            screen.client.on(event, seen)
        screen.client.on("changes", change)  # (a change's several events, in one delivery)
        screen.client.connect(
            f"http://127.0.0.1:{port}", transports=["websocket"], auth={"key": key}, wait_timeout=20
        )
        reply = screen.client.call("join", {"screen": "display", "centre": code}, timeout=20)
        if not reply.get("ok"):
            raise SystemExit(f"display join refused: {reply}")
        screens.append(screen)
    return screens


# --- report ----------------------------------------------------------------------------------


def median(figs: list[Figure], attr: str) -> float:
    return statistics.median(getattr(f, attr) for f in figs)


def print_table(results: list[ModeResult], args: argparse.Namespace) -> None:
    print()
    head = (
        f"{'mode':<9} {'row':<6} {'N':>3}  {'rate/s':>8} {'floor/s':>8} {'ratio':>6}  "
        f"{'p50 ms':>7} {'p99 ms':>7}  {'CPU ms/req':>10} {'floor':>6}  {'doubles':>7} {'skipped':>7} {'err':>4}"
    )
    print(head)
    print("-" * len(head))
    for res in results:
        for (row, n), figs in res.rows.items():
            if row == "floor":
                continue
            floor = res.rows.get(("floor", n if row == "issue" else min(n, max(args.clients_list))))
            frate = median(floor, "rate") if floor else float("nan")
            fcpu = median(floor, "cpu_ms") if floor else float("nan")
            lat = [x for f in figs for x in f.latencies]
            rate = median(figs, "rate")
            once = (
                f"{max(f.doubles for f in figs):>7} {max(f.skipped for f in figs):>7}"
                if figs[0].doubles >= 0
                else f"{'':>7} {'':>7}"
            )
            print(
                f"{res.name:<9} {row:<6} {n:>3}  {rate:>8.1f} {frate:>8.1f} {rate / frate:>6.2f}  "
                f"{pct(lat, 50):>7.1f} {pct(lat, 99):>7.1f}  {median(figs, 'cpu_ms'):>10.2f} {fcpu:>6.2f}  "
                f"{once} {sum(f.errors for f in figs):>4}"
            )
        for n in args.clients_list:
            figs = res.rows.get(("floor", n), [])
            lat = [x for f in figs for x in f.latencies]
            if figs:
                print(
                    f"{res.name:<9} {'floor':<6} {n:>3}  {median(figs, 'rate'):>8.1f} {'':>8} {'':>6}  "
                    f"{pct(lat, 50):>7.1f} {pct(lat, 99):>7.1f}  {median(figs, 'cpu_ms'):>10.2f}"
                )
    print()
    print("rate: issue = tokens/s; call = calls/s (call-next -> no-show per token); cycle = tokens/s")
    print("(call-next -> start -> complete). floor = POST /bench/floor (one insert) with as many clients")
    print("(for call/cycle: the floor with min(N, largest --clients) clients). p50/p99: issue requests;")
    print("call-next requests for call/cycle. CPU ms/req: server CPU / all requests of the row.")
    print(
        "doubles: tokens called twice; skipped: tokens never called or left waiting (both 0 = exactly once)."
    )
    print(f"Medians of {args.repeat} runs per row; machine {os.cpu_count()} CPUs, shared with other work.")
    for res in results:
        print(
            f"{res.name}: {args.screens} hall display(s) connected throughout, {res.screen_events} events received in {res.screen_deliveries} deliveries."
        )


def print_scaling(results: list[ModeResult]) -> None:
    """pg2 against pg1, row by row, beside what the floor itself gains from the second
    process on this machine (the database, the clients and both processes share its cores)."""
    by_mode = {r.name.split("/")[0]: r for r in results}
    one, two = by_mode.get("pg1"), by_mode.get("pg2")
    if one is None or two is None:
        return
    print("pg2 / pg1 (medians of rates):")
    for key, figs in two.rows.items():
        if key in one.rows:
            print(f"  {key[0]:<6} {key[1]:>3}  {median(figs, 'rate') / median(one.rows[key], 'rate'):.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", default="sqlite", help="comma-separated: sqlite, pg1, pg2")
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--counters", default="8,32")
    parser.add_argument("--tokens", type=int, default=160, help="tokens drained per call/cycle row")
    parser.add_argument("--seconds", type=float, default=4.0, help="duration of each floor/issue row")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--threads", type=int, default=64, help="server threads (threading mode)")
    parser.add_argument("--screens", type=int, default=1, help="hall displays connected during the rows")
    parser.add_argument(
        "--centres",
        type=int,
        default=1,
        help="centres the counters, clients and screens are spread over (a province server's load)",
    )
    parser.add_argument(
        "--served",
        type=int,
        default=0,
        help="tokens each centre has served earlier today (a centre in its afternoon)",
    )
    parser.add_argument(
        "--profile", help="directory: run the server under py-spy, stacks to <dir>/<mode>.txt"
    )
    parser.add_argument(
        "--profile-gil",
        action="store_true",
        help="with --profile: sample only the thread holding the GIL (CPU), not every thread",
    )
    parser.add_argument("--server-source", help="a checkout whose code the server runs (PYTHONPATH)")
    parser.add_argument("--pg-url", default=os.environ.get("KHIDMAT_BENCH_DATABASE_URL"))
    parser.add_argument("--redis-url", default=os.environ.get("KHIDMAT_BENCH_REDIS_URL"))
    args = parser.parse_args()
    args.clients_list = [int(x) for x in args.clients.split(",") if x]
    args.counters_list = [int(x) for x in args.counters.split(",") if x]
    modes = [m.strip() for m in args.db.split(",") if m.strip()]
    started = time.monotonic()
    load = os.getloadavg()[0]
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-server-") as tmp:
        for mode in modes:
            print(f"{mode}: running ...", flush=True)
            results.append(run_mode(mode, args, Path(tmp) / mode))
            print_table(results[-1:], args)
    if len(results) > 1:
        print_table(results, args)
        print_scaling(results)
    print(
        f"total {time.monotonic() - started:.0f} s; load average {load:.1f} before, {os.getloadavg()[0]:.1f} after"
    )


if __name__ == "__main__":
    main()
