"""The fairness bound on a busy demo day: the longest wait per service against its target,
without the bound and with k = 3 (the default), over the same simulated arrivals.

Run: .venv/bin/python bench/bench_fairness.py [--tokens 480] [--seeds 5]

480 tokens is a busy Monday at the demo centre (8 counters with lunch breaks, counter 8
from 10:00). For each service: the longest wait over --seeds days (minutes), its ratio to
the target, and how many calls passed over a token already waiting more than 3 x its target
for one that had waited less (what the bound forbids). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from queue_server.simulation.demo import demo_plan, demo_services
from queue_server.simulation.engine import simulate
from queue_server.simulation.model import DayRecord


def overtaken(record: DayRecord, k: float) -> int:
    plan = {c.counter_id: c for c in record.plan.counters}
    count = 0
    for y in record.visits:
        if y.called_at is None or y.is_priority or y.counter_id is None:
            continue
        for x in record.visits:
            if x is y or x.is_priority or x.service_id not in plan[y.counter_id].weights:
                continue
            t = y.called_at
            waiting = x.issued_at <= t and (x.called_at is None or x.called_at > t)
            if waiting and t - x.queued_at > k * record.services[x.service_id].target_seconds:
                count += y.queued_at > x.queued_at
    return count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=float, default=480)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    services = demo_services(args.tokens)
    sides = {"off": demo_plan(fairness_k=None), "k=3": demo_plan(fairness_k=3.0)}
    longest: dict[str, dict[int, float]] = {name: {} for name in sides}
    passed = dict.fromkeys(sides, 0)
    for name, plan in sides.items():
        for seed in range(args.seeds):
            record = simulate(services, plan, seed)
            passed[name] += overtaken(record, 3.0)
            for v in record.visits:
                if v.wait is not None:
                    longest[name][v.service_id] = max(longest[name].get(v.service_id, 0.0), v.wait)
    print(
        f"{args.seeds} busy demo days ({args.tokens:.0f} tokens each); longest wait in minutes (x target)\n"
    )
    print("| service | target | bound off | k = 3 |")
    print("|---|---:|---:|---:|")
    for sid, spec in sorted(services.items(), key=lambda kv: kv[1].code):
        target = spec.target_seconds
        cells = [f"{longest[n].get(sid, 0) / 60:.0f} ({longest[n].get(sid, 0) / target:.1f}x)" for n in sides]
        print(f"| {spec.code} | {target / 60:.0f} | {cells[0]} | {cells[1]} |")
    print(f"\ncalls passing over a token waiting > 3 x target for one that waited less: {passed}")


if __name__ == "__main__":
    main()
