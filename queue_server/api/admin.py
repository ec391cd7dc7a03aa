"""Administration API: the catalogue, centres, their services, counters and work profiles,
staff and devices. Each endpoint calls one operation of queue_server.operations.setup or
.people (the same ones the /manage pages and ``khidmat config import`` call); the
operations check who may (an administrator for everything, a centre's manager for its
counters, profiles, hours, notice, staff and devices) and name the field they refuse.

Size: the 22 administration endpoints and their bodies, each a thin declaration over
operations/setup.py and people.py.
"""

from __future__ import annotations

import zoneinfo
from typing import Annotated, Any, Literal

from flask import current_app, request
from pydantic import BaseModel, Field
from sqlalchemy import select

from queue_server.api import bp
from queue_server.api.registry import endpoint
from queue_server.api.schemas import Strict
from queue_server.auth import current_caller
from queue_server.errors import N_, NotFound
from queue_server.models import CatalogueService, Centre, Device, Staff
from queue_server.operations import people, setup
from queue_server.operations.lookup import centre_for
from queue_server.unit_of_work import current_session

TAG = "admin"
Text = Field(default=None, max_length=2000)
Name = Field(default=None, max_length=120)
Code = Field(min_length=1, max_length=32, json_schema_extra={"pattern": r"^[a-z0-9][a-z0-9_-]{0,31}$"})
PREFIX = r"^[A-Z]{1,2}$"  # what operations.setup.check_prefix enforces, with its own message
TIMEZONES: list[Any] = sorted(zoneinfo.available_timezones())
Small = Field(default=None, ge=0, le=1_000_000)
# What the operations check, with their own messages in the caller's language, stated for
# the document: a text with something besides spaces and no NUL, a whole number in range.
SHOWN = r"^[^\x00]*[^\s\x00][^\x00]*$"


def shown(max_length: int, **kw: Any) -> Any:
    """A text field that must show something (the operation strips it first)."""
    return Field(default=kw.pop("default", None), max_length=max_length, json_schema_extra={"pattern": SHOWN}, **kw)


def whole(low: int, high: int) -> Any:
    """An optional whole number the operation takes from ``low`` to ``high`` (not null)."""
    return Field(default=None, json_schema_extra={"minimum": low, "maximum": high})


def omitted(**kw: Any) -> Any:
    """A field that may be left out but, when given, may not be null."""
    return Field(default=None, **kw)


HOURS = r"^(closed|24h|([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9])$"


def who():  # type: ignore[no-untyped-def]
    actor, _ = current_caller()
    assert actor is not None
    return actor


def given(body: BaseModel) -> dict[str, Any]:
    return body.model_dump(exclude_unset=True)


# Bodies and answers -------------------------------------------------------------------------


class Document(Strict):
    en: str = shown(120, default=...)
    ur: str = shown(120, default=...)


class CatalogueFields(Strict):
    name_en: str = shown(120)
    name_ur: str = shown(120)
    group: str | None = Field(  # empty or null: "general"
        default=None, max_length=32, json_schema_extra={"pattern": r"^([^\x00]*[^\s\x00][^\x00]*)?$"}
    )
    prefix: str = omitted(max_length=2, json_schema_extra={"pattern": PREFIX})
    target_wait_minutes: int = whole(1, 600)
    turnaround: Literal["on_the_spot", "same_day", "days"] = omitted()
    turnaround_days: int = whole(0, 90)
    fee: int = whole(0, 1_000_000)
    documents: list[Document] | None = Field(default=None, max_length=30)
    default_service_minutes: int = whole(1, 240)
    sort_order: int = whole(0, 10_000)


class CatalogueIn(CatalogueFields):
    code: str = Code
    prefix: str = Field(max_length=2, json_schema_extra={"pattern": PREFIX})
    name_en: str = shown(120, default=...)
    name_ur: str = shown(120, default=...)


class CatalogueOut(BaseModel):
    code: str
    name_en: str
    name_ur: str
    group: str
    prefix: str
    target_wait_minutes: int
    turnaround: str
    turnaround_days: int
    fee: int
    documents: list[dict[str, str]]
    default_service_minutes: int
    sort_order: int


