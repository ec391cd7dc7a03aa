"""Accounts: server-side login sessions, and revoking what lets staff and devices in.

The operations the CLI (``khidmat staff …``, ``khidmat device …``), the JSON API
(``/api/v1/staff/<id>/…``, ``/api/v1/devices/<id>/…``) and the administration pages call:

- ``deactivate_staff``  — the account stops working at once: sessions ended, keys revoked.
- ``revoke_staff_keys`` — every personal API key of the person stops working.
- ``end_staff_sessions`` — every browser session of the person ends (logs them out everywhere).
- ``set_password``      — a new password; every session of the old one ends.
- ``revoke_device``     — a kiosk or display is switched off: its key and paired browsers stop.
- ``rotate_device_key`` — a new key for a device (returned once); the old key and the
  browsers paired with it stop.

Each refuses a caller who does not oversee the person's or device's centre, changes the
state, ends the sessions, and appends an audited event; none commits. Socket connections
re-check their caller on every action (queue_server.realtime), so they stop too.
"""

from __future__ import annotations

import secrets
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import delete, or_, update
from sqlalchemy.orm import Session

from queue_server.actors import Actor
from queue_server.audit import append_event
from queue_server.clock import utcnow
from queue_server.credentials import hash_password, key_hash, new_key
from queue_server.errors import N_, Forbidden, NotFound
from queue_server.models import Centre, Device, LoginSession, Staff, StaffApiKey


def staff_session_expires_at(centre: Centre | None, now: datetime) -> datetime:
    """When a staff login made ``now`` ends: at the centre's day boundary (the end of its
    current business day: midnight local by default, a 24/7 centre's shift change), or at
    the next local midnight in the province's time zone for an administrator without a
    centre. The one place that decides a staff session's lifetime."""
    if centre is not None:
        return centre.day_span(centre.business_day(now))[1].astimezone(now.tzinfo)
    tz = ZoneInfo(current_app.config["DEFAULT_TIMEZONE"])
    local = now.astimezone(tz)
    midnight = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=tz)
    return midnight.astimezone(now.tzinfo)


def start_session(
    session: Session, *, staff: Staff | None = None, device: Device | None = None, address: str = ""
) -> str:
    """A new login session for a member of staff or a paired device; returns its nonce
    (for the cookie; only its hash is stored). A staff sign-in is audited."""
    now = utcnow()
    nonce = secrets.token_urlsafe(32)
    if staff is not None:
        centre = session.get(Centre, staff.centre_id) if staff.centre_id else None
        expires = staff_session_expires_at(centre, now)
    else:
        expires = now + timedelta(days=int(current_app.config["DEVICE_SESSION_DAYS"]))
    session.add(
        LoginSession(
            nonce_hash=key_hash(nonce),
            staff_id=staff.id if staff is not None else None,
            device_id=device.id if device is not None else None,
            address=address[:64],
            created_at=now,
            expires_at=expires,
        )
    )
    session.flush()
    if staff is not None:
        audit_staff(
            session,
            staff,
            "staff_signed_in",
            Actor("staff", staff.id, staff.role, staff.centre_id),
            address=address,
        )
    elif device is not None:
        append_event(
            session,
            device.centre_id,
            "device_paired",
            _device_self(device),
            data={"device": device.id, "address": address[:64]},
        )
    return nonce


def end_session(session: Session, nonce: str, reason: str = "logout") -> bool:
    """End the session of this nonce (a logout). True when one was live."""
    done = session.execute(
        update(LoginSession)
        .where(LoginSession.nonce_hash == key_hash(nonce), LoginSession.ended_at.is_(None))
        .values(ended_at=utcnow(), ended_reason=reason[:24])
        .execution_options(synchronize_session=False)
    )
    return bool(done.rowcount)  # type: ignore[attr-defined]


def _end_sessions(
    session: Session, *, staff_id: int | None = None, device_id: int | None = None, reason: str
) -> int:
    query = update(LoginSession).where(LoginSession.ended_at.is_(None))
    if staff_id is not None:
        query = query.where(LoginSession.staff_id == staff_id)
    else:
        query = query.where(LoginSession.device_id == device_id)
    done = session.execute(
        query.values(ended_at=utcnow(), ended_reason=reason[:24]).execution_options(synchronize_session=False)
    )
    return int(done.rowcount)  # type: ignore[attr-defined]


def _oversees(actor: Actor, centre_id: int | None) -> bool:
    if actor.kind == "system":
        return True
    if not actor.is_staff or not actor.is_manager:
        return False
    if centre_id is None:  # a province-wide account: only a province-wide administrator
        return actor.is_province_admin
    return actor.may_act_in(centre_id)


def staff_for_change(session: Session, staff_id: int, actor: Actor) -> Staff:
    staff = session.get(Staff, staff_id)
    if staff is None or not (
        actor.kind == "system"
        or actor.may_act_in(staff.centre_id or -1)
        or actor.is_province_admin
    ):
        raise NotFound(N_("No such staff member."), code="not_found")
    if not _oversees(actor, staff.centre_id):
        raise Forbidden(N_("You are not allowed to do this."))
    return staff


def device_for_change(session: Session, device_id: int, actor: Actor) -> Device:
    device = session.get(Device, device_id)
    if device is None or not actor.may_act_in(device.centre_id):
        raise NotFound(N_("No such device."), code="not_found")
    if not _oversees(actor, device.centre_id):
        raise Forbidden(N_("You are not allowed to do this."))
    return device


