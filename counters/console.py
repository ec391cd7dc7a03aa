"""The counter console's own rules, on top of the core operations (claiming a counter is
``operations.counters.claim_console``; what the console draws is ``read.console``).

* One console per counter: ``Counter.session_id`` holds the id of the console (a browser
  tab) that has the counter. Another tab is refused while that console is connected; a
  console that is gone (tab closed, browser crashed) is replaced by the next one to claim
  the counter, and the old one, if it ever comes back, is refused.
* A stale console does not act: each token action carries the state the console shows;
  when the token changed elsewhere meanwhile, the action is refused and nothing changes.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from queue_server.actors import Actor
from queue_server.errors import N_, Conflict, Forbidden, NotFound
from queue_server.models import Counter, Role, Token
from queue_server.models.types import is_row_id

CONSOLE_ID_LENGTH = (16, 64)
WORDS = {
    # Words that appear inside core error messages, translated for the console's language.
    "waiting": N_("waiting"),
    "called": N_("called"),
    "serving": N_("serving"),
    "parked": N_("parked"),
    "done": N_("done"),
    "no_show": N_("no-show"),
    "cancelled": N_("cancelled"),
    "closed": N_("closed"),
    "open": N_("open"),
    "paused": N_("paused"),
    "in_process": N_("in process"),
    "ready": N_("ready"),
    "delivered": N_("delivered"),
    "rejected": N_("rejected"),
    "withdrawn": N_("withdrawn"),
    "call": N_("call"),
    "recall": N_("recall"),
    "no-show": N_("mark as no-show"),
    "requeue": N_("requeue"),
    "start": N_("start"),
    "park": N_("park"),
    "unpark": N_("unpark"),
    "complete": N_("complete"),
    "transfer": N_("transfer"),
    "cancel": N_("cancel"),
}


valid_id = is_row_id  # the one rule for ids, in queue_server/models/types.py


def valid_console_id(value: Any) -> bool:
    low, high = CONSOLE_ID_LENGTH
    return isinstance(value, str) and low <= len(value) <= high and value.replace("-", "").isalnum()


def held_counter(session: Session, actor: Actor) -> Counter | None:
    if actor.kind != "staff":
        return None
    return session.scalar(select(Counter).where(Counter.staff_id == actor.id))


def require_clerk(actor: Actor | None) -> Actor:
    if actor is None or actor.kind != "staff" or actor.role != Role.CLERK:
        raise Forbidden(
            N_("The counter console is for clerks. Managers use the dashboard."), code="not_clerk"
        )
    return actor


def require_console(session: Session, counter_id: Any, actor: Actor, console_id: Any) -> Counter:
    """The counter, if this console is the one that has it."""
    if not valid_id(counter_id):
        raise NotFound(N_("No counter %(id)s."), id=str(counter_id)[:12])
    counter = session.get(Counter, counter_id)
    if counter is None or not actor.may_act_in(counter.centre_id):
        raise NotFound(N_("No counter %(id)s."), id=counter_id)
    if counter.staff_id != actor.id:
        raise Conflict(
            N_("Counter %(number)s is no longer yours: it was closed. Open it again from the list."),
            code="counter_lost",
            number=counter.number,
        )
    if not valid_console_id(console_id) or counter.session_id != console_id:
        raise Conflict(
            N_("Counter %(number)s is now open in another window: this one no longer acts."),
            code="console_replaced",
            number=counter.number,
        )
    return counter


def require_expected(session: Session, token_id: Any, expect: Any, counter: Counter) -> Token:
    """The token the console acts on, as the console shows it (state and counter)."""
    token = session.get(Token, token_id) if valid_id(token_id) else None
    if token is None or token.centre_id != counter.centre_id:
        raise NotFound(N_("No token %(id)s."), id=str(token_id)[:12])
    if isinstance(expect, str) and expect and token.state.value != expect:
        raise Conflict(
            N_("Token %(number)s was changed elsewhere: it is now %(state)s. The console shows it afresh."),
            code="stale",
            number=token.number,
            state=token.state.value,
        )
    return token
