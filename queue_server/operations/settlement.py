"""Settling days: the stored aggregates (``daily_stats``) of days none of whose tokens is
open, written at end of day (``operations.day``). Flushes, never commits. A report only
reads: a day not settled yet (or changed since) it computes from the tokens each time."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sqlalchemy import delete, insert
from sqlalchemy.orm import Session

from queue_server.clock import utcnow
from queue_server.models import (
    Centre,
    DailyStat,
    DailyStatDay,
)
from queue_server.read.statistics.figures import Tally, tally_facts
from queue_server.read.statistics.sources import day_states, is_settled, service_targets, token_facts


def store_days(
    session: Session,
    centre: Centre,
    tallies: dict[tuple[date, int, int, int, int], Tally],
    states: dict[date, dict[str, int]],
) -> None:
    """Replace the stored aggregates of these days (they must have no open token)."""
    days = sorted(states)
    if not days:
        return
    session.execute(delete(DailyStat).where(DailyStat.centre_id == centre.id, DailyStat.day.in_(days)))
    session.execute(
        delete(DailyStatDay).where(DailyStatDay.centre_id == centre.id, DailyStatDay.day.in_(days))
    )
    rows = [
        {
            "centre_id": centre.id,
            "day": key[0],
            "service_id": key[1],
            "hour": key[2],
            "counter_id": key[3],
            "staff_id": key[4],
            **tally.as_row(),
        }
        for key, tally in tallies.items()
        if key[0] in states
    ]
    if rows:
        session.execute(insert(DailyStat), rows)
    now = utcnow()
    session.execute(
        insert(DailyStatDay),
        [{"centre_id": centre.id, "day": d, "states": states[d], "built_at": now} for d in days],
    )


def settle_days(session: Session, centre: Centre, days: Iterable[date]) -> list[date]:
    """Store the aggregates of those days none of whose tokens is open (end of day calls
    this for the days it has just closed). Returns the days stored."""
    wanted = set(days)
    if not wanted:
        return []
    first, last = min(wanted), max(wanted)
    states = {
        d: s for d, s in day_states(session, centre, first, last).items() if d in wanted and is_settled(s)
    }
    if not states:
        return []
    facts = token_facts(session, centre, min(states), max(states), set(states))
    store_days(session, centre, tally_facts(facts, service_targets(session, centre)), states)
    return sorted(states)
