"""The SQLite write lock's hand-over: CPU and wall time per acquisition with many waiters.

Run: .venv/bin/python bench/bench_fair_lock.py [--threads 16] [--n 100] [--hold-ms 0.2]

``--threads`` threads each take the lock ``--n`` times and hold it ``--hold-ms`` while
sleeping (the GIL let go, as a statement's I/O does), as the server's request threads
take ``database.FairLock`` (FIFO, per process) before BEGIN IMMEDIATE. The floor is a
plain ``threading.Lock`` (no order kept) in the same run. Prints the process CPU and the
wall time per acquisition, and checks that no two threads were ever inside at once.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--hold-ms", type=float, default=0.2)
    args = parser.parse_args()
    from queue_server.database import FairLock

    total = args.threads * args.n
    print(f"{args.threads} threads x {args.n} acquisitions, held {args.hold_ms} ms each")
    print(f"{'lock':12}{'CPU us/acq':>12}{'wall us/acq':>13}{'overlaps':>10}")
    for name, make in (("FairLock", FairLock), ("plain (floor)", Plain), ("FairLock", FairLock), ("plain (floor)", Plain)):
        cpu, wall, overlaps = run(make(), args.threads, args.n, args.hold_ms / 1000)
        print(f"{name:12}{cpu / total * 1e6:12.0f}{wall / total * 1e6:13.0f}{overlaps:10}")


if __name__ == "__main__":
    main()
