"""A citizen's mobile number for one token's SMS, given on the tracking page, and the
"called" SMS. The number lives only in ``sms_recipients`` (never in the event log, the
outbox or a screen) and is deleted once its token has left the hall
(``notify.purge_recipients``, run with end of day)."""

from __future__ import annotations

import hmac
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from queue_server import notify, ratelimit
from queue_server.actors import Actor
from queue_server.audit import append_event
from queue_server.clock import utcnow
from queue_server.errors import N_, Conflict, NotAuthenticated, NotFound
from queue_server.formats import mask_phone, normalise_phone
from queue_server.models import SmsPart, SmsRecipient, Token, TokenState
from queue_server.read.tracking import find_tracked

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


# The final states of a delivery receipt (SMPP's ``stat:`` words), as HTTP gateways report them.
RECEIPT_STATES = ("DELIVRD", "UNDELIV", "EXPIRED", "REJECTD", "DELETED", "UNKNOWN")


def check_receipt_key(given: str) -> None:
    """Admit an HTTP gateway's receipt callback only with the shared ``SMS_RECEIPT_KEY``.
    Refuses: no key configured (404: receipts are not taken here), none or a wrong one (401)."""
    expected = str(current_app.config.get("SMS_RECEIPT_KEY") or "")
    if not expected:
        raise NotFound(N_("Delivery receipts are not taken here."), code="not_configured")
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise NotAuthenticated(N_("Unknown or revoked key."), code="bad_key")


def record_receipt(session: Session, message_id: str, status: str) -> dict[str, Any]:
    """Note an HTTP gateway's delivery receipt on the part it names (the message becomes
    delivered once all its parts are, undelivered when one is not). A receipt told twice
    changes nothing more. Refuses a message id that no part carries (404)."""
    from queue_server.sms.gateways import Receipt  # here: keeps smpplib out of the import path

    if session.scalar(select(SmsPart.id).where(SmsPart.message_id == message_id)) is None:
        raise NotFound(N_("No SMS part has that message id."), code="unknown_message")
    notify.record_receipts(session, [Receipt(message_id, status)])
    return {"message_id": message_id, "status": status}
