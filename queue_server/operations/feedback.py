"""Citizen feedback: a rating (1-5) and a short comment, left once per token after service,
from the tracking page; and the figures managers read in the dashboard and reports."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from queue_server import ratelimit
from queue_server.actors import Actor
from queue_server.audit import append_event
from queue_server.clock import utcnow
from queue_server.errors import N_, Conflict, ValidationFailed
from queue_server.models import Centre, Counter, Feedback, Service, Token, TokenState
from queue_server.models.feedback import COMMENT_MAX, RATING_MAX, RATING_MIN
from queue_server.read import queue_state
from queue_server.read.tracking import find_tracked, is_pending, request_public

CITIZEN = Actor("citizen", name="citizen")
LANGUAGES = ("ur", "en")
# Abusive volumes: per client address and per centre, per window.
PER_CLIENT = 20
PER_CLIENT_WINDOW = 600
PER_CENTRE = 300
PER_CENTRE_WINDOW = 3600
_CONTROL = re.compile(r"[\u0000-\u0008\u000b-\u001f\u007f]")


def clean_comment(comment: Any) -> str:
    """A comment as stored: text only, trimmed, control characters dropped, NFC. Refuses
    anything that is not text and anything longer than COMMENT_MAX characters."""
    if comment is None:
        return ""
    if not isinstance(comment, str):
        raise ValidationFailed(N_("The comment must be text."), code="invalid_comment")
    text = unicodedata.normalize("NFC", _CONTROL.sub("", comment)).strip()
    if len(text) > COMMENT_MAX:
        raise ValidationFailed(
            N_("Keep the comment to %(max)s characters or fewer."),
            code="comment_too_long",
            max=COMMENT_MAX,
        )
    return text


def check_rating(rating: Any) -> int:
    if isinstance(rating, bool) or not isinstance(rating, int) or not RATING_MIN <= rating <= RATING_MAX:
        raise ValidationFailed(
            N_("Choose a rating from %(low)s to %(high)s."),
            code="invalid_rating",
            low=RATING_MIN,
            high=RATING_MAX,
        )
    return rating


def leave_feedback(
    session: Session,
    code: str,
    client: str,
    *,
    rating: Any,
    comment: Any = "",
    language: str = "",
) -> Feedback:
    """Record the citizen's rating and comment for the token behind a public code.

    Refuses, changing nothing: a client or centre past its feedback volume (429), an
    unknown or expired code (404), a rating outside 1-5 or a comment that is too long (400),
    a token whose service is not done, and a second feedback for the same token (409)."""
    ratelimit.enforce(f"feedback:client:{client}", PER_CLIENT, PER_CLIENT_WINDOW)
    token = find_tracked(session, code, client)
    value = check_rating(rating)
    text = clean_comment(comment)
    if token.state != TokenState.DONE:
        raise Conflict(
            N_("Feedback can be left once your service is done."),
            code="not_done",
        )
    if is_pending(request_public(session, token)):
        raise Conflict(
            N_("Feedback can be left once your documents are collected."),
            code="request_pending",
        )
    if session.scalar(select(Feedback.id).where(Feedback.token_id == token.id)) is not None:
        raise Conflict(
            N_("Feedback for this token was already received. Thank you!"),
            code="feedback_given",
        )
    ratelimit.enforce(f"feedback:centre:{token.centre_id}", PER_CENTRE, PER_CENTRE_WINDOW)
    feedback = Feedback(
        token_id=token.id,
        centre_id=token.centre_id,
        service_id=token.service_id,
        counter_id=token.counter_id,
        rating=value,
        comment=text,
        language=language if language in LANGUAGES else "",
        created_at=utcnow(),
    )
    session.add(feedback)
    session.flush()
    append_event(
        session,
        token.centre_id,
        "feedback_left",
        CITIZEN,
        token_id=token.id,
        counter_id=token.counter_id,
        service_id=token.service_id,
        at=feedback.created_at,
        data={"number": token.number, "rating": value, "has_comment": bool(text)},
    )
    return feedback


def feedback_public(feedback: Feedback) -> dict[str, Any]:
    return {
        "rating": feedback.rating,
        "comment": feedback.comment,
        "language": feedback.language,
        "created_at": feedback.created_at.isoformat(),
    }


def feedback_report(
    session: Session, centre: Centre, since: datetime, until: datetime | None = None, recent: int = 50
) -> dict[str, Any]:
    """For managers (dashboard, reports): count, mean rating and spread, per service and per
    counter, and the latest comments, for feedback left in [since, until)."""
    until = until or utcnow()
    window = (
        Feedback.centre_id == centre.id,
        Feedback.created_at >= since,
        Feedback.created_at < until,
    )
    spread = dict(
        session.execute(select(Feedback.rating, func.count()).where(*window).group_by(Feedback.rating)).all()
    )
    count = sum(spread.values())
    total = sum(r * n for r, n in spread.items())
    per_service = session.execute(
        select(Service.code, Service.name_en, Service.name_ur, func.count(), func.avg(Feedback.rating))
        .join(Service, Service.id == Feedback.service_id)
        .where(*window)
        .group_by(Service.code, Service.name_en, Service.name_ur)
        .order_by(Service.code)
    ).all()
    per_counter = session.execute(
        select(Counter.number, func.count(), func.avg(Feedback.rating))
        .join(Counter, Counter.id == Feedback.counter_id)
        .where(*window)
        .group_by(Counter.number)
        .order_by(Counter.number)
    ).all()
    latest = session.execute(
        select(Feedback, Token.number, Service.code, Counter.number)
        .join(Token, Token.id == Feedback.token_id)
        .join(Service, Service.id == Feedback.service_id)
        .outerjoin(Counter, Counter.id == Feedback.counter_id)
        .where(*window)
        .order_by(Feedback.created_at.desc(), Feedback.id.desc())
        .limit(recent)
    ).all()
    return {
        "centre": centre.code,
        "since": since.isoformat(),
        "until": until.isoformat(),
        "count": count,
        "average": round(total / count, 2) if count else None,
        "by_rating": {str(r): spread.get(r, 0) for r in range(RATING_MIN, RATING_MAX + 1)},
        "by_service": [
            {"code": c, "name_en": en, "name_ur": ur, "count": n, "average": round(float(avg), 2)}
            for c, en, ur, n, avg in per_service
        ],
        "by_counter": [
            {"counter": num, "count": n, "average": round(float(avg), 2)} for num, n, avg in per_counter
        ],
        "recent": [
            {
                **feedback_public(fb),
                "number": number,
                "service": service_code,
                "counter": counter_number,
            }
            for fb, number, service_code, counter_number in latest
        ],
        "generated_at": queue_state.iso(utcnow()),
    }
