"""What live positions for the tracking pages cost a call, by queue length.

Run: .venv/bin/python bench/bench_tracking_positions.py [--calls 40] [--waiting 20,200,2000]

For each queue length (tokens waiting in one service, SQLite, the embedded default):
  floor      call_next + start + complete with the position updates switched off
             (announce.positions_changed made a no-op), measured in the same run
  positions  the same with position updates on: one bounded query for the first
             LIVE_POSITIONS waiting tokens, a position event per token, the outbox check
  messages   realtime messages published per call (all rooms), with and without
Prints figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask_migrate import upgrade
from sqlalchemy import select

from queue_server import operations
from queue_server.actors import SYSTEM
from queue_server.app import create_app
from queue_server.auth import staff_actor
from queue_server.extensions import db
from queue_server.models import Centre, Counter, Staff
from queue_server.operations import announce
from queue_server.publish import Message, add_sink, remove_sink
from queue_server.seed import seed_demo
from queue_server.unit_of_work import run_in_transaction


def run(waiting: int, calls: int, positions_on: bool, workdir: Path) -> tuple[list[float], float]:
    path = workdir / f"bench-{waiting}-{int(positions_on)}.sqlite3"
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{path}",
            "SECRET_KEY": "bench",
            "INSTANCE_PATH": workdir,
            "TESTING": True,
        }
    )
    messages: list[Message] = []
    original = announce.positions_changed
    if not positions_on:
        announce.positions_changed = lambda *a, **k: None  # type: ignore[assignment]
    try:
        with app.app_context():
            upgrade()
            seed_demo(db.session())
            db.session.commit()
            centre = db.session.scalar(select(Centre).where(Centre.code == "demo"))
            for _ in range(waiting + calls):
                operations.issue_token(db.session(), centre, "character", SYSTEM)
            db.session.commit()
            clerk = staff_actor(db.session.scalar(select(Staff).where(Staff.username == "clerk1")))
            counter = db.session.scalar(
                select(Counter).where(Counter.centre_id == centre.id, Counter.number == 1)
            )
            counter_id = counter.id
            operations.open_counter(db.session(), counter_id, clerk, session_id=None)
            db.session.commit()
            add_sink(messages.append)
            samples = []
            for _ in range(calls):

                def cycle(s: Any) -> None:
                    token = operations.call_next(s, counter_id, clerk)
                    assert token is not None
                    operations.start(s, token.id, clerk)
                    operations.complete(s, token.id, clerk)

                start = time.perf_counter()
                run_in_transaction(cycle)
                samples.append((time.perf_counter() - start) * 1000)
            remove_sink(messages.append)
            db.session.remove()
            db.engine.dispose()
    finally:
        announce.positions_changed = original  # type: ignore[assignment]
    return samples, len(messages) / calls


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--waiting", default="20,200,2000")
    args = parser.parse_args()
    print(f"call + start + complete, ms per cycle over {args.calls} cycles (SQLite)")
    print(f"{'waiting':>8} {'':>10} {'median':>8} {'p90':>8} {'msgs/call':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        for waiting in (int(w) for w in args.waiting.split(",")):
            for label, on in (("floor", False), ("positions", True)):
                samples, per_call = run(waiting, args.calls, on, Path(tmp))
                p90 = statistics.quantiles(samples, n=10)[-1]
                print(
                    f"{waiting:>8} {label:>10} {statistics.median(samples):>8.1f} {p90:>8.1f} {per_call:>10.1f}"
                )


if __name__ == "__main__":
    main()
