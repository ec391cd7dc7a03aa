"""Operations on tokens: issue, call, and every step of the life cycle after it.

Size: every transition of the token life cycle reads and writes the same rows under the same
locks; one module keeps DESIGN.md's life cycle in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, func, select, update
from sqlalchemy.orm import Session, joinedload

from queue_server import dispatch, estimate
from queue_server.actors import Actor
from queue_server.audit import append_event
from queue_server.clock import utcnow
from queue_server.errors import N_, Conflict, Forbidden, NotFound, ValidationFailed
from queue_server.lifecycle import Action, next_state
from queue_server.models import (
    Centre,
    Counter,
    Device,
    Event,
    Priority,
    RemoteToken,
    Service,
    Token,
    TokenState,
    WorkProfileEntry,
)
from queue_server.models.token import TOKEN_COLUMNS as _TOKENS
from queue_server.models.types import UTCDateTime
from queue_server.operations import announce
from queue_server.operations.lookup import (
    counter_for_update,
    issued_for_key,
    require_free,
    require_holder,
    require_open,
    service_by_code,
    token_for_update,
)
from queue_server.operations.notes import attach_note, reason_fields
from queue_server.operations.numbering import format_number, new_public_code, next_value
from queue_server.operations.requests import open_request, require_closable
from queue_server.read import queue_state

MAX_CALL_ATTEMPTS = 25
OUTCOMES = ("served", "referred", "documents_missing", "not_eligible", "other")

# What a token operation reads of its counter (the centre's rules, the profile) and what
# announcing the counter shows (the clerk, the codes of its services), loaded with the
# locked counter in one query. Token operations change none of them, so what was loaded
# stays true until the commit.
COUNTER_AT_WORK = (
    joinedload(Counter.centre, innerjoin=True),
    joinedload(Counter.staff),
    joinedload(Counter.profile).joinedload(WorkProfileEntry.service),
)


@dataclass(frozen=True)
class IssuedToken:
    token: Token
    ahead: int
    eta_minutes: int | None
    is_replay: bool = False  # the same idempotency key was seen: nothing new was issued


def issue_token(
    session: Session,
    centre: Centre,
    service_code: str,
    actor: Actor,
    *,
    priority: Priority = Priority.NORMAL,
    device: Device | None = None,
    idempotency_key: str | None = None,
    counter: Counter | None = None,
    reason: str = "",
) -> IssuedToken:
    """Issue the next token of a service. Refuses an unknown or inactive service, a service of
    another centre, and an actor of another centre. A repeated idempotency key from the same
    device returns the token already issued for it. ``counter``: the desk a clerk issued it
    from (no kiosk there); the event records it. A priority token issued by staff (a
    priority mark: it goes ahead of everyone) keeps the reason given in its event."""
    if not actor.may_act_in(centre.id):
        raise Forbidden(N_("You may not act for this centre."))
    if device is not None and idempotency_key:
        existing = issued_for_key(session, device.id, idempotency_key)
        if existing is not None:
            ahead = queue_state.tokens_ahead(session, existing)
            return IssuedToken(existing, ahead, existing.eta_minutes, is_replay=True)
    service = service_by_code(session, centre, service_code)
    if not service.is_active:
        raise Conflict(N_("This service is not available now."), code="service_inactive")

    now = utcnow()
    day = centre.business_day(now)
    capacities = queue_state.counter_capacities(session, centre, day)
    ahead = queue_state.ahead_in(capacities, service.id, priority != Priority.NORMAL)
    seq = next_value(session, centre.id, f"service:{service.id}", day)
    token = Token(
        centre_id=centre.id,
        service_id=service.id,
        origin_service_id=service.id,
        business_day=day,
        seq=seq,
        number=format_number(service.prefix, seq),
        public_code=new_public_code(),
        priority=priority,
        state=TokenState.WAITING,
        issued_at=now,
        queued_at=now,
        device_id=device.id if device else None,
        idempotency_key=idempotency_key if device else None,
        eta_ql_minutes=queue_state.queue_length_minutes(capacities, service.id, ahead),
        ahead_at_issue=ahead,
    )
    # Its estimate: when it is called in a forecast of the queue with it in, played only
    # until then (the forecast is most of an issue's cost), and written with it. The
    # screens' minutes, from the whole forecast, follow as after any change: at most
    # SCREEN_ESTIMATES_SECONDS late.
    seconds = queue_state.token_wait_seconds(
        queue_state.with_waiting(capacities, token), queue_state.UNWRITTEN_TOKEN_ID
    )
    eta = estimate.as_minutes(seconds)
    token.eta_minutes = eta
    session.add(token)
    session.flush()
    capacities = queue_state.with_waiting(capacities, token)
    announce.token_estimated(session, centre.id, token.id, seconds)
    fields, note = reason_fields(reason) if priority != Priority.NORMAL else ({}, "")
    event = append_event(
        session,
        centre.id,
        "token_issued",
        actor,
        token_id=token.id,
        service_id=service.id,
        counter_id=counter.id if counter is not None else None,
        at=now,
        data={
            "number": token.number,
            "priority": priority.value,
            "ahead": ahead,
            "eta": eta,
            **fields,
        },
    )
    attach_note(session, event, note)
    announce.queue_changed(session, centre, capacities=capacities)
    if priority != Priority.NORMAL:  # it goes ahead of every normal token already waiting
        announce.positions_changed(session, centre, service.id, capacities=capacities)
    return IssuedToken(token, ahead, eta)


def arrived() -> ColumnElement[bool]:
    """Tokens a counter may call: all but those taken from a phone (operations.remote)
    whose citizen has not checked in yet, which are passed over, holding nobody up."""
    remote = RemoteToken.__table__.c
    away = select(remote.token_id).where(remote.checked_in_at.is_(None))
    return _TOKENS.id.not_in(away)


def _candidates(
    session: Session, counter: Counter, service_ids: list[int], since: date
) -> list[dispatch.Candidate]:
    """The head of each (service, priority, target) group: the only tokens that can win.
    Within one group the dispatch key orders by issue time then id, as the window does."""
    rows = session.execute(
        _HEADS, {"centre_id": counter.centre_id, "counter_id": counter.id, "service_ids": service_ids, "since": since}
    ).all()
    return [
        dispatch.Candidate(
            token_id=r.id,
            service_id=r.service_id,
            queued_at=r.queued_at,
            is_priority=r.priority != Priority.NORMAL,
            target_counter_id=r.target_counter_id,
        )
        for r in rows
    ]


def _heads() -> Select[Any]:
    """``_candidates``' statement (built once, with bound parameters), on the table: a plain
    Core statement (every call runs it)."""
    eligible = (_TOKENS.target_counter_id == bindparam("counter_id")) | (
        _TOKENS.target_counter_id.is_(None) & _TOKENS.service_id.in_(bindparam("service_ids", expanding=True))
    )
    position = (
        func.row_number()
        .over(
            partition_by=(_TOKENS.service_id, _TOKENS.priority, _TOKENS.target_counter_id),
            order_by=(_TOKENS.queued_at, _TOKENS.id),
        )
        .label("position")
    )
    heads = (
        select(
            _TOKENS.id,
            _TOKENS.service_id,
            _TOKENS.queued_at,
            _TOKENS.priority,
            _TOKENS.target_counter_id,
            position,
        )
        .where(
            _TOKENS.centre_id == bindparam("centre_id"),
            _TOKENS.state == TokenState.WAITING,
            _TOKENS.business_day >= bindparam("since"),  # tokens carried over a boundary stay callable
            eligible,
            arrived(),
        )
        .subquery()
    )
    return select(heads).where(heads.c.position == 1)


_HEADS = _heads()


DISPATCH_LOCK_SPACE = 0x4B51  # "KQ": the advisory-lock key space of call-next, per centre


def _lock_dispatch(session: Session, centre_id: int) -> None:
    """Take turns at choosing within one centre, until this transaction ends.

    Choosing the best waiting token and taking it must be one step per centre, or two
    counters choose the same best token and the loser, finding it gone, either fails or
    takes a worse one. SQLite already runs one writer at a time (BEGIN IMMEDIATE); on
    PostgreSQL a transaction-scoped advisory lock per centre does it, without touching
    any row other transactions need (issuing a token still goes on meanwhile)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(DISPATCH_LOCK_SPACE, centre_id)))


