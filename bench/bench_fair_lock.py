"""The SQLite write lock's hand-over: CPU and wall time per acquisition with many waiters.

Run: .venv/bin/python bench/bench_fair_lock.py [--threads 16] [--n 100] [--hold-ms 0.2]
     .venv/bin/python bench/bench_fair_lock.py --through-sqlite [--threads 8] [--n 200]

``--threads`` threads each take the lock ``--n`` times and hold it ``--hold-ms`` while
sleeping (the GIL let go, as a statement's I/O does), as the server's request threads
take ``database.FairLock`` (FIFO, per process) before BEGIN IMMEDIATE. The floor is a
plain ``threading.Lock`` (no order kept) in the same run. Prints the process CPU and the
wall time per acquisition, and checks that no two threads were ever inside at once.

``--through-sqlite``: the whole hand-over between writers, through an engine set up as
the server's (``database.configure_engine``: the lock, BEGIN IMMEDIATE, WAL,
``synchronous = FULL``) on a fresh SQLite file: ``--threads`` threads each commit ``--n``
transactions of one INSERT. The floor is one thread committing as many, one after the
other (no hand-over at all). Prints transactions/s and wall ms per transaction of both,
twice, in turn.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


class Plain:
    """The floor: ``threading.Lock`` behind FairLock's interface."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def acquire(self, timeout: float) -> bool:
        return self._lock.acquire(timeout=timeout)

    def release(self) -> None:
        self._lock.release()


def run(lock: Any, threads: int, n: int, hold: float) -> tuple[float, float, int]:
    inside = [0]
    overlaps = [0]

    def work() -> None:
        for _ in range(n):
            lock.acquire(30.0)
            inside[0] += 1
            if inside[0] != 1:
                overlaps[0] += 1
            time.sleep(hold)
            inside[0] -= 1
            lock.release()

    workers = [threading.Thread(target=work) for _ in range(threads)]
    cpu, wall = time.process_time(), time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.process_time() - cpu, time.perf_counter() - wall, overlaps[0]


def through_sqlite(threads: int, n: int) -> float:
    """Transactions per second: ``threads`` writers, ``n`` one-INSERT transactions each."""
    import tempfile

    from sqlalchemy import create_engine, text

    from queue_server.database import configure_engine

    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(
            f"sqlite:///{tmp}/bench.sqlite3", connect_args={"check_same_thread": False}, pool_size=threads + 1
        )
        configure_engine(engine, busy_timeout_ms=30_000)
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (n INTEGER)"))

        def work(k: int) -> None:
            for i in range(n):
                with engine.begin() as conn:
                    conn.execute(text("INSERT INTO t (n) VALUES (:n)"), {"n": k * n + i})

        workers = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
        wall = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        wall = time.perf_counter() - wall
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM t")).scalar_one() == threads * n
        engine.dispose()
    return threads * n / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--hold-ms", type=float, default=0.2)
    parser.add_argument("--through-sqlite", action="store_true", help="writers through a configured engine")
    args = parser.parse_args()
    from queue_server.database import FairLock

    if args.through_sqlite:
        print(f"one-INSERT transactions through SQLite (synchronous FULL): {args.threads} threads x {args.n}")
        print(f"{'writers':18}{'tx/s':>8}{'ms/tx':>8}")
        for _ in range(2):
            for name, threads, n in ((f"{args.threads} threads", args.threads, args.n), ("1 (floor)", 1, args.threads * args.n)):
                rate = through_sqlite(threads, n)
                print(f"{name:18}{rate:8.0f}{1000 / rate:8.2f}")
        return

    total = args.threads * args.n
    print(f"{args.threads} threads x {args.n} acquisitions, held {args.hold_ms} ms each")
    print(f"{'lock':12}{'CPU us/acq':>12}{'wall us/acq':>13}{'overlaps':>10}")
    for name, make in (("FairLock", FairLock), ("plain (floor)", Plain), ("FairLock", FairLock), ("plain (floor)", Plain)):
        cpu, wall, overlaps = run(make(), args.threads, args.n, args.hold_ms / 1000)
        print(f"{name:12}{cpu / total * 1e6:12.0f}{wall / total * 1e6:13.0f}{overlaps:10}")


if __name__ == "__main__":
    main()