def audit_staff(session: Session, staff: Staff, kind: str, actor: Actor, **data: Any) -> None:
    """An account event in the person's centre chain (a province-wide administrator has no
    centre chain: their events are logged only)."""
    if staff.centre_id is not None:
        append_event(session, staff.centre_id, kind, actor, data={"staff": staff.id, **data})
    else:
        current_app.logger.info("account event %s for staff %s by %s %s", kind, staff.id, actor.label, data)


def _device_self(device: Device) -> Actor:
    return Actor("device", device.id, None, device.centre_id, device.kind, name=device.name)


def revoke_staff_keys(session: Session, staff_id: int, actor: Actor) -> int:
    """Revoke every live personal API key of the person; returns how many."""
    staff = staff_for_change(session, staff_id, actor)
    done = session.execute(
        update(StaffApiKey)
        .where(StaffApiKey.staff_id == staff.id, StaffApiKey.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    count = int(done.rowcount)  # type: ignore[attr-defined]
    audit_staff(session, staff, "staff_keys_revoked", actor, keys=count)
    return count


def end_staff_sessions(session: Session, staff_id: int, actor: Actor) -> int:
    """End every browser session of the person (logged out everywhere); returns how many."""
    staff = staff_for_change(session, staff_id, actor)
    count = _end_sessions(session, staff_id=staff.id, reason="ended")
    audit_staff(session, staff, "staff_sessions_ended", actor, sessions=count)
    return count


def deactivate_staff(session: Session, staff_id: int, actor: Actor) -> Staff:
    """The account stops working at once: inactive, every session ended, every key revoked.
    Refused for one's own account (an administrator must not lock themselves out)."""
    staff = staff_for_change(session, staff_id, actor)
    if actor.is_staff and actor.id == staff.id:
        raise Forbidden(N_("You cannot deactivate your own account."), code="own_account")
    staff.is_active = False
    ended = _end_sessions(session, staff_id=staff.id, reason="deactivated")
    session.execute(
        update(StaffApiKey)
        .where(StaffApiKey.staff_id == staff.id, StaffApiKey.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.flush()
    audit_staff(session, staff, "staff_deactivated", actor, sessions=ended)
    return staff


def set_password(session: Session, staff_id: int, password: str, actor: Actor) -> Staff:
    """A new password; every session made with the old one ends."""
    staff = (
        staff_for_change(session, staff_id, actor) if actor.id != staff_id else session.get(Staff, staff_id)
    )
    if staff is None:
        raise NotFound(N_("No such staff member."), code="not_found")
    staff.password_hash = hash_password(password)
    _end_sessions(session, staff_id=staff.id, reason="password")
    session.flush()
    audit_staff(session, staff, "staff_password_changed", actor)
    return staff


def revoke_device(session: Session, device_id: int, actor: Actor) -> Device:
    """Switch a kiosk or display off: its key and every browser paired with it stop."""
    device = device_for_change(session, device_id, actor)
    device.is_active = False
    _end_sessions(session, device_id=device.id, reason="revoked")
    session.flush()
    append_event(session, device.centre_id, "device_revoked", actor, data={"device": device.id})
    return device


def rotate_device_key(session: Session, device_id: int, actor: Actor) -> str:
    """A new key for the device (returned once, stored as its hash); the old key and the
    browsers paired with it stop. A revoked device becomes active again with the new key."""
    device = device_for_change(session, device_id, actor)
    key = new_key("dev")
    device.key_hash = key_hash(key)
    device.is_active = True
    _end_sessions(session, device_id=device.id, reason="rotated")
    session.flush()
    append_event(session, device.centre_id, "device_key_rotated", actor, data={"device": device.id})
    return key


def note_key_use(session: Session, owner: Staff | Device, key: str, address: str) -> bool:
    """A key was used from ``address``: when that is not the address of its last use,
    record it and append an audited event (the first use counts as new). True when it was
    new. Only the row whose address differs is written, so a key used from one place writes
    nothing after its first use."""
    address = (address or "?")[:64]
    digest = key_hash(key)
    if isinstance(owner, Device):
        done = session.execute(
            update(Device)
            .where(Device.id == owner.id, Device.key_hash == digest, Device.last_address != address)
            .values(last_address=address)
            .execution_options(synchronize_session=False)
        )
        if done.rowcount:  # type: ignore[attr-defined]
            append_event(
                session, owner.centre_id, "key_used_from_new_address", _device_self(owner),
                data={"device": owner.id, "address": address},
            )
        return bool(done.rowcount)  # type: ignore[attr-defined]
    done = session.execute(
        update(StaffApiKey)
        .where(StaffApiKey.key_hash == digest, StaffApiKey.last_address != address)
        .values(last_address=address)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount:  # type: ignore[attr-defined]
        actor = Actor("staff", owner.id, owner.role, owner.centre_id)
        audit_staff(session, owner, "key_used_from_new_address", actor, address=address)
    return bool(done.rowcount)  # type: ignore[attr-defined]


def purge_ended_sessions(session: Session, now: datetime | None = None, keep_days: int = 30) -> int:
    """Forget sessions that ended or expired more than ``keep_days`` ago."""
    cutoff = (now or utcnow()) - timedelta(days=keep_days)
    done = session.execute(
        delete(LoginSession)
        .where(or_(LoginSession.ended_at < cutoff, LoginSession.expires_at < cutoff))
        .execution_options(synchronize_session=False)
    )
    return int(done.rowcount)  # type: ignore[attr-defined]