def _take(session: Session, token_id: int, counter: Counter, now: datetime) -> Token | None:
    """Move one token from waiting to called at this counter, if it is still waiting; the
    token as it now is (its row returned by the UPDATE itself), or None.

    Another transaction changing the same token (a cancel, a transfer) is waited for, and
    the state is checked again once it has committed."""
    return session.scalars(
        _TAKE, {"token_id": token_id, "to_counter": counter.id, "now": now}
    ).one_or_none()


# Typed: inside coalesce() a bare bindparam has no type of its own, and nothing else would
# make this one UTCDateTime (aware in Python, naive UTC stored, as every other write).
_NOW = bindparam("now", type_=UTCDateTime())
_TAKE = (
    update(Token)
    .where(Token.id == bindparam("token_id"), Token.state == TokenState.WAITING)
    .values(
        state=TokenState.CALLED,
        counter_id=bindparam("to_counter"),  # (a column's own name is reserved in SET)
        target_counter_id=None,
        called_at=_NOW,
        first_called_at=func.coalesce(Token.first_called_at, _NOW),
    )
    .returning(Token)
    .execution_options(synchronize_session=False, populate_existing=True)
)


def call_next(session: Session, counter_id: int, actor: Actor) -> Token | None:
    """Call the next token at a counter by the dispatch rule, or None when nobody waits.

    The choice and the state change are one atomic step: the token moves only if it is
    still waiting, otherwise the next best is tried. Refuses a counter that is not open,
    not held by the caller, or still busy with a called or serving token."""
    counter = counter_for_update(session, counter_id, actor, options=COUNTER_AT_WORK)
    require_holder(counter, actor)
    require_open(counter)
    require_free(session, counter)
    _lock_dispatch(session, counter.centre_id)
    centre = counter.centre
    weights = {e.service_id: e.weight for e in counter.profile}
    view = dispatch.CounterView(
        counter_id=counter.id,
        weights=weights,
        priority_streak=counter.priority_streak,
        max_priority_streak=centre.max_priority_streak,
        fairness_k=centre.fairness_k,
        target_seconds={e.service_id: 60.0 * e.service.target_wait_minutes for e in counter.profile},
    )
    now = utcnow()
    since, _ = queue_state.hall_days(centre, centre.business_day(now))
    for _ in range(MAX_CALL_ATTEMPTS):
        ranked = dispatch.rank(_candidates(session, counter, list(weights), since), view, now)
        if not ranked:
            return None
        for candidate in ranked:
            token = _take(session, candidate.token_id, counter, now)
            if token is not None:
                streak = dispatch.next_streak(view, candidate)
                if streak != counter.priority_streak:  # (unchanged, the counter stays clean: no flush)
                    counter.priority_streak = streak
                append_event(
                    session,
                    centre.id,
                    "token_called",
                    actor,
                    token_id=token.id,
                    counter_id=counter.id,
                    service_id=token.service_id,
                    at=now,
                    data={"number": token.number, "direct": candidate.target_counter_id is not None},
                )
                _announce_call(session, token, counter, "call")
                return token
    raise Conflict(N_("The queue is very busy: please try again."), code="busy")


