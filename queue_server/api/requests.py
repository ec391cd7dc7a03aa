"""API endpoints for requests: list (masked), open (handler and managers only),
fill in, advance, reject, withdraw and the collection call."""

from __future__ import annotations

from typing import Any

from flask import request
from pydantic import BaseModel, Field
from sqlalchemy import select

from queue_server.actions import REQUEST_ACTIONS, RequestStateName
from queue_server.api import bp
from queue_server.api.registry import endpoint
from queue_server.api.schemas import Strict
from queue_server.api.views import action_endpoint
from queue_server.auth import current_caller
from queue_server.clock import utcnow
from queue_server.errors import N_, NotFound, ValidationFailed
from queue_server.models import ServiceRequest, Token
from queue_server.operations import requests as ops
from queue_server.operations.lookup import centre_for
from queue_server.read import requests as shown
from queue_server.unit_of_work import current_session


class RequestFieldsIn(Strict):
    """Fields are checked by the operation (clear messages, nothing changed on error)."""

    applicant_name: str | None = Field(default=None, max_length=400)
    cnic: str | None = Field(default=None, max_length=40)
    phone: str | None = Field(default=None, max_length=40)
    documents: list[str] | None = Field(default=None, max_length=30)
    fee_received: int | str | None = Field(default=None)
    notes: str | None = Field(default=None, max_length=10_000)
    expect_state: RequestStateName | None = None

    def fields(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True, exclude={"expect_state"})


class RequestTokenOut(BaseModel):
    id: int
    number: str
    state: str


class RequestServiceOut(BaseModel):
    code: str
    name_en: str
    name_ur: str
    turnaround: str
    is_same_day: bool


class RequestSummaryOut(BaseModel):
    id: int
    reference: str
    state: str
    token: RequestTokenOut
    service: RequestServiceOut
    applicant_name: str
    cnic: str
    phone: str
    counter: int | None
    clerk: str | None
    business_day: str
    opened_at: str | None
    due_at: str | None
    seconds_left: int | None
    ready_at: str | None
    closed_at: str | None
    collection_calls: int
    is_late: bool
    carry_overs: int
    masked: bool


class DocumentOut(BaseModel):
    en: str
    ur: str
    checked: bool


class RequestDetailOut(RequestSummaryOut):
    documents: list[DocumentOut]
    fee: int
    fee_received: int
    notes: str
    reason: str
    next_state: str | None


class RequestListOut(BaseModel):
    centre: str
    requests: list[RequestSummaryOut]


def _actor():  # type: ignore[no-untyped-def]
    who, _ = current_caller()
    assert who is not None
    return who


def _detail(req: ServiceRequest) -> dict[str, Any]:
    return shown.request_detail(req, _actor())


@endpoint(
    bp,
    "/centres/<code>/requests",
    "GET",
    summary="Requests: a clerk's own, or the whole centre's for a manager; CNIC and phone masked",
    admits=("staff",),
    responses={200: RequestListOut},
    errors=(404,),
    tag="requests",
)
def list_requests(code: str) -> Any:
    """``?scope=open`` (default): unfinished, due first. ``?scope=today``: also today's
    finished ones."""
    who = _actor()
    session = current_session()
    centre = centre_for(session, who, code)
    scope = request.args.get("scope", "open")
    if scope not in ("open", "today"):
        raise ValidationFailed(N_("Unknown scope %(scope)s."), scope=scope[:20])
    rows = shown.open_requests_of(session, who, centre)
    if scope == "today":
        query = select(ServiceRequest).where(
            ServiceRequest.centre_id == centre.id,
            ServiceRequest.business_day == centre.business_day(),
            ServiceRequest.state.in_(shown.FINISHED),
        )
        if not who.is_manager:
            query = query.where(ServiceRequest.staff_id == who.id)
        rows += list(session.scalars(query.order_by(ServiceRequest.id)).all())
    now = utcnow()
    return {"centre": centre.code, "requests": [shown.request_summary(r, now) for r in rows]}


@endpoint(
    bp,
    "/requests/<int:request_id>",
    "GET",
    summary="One request in full (its clerk and managers only)",
    admits=("staff",),
    responses={200: RequestDetailOut},
    errors=(404,),
    tag="requests",
)
def get_request(request_id: int) -> Any:
    return _detail(ops.request_for(current_session(), request_id, _actor()))


@endpoint(
    bp,
    "/tokens/<int:token_id>/request",
    "GET",
    summary="The request of a token (its clerk and managers only)",
    admits=("staff",),
    responses={200: RequestDetailOut},
    errors=(404,),
    tag="requests",
)
def token_request(token_id: int) -> Any:
    session = current_session()
    token = session.get(Token, token_id)
    who = _actor()
    if token is None or not who.may_act_in(token.centre_id):
        raise NotFound(N_("No token %(id)s."), id=token_id)
    req = shown.request_of_token(session, token)
    if req is None:
        raise NotFound(N_("Token %(number)s has no request yet: start service first."), number=token.number)
    return _detail(ops.request_for(session, req.id, who))


@endpoint(
    bp,
    "/requests/<int:request_id>",
    "PATCH",
    summary="Fill in or correct a request (open or in process)",
    admits=("staff",),
    body=RequestFieldsIn,
    responses={200: RequestDetailOut},
    errors=(404, 409),
    tag="requests",
)
def update_request(request_id: int, body: RequestFieldsIn) -> Any:
    req = ops.update_request(current_session(), request_id, _actor(), body.fields(), expect=body.expect_state)
    return _detail(req)


for _action in REQUEST_ACTIONS.values():
    if _action.result == "request":  # the delivery steps: queue_server.api.deliveries
        action_endpoint(_action, RequestDetailOut, _detail, tag="requests")
