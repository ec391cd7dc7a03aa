"""What issuing a token answers, whoever asked (the API, the kiosk, a counter, a booking's
check-in): the token as staff see it, its place in the queue, and where the citizen
follows it."""

from __future__ import annotations

from typing import Any

from flask import current_app, request

from queue_server.operations import IssuedToken
from queue_server.read import queue_state


def tracking_url(public_code: str) -> str:
    base = current_app.config.get("PUBLIC_BASE_URL") or request.host_url
    return f"{base.rstrip('/')}/t/{public_code}"


def issued_body(issued: IssuedToken) -> dict[str, Any]:
    return {
        **queue_state.token_staff(issued.token),
        "position": issued.ahead + 1,
        "ahead": issued.ahead,
        "eta_minutes": issued.eta_minutes,
        "tracking_url": tracking_url(issued.token.public_code),
        "replay": issued.is_replay,
    }
