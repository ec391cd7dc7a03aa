"""Who is asking: staff by password (browser session) or personal API key, and devices
(kiosks, displays) by their own key. Every endpoint names the callers it admits.

Keys are long random strings shown once; only their SHA-256 is stored (they carry enough
entropy that a slow hash buys nothing). Passwords are hashed with Argon2id.

Size: every way a caller is identified (staff session, staff key, device key, node key,
login nonce) and the credential cache that serves them all.
"""

from __future__ import annotations

import functools
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import current_app, g, request, session
from flask_wtf.csrf import CSRFError, generate_csrf
from sqlalchemy import bindparam, event, select
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from queue_server.actors import SYSTEM, Actor
from queue_server.clock import utcnow
from queue_server.credentials import check_password, hash_password, key_hash
from queue_server.errors import N_, Forbidden, NotAuthenticated
from queue_server.extensions import csrf, db
from queue_server.models import Device, DeviceKind, LoginSession, Role, Staff, StaffApiKey
from queue_server.models.sync import SyncNode
from queue_server.operations.accounts import audit_staff, end_session, note_key_use, start_session

T = TypeVar("T")
# A fixed hash to verify against when the username is unknown, so timing does not tell.
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


def staff_actor(staff: Staff) -> Actor:
    return Actor("staff", staff.id, staff.role, staff.centre_id, name=staff.full_name or staff.username)


def device_actor(device: Device) -> Actor:
    return Actor("device", device.id, None, device.centre_id, device.kind, name=device.name)


class AuditedLoginRefusal(NotAuthenticated):
    """A failed login for a known account: its unit of work commits the audited event
    written before it, then lets the refusal go on (``DomainError.recorded``)."""

    recorded = True


def authenticate_password(db_session: Session, username: str, password: str, address: str = "?") -> Staff:
    """Check a login. Every failure gets the same answer (401, "Wrong username or
    password."), whether the name is unknown, the account inactive, the password wrong or
    the attempt throttled, so the answer tells nothing about which accounts exist.

    Throttling is per account *and* address (``LOGIN_MAX_FAILURES`` failures lock that pair
    for ``LOGIN_LOCK_SECONDS``, doubling while the guessing goes on) and per address over
    every account (``LOGIN_ADDRESS_MAX_FAILURES``): a guesser slows only themselves and
    never locks the clerk out at their own desk. A failure for a known account is an
    audited event, and the refusal is ``recorded``: its unit of work commits that event
    before the refusal goes on, so the refusal does not undo its own record."""
    from queue_server import login_throttle

    username = username.strip()
    # A name no account can have (and PostgreSQL could not even compare) finds nobody.
    possible = 0 < len(username) <= 64 and "\x00" not in username
    refused = NotAuthenticated(N_("Wrong username or password."), code="bad_credentials")
    if login_throttle.is_locked(username, address):
        check_password(_DUMMY_HASH, password)  # the same time as any other answer
        login_throttle.failed(username, address)
        raise refused
    staff = db_session.scalar(select(Staff).where(Staff.username == username)) if possible else None
    if staff is None:
        check_password(_DUMMY_HASH, password)
        login_throttle.failed(username, address)
        raise refused
    if not staff.is_active or not check_password(staff.password_hash, password):
        login_throttle.failed(username, address)
        audit_staff(db_session, staff, "login_failed", SYSTEM, address=address)
        raise AuditedLoginRefusal(refused.template, code=refused.code)
    login_throttle.succeeded(username, address)
    return staff


def key_actor(db_session: Session, key: str) -> tuple[Actor, Any] | None:
    """The staff member or device whose live (unrevoked, active) key this is."""
    digest = key_hash(key)
    api_key = db_session.scalar(
        select(StaffApiKey).where(StaffApiKey.key_hash == digest, StaffApiKey.revoked_at.is_(None))
    )
    if api_key is not None and api_key.staff.is_active:
        return staff_actor(api_key.staff), api_key.staff
    device = db_session.scalar(select(Device).where(Device.key_hash == digest, Device.is_active))
    if device is not None:
        return device_actor(device), device

    node = db_session.scalar(select(SyncNode).where(SyncNode.key_hash == digest))
    if node is not None:  # a centre node pushing its chain (queue_server/sync): no staff rights
        return Actor("node", node.id, centre_id=node.centre_id, name="node"), node
    return None


