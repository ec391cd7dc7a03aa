"""Revocation over the API: managers of the centre (and administrators) deactivate staff,
revoke their keys, end their sessions, and revoke or rotate device keys. The operations
are queue_server.operations.accounts; the administration pages call the same ones."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from queue_server.api import bp
from queue_server.api.registry import endpoint
from queue_server.auth import current_caller
from queue_server.operations import accounts
from queue_server.unit_of_work import current_session


class StaffChangedOut(BaseModel):
    staff: int
    active: bool
    revoked: int | None = None
    sessions: int | None = None


class DeviceChangedOut(BaseModel):
    device: int
    active: bool
    key: str | None = None


def _actor() -> Any:
    who, _ = current_caller()
    assert who is not None  # the declaration admits managers only
    return who


@endpoint(
    bp,
    "/staff/<int:staff_id>/deactivate",
    "POST",
    summary="Deactivate a member of staff at once (sessions ended, keys revoked)",
    admits=("manager",),
    responses={200: StaffChangedOut},
    errors=(403, 404),
    tag="accounts",
)
def staff_deactivate(staff_id: int) -> Any:
    staff = accounts.deactivate_staff(current_session(), staff_id, _actor())
    return {"staff": staff.id, "active": staff.is_active}


@endpoint(
    bp,
    "/staff/<int:staff_id>/revoke-keys",
    "POST",
    summary="Revoke every personal API key of a member of staff",
    admits=("manager",),
    responses={200: StaffChangedOut},
    errors=(403, 404),
    tag="accounts",
)
def staff_revoke_keys(staff_id: int) -> Any:
    count = accounts.revoke_staff_keys(current_session(), staff_id, _actor())
    return {"staff": staff_id, "active": True, "revoked": count}


@endpoint(
    bp,
    "/staff/<int:staff_id>/end-sessions",
    "POST",
    summary="End every browser session of a member of staff",
    admits=("manager",),
    responses={200: StaffChangedOut},
    errors=(403, 404),
    tag="accounts",
)
def staff_end_sessions(staff_id: int) -> Any:
    count = accounts.end_staff_sessions(current_session(), staff_id, _actor())
    return {"staff": staff_id, "active": True, "sessions": count}


@endpoint(
    bp,
    "/devices/<int:device_id>/rotate",
    "POST",
    summary="Give a device a new key (shown once; the old one stops)",
    admits=("manager",),
    responses={200: DeviceChangedOut},
    errors=(403, 404),
    tag="accounts",
)
def device_rotate(device_id: int) -> Any:
    key = accounts.rotate_device_key(current_session(), device_id, _actor())
    return {"device": device_id, "active": True, "key": key}
