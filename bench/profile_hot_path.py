"""Statements and CPU per operation on the hot paths, one thread, through the Flask test client.

Run: .venv/bin/python bench/profile_hot_path.py [--n 200] [--watch screens|all|none] [--profile [--dump DIR]]

A fresh SQLite database (migrated, the demo centre seeded, open round the clock, its 8
counters opened by their clerks) in a temporary directory, then, in this order:
  issue     N x POST /api/v1/centres/demo/tokens (a staff key, services in turn)
  kiosk     N x POST /kiosk/demo/issue (the demo kiosk's device key, printer "none")
  cycle     N x call-next -> start -> complete (the counters in turn); each of the three
            requests is reported on its own row too
Per row: SQL statements per operation (counted by a ``before_cursor_execute`` listener,
BEGIN/COMMIT excluded) and CPU ms per operation of this thread (``time.thread_time``, so
the app's background threads, which a real server runs too, are left out). The app runs
with TESTING=True, so the dashboard hub, the notification loop and the checkpointer do not
start; the announcement pre-render of the display does. Deterministic statement counts;
CPU varies with the machine's load: compare runs made one after the other.

Read models are built after a commit only for rooms someone watches (``publish.watched``).
There are no sockets here, so ``--watch`` says who would be: ``screens`` (default: the
centre's display, kiosk, console and dashboard rooms, no citizen's tracking page), ``all``
(every tracking page open too: everything is built, as before that rule) or ``none``.

``--profile`` runs each row under cProfile and prints the ``--top`` functions by
cumulative time of the thread (``--dump DIR`` also writes each row's pstats file).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


class Counts:
    def __init__(self) -> None:
        self.statements = 0

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.startswith("BEGIN"):
            self.statements += 1


def build(workdir: Path) -> tuple[Any, dict[str, str], str, list[int], list[str]]:
    from flask_migrate import upgrade
    from sqlalchemy import select

    from queue_server.app import create_app
    from queue_server.extensions import db
    from queue_server.models import Centre, Counter, OpeningHours, Service
    from queue_server.seed import seed_demo

    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{workdir / 'profile.sqlite3'}",
            "SECRET_KEY": "profile-hot-path-secret-key-0123456789",
            "INSTANCE_PATH": workdir,
            "TESTING": True,
            "ISSUE_RATE_LIMIT": 10**9,
        }
    )
    with app.app_context():
        upgrade()
        session = db.session()
        result = seed_demo(session)
        centre = session.scalar(select(Centre).where(Centre.code == "demo"))
        assert centre is not None
        for hours in list(centre.opening_hours):
            session.delete(hours)
        session.flush()
        for weekday in range(7):  # round the clock: the kiosk offers every service at any hour
            centre.opening_hours.append(OpeningHours(weekday=weekday, is_round_the_clock=True))
        keys = {p["username"]: p["api_key"] for p in result.staff}
        kiosk_key = next(d["key"] for d in result.devices if d["kind"] == "kiosk")
        counters = [c.id for c in session.scalars(select(Counter).order_by(Counter.number))]
        services = [s.code for s in session.scalars(select(Service).where(Service.centre_id == centre.id))]
        session.commit()
    return app, keys, kiosk_key, counters, services


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@contextmanager
def measured(engine: Any, profiler: cProfile.Profile | None) -> Iterator[dict[str, float]]:
    from sqlalchemy import event

    counts = Counts()
    event.listen(engine, "before_cursor_execute", counts)
    out: dict[str, float] = {}
    cpu0 = time.thread_time()
    if profiler is not None:
        profiler.enable()
    try:
        yield out
    finally:
        if profiler is not None:
            profiler.disable()
        out["cpu"] = time.thread_time() - cpu0
        event.remove(engine, "before_cursor_execute", counts)
        out["statements"] = counts.statements


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200, help="operations per row")
    parser.add_argument("--profile", action="store_true", help="cProfile each row")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument(
        "--watch",
        choices=("screens", "all", "none"),
        default="screens",
        help="who watches (read models are built only for rooms watched): the centre's screens "
        "(default), every room (every tracking page open too: all that is built), or nobody",
    )
    parser.add_argument("--dump", type=Path, help="with --profile: also write each row's pstats to DIR/<row>.prof")
    args = parser.parse_args()

    from queue_server.extensions import db
    from queue_server.publish import add_sink

    watching = {
        # (the centre's tracking room is a room of its citizens' pages, not of a screen)
        "screens": lambda room: room.startswith("centre:") and not room.endswith(":tracking"),
        "all": lambda room: True,
    }.get(args.watch)
    if watching is not None:  # what the hub says with these sockets in their rooms
        add_sink(lambda _message: None, watching=watching)

    with tempfile.TemporaryDirectory(prefix="khidmat-profile-", ignore_cleanup_errors=True) as tmp:
        app, keys, kiosk_key, counters, services = build(Path(tmp))
        client = app.test_client()
        clerks = [keys[f"clerk{i + 1}"] for i in range(len(counters))]
        for counter_id, key in zip(counters, clerks, strict=True):
            r = client.post(f"/api/v1/counters/{counter_id}/open", headers=auth(key))
            assert r.status_code == 200, r.get_json()
        with app.app_context():
            engine = db.engine
        served: set[str] = set()
        for c in client.get("/api/v1/centres/demo/counters", headers=auth(keys["manager"])).get_json()[
            "counters"
        ]:
            served.update(c["services"])
        services = [s for s in services if s in served]
        rows: list[tuple[str, int, dict[str, float]]] = []
        profiles: list[tuple[str, cProfile.Profile]] = []

        def row(name: str, ops: int, work: Callable[[], None]) -> None:
            profiler = cProfile.Profile() if args.profile else None
            with measured(engine, profiler) as out:
                work()
            rows.append((name, ops, out))
            if profiler is not None:
                profiles.append((name, profiler))

        # warm-up: first requests compile statements and fill caches
        for i in range(5):
            r = client.post(
                "/api/v1/centres/demo/tokens", json={"service": services[i]}, headers=auth(keys["manager"])
            )
            assert r.status_code == 201, r.get_json()

        def issue() -> None:
            for i in range(args.n):
                r = client.post(
                    "/api/v1/centres/demo/tokens",
                    json={"service": services[i % len(services)]},
                    headers=auth(keys["manager"]),
                )
                assert r.status_code == 201, r.get_json()

        def kiosk() -> None:
            for i in range(args.n):
                r = client.post(
                    "/kiosk/demo/issue",
                    json={"service": services[i % len(services)], "idempotency_key": f"kiosk-{i:06d}"},
                    headers=auth(kiosk_key),
                )
                assert r.status_code == 201, r.get_json()

        row("issue (API)", args.n, issue)
        row("issue (kiosk)", args.n, kiosk)

        steps: dict[str, dict[str, float]] = {
            "call-next": {"cpu": 0, "statements": 0},
            "start": {"cpu": 0, "statements": 0},
            "complete": {"cpu": 0, "statements": 0},
        }
        cycles = 0

        def cycle() -> None:
            nonlocal cycles
            from sqlalchemy import event

            counts = Counts()
            event.listen(engine, "before_cursor_execute", counts)
            try:
                i = 0
                while cycles < args.n:
                    k = i % len(counters)
                    i += 1
                    for step in ("call-next", "start", "complete"):
                        s0, c0 = counts.statements, time.thread_time()
                        if step == "call-next":
                            r = client.post(f"/api/v1/counters/{counters[k]}/call-next", headers=auth(clerks[k]))
                            if r.status_code == 204:
                                break
                            token_id = r.get_json()["id"]
                        else:
                            r = client.post(f"/api/v1/tokens/{token_id}/{step}", headers=auth(clerks[k]))
                        assert r.status_code == 200, (step, r.get_json())
                        steps[step]["cpu"] += time.thread_time() - c0
                        steps[step]["statements"] += counts.statements - s0
                    else:
                        cycles += 1
            finally:
                event.remove(engine, "before_cursor_execute", counts)

        row("cycle (3 requests)", args.n, cycle)
        assert cycles == args.n, f"only {cycles} cycles: too few tokens waiting"

        print(f"{'operation':<22} {'n':>5} {'statements/op':>14} {'CPU ms/op':>10}")
        for name, ops, out in rows:
            print(f"{name:<22} {ops:>5} {out['statements'] / ops:>14.1f} {1000 * out['cpu'] / ops:>10.2f}")
            if name.startswith("cycle"):
                for step, fig in steps.items():
                    print(
                        f"{'  ' + step:<22} {cycles:>5} {fig['statements'] / cycles:>14.1f}"
                        f" {1000 * fig['cpu'] / cycles:>10.2f}"
                    )
        for name, profiler in profiles:
            text = io.StringIO()
            pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(args.top)
            print(f"\n=== {name} ===")
            print(text.getvalue())
            if args.dump is not None:
                args.dump.mkdir(parents=True, exist_ok=True)
                stem = name.split(" (")[0] if name.startswith("cycle") else name.replace(" (", "-").rstrip(")")
                profiler.dump_stats(args.dump / f"{stem}.prof")


if __name__ == "__main__":
    main()