def nonce_actor(db_session: Session, nonce: Any) -> tuple[Actor, Any] | None:
    """The staff member or device of a live login session (not ended, not expired, its
    owner still active), from the random nonce in the session cookie."""
    if not isinstance(nonce, str) or not 20 <= len(nonce) <= 100:
        return None
    row = db_session.scalar(select(LoginSession).where(LoginSession.nonce_hash == key_hash(nonce)))
    if row is None or row.ended_at is not None or row.expires_at <= utcnow():
        return None
    if row.staff_id is not None:
        staff = db_session.get(Staff, row.staff_id)
        if staff is not None and staff.is_active:
            return staff_actor(staff), staff
    elif row.device_id is not None:
        device = db_session.get(Device, row.device_id)
        if device is not None and device.is_active:
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
        found = key_actor(db_session, key.strip())
        if found is None:
            raise NotAuthenticated(N_("Unknown or revoked key."), code="bad_key")
        return found[0], found[1], "bearer"
    found = nonce_actor(db_session, session.get("sid"))
    if found is not None:
        return found[0], found[1], "session"
    return None, None, ""


# --- resolved credentials, cached per process ---------------------------------------------
# Every request names its caller; looking the key (or the session) up each time cost
# queries, and on SQLite they opened the request's write transaction before any work. A
# resolved credential is kept for CREDENTIAL_CACHE_SECONDS. forget_credentials() is the one
# invalidation: a commit that changed a staff member, an API key, a device or a login
# session (revoking, deactivating, a new password, a logout) calls it; another process
# forgets at the latest when its entry expires. Unknown keys are never cached.
CREDENTIAL_CACHE_SECONDS = 5.0
_CACHE_LIMIT = 10_000
_FORGET = "khidmat_forget_credentials"


@dataclass(frozen=True)
class Caller:
    actor: Actor | None
    model: type[Staff] | type[Device] | None = None
    obj_id: int | None = None
    how: str = ""  # "bearer", "session" or "" (anonymous)
    check: str = ""  # what a browser session must still carry (password epoch, device key)


_credentials: dict[tuple[str, str, str], tuple[float, Caller]] = {}
# (database, key hash) -> until when, and the address the key was last seen using as the
# database had it (note_key_address): kept as long as a credential, forgotten with them.
_addresses: dict[tuple[str, str], tuple[float, str]] = {}
_credentials_lock = threading.Lock()
_generation = [0]


def forget_credentials() -> None:
    """Drop every credential this process resolved: the next request looks it up again."""
    with _credentials_lock:
        _credentials.clear()
        _addresses.clear()
        _generation[0] += 1


@event.listens_for(Session, "after_flush")
def _note_credential_change(db_session: Session, _flush: UOWTransaction) -> None:
    changed = (*db_session.dirty, *db_session.deleted)
    if any(isinstance(o, Staff | StaffApiKey | Device | LoginSession | SyncNode) for o in changed):
        db_session.info[_FORGET] = True


_CREDENTIAL_TABLES = {"staff", "staff_api_keys", "devices", "login_sessions", "sync_nodes"}


@event.listens_for(Session, "do_orm_execute")
def _note_bulk_credential_change(state: ORMExecuteState) -> None:
    """Revocations are bulk UPDATEs (operations.accounts): the ORM's dirty list never sees them."""
    if state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        if getattr(table, "name", None) in _CREDENTIAL_TABLES:
            state.session.info[_FORGET] = True


@event.listens_for(Session, "after_commit")
def _forget_after_commit(db_session: Session) -> None:
    if db_session.info.pop(_FORGET, False):
        forget_credentials()


