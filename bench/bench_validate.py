"""Does the simulator reproduce a recorded day? Average wait per service, recorded against
simulated.

Run: .venv/bin/python bench/bench_validate.py --database URL [--centre demo] [--runs 20]

For each recorded day of the centre (e.g. played by ``khidmat seed-history``): the day's
own arrivals (times, services, priority) and its own counter openings, pauses and closings
are re-run --runs times through the simulator, with service times, no-shows and transfers
drawn from the distributions fitted on all the recorded days. Prints, per service with at
least 15 tokens that day, the recorded average wait and the simulated one (mean over the
runs), and for the day as a whole. Stated tolerance: the day's average wait within 20 %,
and a service's within max(3 min, 35 %) -- a single day of a service holds 15-60 tokens,
so its average moves that much from one day to the next at the same demand. Prints how
many fall within; nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select

from queue_server.app import create_app
from queue_server.extensions import db
from queue_server.models import Centre
from queue_server.simulation import history
from queue_server.simulation.centre import recorded_days
from queue_server.simulation.engine import simulate
from queue_server.simulation.model import DayRecord


def mean_waits(record: DayRecord) -> dict[int | None, list[float]]:
    out: dict[int | None, list[float]] = {None: []}
    for v in record.visits:
        if v.is_first and v.wait is not None:
            out.setdefault(v.service_id, []).append(v.wait / 60)
            out[None].append(v.wait / 60)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", required=True)
    parser.add_argument("--centre", default="demo")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    app = create_app({"DATABASE_URL": args.database})
    with app.app_context():
        centre = db.session.scalar(select(Centre).where(Centre.code == args.centre))
        if centre is None:
            raise SystemExit(f"no centre {args.centre!r}")
        days = recorded_days(db.session, centre, date.max)
        records = [history.record_day(db.session, centre, d) for d in days]
        fitted = history.fit_services(history.base_services(db.session, centre), records)
        within = total = 0
        for record in records:
            trace = [(v.issued_at, v.service_id, v.is_priority) for v in record.visits if v.is_first]
            real = mean_waits(record)
            runs = [mean_waits(simulate(fitted, record.plan, seed, trace=trace)) for seed in range(args.runs)]
            print(f"\n{record.label}: {len(trace)} tokens, {len(record.plan.counters)} counters")
            print(f"  {'service':24}{'n':>4}{'recorded':>10}{'simulated':>11}  within")
            for key in [k for k in real if k is not None and len(real[k]) >= 15] + [None]:
                rec = statistics.fmean(real[key])
                sim = statistics.fmean(statistics.fmean(r[key]) for r in runs if r.get(key))
                tolerance = rec * 0.2 if key is None else max(3.0, rec * 0.35)
                ok = abs(sim - rec) <= tolerance
                within += ok
                total += 1
                name = "(day)" if key is None else fitted[key].code
                print(f"  {name:24}{len(real[key]):>4}{rec:>10.1f}{sim:>11.1f}  {'yes' if ok else 'NO'}")
        print(f"\nwithin tolerance: {within} of {total}")


if __name__ == "__main__":
    main()
