"""API endpoints: each validates, checks the caller, calls one operation, serializes.

The token and counter actions are served from the one registry (``queue_server.actions``)
by ``action_endpoint``; the requests' actions by ``queue_server.api.requests`` and
``queue_server.api.deliveries`` with the same function.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, current_app, jsonify, request
from flask_wtf.csrf import generate_csrf
from pydantic import BaseModel
from sqlalchemy import select

from queue_server import operations, ticket_printing
from queue_server.actions import COUNTER_ACTIONS, TOKEN_ACTIONS, Action
from queue_server.api import bp
from queue_server.api import schemas as s
from queue_server.api.registry import PUBLIC, endpoint, link, openapi_document
from queue_server.auth import (
    authenticate_password,
    caller_session,
    check_csrf,
    current_actor,
    current_caller,
    login_session,
    logout_session,
    staff_actor,
)
from queue_server.errors import N_, Forbidden, NotFound, ValidationFailed
from queue_server.extensions import db
from queue_server.issued import issued_body
from queue_server.models import Counter, Device, DeviceKind, Staff, Token
from queue_server.operations.lookup import centre_for
from queue_server.ratelimit import enforce
from queue_server.read import queue_state
from queue_server.unit_of_work import current_session

READERS = ("staff", "kiosk", "display")


def actor():  # type: ignore[no-untyped-def]
    who = current_actor()
    assert who is not None  # the endpoint declaration admitted only authenticated callers
    return who


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(openapi_document(bp.url_prefix or ""))


@endpoint(
    bp,
    "/centres/<code>/services",
    "GET",
    summary="Active services with waiting count and expected wait",
    admits=READERS,
    responses={200: s.ServiceList},
    errors=(404,),
)
def list_services(code: str) -> Any:
    centre = centre_for(current_session(), actor(), code)
    return {"centre": centre.code, "services": queue_state.queue_summary(current_session(), centre)}


@endpoint(
    bp,
    "/centres/<code>/snapshot",
    "GET",
    summary="Everything a screen redraws from",
    admits=READERS,
    responses={200: s.SnapshotOut},
    errors=(404,),
)
def snapshot(code: str) -> Any:
    centre = centre_for(current_session(), actor(), code)
    return queue_state.centre_snapshot(current_session(), centre)


@endpoint(
    bp,
    "/centres/<code>/counters",
    "GET",
    summary="Counters with state, clerk and current token",
    admits=("staff", "display"),
    responses={200: s.CounterList},
    errors=(404,),
)
def list_counters(code: str) -> Any:
    centre = centre_for(current_session(), actor(), code)
    current = queue_state.current_tokens(current_session(), centre.id)
    return {
        "centre": centre.code,
        "counters": [queue_state.counter_public(c, current.get(c.id)) for c in centre.counters],
    }


@endpoint(
    bp,
    "/centres/<code>/tokens",
    "POST",
    summary="Issue a token",
    admits=("kiosk", "staff"),
    body=s.IssueTokenIn,
    responses={201: s.IssuedTokenOut, 200: s.IssuedTokenOut},
    errors=(404, 409, 429),
)
def issue(code: str, body: s.IssueTokenIn) -> Any:
    who = actor()
    caller = current_caller()[1] if who.kind == "device" else None  # a staff row is not needed
    centre = centre_for(current_session(), who, code)
    device = caller if isinstance(caller, Device) else None
    if device is not None:
        enforce(
            f"issue:device:{device.id}",
            current_app.config["ISSUE_RATE_LIMIT"],
            current_app.config["ISSUE_RATE_WINDOW_SECONDS"],
        )
    issued = operations.issue_token(
        current_session(),
        centre,
        body.service,
        who,
        priority=body.priority,
        device=device,
        idempotency_key=body.idempotency_key,
        reason=body.reason,
    )
    db.session.flush()
    return issued_body(issued), 200 if issued.is_replay else 201


@endpoint(
    bp,
    "/tokens/<int:token_id>",
    "GET",
    summary="One token, as staff see it",
    admits=("staff",),
    responses={200: s.TokenOut},
    errors=(404,),
)
def get_token(token_id: int) -> Any:
    token = db.session.get(Token, token_id)
    if token is None or not actor().may_act_in(token.centre_id):
        raise NotFound(N_("No token %(id)s."), id=token_id)
    return queue_state.token_staff(token)


def action_endpoint(
    action: Action, out: type[BaseModel], render: Callable[[Any], Any], tag: str = "queue"
) -> None:
    """``POST /<subject>s/<id>/<name>`` for one action of the registry: the validated body
    is the operation's input, the answer is ``render(what it returned)``."""

    def view(body: Any = None, **ids: int) -> Any:
        inputs = body.model_dump() if body is not None else {}
        if action.name == "open":  # one counter, one clerk session: another login or key is refused
            inputs["session_id"] = caller_session()
        done = action.run(current_session(), ids[f"{action.subject}_id"], actor(), **inputs)
        if done is None:  # call-next: nobody waits
            return Response(status=204)
        return render(done)

    view.__name__ = f"{action.subject}_{action.key}"
    endpoint(
        bp,
        f"/{action.subject}s/<int:{action.subject}_id>/{action.name}",
        "POST",
        summary=action.summary,
        admits=action.admits,
        body=action.body,
        responses={200: out, 204: None} if action.name == "call-next" else {200: out},
        errors=(404, 409),
        tag=tag,
    )(view)


def _counter_now(counter: Counter) -> dict[str, Any]:
    current = queue_state.current_tokens(current_session(), counter.centre_id).get(counter.id)
    return queue_state.counter_public(counter, current)