@event.listens_for(Session, "after_rollback")
def _drop_forget(db_session: Session) -> None:
    db_session.info.pop(_FORGET, None)


def _remembered(kind: str, ident: str, load: Callable[[], Caller | None]) -> Caller | None:
    key = (str(db.engine.url), kind, ident)
    now = time.monotonic()
    hit = _credentials.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    generation = _generation[0]
    found = load()
    if found is not None:
        with _credentials_lock:
            if generation == _generation[0]:  # nothing was revoked while it was read
                if len(_credentials) >= _CACHE_LIMIT:
                    _credentials.clear()
                _credentials[key] = (now + CREDENTIAL_CACHE_SECONDS, found)
    return found


def _resolve_caller_cached() -> Caller:
    """``resolve_caller`` through the credential cache: a bearer key by its hash, a browser
    session by its nonce's hash (never the secrets themselves)."""
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise NotAuthenticated(N_("Use 'Authorization: Bearer <key>'."))

        def by_key() -> Caller | None:
            found = key_actor(db.session(), key.strip())
            return None if found is None else Caller(found[0], type(found[1]), found[1].id, "bearer")

        caller = _remembered("key", key_hash(key.strip()), by_key)
        if caller is None:
            raise NotAuthenticated(N_("Unknown or revoked key."), code="bad_key")
        return caller
    nonce = session.get("sid")
    if isinstance(nonce, str) and nonce:

        def by_nonce() -> Caller | None:
            found = nonce_actor(db.session(), nonce)
            return None if found is None else Caller(found[0], type(found[1]), found[1].id, "session")

        caller = _remembered("session", key_hash(nonce), by_nonce)
        if caller is not None:
            return caller
    return Caller(None)


def _request_caller() -> Caller:
    """Resolved once per request (cached on the request, not on ``g``: an app context can
    outlive a request, as in tests)."""
    cached: Caller | None = request.environ.get("khidmat.caller")
    if cached is None:
        cached = request.environ["khidmat.caller"] = _resolve_caller_cached()
    g.caller_via = cached.how
    return cached


def current_actor() -> Actor | None:
    """Who is asking, without loading their row (no query when the credential is cached)."""
    return _request_caller().actor


def current_caller() -> tuple[Actor | None, Any]:
    """The caller of this request and their Staff or Device row (loaded in this session)."""
    caller = _request_caller()
    if caller.model is None or caller.obj_id is None:
        return caller.actor, None
    return caller.actor, db.session().get(caller.model, caller.obj_id)


def note_key_address(owner: Any, key: str, address: str, *, in_own_transaction: bool = True) -> None:
    """A key used from a new address is an audited event (HTTP and sockets), written only
    when the address changed (its first use included). ``owner``: the key's Device or Staff
    row, or for a staff key a function that loads it (only needed when the address
    changed). In its own unit of work, or (``in_own_transaction=False``) in the caller's,
    so that a refused call rolls the record back with everything else.

    A key used again from the address the database had for it is remembered for
    CREDENTIAL_CACHE_SECONDS: its next uses from there read nothing (a read per request was
    3.5 % of a busy server's time). Any other address is read afresh, so a key moving
    between addresses is recorded at every move; only a move made through another process
    back to the address remembered here is seen late, at the first use after it expires."""
    from queue_server.unit_of_work import run_in_transaction

    address = (address or "?")[:64]
    hashed = key_hash(key)
    memo = (str(db.engine.url), hashed)
    now = time.monotonic()
    seen = _addresses.get(memo)
    if seen is not None and seen[0] > now and seen[1] == address:
        return
    last = owner.last_address if isinstance(owner, Device) else db.session.scalar(_KEY_ADDRESS, {"key_hash": hashed})
    if last == address:
        with _credentials_lock:
            if len(_addresses) >= _CACHE_LIMIT:
                _addresses.clear()
            _addresses[memo] = (now + CREDENTIAL_CACHE_SECONDS, address)
        return
    if callable(owner):
        owner = owner()
    if in_own_transaction:
        run_in_transaction(lambda s: note_key_use(s, owner, key, address))
    else:
        note_key_use(db.session(), owner, key, address)


