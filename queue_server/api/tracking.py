"""Tracking additions to the JSON API: the citizen's feedback and the managers' report of it.

``GET /track/<code>`` itself lives with the core endpoints (queue_server/api/views.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import request
from flask_babel import get_locale, gettext
from pydantic import BaseModel, Field

from queue_server.api import bp
from queue_server.api.registry import PUBLIC, endpoint
from queue_server.api.schemas import Strict
from queue_server.api.views import actor
from queue_server.clock import utcnow
from queue_server.errors import N_, ValidationFailed
from queue_server.models.feedback import COMMENT_MAX, RATING_MAX, RATING_MIN
from queue_server.operations import feedback as feedback_ops
from queue_server.operations import sms as sms_ops
from queue_server.operations.lookup import centre_for
from queue_server.unit_of_work import current_session

REPORT_DAYS_MAX = 366


class FeedbackIn(Strict):
    # Checked by the operation, so a bad value gets a message in the citizen's language.
    rating: Any = Field(
        default=None, json_schema_extra={"type": "integer", "minimum": RATING_MIN, "maximum": RATING_MAX}
    )
    comment: Any = Field(default="", json_schema_extra={"type": "string", "maxLength": COMMENT_MAX})


class FeedbackOut(BaseModel):
    rating: int
    comment: str
    language: str
    created_at: str
    message: str


class FeedbackEntry(BaseModel):
    rating: int
    comment: str
    language: str
    created_at: str
    number: str
    service: str
    counter: int | None


class FeedbackGroup(BaseModel):
    count: int
    average: float
    code: str | None = None
    name_en: str | None = None
    name_ur: str | None = None
    counter: int | None = None


class FeedbackReportOut(BaseModel):
    centre: str
    since: str
    until: str
    count: int
    average: float | None
    by_rating: dict[str, int]
    by_service: list[FeedbackGroup]
    by_counter: list[FeedbackGroup]
    recent: list[FeedbackEntry]
    generated_at: str | None


@endpoint(
    bp,
    "/track/<code>/feedback",
    "POST",
    summary="The citizen rates the service (1-5) with an optional comment, once, after it is done",
    admits=PUBLIC,
    body=FeedbackIn,
    responses={201: FeedbackOut},
    errors=(404, 409, 429),
    tag="tracking",
)
def track_feedback(code: str, body: FeedbackIn) -> Any:
    feedback = feedback_ops.leave_feedback(
        current_session(),
        code,
        request.remote_addr or "?",
        rating=body.rating,
        comment=body.comment,
        language=str(get_locale() or ""),
    )
    out = feedback_ops.feedback_public(feedback)
    out["message"] = gettext("Thank you for your feedback.")
    return out, 201


@endpoint(
    bp,
    "/centres/<code>/feedback",
    "GET",
    summary="Citizen feedback of a centre over the last ?days=N days (default 7)",
    admits=("manager",),
    responses={200: FeedbackReportOut},
    errors=(404,),
    tag="tracking",
)
def centre_feedback(code: str) -> Any:
    raw = request.args.get("days", "7")
    if not raw.isdigit() or not 1 <= int(raw) <= REPORT_DAYS_MAX:
        raise ValidationFailed(N_("days must be a whole number from 1 to %(max)s."), max=REPORT_DAYS_MAX)
    centre = centre_for(current_session(), actor(), code)
    since = utcnow() - timedelta(days=int(raw))
    return feedback_ops.feedback_report(current_session(), centre, since)


class SmsNumberIn(Strict):
    # Checked by the operation, so a bad number gets a message in the citizen's language.
    phone: Any = Field(default=None, json_schema_extra={"type": "string", "maxLength": 32})
    language: Any = Field(default="ur", json_schema_extra={"type": "string", "enum": ["ur", "en"]})


class SmsNumberOut(BaseModel):
    phone: str
    language: str
    message: str


@endpoint(
    bp,
    "/track/<code>/sms",
    "POST",
    summary="The citizen gives a mobile number for this token's SMS (almost your turn, called, ready)",
    admits=PUBLIC,
    body=SmsNumberIn,
    responses={201: SmsNumberOut},
    errors=(404, 409, 429),
    tag="tracking",
)
def track_sms_number(code: str, body: SmsNumberIn) -> Any:
    out: dict[str, Any] = sms_ops.give_number(
        current_session(), code, request.remote_addr or "?", phone=body.phone, language=body.language
    )
    out["message"] = gettext("We will send you an SMS when it is almost your turn.")
    return out, 201


@endpoint(
    bp,
    "/track/<code>/sms",
    "DELETE",
    summary="The citizen withdraws the mobile number given for this token",
    admits=PUBLIC,
    responses={204: None},
    errors=(404, 429),
    tag="tracking",
)
def track_sms_withdraw(code: str) -> Any:
    sms_ops.withdraw_number(current_session(), code, request.remote_addr or "?")
    return "", 204
