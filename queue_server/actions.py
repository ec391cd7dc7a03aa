"""Every action staff take on a token, a counter or a request, once: its name, operation,
input and who may take it.

The JSON API (``POST /api/v1/<subject>s/<id>/<name>`` and their OpenAPI entries), the
counter console's ``console_action``, the realtime hub's ``token_action`` and the
``khidmat token|counter|request`` commands all take their actions from ``ACTIONS``. A new
action is one operation in ``queue_server.operations``, one entry here, and a test.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy.orm import Session

from queue_server import operations
from queue_server.actors import Actor
from queue_server.errors import N_, ValidationFailed
from queue_server.inputs import NoNulls, Strict, say_stripped
from queue_server.models import Delivery, ServiceRequest, Token
from queue_server.models.types import MAX_ID
from queue_server.operations import deliveries
from queue_server.operations import requests as service_requests

Subject = Literal["token", "counter", "request"]
Result = Literal["token", "counter", "request", "delivery"]
RequestStateName = Literal["open", "in_process", "ready", "delivered", "rejected", "withdrawn"]


# -- inputs ------------------------------------------------------------------------------


class RecallIn(Strict):
    reason: str = Field(default="", max_length=200)  # needed past the centre's recall limit


class CompleteIn(Strict):
    outcome: Literal["served", "referred", "documents_missing", "not_eligible", "other"] = "served"


class CancelIn(Strict):
    reason: str = Field(default="", max_length=200)


def _one_of_service_or_counter(schema: dict[str, Any], model: type[BaseModel]) -> None:
    say_stripped(schema, model)
    for name in ("service", "counter"):  # may be left out, never null
        prop = schema["properties"][name]
        options = [o for o in prop.pop("anyOf", [prop]) if o.get("type") != "null"]
        prop.pop("default", None)
        prop.update(options[0])
    schema["oneOf"] = [{"required": ["service"]}, {"required": ["counter"]}]


class TransferIn(NoNulls):
    """Exactly one of ``service`` and ``counter`` (a counter's id)."""

    model_config = ConfigDict(json_schema_extra=_one_of_service_or_counter)

    service: str | None = Field(default=None, min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")
    counter: int | None = Field(default=None, ge=1, le=MAX_ID)
    reason: str = Field(default="", max_length=200)  # kept for a transfer to a counter

    @model_validator(mode="after")
    def _exactly_one(self) -> TransferIn:
        if (self.service is None) == (self.counter is None):
            raise ValueError("give exactly one of service and counter")
        return self


class CallIn(Strict):
    token: int = Field(ge=1, le=MAX_ID)
    reason: str = Field(min_length=1, max_length=200)  # audited: why out of order


class AdvanceIn(Strict):
    to: Literal["in_process", "ready", "delivered"] | None = None
    expect_state: RequestStateName | None = None


class ReasonIn(Strict):
    reason: str = Field(default="", max_length=2000)
    expect_state: RequestStateName | None = None


class ExpectIn(Strict):
    expect_state: RequestStateName | None = None


class MarkIn(Strict):
    # Checked by the operation, so each bad field is named in the clerk's language; the
    # document states exactly what it enforces.
    model_config = {**Strict.model_config, "json_schema_extra": {"required": ["address", "courier"]}}
    address: Any = Field(
        default=None,
        json_schema_extra={
            "type": "string",
            "minLength": deliveries.ADDRESS_MIN,
            "maxLength": deliveries.ADDRESS_MAX,
            "pattern": r"\S",
        },
    )
    courier: Any = Field(
        default=None,
        json_schema_extra={
            "type": "string",
            "minLength": 2,
            "maxLength": deliveries.COURIER_MAX,
            "pattern": r"\S",
        },
    )


class DispatchIn(Strict):
    model_config = {**Strict.model_config, "json_schema_extra": {"required": ["consignment"]}}
    consignment: Any = Field(
        default=None, json_schema_extra={"type": "string", "pattern": r"^[A-Za-z0-9-]{3,40}$"}
    )


class ReturnIn(Strict):
    model_config = {**Strict.model_config, "json_schema_extra": {"required": ["reason"]}}
    reason: Any = Field(
        default=None, json_schema_extra={"type": "string", "enum": list(deliveries.RETURN_REASONS)}
    )


# -- the operations, as (session, subject id, actor, **input) ----------------------------


def _transfer(
    session: Session,
    token_id: int,
    actor: Actor,
    *,
    service: str | None = None,
    counter: int | None = None,
    reason: str = "",
) -> Token:
    return operations.transfer(
        session, token_id, actor, service_code=service, counter_id=counter, reason=reason
    )


def _call_one(session: Session, counter_id: int, actor: Actor, *, token: int, reason: str) -> Token:
    return operations.call_specific(session, counter_id, token, actor, reason)


def _advance(
    session: Session, request_id: int, actor: Actor, *, to: str | None = None, expect_state: str | None = None
) -> ServiceRequest:
    return service_requests.advance_request(session, request_id, actor, to=to, expect=expect_state)


def _closing(outcome: str) -> Callable[..., ServiceRequest]:
    def close(
        session: Session, request_id: int, actor: Actor, *, reason: str = "", expect_state: str | None = None
    ) -> ServiceRequest:
        return service_requests.close_request(session, request_id, actor, outcome, reason, expect=expect_state)

    return close


def _collection_call(
    session: Session, request_id: int, actor: Actor, *, expect_state: str | None = None
) -> ServiceRequest:
    return service_requests.collection_call(session, request_id, actor, expect=expect_state)


def _mark_for_delivery(
    session: Session, request_id: int, actor: Actor, *, address: Any = None, courier: Any = None
) -> Delivery:
    return deliveries.mark_for_delivery(session, request_id, actor, address=address, courier=courier)


def _dispatch(session: Session, request_id: int, actor: Actor, *, consignment: Any = None) -> Delivery:
    return deliveries.dispatch(session, request_id, actor, consignment=consignment)


def _returned(session: Session, request_id: int, actor: Actor, *, reason: Any = None) -> Delivery:
    return deliveries.returned(session, request_id, actor, reason=reason)


# -- the registry --------------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    subject: Subject  # what the id names: POST /<subject>s/<id>/<name>
    name: str  # as in the API's path: "no-show"
    operation: Callable[..., Any]  # (session, subject id, actor, **input) -> the subject
    summary: str
    body: type[Strict] | None = None  # the input besides the id, if any
    admits: tuple[str, ...] = ("staff",)
    answers: Result | None = None  # what it returns when not its subject (call-next: a token or None)

    @property
    def key(self) -> str:
        """The name as sockets, the console and the CLI send it: "no_show"."""
        return self.name.replace("-", "_").replace("/", "_")

    @property
    def result(self) -> Result:
        return self.answers or self.subject

    def inputs(self, data: Mapping[str, Any] | None) -> dict[str, Any]:
        """The operation's keyword arguments from what a socket or the CLI sent (only the
        fields ``body`` names; the API validates its body itself)."""
        if self.body is None:
            return {}
        given = {k: v for k, v in (data or {}).items() if k in self.body.model_fields and v not in (None, "")}
        try:
            return self.body.model_validate(given, strict=True).model_dump()
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or self.name
            raise ValidationFailed(
                N_("Invalid %(field)s: %(problem)s"), field=where, problem=first.get("msg", "")
            ) from exc

    def run(self, session: Session, subject_id: int, actor: Actor, **inputs: Any) -> Any:
        return self.operation(session, subject_id, actor, **inputs)


ACTIONS: tuple[Action, ...] = (
    Action("token", "recall", operations.recall, "Call a called token again", RecallIn),
    Action("token", "no-show", operations.no_show, "The called citizen did not come"),
    Action("token", "start", operations.start, "Start serving a called token"),
    Action("token", "park", operations.park, "Set a token in service aside"),
    Action("token", "unpark", operations.unpark, "Take a parked token back into service"),
    Action("token", "complete", operations.complete, "Finish serving a token, with its outcome", CompleteIn),
    Action("token", "cancel", operations.cancel, "Cancel a waiting or called token", CancelIn),
    Action("token", "requeue", operations.requeue, "Put a no-show back in the queue"),
    Action("token", "transfer", _transfer, "Transfer to a service or a counter", TransferIn),
    Action("counter", "open", operations.open_counter, "A clerk takes a counter", admits=("clerk",)),
    Action("counter", "close", operations.close_counter, "Leave a counter"),
    Action("counter", "pause", operations.pause_counter, "Pause a counter (break)"),
    Action("counter", "resume", operations.resume_counter, "Resume a paused counter"),
    Action(
        "counter",
        "call-next",
        operations.call_next,
        "Call the next token by the dispatch rule",
        admits=("clerk", "manager"),
        answers="token",
    ),
    Action(
        "counter",
        "call",
        _call_one,
        "Call one token out of order (audited)",
        CallIn,
        admits=("clerk", "manager"),
        answers="token",
    ),
    Action(
        "request", "advance", _advance, "Next step: open → in_process (record) → ready → delivered", AdvanceIn
    ),
    Action("request", "reject", _closing("rejected"), "Reject a request, with a reason", ReasonIn),
    Action("request", "withdraw", _closing("withdrawn"), "Withdraw a request, with a reason", ReasonIn),
    Action(
        "request",
        "collection-call",
        _collection_call,
        "Ready while the citizen waits: call them back to the counter (a collection call)",
        ExpectIn,
    ),
    Action(
        "request",
        "delivery",
        _mark_for_delivery,
        "Set a ready request aside for delivery to the citizen's address",
        MarkIn,
        answers="delivery",
    ),
    Action(
        "request",
        "delivery/dispatch",
        _dispatch,
        "The courier took it: record the consignment number (the citizen gets an SMS)",
        DispatchIn,
        answers="delivery",
    ),
    Action(
        "request",
        "delivery/delivered",
        deliveries.delivered,
        "The courier delivered it: the request is delivered",
        answers="delivery",
    ),
    Action(
        "request",
        "delivery/returned",
        _returned,
        "The courier brought it back: the request waits at the centre",
        ReturnIn,
        answers="delivery",
    ),
)


def actions_on(subject: Subject) -> dict[str, Action]:
    """The actions on one kind of subject, by their API name."""
    return {a.name: a for a in ACTIONS if a.subject == subject}


TOKEN_ACTIONS = actions_on("token")
COUNTER_ACTIONS = actions_on("counter")
REQUEST_ACTIONS = actions_on("request")


def find_action(subject: Subject, name: Any) -> Action:
    """The action a socket or the CLI names, in either spelling ("no-show", "no_show")."""
    found = (
        {a.key: a for a in actions_on(subject).values()}.get(name.replace("-", "_").replace("/", "_"))
        if isinstance(name, str)
        else None
    )
    if found is None:
        raise ValidationFailed(N_("Unknown action."))
    return found


def token_action(name: Any) -> Action:
    return find_action("token", name)