class CatalogueList(BaseModel):
    services: list[CatalogueOut]


class Holiday(Strict):
    day: str = Field(min_length=10, max_length=10, description="YYYY-MM-DD", json_schema_extra={"format": "date"})
    name_en: str = Field(default="", max_length=120)
    name_ur: str = Field(default="", max_length=120)


class CentreFields(Strict):
    name_en: str = shown(120)
    name_ur: str = shown(120)
    district: str | None = Field(default=None, max_length=80)
    timezone: str = omitted(max_length=64, json_schema_extra={"enum": TIMEZONES})
    day_starts_at: str = omitted(
        max_length=5, json_schema_extra={"pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9]$"},
        description="HH:MM, the business day's boundary",
    )
    hours: dict[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], Annotated[str, Field(json_schema_extra={"pattern": HOURS})]] = omitted(
        description='per weekday "08:00-16:00", "closed" or "24h"; a weekday left out is closed'
    )
    holidays: list[Holiday] = omitted(max_length=400, description="each day once")
    max_recalls: int = whole(0, 20)
    max_priority_streak: int = whole(1, 50)
    notice_en: str | None = Text
    notice_ur: str | None = Text


class CentreIn(CentreFields):
    code: str = Code
    name_en: str = shown(120, default=...)
    name_ur: str = shown(120, default=...)


class SetupCentreOut(BaseModel):
    code: str
    name_en: str
    name_ur: str
    district: str
    timezone: str
    day_starts_at: str
    hours: dict[str, str]
    holidays: list[dict[str, str]]
    max_recalls: int
    max_priority_streak: int
    notice_en: str
    notice_ur: str


class CentreList(BaseModel):
    centres: list[SetupCentreOut]


class Overrides(Strict):
    prefix: str | None = Field(default=None, max_length=2, json_schema_extra={"pattern": PREFIX})
    target_wait_minutes: int | None = Small
    default_service_minutes: int | None = Small
    sort_order: int | None = Small
    fee: int | None = Small


class EnableIn(Strict):
    service: str = Code
    overrides: Overrides = Field(default_factory=Overrides)


class CentreServiceIn(Strict):
    is_active: bool | None = None
    overrides: Overrides | None = None


class CentreServiceOut(BaseModel):
    code: str
    catalogue: str | None
    is_active: bool
    overrides: dict[str, Any]
    name_en: str
    name_ur: str
    prefix: str
    target_wait_minutes: int


class CounterIn(Strict):
    number: int = Field(ge=1, le=999)
    name: str | None = Field(default=None, max_length=60)
    zone: str | None = Field(default=None, max_length=32)
    profile: dict[str, int] = Field(default_factory=dict, max_length=100)


class CounterChangeIn(Strict):
    name: str | None = Field(default=None, max_length=60)
    zone: str | None = Field(default=None, max_length=32)
    profile: dict[str, int] | None = Field(default=None, max_length=100)


class ProfileIn(Strict):
    profile: dict[str, int] = Field(default_factory=dict, max_length=100)


class SetupCounterOut(BaseModel):
    id: int
    number: int
    name: str
    zone: str
    state: str
    profile: dict[str, int]


class AffectedOut(BaseModel):
    service: str
    name_en: str
    name_ur: str
    waiting: int
    numbers: list[str]
    fate: Literal["other_counters", "no_counter", "kiosk_stops"]
    counters: list[int]


class ImpactOut(BaseModel):
    affected: list[AffectedOut]


class SetupOut(BaseModel):
    centre: SetupCentreOut
    services: list[CentreServiceOut]
    counters: list[SetupCounterOut]
    staff: list[dict[str, Any]]
    devices: list[dict[str, Any]]


class StaffIn(Strict):
    username: str = Field(min_length=1, max_length=64)
    role: Literal["clerk", "manager"] = "clerk"
    full_name: str | None = Name
    password: str | None = Field(default=None, max_length=200)


class StaffChangeIn(Strict):
    full_name: str | None = Name
    role: Literal["clerk", "manager"] | None = None
    is_active: bool | None = None


