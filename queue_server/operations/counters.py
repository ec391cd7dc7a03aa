"""Opening, pausing and closing counters, and which console has one. One clerk per
counter, one counter per clerk, one console per counter."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from queue_server.actors import Actor
from queue_server.audit import append_event
from queue_server.clock import utcnow
from queue_server.errors import N_, Conflict, Forbidden
from queue_server.models import Counter, CounterState, Role
from queue_server.operations import announce
from queue_server.operations.lookup import counter_for_update, require_free


def open_counter(session: Session, counter_id: int, actor: Actor, session_id: str | None = None) -> Counter:
    """A clerk takes a counter. Refused when another clerk holds it, or the clerk holds
    another counter already (close that one first)."""
    if actor.kind != "staff" or actor.role != Role.CLERK:
        raise Forbidden(N_("Only a clerk can open a counter."))
    counter = counter_for_update(session, counter_id, actor)
    if counter.staff_id is not None and counter.staff_id != actor.id:
        raise Conflict(
            N_("Counter %(number)s is already open by %(name)s."),
            code="counter_taken",
            number=counter.number,
            name=counter.staff.full_name if counter.staff else "",
        )
    held = session.scalar(select(Counter).where(Counter.staff_id == actor.id, Counter.id != counter.id))
    if held is not None:
        raise Conflict(
            N_("You already hold counter %(number)s: close it first."),
            code="clerk_busy",
            number=held.number,
        )
    if (
        counter.staff_id == actor.id
        and counter.session_id
        and session_id
        and counter.session_id != session_id
    ):
        raise Conflict(
            N_("Counter %(number)s is already open in another window."),
            code="counter_open_elsewhere",
            number=counter.number,
        )
    was_open = counter.staff_id == actor.id
    counter.staff_id = actor.id
    counter.session_id = session_id
    counter.state = CounterState.OPEN
    if not was_open:
        counter.opened_at = utcnow()
        counter.priority_streak = 0
    session.flush()
    append_event(session, counter.centre_id, "counter_opened", actor, counter_id=counter.id)
    announce.counter_changed(session, counter)
    announce.queue_changed(session, counter.centre)
    return counter


def _held_by(counter: Counter, actor: Actor) -> None:
    if counter.staff_id != actor.id and not actor.is_manager:
        raise Forbidden(N_("Counter %(number)s is not yours."), number=counter.number)


def close_counter(session: Session, counter_id: int, actor: Actor) -> Counter:
    """Leave a counter. Refused while a token is called or being served there."""
    counter = counter_for_update(session, counter_id, actor)
    _held_by(counter, actor)
    require_free(session, counter)
    counter.staff_id = None
    counter.session_id = None
    counter.state = CounterState.CLOSED
    session.flush()
    append_event(session, counter.centre_id, "counter_closed", actor, counter_id=counter.id)
    announce.counter_changed(session, counter)
    announce.queue_changed(session, counter.centre)
    return counter


def pause_counter(session: Session, counter_id: int, actor: Actor) -> Counter:
    """A break: the counter stays the clerk's but calls nobody."""
    counter = counter_for_update(session, counter_id, actor)
    _held_by(counter, actor)
    if counter.state != CounterState.OPEN:
        raise Conflict(
            N_("Counter %(number)s is %(state)s."),
            code="counter_not_open",
            number=counter.number,
            state=counter.state.value,
        )
    counter.state = CounterState.PAUSED
    session.flush()
    append_event(session, counter.centre_id, "counter_paused", actor, counter_id=counter.id)
    announce.counter_changed(session, counter)
    return counter


def resume_counter(session: Session, counter_id: int, actor: Actor) -> Counter:
    counter = counter_for_update(session, counter_id, actor)
    _held_by(counter, actor)
    if counter.state != CounterState.PAUSED:
        raise Conflict(
            N_("Counter %(number)s is %(state)s."),
            code="counter_not_paused",
            number=counter.number,
            state=counter.state.value,
        )
    counter.state = CounterState.OPEN
    session.flush()
    append_event(session, counter.centre_id, "counter_resumed", actor, counter_id=counter.id)
    announce.counter_changed(session, counter)
    return counter


def claim_console(
    session: Session, counter_id: int, actor: Actor, console_id: str, is_live: Callable[[str], bool]
) -> Counter:
    """Make this console (a browser tab, ``console_id``) the one of the clerk's counter.
    Refused while another console of the counter is connected (``is_live``); a console
    that is gone is replaced."""
    counter = counter_for_update(session, counter_id, actor)
    if counter.staff_id != actor.id:
        raise Forbidden(N_("Counter %(number)s is not yours: open it first."), number=counter.number)
    current = counter.session_id
    if current == console_id:
        return counter
    if current and is_live(current):
        raise Conflict(
            N_("Counter %(number)s is already open in another window."),
            code="counter_open_elsewhere",
            number=counter.number,
        )
    counter.session_id = console_id
    session.flush()
    append_event(
        session,
        counter.centre_id,
        "counter_console_claimed",
        actor,
        counter_id=counter.id,
        data={"took_over": bool(current)},
    )
    return counter
