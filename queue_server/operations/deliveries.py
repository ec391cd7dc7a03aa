"""Documents to the door: a ready request is set aside for a courier (the address and the
courier), dispatched with a consignment number, then delivered (the request is closed as
delivered) or returned (it waits at the centre to be collected). The citizen's tracking
page follows the delivery (never the address) and an SMS says it was dispatched.

Who may: the clerk who handles the request or a manager of its centre
(``requests.request_for``). Each step appends an event with the request's reference and
the courier; the address is kept out of the event log."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from queue_server import notify
from queue_server.actors import Actor
from queue_server.clock import utcnow
from queue_server.errors import N_, Conflict, FieldInvalid, ValidationFailed
from queue_server.models import Centre, Delivery, DeliveryState, RequestState, ServiceRequest
from queue_server.operations import requests
from queue_server.read.tracking import delivery_public

ADDRESS_MIN, ADDRESS_MAX = 10, 300
COURIER_MAX = 60
RETENTION_DAYS = 30  # the address is erased this long after the delivery ended
RETURN_REASONS = ("not_home", "wrong_address", "refused", "damaged", "other")
DISPATCHED_SMS = "delivery_dispatched"
_CONSIGNMENT = re.compile(r"^[A-Za-z0-9-]{3,40}$")
_CONTROL = re.compile(r"[\u0000-\u0009\u000b-\u001f\u007f\u202a-\u202e\u2066-\u2069]")


MESSAGES = {
    "address": N_("The address must be %(low)s to %(high)s characters."),
    "courier": N_("The courier's name must be %(low)s to %(high)s characters."),
}


def _text(value: Any, field: str, low: int, high: int) -> str:
    """The text as stored (control characters dropped, NFC, trimmed). Its length is checked
    as sent, as the API document states, and it must hold more than spaces."""
    if not isinstance(value, str) or not low <= len(value) <= high or not value.strip():
        raise FieldInvalid(field, MESSAGES[field], code=f"invalid_{field}", low=low, high=high)
    return unicodedata.normalize("NFC", _CONTROL.sub("", value)).strip()


def _delivery_of(session: Session, req: ServiceRequest) -> Delivery | None:
    return session.scalar(select(Delivery).where(Delivery.request_id == req.id).with_for_update())


def _require(delivery: Delivery | None, req: ServiceRequest, *states: DeliveryState) -> Delivery:
    if delivery is None or delivery.state not in states:
        raise Conflict(
            N_("The delivery of request %(reference)s is %(state)s: that step is not possible."),
            code="illegal_delivery_transition",
            reference=req.reference,
            state=delivery.state.value if delivery else "none",
        )
    return delivery


def mark_for_delivery(
    session: Session, request_id: int, actor: Actor, *, address: Any, courier: Any
) -> Delivery:
    """Set a ready request's documents aside for the courier. Refuses a request that is not
    ready, or one already out for delivery (409), and an address or courier that is empty
    or too long (400, naming the field)."""
    text = _text(address, "address", ADDRESS_MIN, ADDRESS_MAX)
    by = _text(courier, "courier", 2, COURIER_MAX)
    req = requests.request_for(session, request_id, actor, for_update=True)
    if req.state != RequestState.READY:
        raise Conflict(
            N_("Request %(reference)s is %(state)s: only a ready request can be sent."),
            code="not_ready",
            reference=req.reference,
            state=req.state.value,
        )
    delivery = _delivery_of(session, req)
    if delivery is not None and delivery.state != DeliveryState.RETURNED:
        raise Conflict(
            N_("Request %(reference)s is already set for delivery."), code="delivery_exists", reference=req.reference
        )
    if delivery is None:
        delivery = Delivery(request_id=req.id, centre_id=req.centre_id)
        session.add(delivery)
    delivery.state = DeliveryState.TO_DISPATCH
    delivery.address, delivery.courier = text, by
    delivery.consignment, delivery.return_reason = "", ""
    delivery.marked_at, delivery.dispatched_at, delivery.returned_at = utcnow(), None, None
    session.flush()
    _step(session, req, actor, delivery, "delivery_marked")
    return delivery


def dispatch(session: Session, request_id: int, actor: Actor, *, consignment: Any) -> Delivery:
    """The courier took it: record the consignment number and tell the citizen by SMS."""
    if not isinstance(consignment, str) or not _CONSIGNMENT.match(consignment):
        raise FieldInvalid(
            "consignment", N_("The consignment number is 3 to 40 letters, digits or dashes."),
            code="invalid_consignment",
        )
    req = requests.request_for(session, request_id, actor, for_update=True)
    delivery = _require(_delivery_of(session, req), req, DeliveryState.TO_DISPATCH)
    delivery.state = DeliveryState.DISPATCHED
    delivery.consignment = consignment.strip()
    delivery.dispatched_at = utcnow()
    session.flush()
    _step(session, req, actor, delivery, "delivery_dispatched")
    notify.enqueue(
        session,
        centre_id=req.centre_id,
        token_id=req.token_id,
        kind=DISPATCHED_SMS,
        payload={
            "number": req.token.number,
            "reference": req.reference,
            "courier": delivery.courier,
            "consignment": delivery.consignment,
            "service_en": req.service.name_en,
            "service_ur": req.service.name_ur,
        },
    )
    return delivery


def delivered(session: Session, request_id: int, actor: Actor) -> Delivery:
    """The courier handed it over: the request is delivered (and closed)."""
    req = requests.request_for(session, request_id, actor, for_update=True)
    delivery = _require(_delivery_of(session, req), req, DeliveryState.DISPATCHED)
    delivery.state = DeliveryState.DELIVERED
    delivery.delivered_at = utcnow()
    session.flush()
    _step(session, req, actor, delivery, "delivery_delivered")
    requests.advance_request(session, request_id, actor, to=RequestState.DELIVERED.value)
    return delivery


def returned(session: Session, request_id: int, actor: Actor, *, reason: Any) -> Delivery:
    """The courier brought it back: the request stays ready, to be collected at the centre."""
    if reason not in RETURN_REASONS:
        raise ValidationFailed(
            N_("Choose why it came back: %(reasons)s."), code="invalid_reason", reasons=", ".join(RETURN_REASONS)
        )
    req = requests.request_for(session, request_id, actor, for_update=True)
    delivery = _require(_delivery_of(session, req), req, DeliveryState.DISPATCHED, DeliveryState.TO_DISPATCH)
    delivery.state = DeliveryState.RETURNED
    delivery.return_reason = str(reason)
    delivery.returned_at = utcnow()
    session.flush()
    _step(session, req, actor, delivery, "delivery_returned", reason=str(reason))
    return delivery


def _step(session: Session, req: ServiceRequest, actor: Actor, delivery: Delivery, kind: str, **data: object) -> None:
    requests.record_event(session, req, actor, kind, courier=delivery.courier, delivery=delivery.state.value, **data)
    requests.announce_change(session, req)


def delivery_staff(delivery: Delivery) -> dict[str, Any]:
    """What the handling clerk sees: the address in full (they typed it)."""
    return {**(delivery_public(delivery) or {}), "address": delivery.address, "return_reason": delivery.return_reason}


def report(session: Session, centre: Centre, since: datetime, until: datetime) -> dict[str, Any]:
    """Deliveries set aside in [since, until): how many are in each state, and why they came back."""
    rows = session.execute(
        select(Delivery.state, Delivery.return_reason, func.count(Delivery.id))
        .where(Delivery.centre_id == centre.id, Delivery.marked_at >= since, Delivery.marked_at < until)
        .group_by(Delivery.state, Delivery.return_reason)
    ).all()
    by_state = {state.value: 0 for state in DeliveryState}
    reasons: dict[str, int] = {}
    for state, reason, count in rows:
        by_state[DeliveryState(state).value] += count
        if reason:
            reasons[reason] = reasons.get(reason, 0) + count
    return {
        "centre": centre.code,
        "since": since.isoformat(),
        "until": until.isoformat(),
        "total": sum(by_state.values()),
        "by_state": by_state,
        "returned_because": reasons,
    }


def settle(session: Session, centre: Centre, now: datetime | None = None) -> int:
    """Erase the addresses of deliveries that ended more than RETENTION_DAYS ago."""
    cutoff = (now or utcnow()) - timedelta(days=RETENTION_DAYS)
    old = session.scalars(
        select(Delivery).where(
            Delivery.centre_id == centre.id,
            Delivery.address != "",
            func.coalesce(Delivery.delivered_at, Delivery.returned_at) < cutoff,
        )
    ).all()
    for delivery in old:
        delivery.address = ""
    session.flush()
    return len(old)
