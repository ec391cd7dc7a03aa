"""Appointments in the JSON API: the phone books, confirms, cancels and moves; the kiosk
checks in; managers read the day's bookings. Rules live in operations.appointments."""

from __future__ import annotations

from typing import Any

from flask import request
from pydantic import BaseModel, Field

from queue_server.api import bp
from queue_server.api import schemas as s
from queue_server.api.registry import PUBLIC, endpoint
from queue_server.api.views import actor
from queue_server.auth import current_caller
from queue_server.issued import issued_body, tracking_url
from queue_server.models import Device
from queue_server.operations import appointments as ops
from queue_server.operations import remote
from queue_server.operations.lookup import centre_by_code, centre_for
from queue_server.unit_of_work import current_session

LOOSE = {"type": "string", "maxLength": 100}


def _client() -> str:
    return request.remote_addr or "?"


class SlotsQuery(s.Strict):
    service: str = Field(min_length=1, max_length=32)
    date: str = Field(min_length=10, max_length=10, json_schema_extra={"format": "date"})


class SlotOut(BaseModel):
    start: str
    local: str
    capacity: int
    free: int


class SlotsOut(BaseModel):
    centre: str
    service: str
    date: str
    slot_minutes: int
    slots: list[SlotOut]


class BookIn(s.Strict):
    # Checked by the operation, so each bad field gets a message in the citizen's language.
    service: Any = Field(default=None, json_schema_extra={"type": "string", "maxLength": 32})
    slot: Any = Field(default=None, json_schema_extra={"type": "string", "format": "date-time"})
    name: Any = Field(default=None, json_schema_extra={"type": "string", "maxLength": 200})
    phone: Any = Field(default=None, json_schema_extra={"type": "string", "maxLength": 32})
    language: Any = Field(default="ur", json_schema_extra={"type": "string", "enum": ["ur", "en"]})


class VerifyIn(s.Strict):
    model_config = {**s.Strict.model_config, "json_schema_extra": {"required": ["otp"]}}
    otp: Any = Field(default=None, json_schema_extra={"type": "string", "maxLength": 12})


class MoveIn(s.Strict):
    model_config = {**s.Strict.model_config, "json_schema_extra": {"required": ["slot"]}}
    slot: Any = Field(default=None, json_schema_extra={"type": "string", "format": "date-time", "maxLength": 40})


class BookingOut(BaseModel):
    code: str
    state: str
    centre: str
    centre_en: str
    centre_ur: str
    service: str
    service_en: str
    service_ur: str
    slot: str
    date: str
    time: str
    phone: str
    token_number: str | None


class BookingDayOut(BaseModel):
    centre: str
    date: str
    slots: list[dict[str, Any]]
    tokens: int
    booked_tokens: int
    walk_in_tokens: int
    booked_share: float | None


@endpoint(
    bp, "/centres/<code>/slots", "GET", summary="Bookable slots of a service on a day, with places left",
    admits=PUBLIC, query=SlotsQuery, responses={200: SlotsOut}, errors=(400, 404, 409), tag="appointments",
)
def slots(code: str, query: SlotsQuery) -> Any:
    centre = centre_by_code(current_session(), code)
    return ops.available_slots(current_session(), centre, query.service, ops.parse_day(query.date))


@endpoint(
    bp, "/centres/<code>/appointments", "POST",
    summary="Book a slot (name and mobile only); a one-time code is sent by SMS to confirm it",
    admits=PUBLIC, body=BookIn, responses={201: BookingOut}, errors=(400, 404, 409, 429), tag="appointments",
)
def book(code: str, body: BookIn) -> Any:
    centre = centre_by_code(current_session(), code)
    booking = ops.book(
        current_session(), centre, service=body.service, slot=body.slot, name=body.name,
        phone=body.phone, language=body.language, client=_client(),
    )
    return ops.public_view(booking), 201


@endpoint(
    bp, "/appointments/<code>", "GET", summary="A booking as its holder sees it (the mobile masked)",
    admits=PUBLIC, responses={200: BookingOut}, errors=(404, 429), tag="appointments",
)
def booking(code: str) -> Any:
    return _view(ops.find_booking(current_session(), code, _client()))