def call_specific(session: Session, counter_id: int, token_id: int, actor: Actor, reason: str) -> Token:
    """Call one chosen waiting token out of order. Audited with the reason given."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(N_("Give a reason for calling a token out of order."))
    counter = counter_for_update(session, counter_id, actor, options=COUNTER_AT_WORK)
    require_holder(counter, actor)
    require_open(counter)
    require_free(session, counter)
    token = token_for_update(session, token_id, actor)
    if token.centre_id != counter.centre_id:
        raise NotFound(N_("No token %(id)s."), id=token_id)
    next_state(Action.CALL, token.state)
    now = utcnow()
    if _take(session, token.id, counter, now) is None:
        raise Conflict(N_("That token was just taken by another counter."), code="taken")
    fields, note = reason_fields(reason)
    event = append_event(
        session,
        token.centre_id,
        "token_called_specific",
        actor,
        token_id=token.id,
        counter_id=counter.id,
        service_id=token.service_id,
        at=now,
        data={"number": token.number, **fields},
    )
    attach_note(session, event, note)
    _announce_call(session, token, counter, "call")
    return token


def _announce_call(session: Session, token: Token, counter: Counter, kind: str) -> None:
    announce.token_called(session, token, kind)  # (one estimate, after the commit, serves
    announce.queue_changed(session, counter.centre, after_call=True)  # both of these)
    announce.counter_now_serving(session, counter, token)


def _at_counter(session: Session, token_id: int, actor: Actor, action: Action) -> tuple[Token, Counter]:
    """Load a token for an action taken at its counter, refusing what the state forbids."""
    token = token_for_update(session, token_id, actor)
    next_state(action, token.state)
    if token.counter_id is None:
        raise Conflict(N_("Token %(number)s is not at a counter."), number=token.number)
    counter = counter_for_update(session, token.counter_id, actor, options=COUNTER_AT_WORK)
    require_holder(counter, actor)
    return token, counter


def _record(session: Session, token: Token, actor: Actor, kind: str, **data: object) -> Event:
    return append_event(
        session,
        token.centre_id,
        kind,
        actor,
        token_id=token.id,
        counter_id=token.counter_id,
        service_id=token.service_id,
        data={"number": token.number, **data},
    )


def recall(session: Session, token_id: int, actor: Actor, reason: str = "") -> Token:
    """Call a called token again. Past the centre's recall limit it is refused unless a
    reason is given (the citizen is held up, everyone behind waits): then the recall is
    audited with its reason, and shows in the reports as out of order."""
    token, counter = _at_counter(session, token_id, actor, Action.RECALL)
    limit = counter.centre.max_recalls
    reason = (reason or "").strip()
    beyond = token.recall_count >= limit
    if beyond and not reason:
        raise Conflict(
            N_("%(number)s was recalled %(count)s times already: mark it as no-show, or give a reason."),
            code="recall_limit",
            number=token.number,
            count=token.recall_count,
        )
    token.recall_count += 1
    token.called_at = utcnow()
    session.flush()
    fields, note = reason_fields(reason) if beyond else ({}, "")
    extra: dict[str, object] = {"beyond_limit": True, **fields} if beyond else {}
    event = _record(session, token, actor, "token_recalled", recalls=token.recall_count, **extra)
    attach_note(session, event, note)
    announce.token_called(session, token, "recall")
    return token


def no_show(session: Session, token_id: int, actor: Actor) -> Token:
    token, counter = _at_counter(session, token_id, actor, Action.NO_SHOW)
    token.state = next_state(Action.NO_SHOW, token.state)
    token.finished_at = utcnow()
    session.flush()
    _record(session, token, actor, "token_no_show")
    announce.token_changed(session, token)
    announce.counter_changed(session, counter)
    return token


def requeue(session: Session, token_id: int, actor: Actor) -> Token:
    """A no-show citizen came back: waiting again, keeping the original issue time."""
    if actor.kind != "staff":
        raise Forbidden(N_("Only staff may requeue a token."))
    token = token_for_update(session, token_id, actor)
    token.state = next_state(Action.REQUEUE, token.state)
    if token.business_day < queue_state.hall_days(token.centre)[0]:
        raise Conflict(N_("Token %(number)s is from another day."), number=token.number)
    token.counter_id = None
    token.recall_count = 0
    token.finished_at = None
    session.flush()
    _record(session, token, actor, "token_requeued")
    announce.token_changed(session, token)
    announce.queue_changed(session, token.centre)
    return token


def start(session: Session, token_id: int, actor: Actor) -> Token:
    token, counter = _at_counter(session, token_id, actor, Action.START)
    token.state = next_state(Action.START, token.state)
    token.started_at = utcnow()
    session.flush()
    _record(session, token, actor, "token_started")
    open_request(session, token, counter, actor)
    announce.token_changed(session, token)
    announce.counter_now_serving(session, counter, token)
    return token


def park(session: Session, token_id: int, actor: Actor) -> Token:
    """Set a serving token aside at this counter (e.g. waiting for a document), freeing
    the counter to call the next citizen."""
    token, counter = _at_counter(session, token_id, actor, Action.PARK)
    token.state = next_state(Action.PARK, token.state)
    session.flush()
    _record(session, token, actor, "token_parked")
    announce.token_changed(session, token)
    announce.counter_changed(session, counter)
    return token


def unpark(session: Session, token_id: int, actor: Actor) -> Token:
    token, counter = _at_counter(session, token_id, actor, Action.UNPARK)
    require_free(session, counter)
    token.state = next_state(Action.UNPARK, token.state)
    session.flush()
    _record(session, token, actor, "token_unparked")
    announce.token_changed(session, token)
    announce.counter_changed(session, counter)
    return token


def complete(session: Session, token_id: int, actor: Actor, outcome: str = "served") -> Token:
    if outcome not in OUTCOMES:
        raise ValidationFailed(N_("Unknown outcome %(outcome)s."), outcome=str(outcome)[:32])
    token, counter = _at_counter(session, token_id, actor, Action.COMPLETE)
    require_closable(session, token, actor, outcome)
    token.state = next_state(Action.COMPLETE, token.state)
    token.finished_at = utcnow()
    token.outcome = outcome
    session.flush()
    _record(session, token, actor, "token_completed", outcome=outcome)
    announce.token_changed(session, token)
    announce.counter_now_serving(session, counter, None)
    return token


def transfer(
    session: Session,
    token_id: int,
    actor: Actor,
    *,
    service_code: str | None = None,
    counter_id: int | None = None,
    reason: str = "",
) -> Token:
    """Send a serving token back to waiting, in another service or at one counter, keeping
    its original issue time so the citizen does not lose their place. A transfer to a
    counter goes ahead of that counter's queue: the reason given is kept in its event."""
    if (service_code is None) == (counter_id is None):
        raise ValidationFailed(N_("Transfer to either a service or a counter."))
    token, counter = _at_counter(session, token_id, actor, Action.TRANSFER)
    data: dict[str, object] = {"from_counter": counter.number}
    note = ""
    if service_code is not None:
        service = service_by_code(session, token.centre, service_code)
        if not service.is_active:
            raise Conflict(N_("This service is not available now."), code="service_inactive")
        data.update(from_service=token.service.code, to_service=service.code)
        token.service_id = service.id
        token.service = service
        token.target_counter_id = None
    else:
        target = session.get(Counter, counter_id)
        if target is None or target.centre_id != token.centre_id:
            raise NotFound(N_("No counter %(id)s."), id=counter_id)
        if target.id == counter.id:
            raise Conflict(N_("The token is already at this counter."), code="same_counter")
        data.update(to_counter=target.number)
        fields, note = reason_fields(reason)
        data.update(fields)
        token.target_counter_id = target.id
    token.state = next_state(Action.TRANSFER, token.state)
    token.counter_id = None
    token.called_at = None
    token.started_at = None
    token.recall_count = 0
    token.transfer_count += 1
    session.flush()
    event = _record(session, token, actor, "token_transferred", **data)
    attach_note(session, event, note)
    announce.token_changed(session, token)
    announce.queue_changed(session, token.centre)
    announce.counter_changed(session, counter)
    return token


def cancel(session: Session, token_id: int, actor: Actor, reason: str = "") -> Token:
    if actor.kind != "staff":
        raise Forbidden(N_("Only staff may cancel a token."))
    token = token_for_update(session, token_id, actor)
    previous_counter = token.counter
    token.state = next_state(Action.CANCEL, token.state)
    if previous_counter is not None:
        require_holder(previous_counter, actor)
    token.finished_at = utcnow()
    session.flush()
    fields, note = reason_fields(reason)
    attach_note(session, _record(session, token, actor, "token_cancelled", **fields), note)
    announce.token_changed(session, token)
    announce.queue_changed(session, token.centre)
    if previous_counter is not None:
        announce.counter_changed(session, previous_counter)
    return token


def token_of_centre(session: Session, service: Service, number: str) -> Token | None:
    return session.scalar(select(Token).where(Token.service_id == service.id, Token.number == number))
