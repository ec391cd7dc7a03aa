"""A 24/7 centre walked through its day boundary with a frozen clock: tokens waiting,
called, parked and transferred across it are neither lost, stranded nor doubled;
numbering restarts at the boundary; end of day leaves the hall alone; the figures add up."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

import pytest
import time_machine
from sqlalchemy import select
from sqlalchemy.orm import Session

from queue_server import operations as ops
from queue_server.actors import SYSTEM, Actor
from queue_server.audit import verify_chain
from queue_server.models import Centre, Counter, CounterState, Event, Token, TokenState
from queue_server.read import statistics
from tests.support.factories import make_token, open_counter

DAY = date(2026, 12, 4)  # a Friday; the next business day is a Saturday
pytestmark = pytest.mark.frozen_at(datetime(2026, 12, 4, 12, tzinfo=UTC))


def boundary_instant(centre: Centre, day: date) -> datetime:
    """The UTC instant business day ``day`` starts."""
    return centre.day_span(day)[0]


def make_round_the_clock(session: Session, centre: Centre, starts_at: time) -> None:
    centre.day_starts_at = starts_at
    for hours in centre.opening_hours:  # the demo's Monday-Saturday hours and closed Sunday
        hours.opens_at = hours.closes_at = None
        hours.is_closed, hours.is_round_the_clock = False, True
    session.commit()


@pytest.fixture
def clerk(actor_of: Callable[[str], Actor]) -> Callable[[int], Actor]:
    return lambda n: actor_of(f"clerk{n}")


def step(session: Session, work: Callable[[], object]) -> object:
    result = work()
    session.commit()
    return result


def calls_per_token(session: Session) -> Tally[int]:
    rows = session.scalars(select(Event.token_id).where(Event.kind == "token_called"))
    return Tally(t for t in rows if t is not None)


@pytest.mark.parametrize("starts_at", [time(0, 0), time(8, 0)], ids=["midnight", "eight"])
def test_a_round_the_clock_centre_runs_through_its_boundary(
    session: Session,
    centre: Centre,
    counter_no: Callable[[int], Counter],
    clerk: Callable[[int], Actor],
    frozen_clock: time_machine.Coordinates,
    starts_at: time,
) -> None:
    make_round_the_clock(session, centre, starts_at)
    boundary = boundary_instant(centre, DAY + timedelta(days=1))
    frozen_clock.move_to(boundary - timedelta(minutes=30))
    c1, c2 = counter_no(1).id, counter_no(2).id
    open_counter(session, centre, 1)
    open_counter(session, centre, 2)

    old: dict[str, Token] = {}
    for number in ("A001", "A002", "A003", "A004"):
        old[number] = make_token(session, centre)
        frozen_clock.shift(timedelta(minutes=1))
    old["B001"] = make_token(session, centre, "character_other")
    assert [t.number for t in old.values()] == ["A001", "A002", "A003", "A004", "B001"]
    assert {t.business_day for t in old.values()} == {DAY}

    # Before the boundary: A001 served then parked at counter 1, A002 transferred by
    # counter 2 to verification, A003 called at counter 1 and not yet started.
    frozen_clock.shift(timedelta(minutes=2))
    assert step(session, lambda: ops.call_next(session, c1, clerk(1))).number == "A001"  # type: ignore[attr-defined]
    step(session, lambda: ops.start(session, old["A001"].id, clerk(1)))
    step(session, lambda: ops.park(session, old["A001"].id, clerk(1)))
    assert step(session, lambda: ops.call_next(session, c2, clerk(2))).number == "A002"  # type: ignore[attr-defined]
    step(session, lambda: ops.start(session, old["A002"].id, clerk(2)))
    step(session, lambda: ops.transfer(session, old["A002"].id, clerk(2), service_code="verification"))
    assert step(session, lambda: ops.call_next(session, c1, clerk(1))).number == "A003"  # type: ignore[attr-defined]

    # The boundary passes; end of day runs and leaves the hall alone.
    frozen_clock.move_to(boundary + timedelta(minutes=1))
    assert centre.business_day() == DAY + timedelta(days=1)
    closed = step(session, lambda: ops.end_of_day(session, centre, SYSTEM))
    assert closed.day == DAY  # type: ignore[attr-defined]
    assert (closed.tokens_closed, closed.counters_closed, closed.tokens_kept) == (0, 0, 5)  # type: ignore[attr-defined]
    assert session.get(Counter, c1).state == CounterState.OPEN  # type: ignore[union-attr]
    states = {n: session.get(Token, t.id).state for n, t in old.items()}  # type: ignore[union-attr]
    assert states == {
        "A001": TokenState.PARKED,
        "A002": TokenState.WAITING,
        "A003": TokenState.CALLED,
        "A004": TokenState.WAITING,
        "B001": TokenState.WAITING,
    }

    # Numbering restarts; the carried tokens are ahead of the new one and on the dashboard.
    frozen_clock.shift(timedelta(minutes=1))
    new = ops.issue_token(session, centre, "character", SYSTEM)
    session.commit()
    assert (new.token.number, new.token.business_day, new.ahead) == ("A001", DAY + timedelta(days=1), 1)
    live = statistics.live_centre(session, centre)
    waiting = {s["code"]: s["waiting"] for s in live["services"]}
    assert (waiting["character"], waiting["character_other"], waiting["verification"]) == (2, 1, 1)

    # Everything carried over is served in its original order, then the new token.
    frozen_clock.shift(timedelta(minutes=1))
    step(session, lambda: ops.start(session, old["A003"].id, clerk(1)))
    step(session, lambda: ops.complete(session, old["A003"].id, clerk(1)))
    order = []
    for counter, who in ((c1, 1), (c1, 1), (c1, 1), (c2, 2)):
        frozen_clock.shift(timedelta(minutes=1))
        token = step(session, lambda c=counter, w=who: ops.call_next(session, c, clerk(w)))
        assert token is not None
        order.append((token.number, token.business_day))  # type: ignore[attr-defined]
        step(session, lambda t=token, w=who: ops.start(session, t.id, clerk(w)))  # type: ignore[attr-defined]
        step(session, lambda t=token, w=who: ops.complete(session, t.id, clerk(w)))  # type: ignore[attr-defined]
        if len(order) == 1:  # counter 1 finishes the parked citizen between two calls
            step(session, lambda: ops.unpark(session, old["A001"].id, clerk(1)))
            step(session, lambda: ops.complete(session, old["A001"].id, clerk(1)))
    today = DAY + timedelta(days=1)
    # waited x weight: A004 31 min x 3, then B001 31 x 2, then A002 35 x 1 (its issue time
    # kept through the transfer) over the new token's 4 x 3; counter 2 takes the new one.
    assert order == [("A004", DAY), ("B001", DAY), ("A002", DAY), ("A001", today)]
    assert step(session, lambda: ops.call_next(session, c2, clerk(2))) is None

    # None lost or doubled: every token done, each called once (A002 once per service).
    tokens = session.scalars(select(Token)).all()
    assert len(tokens) == 6 and {t.state for t in tokens} == {TokenState.DONE}
    calls = calls_per_token(session)
    assert calls == {t.id: 2 if t.id == old["A002"].id else 1 for t in tokens}

    # The figures add up: yesterday's five and today's one, each day once.
    frozen_clock.move_to(centre.day_span(today)[1] + timedelta(minutes=1))
    closed = step(session, lambda: ops.end_of_day(session, centre, SYSTEM))
    assert closed.tokens_closed == 0 and {DAY, today} <= set(closed.days_settled)  # type: ignore[attr-defined]
    first = statistics.report(session, centre, DAY, DAY)["totals"]
    second = statistics.report(session, centre, today, today)["totals"]
    assert (first["arrivals"], first["served"], first["unserved"]) == (5, 5, 0)
    assert (second["arrivals"], second["served"], second["unserved"]) == (1, 1, 0)
    both = statistics.report(session, centre, DAY, today)["totals"]
    assert both["arrivals"] == first["arrivals"] + second["arrivals"] == 6
    assert verify_chain(session, centre.id).ok


def test_numbers_restart_at_an_eight_oclock_boundary_not_at_midnight(
    session: Session, centre: Centre, frozen_clock: time_machine.Coordinates
) -> None:
    make_round_the_clock(session, centre, time(8, 0))
    midnight = datetime.combine(DAY + timedelta(days=1), time(0), tzinfo=centre.tz)
    frozen_clock.move_to(midnight - timedelta(minutes=10))
    before = make_token(session, centre)
    frozen_clock.move_to(midnight + timedelta(minutes=10))
    after = make_token(session, centre)
    assert (before.number, after.number) == ("A001", "A002")
    assert before.business_day == after.business_day == DAY
    frozen_clock.move_to(boundary_instant(centre, DAY + timedelta(days=1)) + timedelta(seconds=1))
    morning = make_token(session, centre)
    assert (morning.number, morning.business_day) == ("A001", DAY + timedelta(days=1))


def test_end_of_day_in_a_round_the_clock_centre_closes_only_tokens_older_than_the_hall(
    session: Session, centre: Centre, frozen_clock: time_machine.Coordinates
) -> None:
    make_round_the_clock(session, centre, time(8, 0))
    frozen_clock.move_to(boundary_instant(centre, DAY) + timedelta(hours=1))
    stale = make_token(session, centre)  # left over: end of day did not run the next morning
    frozen_clock.move_to(boundary_instant(centre, DAY + timedelta(days=1)) + timedelta(hours=23))
    carried = make_token(session, centre)
    frozen_clock.move_to(boundary_instant(centre, DAY + timedelta(days=2)) + timedelta(minutes=1))
    closed = step(session, lambda: ops.end_of_day(session, centre, SYSTEM))
    assert (closed.tokens_closed, closed.tokens_kept) == (1, 1)  # type: ignore[attr-defined]
    assert session.get(Token, stale.id).state == TokenState.CLOSED  # type: ignore[union-attr]
    assert session.get(Token, carried.id).state == TokenState.WAITING  # type: ignore[union-attr]


def test_an_office_centre_still_closes_everything_left_at_end_of_day(
    session: Session, centre: Centre, frozen_clock: time_machine.Coordinates
) -> None:
    # The demo centre: Monday to Saturday 08:00-16:00, closed at its midnight boundary.
    frozen_clock.move_to(datetime.combine(DAY, time(15, 0), tzinfo=centre.tz))
    open_counter(session, centre, 1)
    left = make_token(session, centre)
    frozen_clock.move_to(datetime.combine(DAY, time(20, 30), tzinfo=centre.tz))
    closed = step(session, lambda: ops.end_of_day(session, centre, SYSTEM))
    assert (closed.day, closed.tokens_closed, closed.counters_closed, closed.tokens_kept) == (DAY, 1, 1, 0)  # type: ignore[attr-defined]
    assert session.get(Token, left.id).state == TokenState.CLOSED  # type: ignore[union-attr]
    assert DAY in closed.days_settled  # type: ignore[attr-defined]