def _view(found: Any) -> dict[str, Any]:
    out = ops.public_view(found)
    if found.token_id is not None:
        from queue_server.models import Token

        token = current_session().get(Token, found.token_id)
        out["token_number"] = token.number if token else None
    return out


@endpoint(
    bp, "/appointments/<code>/verify", "POST", summary="Confirm a booking with the code from the SMS",
    admits=PUBLIC, body=VerifyIn, responses={200: BookingOut}, errors=(400, 404, 409, 429), tag="appointments",
)
def verify(code: str, body: VerifyIn) -> Any:
    return _view(ops.verify(current_session(), code, body.otp, _client()))


@endpoint(
    bp, "/appointments/<code>/cancel", "POST", summary="Cancel a booking (its place is free again)",
    admits=PUBLIC, responses={200: BookingOut}, errors=(404, 409, 429), tag="appointments",
)
def cancel(code: str) -> Any:
    return _view(ops.cancel(current_session(), code, _client()))


@endpoint(
    bp, "/appointments/<code>/move", "POST", summary="Move a confirmed booking to another free slot",
    admits=PUBLIC, body=MoveIn, responses={200: BookingOut}, errors=(400, 404, 409, 429), tag="appointments",
)
def move(code: str, body: MoveIn) -> Any:
    return _view(ops.move(current_session(), code, body.slot, _client()))


@endpoint(
    bp, "/centres/<code>/appointments/<booking>/check-in", "POST",
    summary="Check in on arrival: a booking (its token is issued, placed by the appointment time) or a token taken from the phone",
    admits=("kiosk", "staff"), responses={201: s.IssuedTokenOut}, errors=(404, 409, 429), tag="appointments",
)
def check_in(code: str, booking: str) -> Any:
    who = actor()
    _, caller = current_caller()
    centre = centre_for(current_session(), who, code)
    device = caller if isinstance(caller, Device) else None
    issued = remote.arrive(current_session(), centre, booking, who, device=device, client=_client())
    return issued_body(issued), 201


class RemoteTokenIn(s.Strict):
    service: Any = Field(default=None, json_schema_extra={"type": "string", "maxLength": 32})
    phone: Any = Field(default=None, json_schema_extra={"type": "string", "maxLength": 32})
    language: Any = Field(default="ur", json_schema_extra={"type": "string", "enum": ["ur", "en"]})


class RemoteTokenOut(BaseModel):
    number: str
    public_code: str
    tracking_url: str
    check_in_code: str
    ahead: int
    eta_minutes: int | None


@endpoint(
    bp, "/centres/<code>/remote-tokens", "POST",
    summary="Join the queue from the phone (where the centre allows it): check in at the kiosk on arrival",
    admits=PUBLIC, body=RemoteTokenIn, responses={201: RemoteTokenOut}, errors=(400, 404, 409, 429),
    tag="appointments",
)
def take_remote_token(code: str, body: RemoteTokenIn) -> Any:
    centre = centre_by_code(current_session(), code)
    issued, taken = remote.take(
        current_session(), centre, service=body.service, phone=body.phone, language=body.language,
        client=_client(),
    )
    token = issued.token
    return {
        "number": token.number,
        "public_code": token.public_code,
        "tracking_url": tracking_url(token.public_code),
        "check_in_code": taken.code,
        "ahead": issued.ahead,
        "eta_minutes": issued.eta_minutes,
    }, 201


@endpoint(
    bp, "/centres/<code>/appointments", "GET",
    summary="The day's bookings per slot and service, and booked against walk-in tokens",
    admits=("manager",), responses={200: BookingDayOut}, errors=(400, 404), tag="appointments",
)
def bookings_of_day(code: str) -> Any:
    centre = centre_for(current_session(), actor(), code)
    day = ops.parse_day(request.args.get("date") or centre.business_day().isoformat())
    return ops.day_report(current_session(), centre, day)