class PasswordIn(Strict):
    password: str | None = Field(default=None, max_length=200)


class KeyIn(Strict):
    label: str = Field(default="", max_length=60)


class ApiKeyOut(BaseModel):
    id: int
    label: str
    created_at: str | None


class StaffOut(BaseModel):
    id: int
    username: str
    full_name: str
    role: str
    is_active: bool
    api_keys: list[ApiKeyOut]
    password: str | None = None  # a generated password, shown once


class StaffList(BaseModel):
    staff: list[StaffOut]


class SecretOut(BaseModel):
    secret: str
    id: int | None = None


class DeviceIn(Strict):
    name: str = Field(min_length=1, max_length=60)
    kind: Literal["kiosk", "display"]
    printer: dict[str, str | int | bool | None] | None = Field(default=None, max_length=20)


class DeviceChangeIn(Strict):
    name: str | None = Field(default=None, max_length=60)
    printer: dict[str, str | int | bool | None] | None = Field(default=None, max_length=20)


class DeviceOut(BaseModel):
    id: int
    name: str
    kind: str
    printer: dict[str, Any]
    is_active: bool
    key: str | None = None  # shown once, when registered or rotated
    pairing_url: str | None = None


class DeviceList(BaseModel):
    devices: list[DeviceOut]


# Helpers --------------------------------------------------------------------------------------


def managed_centre(code: str) -> Centre:
    actor = who()
    centre = centre_for(current_session(), actor, code)
    setup.require_manages(actor, centre.id)
    return centre


def pairing_url(centre: Centre, device: Device, key: str) -> str:
    """Where a kiosk or display browser pairs itself: the key rides in the fragment, which
    browsers never send to a server or put in a log."""
    base = current_app.config.get("PUBLIC_BASE_URL") or request.host_url
    return f"{base.rstrip('/')}/{device.kind.value}/{centre.code}#pair={key}"


def centre_setup(centre: Centre) -> dict[str, Any]:
    s = current_session()
    staff = s.scalars(select(Staff).where(Staff.centre_id == centre.id).order_by(Staff.username)).all()
    devices = s.scalars(select(Device).where(Device.centre_id == centre.id).order_by(Device.id)).all()
    return {
        "centre": setup.centre_public(centre),
        "services": [setup.service_public(sv) for sv in centre.services],
        "counters": [setup.counter_public(c) for c in centre.counters],
        "staff": [people.staff_public(p) for p in staff],
        "devices": [people.device_public(d) for d in devices],
    }


# The catalogue --------------------------------------------------------------------------------


@endpoint(
    bp,
    "/catalogue",
    "GET",
    summary="The province's service catalogue",
    admits=("manager",),
    responses={200: CatalogueList},
    tag=TAG,
)
def list_catalogue() -> Any:
    entries = current_session().scalars(select(CatalogueService).order_by(CatalogueService.sort_order))
    return {"services": [setup.catalogue_public(e) for e in entries]}


@endpoint(
    bp,
    "/catalogue",
    "POST",
    summary="Add a service to the catalogue (administrators)",
    admits=("admin",),
    body=CatalogueIn,
    responses={201: CatalogueOut},
    errors=(409,),
    tag=TAG,
)
def create_catalogue_service(body: CatalogueIn) -> Any:
    values = given(body)
    code = values.pop("code")
    entry = setup.create_catalogue_service(current_session(), who(), code, values)
    return setup.catalogue_public(entry), 201


@endpoint(
    bp,
    "/catalogue/<service>",
    "PATCH",
    summary="Change a catalogue service; every centre offering it follows (administrators)",
    admits=("admin",),
    body=CatalogueFields,
    responses={200: CatalogueOut},
    errors=(404, 409),
    tag=TAG,
)
def update_catalogue_service(service: str, body: CatalogueFields) -> Any:
    entry = setup.update_catalogue_service(current_session(), who(), service, given(body))
    return setup.catalogue_public(entry)


# Centres ------------------------------------------------------------------------------------------


