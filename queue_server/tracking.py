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

from sqlalchemy import and_, not_, select
from sqlalchemy.orm import Session

from queue_server import queue_state, ratelimit
from queue_server.clock import local_day
from queue_server.errors import N_, NotFound, RateLimited
from queue_server.models import Counter, Feedback, RequestState, ServiceRequest, Token, TokenState

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
    return closed_at is None or today - local_day(token.centre.tz, closed_at) > limit


def find_tracked(session: Session, code: str, client: str) -> Token:
    """The token behind a public code. Refuses (404) an unknown, malformed or expired code
    and counts it as a miss; refuses (429) any lookup from a client past the miss limit."""
    if ratelimit.count(_miss_key(client), 60) >= MISSES_PER_MINUTE:
        raise RateLimited(N_("Too many requests: wait a moment and try again."))
    token = None
    if CODE_PATTERN.match(code):
        token = session.scalar(select(Token).where(Token.public_code == code))
    if token is not None and _is_expired(session, token, local_day(token.centre.tz)):
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
    state, due_at, ready_at, closed_at, collection_called_at, counter_number = row
    return {
        "state": state.value,
        "due_at": queue_state.iso(due_at),
        "ready_at": queue_state.iso(ready_at),
        "closed_at": queue_state.iso(closed_at),
        "collection_called_at": queue_state.iso(collection_called_at),
        "collect_counter": counter_number,
    }


def track_payload(session: Session, token: Token) -> dict[str, Any]:
    """Everything the tracking page shows for a token that was found."""
    centre = token.centre
    ahead = queue_state.tokens_ahead(session, token)
    eta = None
    if token.state == TokenState.WAITING:
        eta = queue_state.eta_for(session, centre, token.service_id, ahead)
    request = request_public(session, token)
    rating = None
    if token.state == TokenState.DONE:  # feedback is taken only then, and done is final
        rating = session.scalar(select(Feedback.rating).where(Feedback.token_id == token.id))
    public = queue_state.token_public(token)
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
        "opens_at": centre.opens_at.strftime("%H:%M"),
        "closes_at": centre.closes_at.strftime("%H:%M"),
        "timezone": centre.timezone,
        "issued_at": token.issued_at.isoformat(),
        "called_at": queue_state.iso(token.called_at),
        "recalls": token.recall_count,
        "request_state": request["state"] if request else None,
        "request": request,
        "feedback": {
            "allowed": token.state == TokenState.DONE and rating is None,
            "given": rating is not None,
            "rating": rating,
        },
    }


def track_view(session: Session, code: str, client: str) -> dict[str, Any]:
    return track_payload(session, find_tracked(session, code, client))
