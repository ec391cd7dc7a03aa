"""How long the simulator takes for a big day: 3,000 tokens, 30 counters.

Run: .venv/bin/python bench/bench_simulate.py [--tokens 3000] [--counters 30] [--repeat 5]

The demo catalogue's demand scaled to --tokens, the demo work profiles repeated over
--counters counters (staggered lunch breaks). Every call goes through the real dispatch
rule (queue_server.dispatch). Prints the median and best wall time of --repeat runs
(different seeds) and the report's time on top; the floor is 1 s for the simulation.
Nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from queue_server.simulation.demo import demo_plan, demo_services
from queue_server.simulation.engine import simulate
from queue_server.simulation.model import CounterPlan, Plan
from queue_server.simulation.report import summarise


def big_plan(counters: int) -> Plan:
    base = demo_plan()
    many = []
    for i in range(counters):
        c = base.counters[i % len(base.counters)]
        lunch = 12.5 * 3600 + (i % 4) * 1800
        many.append(CounterPlan(i + 1, c.weights, [(8 * 3600, lunch), (lunch + 1800, 16 * 3600)], i + 1))
    return Plan(many, fairness_k=base.fairness_k, closes_at=base.closes_at)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=3000)
    parser.add_argument("--counters", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    services = demo_services(args.tokens)
    plan = big_plan(args.counters)
    sim_times, report_times, sizes = [], [], []
    for seed in range(args.repeat):
        t0 = time.perf_counter()
        record = simulate(services, plan, seed)
        t1 = time.perf_counter()
        summary = summarise(record)
        t2 = time.perf_counter()
        sim_times.append(t1 - t0)
        report_times.append(t2 - t1)
        sizes.append(summary["tokens"])
    print(f"tokens per day: {min(sizes)}-{max(sizes)}, counters: {args.counters}, runs: {args.repeat}")
    print(
        f"simulate  median {statistics.median(sim_times):.3f} s  best {min(sim_times):.3f} s  (floor: < 1 s)"
    )
    print(f"report    median {statistics.median(report_times):.3f} s  best {min(report_times):.3f} s")


if __name__ == "__main__":
    main()
