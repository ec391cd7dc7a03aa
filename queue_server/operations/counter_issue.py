"""Tokens issued at a counter: for a place without a kiosk (a hospital counter, a van), the
clerk issues the citizen's token from the console, through the kiosk's own ``issue_token``."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from queue_server.actors import Actor
from queue_server.audit import append_event
from queue_server.errors import N_, Conflict, NotFound
from queue_server.models import Counter, CounterState, PrintState, Priority, Token
from queue_server.operations.lookup import require_holder
from queue_server.operations.tokens import IssuedToken, issue_token


def issue_at_counter(
    session: Session,
    counter_id: int,
    service_code: str,
    actor: Actor,
    *,
    priority: Priority = Priority.NORMAL,
) -> IssuedToken:
    """Issue a token of any active service of the counter's centre, at the clerk's desk.
    Refuses a counter that does not exist, one the caller does not hold (or, for a manager,
    of another centre), a closed counter, and whatever ``issue_token`` refuses."""
    counter = session.get(Counter, counter_id)
    if counter is None or not actor.may_act_in(counter.centre_id):
        raise NotFound(N_("No counter %(id)s."), id=counter_id)
    require_holder(counter, actor)
    if counter.state == CounterState.CLOSED:
        raise Conflict(
            N_("Counter %(number)s is %(state)s."),
            code="counter_not_open",
            number=counter.number,
            state=counter.state.value,
        )
    return issue_token(session, counter.centre, service_code, actor, priority=priority, counter=counter)


def record_counter_print(
    session: Session,
    token: Token,
    counter: Counter,
    status: str,
    *,
    printed: bool,
    actor: Actor,
    detail: str = "",
) -> None:
    """Record what the counter's printer did with a token issued there: ``printed`` (event
    ``ticket_printed``) or ``failed`` (event ``printer_fault``: the clerk reads the number
    and tracking code out from the console instead)."""
    if token.centre_id != counter.centre_id:
        raise ValueError("the token and the counter belong to different centres")
    token.print_state = PrintState.PRINTED if printed else PrintState.FAILED
    data: dict[str, Any] = {"counter": counter.number, "status": status}
    if detail:
        data["detail"] = detail[:200]
    append_event(
        session,
        token.centre_id,
        "ticket_printed" if printed else "printer_fault",
        actor,
        token_id=token.id,
        counter_id=counter.id,
        service_id=token.service_id,
        data=data,
    )
    session.flush()