@endpoint(
    bp,
    "/centres",
    "GET",
    summary="Every centre (administrators)",
    admits=("admin",),
    responses={200: CentreList},
    tag=TAG,
)
def list_centres() -> Any:
    centres = current_session().scalars(select(Centre).order_by(Centre.code))
    return {"centres": [setup.centre_public(c) for c in centres]}


@endpoint(
    bp,
    "/centres",
    "POST",
    summary="Create a centre (administrators)",
    admits=("admin",),
    body=CentreIn,
    responses={201: SetupCentreOut},
    errors=(409,),
    tag=TAG,
)
def create_centre(body: CentreIn) -> Any:
    values = given(body)
    code = values.pop("code")
    values.setdefault("name_en", body.name_en)
    values.setdefault("name_ur", body.name_ur)
    centre = setup.create_centre(current_session(), who(), code, values)
    return setup.centre_public(centre), 201


@endpoint(
    bp,
    "/centres/<code>/setup",
    "GET",
    summary="A centre's whole setup: services, counters, staff, devices",
    admits=("manager",),
    responses={200: SetupOut},
    errors=(404,),
    tag=TAG,
)
def get_setup(code: str) -> Any:
    return centre_setup(managed_centre(code))


@endpoint(
    bp,
    "/centres/<code>",
    "PATCH",
    summary="Change a centre (administrators; its manager: hours and notice)",
    admits=("manager",),
    body=CentreFields,
    responses={200: SetupCentreOut},
    errors=(404, 409),
    tag=TAG,
)
def update_centre(code: str, body: CentreFields) -> Any:
    centre = setup.update_centre(current_session(), who(), managed_centre(code), given(body))
    return setup.centre_public(centre)


class HoursIn(Strict):
    hours: dict[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], str] = Field(default_factory=dict)


@endpoint(
    bp,
    "/centres/<code>/hours/impact",
    "POST",
    summary="The waiting tokens that new weekly hours would touch (closing the centre now)",
    admits=("manager",),
    body=HoursIn,
    responses={200: ImpactOut},
    errors=(404, 409),
    tag=TAG,
)
def hours_impact(code: str, body: HoursIn) -> Any:
    centre = managed_centre(code)
    affected = setup.preview_hours_change(current_session(), centre, body.hours)
    return {"affected": [a.as_dict() for a in affected]}


# Services of a centre -------------------------------------------------------------------------


@endpoint(
    bp,
    "/centres/<code>/services",
    "POST",
    summary="Enable a catalogue service at a centre, with local overrides (administrators)",
    admits=("admin",),
    body=EnableIn,
    responses={201: CentreServiceOut},
    errors=(404, 409),
    tag=TAG,
)
def enable_service(code: str, body: EnableIn) -> Any:
    centre = managed_centre(code)
    service = setup.enable_service(current_session(), who(), centre, body.service, given(body.overrides))
    return setup.service_public(service), 201


@endpoint(
    bp,
    "/centres/<code>/services/<service>",
    "PATCH",
    summary="Disable or re-enable a centre's service, or change its overrides (administrators)",
    admits=("admin",),
    body=CentreServiceIn,
    responses={200: CentreServiceOut},
    errors=(404, 409),
    tag=TAG,
)
def update_centre_service(code: str, service: str, body: CentreServiceIn) -> Any:
    centre = managed_centre(code)
    s, actor = current_session(), who()
    found = setup.centre_service(s, centre, service)
    if body.overrides is not None:
        setup.set_service_overrides(s, actor, centre, service, given(body.overrides))
    if body.is_active is False:
        setup.disable_service(s, actor, centre, service)
    elif body.is_active is True and not found.is_active:
        if found.catalogue is None:
            raise NotFound(N_("No catalogue service %(service)s."), service=service[:40])
        setup.enable_service(s, actor, centre, found.catalogue.code)
    return setup.service_public(found)


