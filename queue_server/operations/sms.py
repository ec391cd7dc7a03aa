"""A citizen's mobile number for one token's SMS, given on the tracking page, and the
"called" SMS. The number lives only in ``sms_recipients`` (never in the event log, the
outbox or a screen) and is deleted once its token has left the hall
(``notify.purge_recipients``, run with end of day)."""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy.orm import Session

from queue_server import notify, ratelimit
from queue_server.actors import Actor
from queue_server.audit import append_event
from queue_server.clock import utcnow
from queue_server.errors import N_, Conflict
from queue_server.models import SmsRecipient, Token, TokenState
from queue_server.operations.requests import mask_phone, normalise_phone
from queue_server.tracking import find_tracked

CITIZEN = Actor("citizen", name="citizen")
LANGUAGES = ("ur", "en")
PER_CLIENT = 10
PER_CLIENT_WINDOW = 600
CALLED = "called"
STILL_IN_HALL = (TokenState.WAITING, TokenState.CALLED)


def give_number(session: Session, code: str, client: str, *, phone: Any, language: Any) -> dict[str, str]:
    """Keep ``phone`` for the token behind ``code`` so it gets its SMS ("almost your turn",
    "called", "ready"). Refuses, changing nothing: a client past its volume (429), an
    unknown code (404), a malformed number (400), a token no longer waiting or called (409)."""
    ratelimit.enforce(f"sms-number:{client}", PER_CLIENT, PER_CLIENT_WINDOW)
    token = find_tracked(session, code, client)
    number = normalise_phone(phone if isinstance(phone, str) else "")
    if token.state not in STILL_IN_HALL:
        raise Conflict(N_("Messages can be asked for only while the token waits."), code="not_waiting")
    lang = language if language in LANGUAGES else "ur"
    given = session.get(SmsRecipient, token.id)
    if given is None:
        session.add(SmsRecipient(token_id=token.id, phone=number, language=lang, created_at=utcnow()))
    else:
        given.phone, given.language = number, lang
    session.flush()
    append_event(session, token.centre_id, "sms_number_given", CITIZEN, token_id=token.id, data={})
    return {"phone": mask_phone(number), "language": lang}


def withdraw_number(session: Session, code: str, client: str) -> None:
    """Forget the number given for the token behind ``code`` (nothing more is sent)."""
    ratelimit.enforce(f"sms-number:{client}", PER_CLIENT, PER_CLIENT_WINDOW)
    token = find_tracked(session, code, client)
    given = session.get(SmsRecipient, token.id)
    if given is not None:
        session.delete(given)
        session.flush()
        append_event(session, token.centre_id, "sms_number_withdrawn", CITIZEN, token_id=token.id, data={})


def tell_called(session: Session, token: Token, counter_number: int | None) -> None:
    """Queue the "called" SMS when SMS is the way out and the citizen gave a number."""
    if current_app.config.get("NOTIFIER") != "sms" or session.get(SmsRecipient, token.id) is None:
        return
    notify.enqueue(
        session,
        centre_id=token.centre_id,
        token_id=token.id,
        kind=CALLED,
        payload={"number": token.number, "counter": counter_number},
    )
