"""A demand profile and staffing plan for the demo centre (queue_server.seed), for a
centre with no history yet: about 380 tokens on a weekday, a morning peak, counters with
staggered lunch breaks and one counter that opens late."""

from __future__ import annotations

from collections.abc import Mapping

from queue_server.seed import PROFILES, SERVICES, Turnaround
from queue_server.simulation.model import CounterPlan, Plan, ServiceSpec

HOUR = 3600.0
# Share of the day's tokens per service code (the rest of the 19 share what is left).
SHARES = {
    "character": 0.16,
    "character_other": 0.05,
    "verification": 0.06,
    "employee": 0.05,
    "tenant": 0.07,
    "vehicle": 0.05,
    "learner": 0.08,
    "licence_renewal": 0.08,
    "licence_duplicate": 0.03,
    "licence_international": 0.02,
    "lost_document": 0.05,
    "crime_report": 0.03,
    "fir_copy": 0.03,
    "women_desk": 0.02,
    "legal": 0.02,
    "bank": 0.1,
    "token_tax": 0.05,
    "overseas": 0.03,
    "special_persons": 0.02,
}
# Relative arrivals per 30 minutes from 08:00 to 16:00: a busy morning, a lull at lunch.
SHAPE = [0.6, 1.0, 1.5, 1.7, 1.6, 1.4, 1.2, 1.0, 0.8, 0.7, 0.8, 0.9, 0.8, 0.6, 0.4, 0.2]
OPENS = 8 * HOUR


def demo_services(
    tokens_per_day: float = 380.0, ids: Mapping[str, int] | None = None
) -> dict[int, ServiceSpec]:
    """The demo catalogue with its demand; ``ids`` maps codes to service ids (default 1..19)."""
    ids = ids or {row[0]: i for i, row in enumerate(SERVICES, start=1)}
    scale = tokens_per_day / sum(SHAPE)
    out = {}
    for code, _en, _ur, _group, _prefix, turnaround, _days, _fee, target, minutes, _docs in SERVICES:
        per_slot = [0.0] * 48
        for i, weight in enumerate(SHAPE):
            per_slot[16 + i] = scale * weight * SHARES.get(code, 0.02)
        sid = ids[code]
        out[sid] = ServiceSpec(
            service_id=sid,
            code=code,
            target_seconds=60.0 * target,
            is_same_day=turnaround in (Turnaround.ON_THE_SPOT, Turnaround.SAME_DAY),
            arrivals_per_slot=per_slot,
            mean_service_seconds=60.0 * minutes * 0.75,
            cv=0.6,
            priority_share=0.05,
            no_show_share=0.04,
            transfer_share=0.1 if code == "verification" else 0.0,
            transfer_to=ids["character"] if code == "verification" else None,
        )
    return out


def demo_plan(
    ids: Mapping[str, int] | None = None,
    fairness_k: float | None = 3.0,
    counter_ids: Mapping[int, int] | None = None,
) -> Plan:
    """8 counters 08:00-16:00 with staggered 30-minute lunch breaks; counter 8 opens at 10:00.
    ``counter_ids`` maps counter numbers to ids (default: the number)."""
    ids = ids or {row[0]: i for i, row in enumerate(SERVICES, start=1)}
    counters = []
    for number, profile in PROFILES.items():
        lunch = 12.5 * HOUR + (number % 4) * 0.5 * HOUR
        start = 10 * HOUR if number == 8 else OPENS
        counters.append(
            CounterPlan(
                counter_id=(counter_ids or {}).get(number, number),
                number=number,
                weights={ids[code]: w for code, w in profile.items()},
                shifts=[(start, lunch), (lunch + 0.5 * HOUR, 16 * HOUR)],
            )
        )
    return Plan(counters, fairness_k=fairness_k, closes_at=16 * HOUR)