@endpoint(
    bp,
    "/centres/<code>/services/<service>/impact",
    "GET",
    summary="The waiting tokens that disabling this service would touch",
    admits=("manager",),
    responses={200: ImpactOut},
    errors=(404,),
    tag=TAG,
)
def service_impact(code: str, service: str) -> Any:
    centre = managed_centre(code)
    found = setup.centre_service(current_session(), centre, service)
    return {
        "affected": [a.as_dict() for a in setup.preview_service_disable(current_session(), centre, found)]
    }


# Counters -------------------------------------------------------------------------------------


@endpoint(
    bp,
    "/centres/<code>/counters",
    "POST",
    summary="Add a counter with its work profile",
    admits=("manager",),
    body=CounterIn,
    responses={201: SetupCounterOut},
    errors=(404, 409),
    tag=TAG,
)
def create_counter(code: str, body: CounterIn) -> Any:
    values = given(body)
    number = values.pop("number")
    counter = setup.create_counter(current_session(), who(), managed_centre(code), number, values)
    return setup.counter_public(counter), 201


@endpoint(
    bp,
    "/centres/<code>/counters/<int:number>",
    "PATCH",
    summary="Rename, re-zone or change the work profile of a counter",
    admits=("manager",),
    body=CounterChangeIn,
    responses={200: SetupCounterOut},
    errors=(404, 409),
    tag=TAG,
)
def update_counter(code: str, number: int, body: CounterChangeIn) -> Any:
    values = {k: v for k, v in given(body).items() if v is not None}
    counter = setup.update_counter(current_session(), who(), managed_centre(code), number, values)
    return setup.counter_public(counter)


@endpoint(
    bp,
    "/centres/<code>/counters/<int:number>/impact",
    "POST",
    summary="The waiting tokens a new work profile (or, with none, closing the counter) would touch",
    admits=("manager",),
    body=ProfileIn,
    responses={200: ImpactOut},
    errors=(404, 409),
    tag=TAG,
)
def counter_impact(code: str, number: int, body: ProfileIn) -> Any:
    s = current_session()
    centre = managed_centre(code)
    counter = setup.counter_of(s, centre, number)
    if "profile" in body.model_fields_set:
        affected = setup.preview_profile_change(s, centre, counter, body.profile)
    else:
        affected = setup.preview_counter_close(s, centre, counter)
    return {"affected": [a.as_dict() for a in affected]}


# Staff --------------------------------------------------------------------------------------------


def _staff_out(staff: Staff, password: str | None = None) -> dict[str, Any]:
    return {**people.staff_public(staff), "password": password}


@endpoint(
    bp,
    "/centres/<code>/staff",
    "GET",
    summary="A centre's staff",
    admits=("manager",),
    responses={200: StaffList},
    errors=(404,),
    tag=TAG,
)
def list_staff(code: str) -> Any:
    return {"staff": centre_setup(managed_centre(code))["staff"]}


@endpoint(
    bp,
    "/centres/<code>/staff",
    "POST",
    summary="Add a clerk or manager; a generated password is returned once",
    admits=("manager",),
    body=StaffIn,
    responses={201: StaffOut},
    errors=(404, 409),
    tag=TAG,
)
def create_staff(code: str, body: StaffIn) -> Any:
    staff, secret = people.create_staff(
        current_session(),
        who(),
        username=body.username,
        role=body.role,
        centre=managed_centre(code),
        full_name=body.full_name or "",
        password=body.password,
    )
    return _staff_out(staff, secret.value if secret else None), 201


@endpoint(
    bp,
    "/staff/<int:staff_id>",
    "PATCH",
    summary="Change a member of staff: name, role, active",
    admits=("manager",),
    body=StaffChangeIn,
    responses={200: StaffOut},
    errors=(404, 409),
    tag=TAG,
)
def update_staff(staff_id: int, body: StaffChangeIn) -> Any:
    s, actor = current_session(), who()
    values = {k: v for k, v in given(body).items() if v is not None}
    return _staff_out(people.update_staff(s, actor, people.staff_member(s, actor, staff_id), values))


