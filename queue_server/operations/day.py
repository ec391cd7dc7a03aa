"""End of day: settle the day's figures; close what is left when the hall is empty."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from queue_server import centre_days, notify
from queue_server.actors import Actor
from queue_server.audit import append_event
from queue_server.checkpoints import make_checkpoint
from queue_server.clock import utcnow
from queue_server.errors import N_, Forbidden
from queue_server.lifecycle import Action, next_state
from queue_server.models import Centre, Counter, CounterState, Token
from queue_server.models.token import OPEN_STATES
from queue_server.operations import announce, appointments, deliveries, remote, settlement
from queue_server.operations.requests import carry_over

# Days before the one that ended whose figures are settled again when their last carried
# token has finished since (a 24/7 centre's day is settled once its hall has moved on).
SETTLE_LOOKBACK_DAYS = 7


@dataclass(frozen=True)
class DayClosed:
    centre_code: str
    tokens_closed: int
    counters_closed: int
    requests_carried: int = 0
    requests_late: int = 0
    day: date | None = None  # the business day that ended
    tokens_kept: int = 0  # still in the hall (open across the boundary), untouched
    days_settled: tuple[date, ...] = ()


def end_of_day(session: Session, centre: Centre, actor: Actor) -> DayClosed:
    """Close the business day.

    When the centre is closed at the boundary that starts the current business day (an
    office centre after hours: nobody is in the hall), every token still open (waiting,
    called, serving, parked) and every counter is closed, each token with its own event so
    the figures count it: the behaviour of a centre that shuts its doors.

    When the centre is open across that boundary (round the clock, a night shift), the
    tokens still in the hall and the counters at work are left alone: they keep their
    numbers and order and stay callable. Only tokens of days before the previous one
    (left over by a missed end of day) are closed.

    Either way unfinished requests are carried over and the figures of every day whose
    tokens are all finished are settled, and the day ends with a signed checkpoint of the
    centre's chain head. Refuses anyone but a manager of the centre (or the system)."""
    if not actor.is_manager or not actor.may_act_in(centre.id):
        raise Forbidden(N_("Only a manager may close the day."))
    now = utcnow()
    today = centre.business_day(now)
    keeps_hall = centre_days.spans_boundary(centre.calendar(), today)
    # The day that ended: the one before the boundary just passed when the hall carries
    # over (end of day runs at the boundary); else the day of the run (after closing).
    ended = today - timedelta(days=1) if keeps_hall else today
    query = select(Token).where(Token.centre_id == centre.id, Token.state.in_(OPEN_STATES))
    if keeps_hall:
        query = query.where(Token.business_day < centre_days.hall_since(centre.calendar(), today))
    tokens = session.scalars(query.order_by(Token.id).with_for_update()).all()
    for token in tokens:
        previous = token.state
        token.state = next_state(Action.CLOSE, token.state)
        append_event(
            session,
            centre.id,
            "token_closed",
            actor,
            token_id=token.id,
            counter_id=token.counter_id,
            service_id=token.service_id,
            data={"number": token.number, "was": previous.value},
        )
    counters: list[Counter] = []
    if not keeps_hall:
        counters = list(
            session.scalars(
                select(Counter).where(Counter.centre_id == centre.id, Counter.state != CounterState.CLOSED)
            )
        )
    for counter in counters:
        counter.state = CounterState.CLOSED
        counter.staff_id = None
        counter.session_id = None
    session.flush()
    kept = (
        session.scalar(select(func.count()).where(Token.centre_id == centre.id, Token.state.in_(OPEN_STATES)))
        or 0
    )
    carried, late = carry_over(session, centre, actor)
    window = {ended - timedelta(days=n) for n in range(SETTLE_LOOKBACK_DAYS + 1)}
    settled = settlement.settle_days(session, centre, {ended, *window, *(t.business_day for t in tokens)})
    append_event(
        session,
        centre.id,
        "day_closed",
        actor,
        data={
            "day": ended.isoformat(),
            "tokens": len(tokens),
            "tokens_kept": kept,
            "counters": len(counters),
            "requests_carried": carried,
            "requests_late": late,
        },
    )
    make_checkpoint(session, centre, actor, "end_of_day", day=ended)
    announce.centre_refresh(session, centre)
    notify.purge_recipients(session, centre.id)
    appointments.settle(session, centre)
    deliveries.settle(session, centre)
    remote.settle(session, centre)
    return DayClosed(centre.code, len(tokens), len(counters), carried, late, ended, kept, tuple(settled))
