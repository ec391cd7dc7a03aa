"""The citizen's view of one token, by its public code: nothing personal, ever.

The same view answers ``GET /api/v1/track/<code>``, is the tracking page's socket snapshot,
and is what the page is told when its token changes. It is built from chosen columns only
(never a whole request row, which holds the applicant's name, CNIC and phone).

A code stops revealing anything ``TRACKING_DAYS`` after the visit, or after its request was
closed when that is later (a request still in process keeps it alive). Looking up unknown
codes is rate-limited per client; a client over the limit is refused every lookup, so
guessing cannot go on behind the 429s.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import and_, not_, select
from sqlalchemy.orm import Session

from queue_server import ratelimit
from queue_server.errors import N_, NotFound, RateLimited
from queue_server.models import (
    Counter,
    Delivery,
    Feedback,
    RemoteToken,
    RequestState,
    ServiceRequest,
    Token,
    TokenState,
)
from queue_server.read import queue_state

CODE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,40}$")
TRACKING_DAYS = 7
MISSES_PER_MINUTE = 20
PENDING_REQUEST_STATES = (RequestState.OPEN, RequestState.IN_PROCESS, RequestState.READY)


def _miss_key(client: str) -> str:
    return f"track-miss:{client}"


def _is_expired(session: Session, token: Token, today: date) -> bool:
    limit = timedelta(days=TRACKING_DAYS)
    if today - token.business_day <= limit:
        return False
    latest = session.execute(
        select(ServiceRequest.state, ServiceRequest.closed_at)
        .where(ServiceRequest.token_id == token.id)
        .order_by(ServiceRequest.id.desc())
        .limit(1)
    ).first()
    if latest is None:
        return True
    state, closed_at = latest
    if state in PENDING_REQUEST_STATES:
        return False
    return closed_at is None or today - token.centre.business_day(closed_at) > limit


def find_tracked(session: Session, code: str, client: str) -> Token:
    """The token behind a public code. Refuses (404) an unknown, malformed or expired code
    and counts it as a miss; refuses (429) any lookup from a client past the miss limit,
    and every lookup (valid codes too: page, API and socket join) past
    ``TRACK_LOOKUPS_PER_MINUTE`` per client."""
    if ratelimit.count(_miss_key(client), 60) >= MISSES_PER_MINUTE:
        raise RateLimited(N_("Too many requests: wait a moment and try again."))
    ratelimit.enforce(f"track:all:{client}", int(current_app.config["TRACK_LOOKUPS_PER_MINUTE"]), 60)
    token = None
    if CODE_PATTERN.match(code):
        token = session.scalar(select(Token).where(Token.public_code == code))
    if token is not None and _is_expired(session, token, token.centre.business_day()):
        token = None  # old codes stop revealing anything
    if token is None:
        ratelimit.enforce(_miss_key(client), MISSES_PER_MINUTE, 60)
        raise NotFound(N_("This code is unknown or has expired."), code="unknown_code")
    return token


def request_public(session: Session, token: Token) -> dict[str, Any] | None:
    """The latest request of a token as the citizen may see it: its state, its dates and
    where to collect it. Chosen columns only; the applicant's details are never returned.
    A request still being filled in at the counter, or one withdrawn before anything was
    recorded (an enquiry), is no application to follow, so it is not shown."""
    never_recorded = and_(ServiceRequest.state == RequestState.WITHDRAWN, ServiceRequest.applicant_name == "")
    row = session.execute(
        select(
            ServiceRequest.id,
            ServiceRequest.state,
            ServiceRequest.due_at,
            ServiceRequest.ready_at,
            ServiceRequest.closed_at,
            ServiceRequest.collection_called_at,
            Counter.number,
        )
        .outerjoin(Counter, Counter.id == ServiceRequest.counter_id)
        .where(
            ServiceRequest.token_id == token.id,
            ServiceRequest.state != RequestState.OPEN,
            not_(never_recorded),
        )
        .order_by(ServiceRequest.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    request_id, state, due_at, ready_at, closed_at, collection_called_at, counter_number = row
    delivery = session.scalar(select(Delivery).where(Delivery.request_id == request_id))
    return {
        "state": state.value,
        "due_at": queue_state.iso(due_at),
        "ready_at": queue_state.iso(ready_at),
        "closed_at": queue_state.iso(closed_at),
        "collection_called_at": queue_state.iso(collection_called_at),
        "collect_counter": counter_number,
        "delivery": delivery_public(delivery),
    }


def delivery_public(delivery: Delivery | None) -> dict[str, Any] | None:
    """What the citizen's tracking page shows of a delivery: never the address."""
    if delivery is None:
        return None
    return {
        "state": delivery.state.value,
        "courier": delivery.courier,
        "consignment": delivery.consignment,
        "dispatched_at": delivery.dispatched_at.isoformat() if delivery.dispatched_at else None,
        "delivered_at": delivery.delivered_at.isoformat() if delivery.delivered_at else None,
    }


def is_pending(request: dict[str, Any] | None) -> bool:
    """A request the citizen still waits for (in process, or ready to collect)."""
    return request is not None and request["state"] in {s.value for s in PENDING_REQUEST_STATES}


def track_payload(session: Session, token: Token) -> dict[str, Any]:
    """Everything the tracking page shows for a token that was found."""
    centre = token.centre
    ahead = queue_state.tokens_ahead(session, token)
    eta = None
    if token.state == TokenState.WAITING:
        eta = queue_state.eta_for(session, centre, token.service_id, ahead, token_id=token.id)
    request = request_public(session, token)
    rating = None
    if token.state == TokenState.DONE:  # feedback is taken only then, and done is final
        rating = session.scalar(select(Feedback.rating).where(Feedback.token_id == token.id))
    public = queue_state.token_public(token)
    opens_at, closes_at = queue_state.shown_hours(centre)
    return {
        "number": token.number,
        "state": token.state.value,
        "service": public["service"],
        "counter": public["counter"],
        "ahead": ahead,
        "eta_minutes": eta,
        "almost_turn_ahead": centre.almost_turn_ahead,
        "centre": centre.code,
        "centre_name_en": centre.name_en,
        "centre_name_ur": centre.name_ur,
        "opens_at": opens_at,
        "closes_at": closes_at,
        "timezone": centre.timezone,
        "issued_at": token.issued_at.isoformat(),
        "called_at": queue_state.iso(token.called_at),
        "recalls": token.recall_count,
        "remote": _remote_view(session, token),
        "request_state": request["state"] if request else None,
        "request": request,
        "feedback": {
            # After the whole visit: a request still to be collected comes first.
            "allowed": token.state == TokenState.DONE and rating is None and not is_pending(request),
            "given": rating is not None,
            "rating": rating,
        },
    }


def _remote_view(session: Session, token: Token) -> dict[str, Any] | None:
    """A token taken from the phone: its check-in code, until the citizen has checked in."""
    remote = session.get(RemoteToken, token.id)
    if remote is None:
        return None
    return {"check_in_code": remote.code, "checked_in": remote.checked_in_at is not None}


def track_view(session: Session, code: str, client: str) -> dict[str, Any]:
    return track_payload(session, find_tracked(session, code, client))
