"""Delivery receipts from an HTTP SMS gateway (``KHIDMAT_SMS_GATEWAY_URL=https://…``): the
gateway calls back with the message id it answered the submit with and the final state.
The caller is a machine, admitted by the shared ``KHIDMAT_SMS_RECEIPT_KEY`` (header
``X-Receipt-Key`` or ``?key=``), not by a staff or device key. Rules live in
operations.sms."""

from __future__ import annotations

from typing import Any, Literal

from flask import request
from pydantic import BaseModel, Field

from queue_server import ratelimit
from queue_server.api import bp
from queue_server.api.registry import PUBLIC, endpoint
from queue_server.api.schemas import Strict
from queue_server.errors import N_, NotAuthenticated, RateLimited
from queue_server.operations import sms as ops
from queue_server.unit_of_work import current_session

REFUSED_LIMIT, REFUSED_WINDOW = 10, 300  # wrong keys per address, per 5 minutes


class ReceiptIn(Strict):
    message_id: str = Field(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$")
    status: Literal["DELIVRD", "UNDELIV", "EXPIRED", "REJECTD", "DELETED", "UNKNOWN"]


class ReceiptOut(BaseModel):
    message_id: str
    status: str


@endpoint(
    bp, "/sms/receipts", "POST",
    summary="An HTTP SMS gateway's delivery receipt (shared key in X-Receipt-Key or ?key=)",
    admits=PUBLIC, body=ReceiptIn, responses={200: ReceiptOut}, errors=(400, 401, 404, 429), tag="tracking",
)
def sms_receipt(body: ReceiptIn) -> Any:
    # A wrong key counts against the caller's address; past the limit even the right key
    # waits, so the key cannot be guessed by trying.
    refused = f"sms-receipt-refused:{request.remote_addr}"
    if ratelimit.count(refused, REFUSED_WINDOW) >= REFUSED_LIMIT:
        raise RateLimited(N_("Too many refused receipts from this address: wait a few minutes."))
    try:
        ops.check_receipt_key(request.headers.get("X-Receipt-Key") or request.args.get("key") or "")
    except NotAuthenticated:
        ratelimit.hit(refused, REFUSED_LIMIT, REFUSED_WINDOW)
        raise
    return ops.record_receipt(current_session(), body.message_id, body.status), 200
