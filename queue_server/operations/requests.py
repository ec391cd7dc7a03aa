"""Requests (cases) opened when service starts. The console's request processing grows here."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from queue_server.errors import N_, Conflict
from queue_server.models import RequestState, ServiceRequest, Token

UNFINISHED = (RequestState.OPEN,)


def require_closable(session: Session, token: Token) -> None:
    """A token may be completed only when its request, if any, has been filled in."""
    pending = session.scalar(
        select(ServiceRequest).where(
            ServiceRequest.token_id == token.id, ServiceRequest.state.in_(UNFINISHED)
        )
    )
    if pending is not None:
        raise Conflict(
            N_("Request %(reference)s is still open: record it before completing."),
            code="request_open",
            reference=pending.reference,
        )
