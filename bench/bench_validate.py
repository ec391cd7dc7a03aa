"""Does the simulator reproduce a recorded day? Average wait per service, recorded against
simulated.

Run: .venv/bin/python bench/bench_validate.py --database URL [--centre demo] [--runs 20]
     [--fit day|pooled] [--exact]

For each recorded day of the centre (e.g. played by ``khidmat seed-history``): the day's
own arrivals (times, services, priority) and its own counter openings, pauses and closings
are re-run --runs times through the simulator, with service times, no-shows and transfers
drawn from distributions fitted

- ``--fit day`` (default): on that day itself (a service served fewer than 5 times that
  day takes the fit of all the recorded days). This asks whether the simulator, given the
  day as it was, reproduces its waits.
- ``--fit pooled``: on all the recorded days, as the planner fits demand. A day's waits
  then also carry that day's own draw of service times: at a counter loaded near 100 %, a
  few percent more work that day moves its queue by tens of minutes, and re-running the day
  with fresh draws spreads its waits just as widely (the 5-95 % column shows how widely).

Prints, per service with at least 15 tokens that day, the recorded average wait, the
simulated one (mean over the runs), the range of single runs (5th to 95th percentile) and
for the day as a whole. Stated tolerance: the day's average wait within 20 %, and a
service's within max(3 min, 35 %). Prints how many fall within, and where the recorded
figures fall among the single runs by decile (flat if the recorded day is like a run).

``--exact`` re-runs each day once with what really happened to each token once called (its
walk, service time, no-show or transfer) instead of draws, and counts the tokens whose wait
comes out the same to the millisecond. Nothing is asserted.
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
from queue_server.simulation.model import DayRecord, ServiceSpec


def mean_waits(record: DayRecord) -> dict[int | None, list[float]]:
    out: dict[int | None, list[float]] = {None: []}
    for v in record.visits:
        if v.is_first and v.wait is not None:
            out.setdefault(v.service_id, []).append(v.wait / 60)
            out[None].append(v.wait / 60)
    return out


def exact(records: list[DayRecord], fitted: dict[int, ServiceSpec]) -> None:
    same = total = 0
    for record in records:
        trace, stays = history.replay_inputs(record)
        rerun = simulate(fitted, record.plan, 0, trace=trace, stays=stays)
        real = sorted(
            (v.issued_at, round(v.wait, 3)) for v in record.visits if v.is_first and v.wait is not None
        )
        sim = sorted(
            (v.issued_at, round(v.wait, 3)) for v in rerun.visits if v.is_first and v.wait is not None
        )
        n = sum(a == b for a, b in zip(real, sim, strict=False))
        worst = max((abs(a[1] - b[1]) for a, b in zip(real, sim, strict=False)), default=0.0)
        print(f"{record.label}: {n} of {len(real)} waits the same (largest difference {worst / 60:.1f} min)")
        same, total = same + n, total + len(real)
    print(f"\nthe same: {same} of {total}")


def validate(
    records: list[DayRecord], pooled: dict[int, ServiceSpec], fit: str, runs: int, out: list[str]
) -> tuple[int, int, list[int]]:
    """Re-run each day ``runs`` times; lines of the table go to ``out``. Returns how many
    figures fall within the tolerance, of how many, and the deciles of the recorded ones."""
    within = total = 0
    deciles = [0] * 10
    for record in records:
        fitted = history.fit_services(pooled, [record]) if fit == "day" else pooled
        trace, _ = history.replay_inputs(record)
        real = mean_waits(record)
        reruns = [mean_waits(simulate(fitted, record.plan, seed, trace=trace)) for seed in range(runs)]
        out.append(f"\n{record.label}: {len(trace)} tokens, {len(record.plan.counters)} counters")
        out.append(f"  {'service':24}{'n':>4}{'recorded':>10}{'simulated':>11}{'5-95 %':>14}  within")
        for key in [k for k in real if k is not None and len(real[k]) >= 15] + [None]:
            rec = statistics.fmean(real[key])
            single = sorted(statistics.fmean(r[key]) for r in reruns if r.get(key))
            sim = statistics.fmean(single)
            low, high = single[int(0.05 * len(single))], single[max(0, int(0.95 * len(single)) - 1)]
            deciles[min(9, int(10 * sum(s < rec for s in single) / len(single)))] += 1
            tolerance = rec * 0.2 if key is None else max(3.0, rec * 0.35)
            ok = abs(sim - rec) <= tolerance
            within += ok
            total += 1
            name = "(day)" if key is None else fitted[key].code
            spread = f"{low:.1f}-{high:.1f}"
            out.append(
                f"  {name:24}{len(real[key]):>4}{rec:>10.1f}{sim:>11.1f}{spread:>14}  {'yes' if ok else 'NO'}"
            )
    return within, total, deciles


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", required=True)
    parser.add_argument("--centre", default="demo")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--fit", choices=("day", "pooled"), default="day")
    parser.add_argument("--exact", action="store_true")
    parser.add_argument(
        "--baseline",
        type=int,
        default=0,
        metavar="N",
        help="also score N simulated stand-ins for the recorded days (each day's arrivals and "
        "hours, draws from the pooled fit) by the same method: what a simulator that is "
        "exactly right scores against one day",
    )
    args = parser.parse_args()
    app = create_app({"DATABASE_URL": args.database})
    with app.app_context():
        centre = db.session.scalar(select(Centre).where(Centre.code == args.centre))
        if centre is None:
            raise SystemExit(f"no centre {args.centre!r}")
        days = recorded_days(db.session, centre, date.max)
        records = [history.record_day(db.session, centre, d) for d in days]
        pooled = history.fit_services(history.base_services(db.session, centre), records)
        if args.exact:
            exact(records, pooled)
            return
        lines: list[str] = []
        within, total, deciles = validate(records, pooled, args.fit, args.runs, lines)
        print("\n".join(lines))
        print(f"\nwithin tolerance: {within} of {total}")
        print(f"recorded among the runs, by decile (lowest first): {' '.join(map(str, deciles))}")
        if args.baseline:
            scores = []
            for n in range(args.baseline):
                stand_ins = []
                for record in records:
                    trace, _ = history.replay_inputs(record)
                    day = simulate(pooled, record.plan, 10_000 + n, record.label, trace=trace)
                    stand_ins.append(DayRecord(record.services, record.plan, day.visits, record.label))
                scores.append(validate(stand_ins, pooled, args.fit, args.runs, [])[:2])
            print(
                f"simulated stand-ins, within tolerance: {', '.join(f'{w} of {t}' for w, t in scores)}"
                f" (median {statistics.median(w for w, _ in scores)})"
            )


if __name__ == "__main__":
    main()
