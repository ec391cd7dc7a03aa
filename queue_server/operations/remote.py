"""Joining the queue from the phone, where a centre allows it: while the centre is open a
citizen takes a token with a mobile number, follows its place on the tracking page, gets
"almost your turn" by SMS, and checks in at the kiosk on arrival (its check-in code).

The token keeps its place from the moment it was taken, but counters pass it over until
it is checked in (``tokens.arrived``, in call-next's candidates), so an absent phone
holds nobody up. One open remote token per mobile number, and a per-client rate limit,
stop hoarding. The number lives in ``remote_tokens`` and ``sms_recipients`` only."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from queue_server import centre_days, ratelimit
from queue_server.actors import Actor
from queue_server.audit import append_event
from queue_server.clock import utcnow
from queue_server.errors import N_, Conflict, FieldInvalid, NotFound
from queue_server.formats import normalise_phone
from queue_server.models import Centre, RemoteToken, SmsRecipient, Token
from queue_server.models.token import OPEN_STATES
from queue_server.operations import announce, appointments
from queue_server.operations.tokens import IssuedToken, issue_token
from queue_server.read import queue_state

PER_CLIENT = 10
PER_CLIENT_WINDOW = 600
LANGUAGES = ("ur", "en")


def allowed(centre: Centre) -> bool:
    return bool(((centre.settings or {}).get("remote_queue") or {}).get("enabled"))


def _code(session: Session) -> str:
    alphabet, length = appointments.CODE_ALPHABET, appointments.CODE_LENGTH
    while True:
        code = "".join(secrets.choice(alphabet) for _ in range(length))
        taken = session.scalar(select(RemoteToken.token_id).where(RemoteToken.code == code))
        if taken is None and session.scalar(select(func.count()).where(appointments.Appointment.code == code)) == 0:
            return code


def take(
    session: Session,
    centre: Centre,
    *,
    service: Any,
    phone: Any,
    language: Any,
    client: str,
    now: datetime | None = None,
) -> tuple[IssuedToken, RemoteToken]:
    """Take a token from the phone. Refuses, changing nothing: a client past its volume
    (429), a centre that does not allow it or is closed now, a number with an open remote
    token already (409), a bad number (400), an unknown or inactive service (404/409)."""
    now = now or utcnow()
    ratelimit.enforce(f"remote:{client}", PER_CLIENT, PER_CLIENT_WINDOW)
    if not allowed(centre):
        raise Conflict(N_("This centre does not take tokens from the phone."), code="remote_off")
    number = normalise_phone(phone if isinstance(phone, str) else "")
    if not isinstance(service, str) or not 0 < len(service) <= appointments.SERVICE_CODE_MAX:
        raise FieldInvalid("service", N_("Choose a service."), code="invalid_service")
    if not centre_days.is_open(centre.calendar(), now):
        raise Conflict(N_("The centre is closed now: take a token when it is open."), code="centre_closed")
    held = session.scalar(
        select(func.count(RemoteToken.token_id))
        .join(Token, Token.id == RemoteToken.token_id)
        .where(RemoteToken.phone == number, Token.state.in_(OPEN_STATES))
    )
    if held:
        raise Conflict(
            N_("This mobile number already has a token in the queue."), code="remote_token_held"
        )
    citizen = Actor("citizen", centre_id=centre.id, name="phone")
    issued = issue_token(session, centre, service, citizen)
    remote = RemoteToken(token_id=issued.token.id, code=_code(session), phone=number, created_at=now)
    session.add(remote)
    session.add(
        SmsRecipient(
            token_id=issued.token.id, phone=number, language=language if language in LANGUAGES else "ur", created_at=now
        )
    )
    session.flush()
    append_event(
        session, centre.id, "remote_token_taken", citizen, token_id=issued.token.id,
        service_id=issued.token.service_id, data={"number": issued.token.number},
    )
    return issued, remote


def check_in(session: Session, centre: Centre, remote: RemoteToken, actor: Actor) -> IssuedToken:
    """The citizen arrived: from now on counters may call the token, in its original place.
    Refuses a token no longer waiting (called, served, closed) or checked in already."""
    token = session.get(Token, remote.token_id, with_for_update=True)
    if token is None or token.centre_id != centre.id:
        raise NotFound(N_("No booking with that code."), code="no_booking")
    if remote.checked_in_at is not None:
        raise Conflict(N_("This booking was checked in already."), code="checked_in")
    if token.state not in OPEN_STATES:
        raise Conflict(N_("This booking is not valid: take a token for the queue."), code="booking_closed")
    remote.checked_in_at = utcnow()
    session.flush()
    append_event(
        session, centre.id, "remote_token_checked_in", actor, token_id=token.id, service_id=token.service_id,
        data={"number": token.number},
    )
    announce.token_changed(session, token)  # its tracking page drops the check-in code
    ahead = queue_state.tokens_ahead(session, token)
    return IssuedToken(token, ahead, queue_state.eta_for(session, centre, token.service_id, ahead))


def find(session: Session, code: Any) -> RemoteToken | None:
    text = code.strip().upper().replace("-", "") if isinstance(code, str) else ""
    return session.scalar(select(RemoteToken).where(RemoteToken.code == text)) if text else None


def arrive(
    session: Session, centre: Centre, code: Any, actor: Actor, *, device: Any = None, client: str = "?"
) -> IssuedToken:
    """The kiosk's check-in: a remote token's code, or else a booking's."""
    remote = find(session, code)
    if remote is not None:
        if not actor.may_act_in(centre.id):
            raise NotFound(N_("No booking with that code."), code="no_booking")
        return check_in(session, centre, remote, actor)
    return appointments.check_in(session, centre, code, actor, device=device, client=client)


def view_of(session: Session, token: Token) -> dict[str, Any] | None:
    """What the tracking page shows of a remote token: its check-in code until it is used."""
    remote = session.get(RemoteToken, token.id)
    if remote is None:
        return None
    return {"code": remote.code, "checked_in": remote.checked_in_at is not None}


def settle(session: Session, centre: Centre) -> int:
    """End of day: forget the numbers of phone tokens that have left the hall."""
    done = select(Token.id).where(Token.centre_id == centre.id, Token.state.not_in(OPEN_STATES))
    rows = session.scalars(
        select(RemoteToken).where(RemoteToken.token_id.in_(done), RemoteToken.phone != "")
    ).all()
    for row in rows:
        row.phone = ""
    session.flush()
    return len(rows)
