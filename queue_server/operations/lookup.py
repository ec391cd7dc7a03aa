"""Loading what an operation acts on, with the checks every operation shares."""

from __future__ import annotations

import functools
from collections.abc import Sequence

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.interfaces import ORMOption

from queue_server.actors import Actor
from queue_server.errors import N_, Conflict, Forbidden, NotFound
from queue_server.models import Centre, Counter, CounterState, Role, Service, Token
from queue_server.models.token import AT_COUNTER_STATES, TOKEN_COLUMNS


def find_centre(session: Session, code: str) -> Centre | None:
    return session.scalar(_CENTRE_BY_CODE, {"code": code})


def find_service(session: Session, centre_id: int, code: str) -> Service | None:
    return session.scalar(_SERVICE_BY_CODE, {"centre_id": centre_id, "code": code})


def issued_for_key(session: Session, device_id: int, idempotency_key: str) -> Token | None:
    """The token a device already issued with this idempotency key, if any."""
    return session.scalar(_ISSUED_FOR_KEY, {"device_id": device_id, "key": idempotency_key})


# The hot path's statements are built once, with bound parameters: building and cache-keying
# a statement on every call costs about as much as running it.
_CENTRE_BY_CODE = select(Centre).where(Centre.code == bindparam("code"))
_SERVICE_BY_CODE = select(Service).where(Service.centre_id == bindparam("centre_id"), Service.code == bindparam("code"))
_ISSUED_FOR_KEY = select(Token).where(Token.device_id == bindparam("device_id"), Token.idempotency_key == bindparam("key"))


def centre_by_code(session: Session, code: str) -> Centre:
    centre = find_centre(session, code)
    if centre is None:
        raise NotFound(N_("No centre %(centre)s."), centre=code[:40])
    return centre


def centre_for(session: Session, actor: Actor, code: str) -> Centre:
    centre = centre_by_code(session, code)
    if not actor.may_act_in(centre.id):
        raise Forbidden(N_("You may not act for this centre."))
    return centre


_TOKEN_LOCKED = (
    select(Token)
    .options(joinedload(Token.service, innerjoin=True), joinedload(Token.centre, innerjoin=True))
    .where(Token.id == bindparam("token_id"))
    .with_for_update(of=Token)
)


@functools.lru_cache(maxsize=8)  # (one per tuple of options: the callers pass constants)
def _counter_locked(options: Sequence[ORMOption]) -> Select[Counter]:
    return select(Counter).options(*options).where(Counter.id == bindparam("counter_id")).with_for_update(of=Counter)


def token_for_update(session: Session, token_id: int, actor: Actor) -> Token:
    """The token, locked; its service and centre come in the same query, since every
    announcement of a token shows them. Only the token row is locked."""
    token = session.scalar(_TOKEN_LOCKED, {"token_id": token_id})
    if token is None:
        raise NotFound(N_("No token %(id)s."), id=token_id)
    if not actor.may_act_in(token.centre_id):
        raise Forbidden(N_("You may not act for this centre."))
    return token


def counter_for_update(
    session: Session, counter_id: int, actor: Actor, *, options: Sequence[ORMOption] = ()
) -> Counter:
    """The counter, locked (only its row, whatever ``options`` load along with it: a
    constant tuple, since each one's statement is kept)."""
    # unique(): a joined collection (the work profile) gives one row per entry
    counter = session.scalars(_counter_locked(tuple(options)), {"counter_id": counter_id}).unique().one_or_none()
    if counter is None:
        raise NotFound(N_("No counter %(id)s."), id=counter_id)
    if not actor.may_act_in(counter.centre_id):
        raise Forbidden(N_("You may not act for this centre."))
    return counter


def require_holder(counter: Counter, actor: Actor) -> None:
    """A clerk acts only at the counter they hold; managers may act at any of their centre."""
    if actor.is_manager:
        return
    if actor.kind != "staff" or actor.role != Role.CLERK:
        raise Forbidden(N_("Only staff may act at a counter."))
    if counter.staff_id != actor.id:
        raise Forbidden(N_("Counter %(number)s is not yours: open it first."), number=counter.number)


def require_open(counter: Counter) -> None:
    if counter.state != CounterState.OPEN:
        raise Conflict(
            N_("Counter %(number)s is %(state)s."),
            code="counter_not_open",
            number=counter.number,
            state=counter.state.value,
        )


def service_by_code(session: Session, centre: Centre, code: str) -> Service:
    service = find_service(session, centre.id, code)
    if service is None:
        raise NotFound(N_("No service %(service)s at this centre."), service=code[:40])
    return service


# The number of the token called or being served at a counter, if any: a plain Core
# statement on the table (``TOKEN_COLUMNS``), as every call asks it.
_BUSY_WITH = (
    select(TOKEN_COLUMNS.number)
    .where(TOKEN_COLUMNS.counter_id == bindparam("counter_id"), TOKEN_COLUMNS.state.in_(AT_COUNTER_STATES))
    .limit(1)
)


def require_free(session: Session, counter: Counter) -> None:
    """A counter takes one citizen at a time: refuse while one is called or served there."""
    busy = session.scalar(_BUSY_WITH, {"counter_id": counter.id})
    if busy is not None:
        raise Conflict(
            N_("Counter %(counter)s is still busy with %(number)s: finish it first."),
            code="counter_busy",
            counter=counter.number,
            number=busy,
        )
