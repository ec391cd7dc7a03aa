"""Administering staff and devices: accounts, roles, passwords, personal API keys, kiosks
and displays with their keys and printer settings.

Managers administer the clerks and managers of their own centre and its devices; only a
province administrator creates or changes administrators. Every change is an audited event
in the centre's chain (a province-wide administrator, who has no centre, is audited in no
chain: ``khidmat create-staff`` is the way to create one). Secrets (passwords, keys) are
returned once and never stored or audited in the clear.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from queue_server.actors import Actor
from queue_server.audit import append_event
from queue_server.clock import utcnow
from queue_server.credentials import hash_password, key_hash, new_key
from queue_server.errors import N_, FieldInvalid, FieldTaken, Forbidden, NotFound
from queue_server.models import Centre, Device, DeviceKind, Role, Staff, StaffApiKey
from queue_server.operations import announce
from queue_server.operations.setup import _text, is_admin, is_batched, require_manages

USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789._-")
PRINTER_KINDS = ("none", "file", "network", "usb", "serial", "cups", "memory")
# An imported account has no password until someone sets one: this never verifies.
NO_PASSWORD = "!imported-no-password"  # noqa: S105  (not a password: never verifies)


def staff_public(staff: Staff) -> dict[str, Any]:
    return {
        "id": staff.id,
        "username": staff.username,
        "full_name": staff.full_name,
        "role": staff.role.value,
        "is_active": staff.is_active,
        "api_keys": [
            {"id": k.id, "label": k.label, "created_at": k.created_at.isoformat() if k.created_at else None}
            for k in staff.api_keys
            if k.revoked_at is None
        ],
    }


def device_public(device: Device) -> dict[str, Any]:
    return {
        "id": device.id,
        "name": device.name,
        "kind": device.kind.value,
        "printer": dict(device.printer or {}),
        "is_active": device.is_active,
    }


def _audit(session: Session, centre_id: int | None, kind: str, actor: Actor, before: Any, after: Any) -> None:
    if centre_id is None or is_batched(session):
        return
    append_event(session, centre_id, kind, actor, data={"before": before, "after": after})
    centre = session.get(Centre, centre_id)
    if centre is not None:
        announce.centre_refresh(session, centre)


# Staff ------------------------------------------------------------------------------------


def check_username(value: Any) -> str:
    name = _text("username", value, max_length=64).lower()
    if len(name) < 3 or not set(name) <= USERNAME_CHARS:
        raise FieldInvalid("username", N_("Username: 3 to 64 of a-z, 0-9, '.', '_' and '-'."))
    return name


def check_role(value: Any) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise FieldInvalid("role", N_("Role must be clerk, manager or admin.")) from None


def check_password(value: Any) -> str:
    if not isinstance(value, str) or not 10 <= len(value) <= 200:
        raise FieldInvalid("password", N_("A password has 10 to 200 characters."))
    return value


def _may_staff(actor: Actor, centre_id: int | None, role: Role) -> None:
    """Admins do everything; a manager only clerks and managers of their own centre."""
    if is_admin(actor):
        if role == Role.ADMIN and centre_id is not None:
            raise FieldInvalid("role", N_("An administrator belongs to no centre."))
        if role != Role.ADMIN and centre_id is None:
            raise FieldInvalid("centre", N_("Clerks and managers belong to a centre."))
        return
    if role == Role.ADMIN or centre_id is None:
        raise Forbidden(N_("Only a province administrator may do this."), code="admins_only")
    require_manages(actor, centre_id)


def staff_member(session: Session, actor: Actor, staff_id: int) -> Staff:
    staff = session.get(Staff, staff_id)
    if staff is None:
        raise NotFound(N_("No staff member %(id)s."), id=staff_id)
    _may_staff(actor, staff.centre_id, staff.role)
    return staff


@dataclass
class Secret:
    """A new password or key, to be shown once."""

    value: str
    label: str = ""


def create_staff(
    session: Session,
    actor: Actor,
    *,
    username: Any,
    role: Any,
    centre: Centre | None,
    full_name: Any = "",
    password: Any = None,
) -> tuple[Staff, Secret | None]:
    """A new account; with no ``password`` one is generated and returned (shown once).
    ``password=False`` (an import) leaves the account without one until it is reset."""
    name = check_username(username)
    role = check_role(role)
    _may_staff(actor, centre.id if centre else None, role)
    full = _text("full_name", full_name, max_length=120, required=False) or name
    if session.scalar(select(Staff.id).where(Staff.username == name)) is not None:
        raise FieldTaken("username", N_("The username %(value)s is taken."), value=name)
    secret: Secret | None = None
    if password is False:
        password_hash = NO_PASSWORD
    else:
        if password is None or password == "":
            secret = Secret(secrets.token_urlsafe(12), "password")
            password = secret.value
        password_hash = hash_password(check_password(password))
    staff = Staff(
        username=name,
        full_name=full,
        role=role,
        centre_id=centre.id if centre else None,
        password_hash=password_hash,
    )
    session.add(staff)
    session.flush()
    _audit(session, staff.centre_id, "admin.staff_created", actor, None, staff_public(staff))
    return staff, secret


def update_staff(session: Session, actor: Actor, staff: Staff, values: Mapping[str, Any]) -> Staff:
    """Change name, role or active flag. Deactivating ends the account's sessions and keys
    (``resolve_caller`` admits only active staff); one cannot deactivate oneself."""
    _may_staff(actor, staff.centre_id, staff.role)
    before = staff_public(staff)
    for field, value in values.items():
        if field == "full_name":
            staff.full_name = _text("full_name", value, max_length=120)
        elif field == "role":
            role = check_role(value)
            _may_staff(actor, staff.centre_id, role)
            staff.role = role
        elif field == "is_active":
            if not isinstance(value, bool):
                raise FieldInvalid("is_active", N_("%(name)s must be true or false."), name="is_active")
            if not value and actor.kind == "staff" and actor.id == staff.id:
                raise FieldInvalid("is_active", N_("You cannot deactivate yourself."))
            staff.is_active = value
        else:
            raise FieldInvalid(field, N_("%(name)s cannot be changed here."), name=field)
    session.flush()
    after = staff_public(staff)
    if after != before:
        _audit(session, staff.centre_id, "admin.staff_changed", actor, before, after)
    return staff


def reset_password(session: Session, actor: Actor, staff: Staff, password: Any = None) -> Secret | None:
    """Set a new password (generated and returned when none is given). Every browser
    session that logged in with the old one ends (its epoch no longer matches)."""
    _may_staff(actor, staff.centre_id, staff.role)
    secret = None
    if password is None or password == "":
        secret = Secret(secrets.token_urlsafe(12), "password")
        password = secret.value
    staff.password_hash = hash_password(check_password(password))
    staff.failed_logins = 0
    staff.locked_until = None
    session.flush()
    _audit(session, staff.centre_id, "admin.password_reset", actor, None, {"staff": staff.username})
    return secret


def issue_api_key(
    session: Session, actor: Actor, staff: Staff, label: Any = ""
) -> tuple[StaffApiKey, Secret]:
    """A new personal API key for the account, shown once."""
    _may_staff(actor, staff.centre_id, staff.role)
    label = _text("label", label, max_length=60, required=False)
    key = new_key("staff")
    api_key = StaffApiKey(staff_id=staff.id, key_hash=key_hash(key), label=label)
    session.add(api_key)
    session.flush()
    _audit(
        session,
        staff.centre_id,
        "admin.api_key_issued",
        actor,
        None,
        {"staff": staff.username, "key_id": api_key.id, "label": label},
    )
    return api_key, Secret(key, "api_key")


def revoke_api_key(session: Session, actor: Actor, staff: Staff, key_id: int) -> StaffApiKey:
    _may_staff(actor, staff.centre_id, staff.role)
    api_key = session.get(StaffApiKey, key_id)
    if api_key is None or api_key.staff_id != staff.id:
        raise NotFound(N_("No API key %(id)s for this account."), id=key_id)
    if api_key.revoked_at is None:
        api_key.revoked_at = utcnow()
        session.flush()
        _audit(
            session,
            staff.centre_id,
            "admin.api_key_revoked",
            actor,
            {"staff": staff.username, "key_id": key_id},
            None,
        )
    return api_key


# Devices ----------------------------------------------------------------------------------


def check_printer(value: Any) -> dict[str, Any]:
    """Kiosk printer settings: {"kind": ..., "host": ..., "port": ..., "profile": ..., ...}."""
    if value is None:
        return {}
    if not isinstance(value, Mapping) or len(value) > 20:
        raise FieldInvalid("printer", N_("%(name)s must be a set of settings."), name="printer")
    kind = value.get("kind", "none")
    if kind not in PRINTER_KINDS:
        raise FieldInvalid(
            "printer.kind", N_("Printer kind must be one of %(choices)s."), choices=", ".join(PRINTER_KINDS)
        )
    out: dict[str, Any] = {}
    for name, item in value.items():
        if not isinstance(name, str) or len(name) > 32:
            raise FieldInvalid("printer", N_("%(name)s must be a set of settings."), name="printer")
        if isinstance(item, str):
            out[name] = _text(f"printer.{name}", item, max_length=200, required=False)
        elif isinstance(item, bool | int | float) or item is None:
            out[name] = item
        else:
            raise FieldInvalid(
                f"printer.{name}", N_("%(name)s must be a plain value."), name=f"printer.{name}"
            )
    if kind == "network" and not out.get("host"):
        raise FieldInvalid("printer.host", N_("A network printer needs a host."))
    return out


def device_of(session: Session, actor: Actor, device_id: int) -> Device:
    device = session.get(Device, device_id)
    if device is None:
        raise NotFound(N_("No device %(id)s."), id=device_id)
    require_manages(actor, device.centre_id)
    return device


def register_device(
    session: Session, actor: Actor, centre: Centre, *, name: Any, kind: Any, printer: Any = None
) -> tuple[Device, Secret]:
    """A kiosk or display of the centre; its key is returned once (pair a browser with it)."""
    require_manages(actor, centre.id)
    name = _text("name", name, max_length=60)
    try:
        kind = DeviceKind(kind)
    except ValueError:
        raise FieldInvalid("kind", N_("Kind must be kiosk or display.")) from None
    settings = check_printer(printer) if kind == DeviceKind.KIOSK else {}
    if kind == DeviceKind.KIOSK and not settings:
        settings = {"kind": "none"}
    taken = session.scalar(
        select(Device.id).where(Device.centre_id == centre.id, Device.name == name, Device.is_active)
    )
    if taken is not None:
        raise FieldTaken("name", N_("The name %(value)s is taken."), value=name)
    key = new_key("dev")
    device = Device(centre_id=centre.id, kind=kind, name=name, key_hash=key_hash(key), printer=settings)
    session.add(device)
    session.flush()
    _audit(session, centre.id, "admin.device_registered", actor, None, device_public(device))
    return device, Secret(key, "device_key")


def update_device(session: Session, actor: Actor, device: Device, values: Mapping[str, Any]) -> Device:
    require_manages(actor, device.centre_id)
    before = device_public(device)
    for field, value in values.items():
        if field == "name":
            device.name = _text("name", value, max_length=60)
        elif field == "printer":
            if device.kind != DeviceKind.KIOSK:
                raise FieldInvalid("printer", N_("Only a kiosk has a printer."))
            device.printer = check_printer(value)
        else:
            raise FieldInvalid(field, N_("%(name)s cannot be changed here."), name=field)
    session.flush()
    after = device_public(device)
    if after != before:
        _audit(session, device.centre_id, "admin.device_changed", actor, before, after)
    return device


def rotate_device_key(session: Session, actor: Actor, device: Device) -> Secret:
    """A new key for the device; the old one (and every browser paired with it) stops working."""
    require_manages(actor, device.centre_id)
    key = new_key("dev")
    device.key_hash = key_hash(key)
    device.is_active = True
    session.flush()
    _audit(session, device.centre_id, "admin.device_key_rotated", actor, None, device_public(device))
    return Secret(key, "device_key")


def revoke_device(session: Session, actor: Actor, device: Device) -> Device:
    """The device's key stops working at once, and every browser paired with it."""
    require_manages(actor, device.centre_id)
    if device.is_active:
        before = device_public(device)
        device.is_active = False
        session.flush()
        _audit(session, device.centre_id, "admin.device_revoked", actor, before, device_public(device))
    return device
