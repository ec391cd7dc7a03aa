"""Pairing a kiosk or display browser with its device key, once.

An unpaired browser that opens a kiosk or display page sees the pairing screen (never the
hall's data); staff type the device key there, and the browser remembers the device in a
long-lived signed session cookie. UI packages call ``paired_device`` in their views.
"""

from __future__ import annotations

from typing import Any, Literal

from flask import Blueprint, render_template, request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from queue_server.api.registry import PUBLIC, endpoint
from queue_server.auth import pair_device_session, resolve_caller
from queue_server.credentials import key_hash
from queue_server.errors import N_, NotAuthenticated, ValidationFailed
from queue_server.inputs import say_stripped
from queue_server.models import Centre, Device, DeviceKind
from queue_server.ratelimit import enforce
from queue_server.unit_of_work import current_session

bp = Blueprint("pairing", __name__)


def paired_device(kind: DeviceKind, centre_code: str) -> Device | None:
    """The paired device of this kind for this centre in the current browser, else None."""
    _actor, obj, _how = resolve_caller(current_session())
    if isinstance(obj, Device) and obj.kind == kind:
        centre = current_session().get(Centre, obj.centre_id)
        if centre is not None and centre.code == centre_code:
            return obj
    return None


def pairing_page(kind: DeviceKind, centre_code: str) -> tuple[str, int]:
    return render_template("pair.html", kind=kind.value, centre=centre_code), 401


class PairIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=say_stripped)  # a key of spaces is no key

    key: str = Field(min_length=1, max_length=200)
    kind: Literal["kiosk", "display"] | None = None
    centre: str | None = Field(default=None, max_length=64)


class PairedOut(BaseModel):
    ok: bool
    device: str
    kind: str
    centre: str | None


@endpoint(
    bp,
    "/api/v1/devices/pair",
    "POST",
    summary="Pair this browser with a kiosk or display key (remembered in a long-lived cookie)",
    admits=PUBLIC,
    body=PairIn,
    responses={200: PairedOut},
    errors=(401, 429),
    tag="devices",
)
def pair(body: PairIn) -> Any:
    """{"key": <device key>, "kind": "kiosk"|"display", "centre": <code>} -> cookie set."""
    enforce(f"pair:{request.remote_addr}", 10, 60)
    if not body.key.strip():
        raise ValidationFailed(N_("Type the device key."))
    s = current_session()
    device = s.scalar(select(Device).where(Device.key_hash == key_hash(body.key.strip()), Device.is_active))
    if device is None:
        raise NotAuthenticated(N_("That key is not a registered device."), code="bad_key")
    centre = s.get(Centre, device.centre_id)
    if body.kind not in (None, device.kind.value) or (
        body.centre not in (None, centre.code if centre else None)
    ):
        raise ValidationFailed(N_("That key belongs to another device or centre."), code="wrong_device")
    pair_device_session(device)
    return {
        "ok": True,
        "device": device.name,
        "kind": device.kind.value,
        "centre": centre.code if centre else None,
    }
