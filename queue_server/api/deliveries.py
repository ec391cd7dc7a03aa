"""Documents to the door in the JSON API: the handling clerk or a manager sets a ready
request aside for the courier, dispatches it, and records its delivery or return; a
manager counts deliveries and returns. Rules live in operations.deliveries."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import request
from pydantic import BaseModel

from queue_server.actions import REQUEST_ACTIONS
from queue_server.api import bp
from queue_server.api.registry import endpoint
from queue_server.api.views import action_endpoint
from queue_server.api.views import actor as _actor
from queue_server.clock import utcnow
from queue_server.errors import N_, ValidationFailed
from queue_server.operations import deliveries as ops
from queue_server.operations.lookup import centre_for
from queue_server.unit_of_work import current_session

REPORT_DAYS_MAX = 366


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


for _action in REQUEST_ACTIONS.values():
    if _action.result == "delivery":
        action_endpoint(_action, DeliveryOut, ops.delivery_staff, tag="requests")


@endpoint(
    bp,
    "/centres/<code>/deliveries",
    "GET",
    summary="Deliveries and returns over the last ?days=N days (default 7)",
    admits=("manager",),
    responses={200: DeliveryReportOut},
    errors=(400, 404),
    tag="requests",
)
def delivery_report(code: str) -> Any:
    raw = request.args.get("days", "7")
    if not raw.isdigit() or not 1 <= int(raw) <= REPORT_DAYS_MAX:
        raise ValidationFailed(N_("days must be a whole number from 1 to %(max)s."), max=REPORT_DAYS_MAX)
    centre = centre_for(current_session(), _actor(), code)
    now = utcnow()
    return ops.report(current_session(), centre, now - timedelta(days=int(raw)), now + timedelta(seconds=1))
