"""End of day: close every open token and counter of a centre."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from queue_server import statistics
from queue_server.actors import Actor
from queue_server.audit import append_event
from queue_server.clock import local_day
from queue_server.errors import N_, Forbidden
from queue_server.lifecycle import Action, next_state
from queue_server.models import Centre, Counter, CounterState, Token
from queue_server.models.token import OPEN_STATES
from queue_server.operations import announce
from queue_server.operations.requests import carry_over


@dataclass(frozen=True)
class DayClosed:
    centre_code: str
    tokens_closed: int
    counters_closed: int
    requests_carried: int = 0
    requests_late: int = 0


def end_of_day(session: Session, centre: Centre, actor: Actor) -> DayClosed:
    """Close every token still open (waiting, called, serving, parked) and every counter.
    Each closed token gets its own event, so the day's statistics count it."""
    if not actor.is_manager or not actor.may_act_in(centre.id):
        raise Forbidden(N_("Only a manager may close the day."))
    tokens = session.scalars(
        select(Token)
        .where(Token.centre_id == centre.id, Token.state.in_(OPEN_STATES))
        .order_by(Token.id)
        .with_for_update()
    ).all()
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
    counters = session.scalars(
        select(Counter).where(Counter.centre_id == centre.id, Counter.state != CounterState.CLOSED)
    ).all()
    for counter in counters:
        counter.state = CounterState.CLOSED
        counter.staff_id = None
        counter.session_id = None
    session.flush()
    carried, late = carry_over(session, centre, actor)
    statistics.settle_days(session, centre, {local_day(centre.tz), *(t.business_day for t in tokens)})
    append_event(
        session,
        centre.id,
        "day_closed",
        actor,
        data={
            "day": local_day(centre.tz).isoformat(),
            "tokens": len(tokens),
            "counters": len(counters),
            "requests_carried": carried,
            "requests_late": late,
        },
    )
    announce.centre_refresh(session, centre)
    return DayClosed(centre.code, len(tokens), len(counters), carried, late)
