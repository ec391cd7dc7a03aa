"""Who is asking: staff by password (browser session) or personal API key, and devices
(kiosks, displays) by their own key. Every endpoint names the callers it admits.

Keys are long random strings shown once; only their SHA-256 is stored (they carry enough
entropy that a slow hash buys nothing). Passwords are hashed with Argon2id.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, g, request, session
from flask_wtf.csrf import CSRFError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from queue_server.actors import Actor
from queue_server.clock import utcnow
from queue_server.errors import N_, Forbidden, NotAuthenticated, RateLimited
from queue_server.extensions import csrf, db
from queue_server.models import Device, DeviceKind, Role, Staff, StaffApiKey

T = TypeVar("T")
_hasher = PasswordHasher()
# A fixed hash to verify against when the username is unknown, so timing does not tell.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_key(kind: str) -> str:
    """A fresh secret key, e.g. ``kq_dev_…``; shown once, stored as its hash."""
    return f"kq_{kind}_{secrets.token_urlsafe(32)}"


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def staff_actor(staff: Staff) -> Actor:
    return Actor("staff", staff.id, staff.role, staff.centre_id, name=staff.full_name or staff.username)


def device_actor(device: Device) -> Actor:
    return Actor("device", device.id, None, device.centre_id, device.kind, name=device.name)


def authenticate_password(db_session: Session, username: str, password: str) -> Staff:
    """Check a login. After ``LOGIN_MAX_FAILURES`` failures in a row the account is locked
    for ``LOGIN_LOCK_SECONDS``, whatever the password, so guessing is slow.

    The count lives in the database (one atomic UPDATE, so every server process sees the
    same count) and a refused attempt is committed before the refusal is raised: the one
    place where a helper commits, because the refusal must not roll back its own record."""
    username = username.strip()
    # A name no account can have (and PostgreSQL could not even compare) finds nobody.
    possible = 0 < len(username) <= 64 and "\x00" not in username
    staff = db_session.scalar(select(Staff).where(Staff.username == username)) if possible else None
    now = utcnow()
    if staff is None:
        check_password(_DUMMY_HASH, password)
        raise NotAuthenticated(N_("Wrong username or password."), code="bad_credentials")
    if staff.locked_until and staff.locked_until > now:
        raise RateLimited(N_("Too many failed logins: try again in a few minutes."))
    if not staff.is_active or not check_password(staff.password_hash, password):
        _record_failure(db_session, staff.id, now)
        raise NotAuthenticated(N_("Wrong username or password."), code="bad_credentials")
    if staff.failed_logins or staff.locked_until:
        staff.failed_logins = 0
        staff.locked_until = None
    return staff


def _record_failure(db_session: Session, staff_id: int, now: datetime) -> None:
    failures = db_session.execute(
        update(Staff)
        .where(Staff.id == staff_id)
        .values(failed_logins=Staff.failed_logins + 1)
        .returning(Staff.failed_logins)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    if failures >= current_app.config["LOGIN_MAX_FAILURES"]:
        db_session.execute(
            update(Staff)
            .where(Staff.id == staff_id)
            .values(
                failed_logins=0,
                locked_until=now + timedelta(seconds=current_app.config["LOGIN_LOCK_SECONDS"]),
            )
            .execution_options(synchronize_session=False)
        )
    db_session.commit()


def _from_bearer(db_session: Session, key: str) -> tuple[Actor, Any] | None:
    digest = key_hash(key)
    api_key = db_session.scalar(
        select(StaffApiKey).where(StaffApiKey.key_hash == digest, StaffApiKey.revoked_at.is_(None))
    )
    if api_key is not None and api_key.staff.is_active:
        return staff_actor(api_key.staff), api_key.staff
    device = db_session.scalar(select(Device).where(Device.key_hash == digest, Device.is_active))
    if device is not None:
        return device_actor(device), device
    return None


def resolve_caller(db_session: Session) -> tuple[Actor | None, Any, str]:
    """(actor, the Staff or Device, how) for the current request; (None, None, "") if anonymous.
    A bearer key wins over a browser session. An invalid bearer key is an error, not anonymous."""
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise NotAuthenticated(N_("Use 'Authorization: Bearer <key>'."))
        found = _from_bearer(db_session, key.strip())
        if found is None:
            raise NotAuthenticated(N_("Unknown or revoked key."), code="bad_key")
        return found[0], found[1], "bearer"
    staff_id = session.get("staff_id")
    if staff_id is not None:
        staff = db_session.get(Staff, staff_id)
        if staff is not None and staff.is_active and session.get("auth_epoch") == staff.password_hash[-12:]:
            return staff_actor(staff), staff, "session"
    device_id = session.get("device_id")
    if device_id is not None:
        device = db_session.get(Device, device_id)
        if device is not None and device.is_active and session.get("device_key") == device.key_hash:
            return device_actor(device), device, "session"
    return None, None, ""


def current_caller() -> tuple[Actor | None, Any]:
    """The caller of this request, resolved once per request (cached on the request, not
    on ``g``: an app context can outlive a request, as in tests)."""
    cached = request.environ.get("khidmat.caller")
    if cached is None:
        actor, obj, how = resolve_caller(db.session())
        cached = request.environ["khidmat.caller"] = (actor, obj, how)
    g.caller_via = cached[2]
    return cached[0], cached[1]


def caller_session() -> str | None:
    """What one working session of the caller is: a browser login or a personal key. A
    counter is held by one of them at a time (``open_counter``'s ``session_id``)."""
    current_caller()
    if g.caller_via == "bearer":
        _, _, key = request.headers.get("Authorization", "").partition(" ")
        return "key:" + key_hash(key.strip())[:24]
    if g.caller_via == "session" and session.get("login_id"):
        return "login:" + str(session["login_id"])
    return None


def check_csrf() -> None:
    """A browser request that changes something must carry the page's CSRF token."""
    if not current_app.config.get("WTF_CSRF_ENABLED", True):
        return
    try:
        csrf.protect()
    except CSRFError as exc:
        raise Forbidden(N_("The form expired: reload the page."), code="csrf") from exc


def admits(actor: Actor, kinds: Iterable[str]) -> bool:
    """kinds: "clerk", "manager", "admin", "staff" (any), "kiosk", "display"."""
    for kind in kinds:
        if kind == "staff" and actor.kind == "staff":
            return True
        if actor.kind == "staff" and actor.role is not None and kind == actor.role.value:
            return True
        if kind == "manager" and actor.role == Role.ADMIN:
            return True
        if actor.kind == "device" and actor.device_kind is not None and kind == actor.device_kind.value:
            return True
    return False


def requires(*kinds: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Admit only these kinds of caller; browser-session callers also need a CSRF token on
    any request that changes something."""

    def decorate(view: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> T:
            actor, _ = current_caller()
            if actor is None:
                raise NotAuthenticated(N_("Log in or give a key."))
            if not admits(actor, kinds):
                raise Forbidden(N_("You are not allowed to do this."))
            if g.caller_via == "session" and request.method not in ("GET", "HEAD", "OPTIONS"):
                check_csrf()
            return view(*args, **kwargs)

        wrapper.admits = kinds  # type: ignore[attr-defined]
        return wrapper

    return decorate


def _new_session() -> None:
    """Start afresh (no session fixation); the CSRF token is renewed with it."""
    session.clear()
    g.pop("csrf_token", None)  # flask-wtf caches the signed token for the request


def login_session(staff: Staff) -> None:
    _new_session()
    session["staff_id"] = staff.id
    # Changing the password ends every session that used the old one.
    session["auth_epoch"] = staff.password_hash[-12:]
    session["login_id"] = secrets.token_urlsafe(12)
    session.permanent = True


def pair_device_session(device: Device) -> None:
    """Remember a paired kiosk or display in this browser (a long-lived signed cookie)."""
    _new_session()
    session["device_id"] = device.id
    session["device_key"] = device.key_hash
    session.permanent = True


def is_device(actor: Actor | None, kind: DeviceKind) -> bool:
    return actor is not None and actor.kind == "device" and actor.device_kind == kind
