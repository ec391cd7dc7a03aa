"""What grows through a centre's day: reads whose cost depends on the tokens served so far.

Run: .venv/bin/python bench/bench_day_growth.py [--served 0,1000,3000] [--repeat 20] [--source DIR]

A fresh SQLite database (the demo centre as ``profile_hot_path.py`` builds it), then, for
each figure of ``--served``, that many tokens served earlier today added
(``bench_server.served_today``: evenly over the last hours) and, per row, CPU ms per call
of this thread (``time.thread_time``, the median of ``--repeat`` rounds of 5 calls):

  snapshot        queue_state.counter_capacities: what the wait forecast reads, on every
                  issue and after most changes
  refresh alerts  alerts.live_unless_changed(figures=False): the dashboard hub's refresh
                  of a centre nobody watches (every 5 s after a change, every 20 s while
                  anything is open)
  refresh full    alerts.live_unless_changed(): the same with the day's figures, for a
                  dashboard or the province view watching

The floor is the snapshot with nothing served (the first column). ``--source DIR``
measures another checkout's code (a "before"); a row it cannot run prints "-". Prints
figures only.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def per_call(work: Callable[[], Any], repeat: int) -> float | None:
    try:
        work()  # warm: statements compiled, rows cached
    except TypeError:  # (an older checkout without this call)
        return None
    rounds = []
    for _ in range(repeat):
        began = time.thread_time()
        for _ in range(5):
            work()
        rounds.append((time.thread_time() - began) / 5 * 1000)
    return statistics.median(rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--served", default="0,1000,3000", help="tokens served earlier today, cumulative steps")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--source", help="a checkout whose code is measured (default: this one)")
    args = parser.parse_args()
    steps = sorted({int(x) for x in args.served.split(",") if x})

    import bench_server
    import profile_hot_path
    from sqlalchemy import select

    if args.source:  # (before queue_server is first imported)
        sys.path.insert(0, str(Path(args.source).resolve()))

    from queue_server import alerts
    from queue_server.extensions import db
    from queue_server.models import Centre
    from queue_server.read import queue_state

    rows: dict[str, list[float | None]] = {"snapshot": [], "refresh alerts": [], "refresh full": []}
    with tempfile.TemporaryDirectory(prefix="khidmat-day-", ignore_cleanup_errors=True) as tmp:
        app = profile_hot_path.build(Path(tmp))[0]
        served = 0
        for step in steps:
            with app.app_context():
                session = db.session()
                centre = session.scalars(select(Centre).where(Centre.code == "demo")).one()
                if step > served:
                    bench_server.served_today(session, centre, step - served, first_seq=served)
                    session.commit()
                    served = step
                calls: dict[str, Callable[[Any, Any], Any]] = {
                    "snapshot": queue_state.counter_capacities,
                    "refresh alerts": lambda s, c: alerts.live_unless_changed(s, c, figures=False),
                    "refresh full": alerts.live_unless_changed,
                }
                for name, call in calls.items():
                    rows[name].append(per_call(partial(call, session, centre), args.repeat))
                session.rollback()
    print(f"{'CPU ms per call, served today:':32}" + "".join(f"{n:>10,}" for n in steps))
    for name, figures in rows.items():
        print(f"{name:32}" + "".join(f"{f:10.2f}" if f is not None else f"{'-':>10}" for f in figures))
    print(f"floor: the snapshot with {steps[0]:,} served, {rows['snapshot'][0]:.2f} ms (same run)")
    import queue_server

    print(f"code measured: {Path(queue_server.__file__).parent.parent}")


if __name__ == "__main__":
    main()