for _action in COUNTER_ACTIONS.values():
    if _action.result == "token":
        action_endpoint(_action, s.TokenOut, queue_state.token_staff)
    else:
        action_endpoint(_action, s.CounterOut, _counter_now)
for _action in TOKEN_ACTIONS.values():
    action_endpoint(_action, s.TokenOut, queue_state.token_staff)


@endpoint(
    bp,
    "/counters/<int:counter_id>/issue",
    "POST",
    summary="Issue a token at the counter (no kiosk there), printed on the counter's printer if any",
    admits=("clerk", "manager"),
    body=s.IssueAtCounterIn,
    responses={201: s.IssuedAtCounterOut},
    errors=(404, 409),
    write=False,  # its own transactions: the ticket prints after the token is committed
)
def issue_at_counter(counter_id: int, body: s.IssueAtCounterIn) -> Any:
    return ticket_printing.issue_and_print(counter_id, actor(), body.service, body.priority), 201


# The life of a token, as OpenAPI links: issue -> call -> start -> complete (and the
# other steps a called or served token can take), for clients and stateful tests.
_TOKEN = {"token_id": "$response.body#/id"}
link(
    "api_issue",
    201,
    "CallThisToken",
    "api_counter_call",
    request_body={"token": "$response.body#/id", "reason": "called by hand"},
)
link("api_issue", 201, "GetToken", "api_get_token", parameters=_TOKEN)
link("api_issue", 201, "CancelToken", "api_token_cancel", parameters=_TOKEN)
for _source in ("api_counter_call", "api_counter_call_next"):
    for _target, _name in (
        ("api_token_start", "StartService"),
        ("api_token_recall", "Recall"),
        ("api_token_no_show", "NoShow"),
    ):
        link(_source, 200, _name, _target, parameters=_TOKEN)
link("api_token_start", 200, "Complete", "api_token_complete", parameters=_TOKEN)
link("api_token_start", 200, "Park", "api_token_park", parameters=_TOKEN)
link("api_token_start", 200, "Transfer", "api_token_transfer", parameters=_TOKEN)
link("api_token_park", 200, "Unpark", "api_token_unpark", parameters=_TOKEN)
link("api_token_unpark", 200, "Complete", "api_token_complete", parameters=_TOKEN)
link("api_token_no_show", 200, "Requeue", "api_token_requeue", parameters=_TOKEN)
link("api_token_complete", 200, "GetToken", "api_get_token", parameters=_TOKEN)


@endpoint(
    bp,
    "/track/<code>",
    "GET",
    summary="What the citizen's page shows; nothing personal",
    admits=PUBLIC,
    responses={200: s.TrackOut},
    errors=(404, 429),
)
def track(code: str) -> Any:
    from queue_server.read.tracking import track_view

    return track_view(current_session(), code, request.remote_addr or "?")


def _browser_csrf() -> None:
    """Login and logout change the browser's session: a browser (no bearer key) must send
    the page's CSRF token, so another site cannot log a clerk in or out."""
    if not request.headers.get("Authorization"):
        check_csrf()


@endpoint(
    bp,
    "/auth/csrf",
    "GET",
    summary="A CSRF token for this browser session (also in every page's meta tag)",
    admits=PUBLIC,
    responses={200: s.CsrfOut},
    tag="auth",
)
def csrf_token() -> Any:
    return {"csrf_token": generate_csrf()}


@endpoint(
    bp,
    "/auth/login",
    "POST",
    summary="Staff login (browser session; needs the X-CSRFToken header)",
    admits=PUBLIC,
    body=s.LoginIn,
    responses={200: s.MeOut},
    errors=(401, 403, 429),
    tag="auth",
)
def login(body: s.LoginIn) -> Any:
    _browser_csrf()
    enforce(f"login:ip:{request.remote_addr}", 30, 60)
    staff = authenticate_password(current_session(), body.username, body.password, request.remote_addr or "?")
    login_session(staff)
    return me_body(staff_actor(staff))


@endpoint(
    bp,
    "/auth/logout",
    "POST",
    summary="End the browser session (needs the X-CSRFToken header)",
    admits=PUBLIC,
    responses={200: s.MeOut},
    errors=(403,),
    tag="auth",
)
def logout() -> Any:
    from flask import session

    if session:
        _browser_csrf()
    logout_session()
    return {
        "kind": "anonymous",
        "id": None,
        "name": "",
        "role": None,
        "centre": None,
        "device_kind": None,
        "counter": None,
        "csrf_token": None,
    }


@endpoint(
    bp,
    "/me",
    "GET",
    summary="Who is asking",
    admits=("staff", "kiosk", "display"),
    responses={200: s.MeOut},
    tag="auth",
)
def me() -> Any:
    return me_body(actor())


def me_body(who: Any) -> dict[str, Any]:
    from queue_server.models import Centre

    centre = db.session.get(Centre, who.centre_id) if who.centre_id else None
    counter = None
    if who.kind == "staff":
        held = db.session.scalar(select(Counter).where(Counter.staff_id == who.id))
        counter = held.id if held else None
    return {
        "kind": who.kind,
        "id": who.id,
        "name": who.name,
        "role": who.role.value if who.role else None,
        "centre": centre.code if centre else None,
        "device_kind": who.device_kind.value if who.device_kind else None,
        "counter": counter,
        "csrf_token": generate_csrf(),
    }


def require_kind(kind: DeviceKind) -> None:
    who = actor()
    if who.kind == "device" and who.device_kind != kind:
        raise Forbidden(N_("This device may not do that."))


def staff_by_id(staff_id: int) -> Staff:
    staff = db.session.get(Staff, staff_id)
    if staff is None:
        raise ValidationFailed(N_("No such staff member."))
    return staff