_KEY_ADDRESS = select(StaffApiKey.last_address).where(StaffApiKey.key_hash == bindparam("key_hash"))  # (every request)


def caller_session() -> str | None:
    """What one working session of the caller is: a browser login or a personal key. A
    counter is held by one of them at a time (``open_counter``'s ``session_id``)."""
    _request_caller()
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
    """kinds: "clerk", "manager", "admin", "staff" (any), "kiosk", "display", "node"."""
    for kind in kinds:
        if kind == "staff" and actor.kind == "staff":
            return True
        if actor.kind == "staff" and actor.role is not None and kind == actor.role.value:
            return True
        if kind == "manager" and actor.role == Role.ADMIN:
            return True
        if actor.kind == "device" and actor.device_kind is not None and kind == actor.device_kind.value:
            return True
        if kind == "node" and actor.kind == "node":
            return True
    return False


def requires(*kinds: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Admit only these kinds of caller; browser-session callers also need a CSRF token on
    any request that changes something."""

    def decorate(view: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> T:
            actor = current_actor()
            if actor is None:
                raise NotAuthenticated(N_("Log in or give a key."))
            if not admits(actor, kinds):
                raise Forbidden(N_("You are not allowed to do this."))
            if g.caller_via == "session" and request.method not in ("GET", "HEAD", "OPTIONS"):
                check_csrf()
            if g.caller_via == "bearer" and request.method not in ("GET", "HEAD", "OPTIONS"):
                # In the request's own unit of work: a refused call changes nothing.
                _, _, key = request.headers.get("Authorization", "").partition(" ")
                owner = (
                    (lambda: current_caller()[1]) if _request_caller().model is Staff else current_caller()[1]
                )  # (a staff key's row is loaded only to record a new address)
                note_key_address(owner, key.strip(), request.remote_addr or "?", in_own_transaction=False)
            return view(*args, **kwargs)

        wrapper.admits = kinds  # type: ignore[attr-defined]
        return wrapper

    return decorate


def _new_session() -> None:
    """Start afresh (no session fixation); the CSRF token is renewed with it, at once:
    every version of the cookie from this answer on holds it. A page's requests that
    overlap (each answer refreshes the signed cookie) could otherwise put back a version
    taken before a later one added it, and the page's next change would be refused for a
    missing token (the kiosk's first issue after pairing, now and then)."""
    session.clear()
    g.pop("csrf_token", None)  # flask-wtf caches the signed token for the request
    generate_csrf()


def login_session(staff: Staff) -> None:
    """Start a server-side session for this member of staff in the caller's unit of work
    (audited as a sign-in) and put its nonce in the browser's cookie. It ends at the
    centre's day boundary (``operations.accounts.staff_session_expires_at``)."""
    address = request.remote_addr or ""
    nonce = start_session(db.session(), staff=staff, address=address)
    _new_session()
    session["sid"] = nonce
    session["login_id"] = secrets.token_urlsafe(12)
    session.permanent = True


def pair_device_session(device: Device) -> None:
    """Remember a paired kiosk or display in this browser: a server-side session (revoked
    with the device or its key) whose nonce rides in a long-lived signed cookie."""
    nonce = start_session(db.session(), device=device, address=request.remote_addr or "")
    _new_session()
    session["sid"] = nonce
    session.permanent = True


def logout_session() -> None:
    """End this browser's session on the server too: a copy of the cookie is then worth
    nothing. Runs in the caller's unit of work."""
    nonce = session.get("sid")
    if isinstance(nonce, str) and nonce:
        end_session(db.session(), nonce, reason="logout")
    session.clear()


def is_device(actor: Actor | None, kind: DeviceKind) -> bool:
    return actor is not None and actor.kind == "device" and actor.device_kind == kind
