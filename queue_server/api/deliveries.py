"""Documents to the door in the JSON API: the handling clerk or a manager sets a ready
request aside for the courier, dispatches it, and records its delivery or return; a
manager counts deliveries and returns. Rules live in operations.deliveries."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import request
from pydantic import BaseModel, Field

from queue_server.api import bp
from queue_server.api.registry import endpoint
from queue_server.api.schemas import Strict
from queue_server.api.views import actor as _actor
from queue_server.clock import utcnow
from queue_server.errors import N_, ValidationFailed
from queue_server.operations import deliveries as ops
from queue_server.operations.lookup import centre_for
from queue_server.unit_of_work import current_session

REPORT_DAYS_MAX = 366


class MarkIn(Strict):
    # Checked by the operation, so each bad field is named in the clerk's language; the
    # document states exactly what it enforces.
    model_config = {**Strict.model_config, "json_schema_extra": {"required": ["address", "courier"]}}
    address: Any = Field(
        default=None,
        json_schema_extra={"type": "string", "minLength": ops.ADDRESS_MIN, "maxLength": ops.ADDRESS_MAX, "pattern": r"\S"}
    )
    courier: Any = Field(
        default=None,
        json_schema_extra={"type": "string", "minLength": 2, "maxLength": ops.COURIER_MAX, "pattern": r"\S"}
    )


class DispatchIn(Strict):
    model_config = {**Strict.model_config, "json_schema_extra": {"required": ["consignment"]}}
    consignment: Any = Field(default=None, json_schema_extra={"type": "string", "pattern": r"^[A-Za-z0-9-]{3,40}$"})


class ReturnIn(Strict):
    model_config = {**Strict.model_config, "json_schema_extra": {"required": ["reason"]}}
    reason: Any = Field(default=None, json_schema_extra={"type": "string", "enum": list(ops.RETURN_REASONS)})


class DeliveryOut(BaseModel):
    state: str
    courier: str
    consignment: str
    dispatched_at: str | None
    delivered_at: str | None
    address: str
    return_reason: str


class DeliveryReportOut(BaseModel):
    centre: str
    since: str
    until: str
    total: int
    by_state: dict[str, int]
    returned_because: dict[str, int]


def _step(path: str, summary: str, body: type[BaseModel] | None, run: Any) -> None:
    def view(request_id: int, **kw: Any) -> Any:
        return ops.delivery_staff(run(current_session(), request_id, _actor(), kw.get("body"))), 200

    view.__name__ = "delivery_" + (path.rsplit("/", 1)[-1] or "mark").replace("-", "_")
    endpoint(
        bp, f"/requests/<int:request_id>/delivery{path}", "POST", summary=summary, admits=("staff",),
        body=body, responses={200: DeliveryOut}, errors=(400, 404, 409), tag="requests",
    )(view)


_step("", "Set a ready request aside for delivery to the citizen's address", MarkIn,
      lambda s, rid, who, b: ops.mark_for_delivery(s, rid, who, address=b.address, courier=b.courier))
_step("/dispatch", "The courier took it: record the consignment number (the citizen gets an SMS)", DispatchIn,
      lambda s, rid, who, b: ops.dispatch(s, rid, who, consignment=b.consignment))
_step("/delivered", "The courier delivered it: the request is delivered", None,
      lambda s, rid, who, b: ops.delivered(s, rid, who))
_step("/returned", "The courier brought it back: the request waits at the centre", ReturnIn,
      lambda s, rid, who, b: ops.returned(s, rid, who, reason=b.reason))


@endpoint(
    bp, "/centres/<code>/deliveries", "GET", summary="Deliveries and returns over the last ?days=N days (default 7)",
    admits=("manager",), responses={200: DeliveryReportOut}, errors=(400, 404), tag="requests",
)
def delivery_report(code: str) -> Any:
    raw = request.args.get("days", "7")
    if not raw.isdigit() or not 1 <= int(raw) <= REPORT_DAYS_MAX:
        raise ValidationFailed(N_("days must be a whole number from 1 to %(max)s."), max=REPORT_DAYS_MAX)
    centre = centre_for(current_session(), _actor(), code)
    now = utcnow()
    return ops.report(current_session(), centre, now - timedelta(days=int(raw)), now + timedelta(seconds=1))
