"""The citizen's view of one token, by its public code: nothing personal, ever."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from queue_server import queue_state
from queue_server.clock import local_day
from queue_server.errors import N_, NotFound
from queue_server.models import ServiceRequest, Token, TokenState
from queue_server.ratelimit import enforce

CODE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,40}$")
TRACKING_DAYS = 7
MISSES_PER_MINUTE = 20


def find_tracked(session: Session, code: str, client: str) -> Token:
    token = None
    if CODE_PATTERN.match(code):
        token = session.scalar(select(Token).where(Token.public_code == code))
    if token is not None and local_day(token.centre.tz) - token.business_day > timedelta(days=TRACKING_DAYS):
        token = None  # old codes stop revealing anything
    if token is None:
        enforce(f"track-miss:{client}", MISSES_PER_MINUTE, 60)
        raise NotFound(N_("This code is unknown or has expired."), code="unknown_code")
    return token


def track_view(session: Session, code: str, client: str) -> dict[str, Any]:
    token = find_tracked(session, code, client)
    ahead = queue_state.tokens_ahead(session, token)
    eta = None
    if token.state == TokenState.WAITING:
        eta = queue_state.eta_for(session, token.centre, token.service_id, ahead)
    request_state = session.scalar(
        select(ServiceRequest.state)
        .where(ServiceRequest.token_id == token.id)
        .order_by(ServiceRequest.id.desc())
        .limit(1)
    )
    public = queue_state.token_public(token)
    return {
        "number": token.number,
        "state": token.state.value,
        "service": public["service"],
        "counter": public["counter"],
        "ahead": ahead,
        "eta_minutes": eta,
        "centre": token.centre.code,
        "centre_name_en": token.centre.name_en,
        "centre_name_ur": token.centre.name_ur,
        "issued_at": token.issued_at.isoformat(),
        "called_at": queue_state.iso(token.called_at),
        "request_state": request_state.value if request_state else None,
    }