@endpoint(
    bp,
    "/staff/<int:staff_id>/password",
    "POST",
    summary="Reset a password (generated and returned once when none is given)",
    admits=("manager",),
    body=PasswordIn,
    responses={200: SecretOut},
    errors=(404, 409),
    tag=TAG,
)
def reset_password(staff_id: int, body: PasswordIn) -> Any:
    s, actor = current_session(), who()
    secret = people.reset_password(s, actor, people.staff_member(s, actor, staff_id), body.password)
    return {"secret": secret.value if secret else "", "id": staff_id}


@endpoint(
    bp,
    "/staff/<int:staff_id>/api-keys",
    "POST",
    summary="Issue a personal API key, shown once",
    admits=("manager",),
    body=KeyIn,
    responses={201: SecretOut},
    errors=(404, 409),
    tag=TAG,
)
def issue_api_key(staff_id: int, body: KeyIn) -> Any:
    s, actor = current_session(), who()
    api_key, secret = people.issue_api_key(s, actor, people.staff_member(s, actor, staff_id), body.label)
    return {"secret": secret.value, "id": api_key.id}, 201


@endpoint(
    bp,
    "/staff/<int:staff_id>/api-keys/<int:key_id>",
    "DELETE",
    summary="Revoke a personal API key",
    admits=("manager",),
    responses={204: None},
    errors=(404, 409),
    tag=TAG,
)
def revoke_api_key(staff_id: int, key_id: int) -> Any:
    s, actor = current_session(), who()
    people.revoke_api_key(s, actor, people.staff_member(s, actor, staff_id), key_id)
    return "", 204


# Devices ----------------------------------------------------------------------------------------


def _device_out(device: Device, key: str | None = None) -> dict[str, Any]:
    out = {**people.device_public(device), "key": key, "pairing_url": None}
    if key:
        centre = current_session().get(Centre, device.centre_id)
        assert centre is not None
        out["pairing_url"] = pairing_url(centre, device, key)
    return out


@endpoint(
    bp,
    "/centres/<code>/devices",
    "GET",
    summary="A centre's kiosks and displays",
    admits=("manager",),
    responses={200: DeviceList},
    errors=(404,),
    tag=TAG,
)
def list_devices(code: str) -> Any:
    return {"devices": centre_setup(managed_centre(code))["devices"]}


@endpoint(
    bp,
    "/centres/<code>/devices",
    "POST",
    summary="Register a kiosk or display; its key and pairing link are returned once",
    admits=("manager",),
    body=DeviceIn,
    responses={201: DeviceOut},
    errors=(404, 409),
    tag=TAG,
)
def register_device(code: str, body: DeviceIn) -> Any:
    device, secret = people.register_device(
        current_session(), who(), managed_centre(code), name=body.name, kind=body.kind, printer=body.printer
    )
    return _device_out(device, secret.value), 201


@endpoint(
    bp,
    "/devices/<int:device_id>",
    "PATCH",
    summary="Rename a device or change a kiosk's printer",
    admits=("manager",),
    body=DeviceChangeIn,
    responses={200: DeviceOut},
    errors=(404, 409),
    tag=TAG,
)
def update_device(device_id: int, body: DeviceChangeIn) -> Any:
    s, actor = current_session(), who()
    values = {k: v for k, v in given(body).items() if v is not None}
    return _device_out(people.update_device(s, actor, people.device_of(s, actor, device_id), values))


@endpoint(
    bp,
    "/devices/<int:device_id>/rotate-key",
    "POST",
    summary="A new key for the device (the old one stops working); returned once",
    admits=("manager",),
    responses={200: DeviceOut},
    errors=(404, 409),
    tag=TAG,
)
def rotate_device_key(device_id: int) -> Any:
    s, actor = current_session(), who()
    device = people.device_of(s, actor, device_id)
    secret = people.rotate_device_key(s, actor, device)
    return _device_out(device, secret.value)


@endpoint(
    bp,
    "/devices/<int:device_id>/revoke",
    "POST",
    summary="Revoke a device's key",
    admits=("manager",),
    responses={200: DeviceOut},
    errors=(404, 409),
    tag=TAG,
)
def revoke_device(device_id: int) -> Any:
    s, actor = current_session(), who()
    return _device_out(people.revoke_device(s, actor, people.device_of(s, actor, device_id)))
