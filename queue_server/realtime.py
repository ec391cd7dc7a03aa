"""The realtime hub (Flask-SocketIO).

Screens connect websocket-only, authenticate (a device or staff key in the Socket.IO
``auth`` payload, or the browser session), then ``join`` a screen: they are put in that
screen's rooms and receive a ``snapshot`` at once, and on every later join (a reconnect),
so a missed event never leaves a screen wrong. Operations publish after commit through
``queue_server.publish``; this module is the sink that emits to the rooms. Counters can
also call and act on tokens over the socket: the same operations, in their own unit of
work (Flask's request hooks do not run for socket events).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from flask import Flask, request, session
from flask_socketio import disconnect, join_room, leave_room
from flask_socketio import rooms as client_rooms
from sqlalchemy.orm import Session

from queue_server import operations, queue_state
from queue_server import rooms as room
from queue_server.actors import Actor
from queue_server.auth import admits, device_actor, key_hash, staff_actor
from queue_server.clock import utcnow
from queue_server.errors import N_, DomainError, Forbidden, NotAuthenticated, ValidationFailed
from queue_server.extensions import db, socketio
from queue_server.http_errors import translate
from queue_server.models import Counter, Device, Staff
from queue_server.operations.devices import note_seen
from queue_server.operations.lookup import centre_for
from queue_server.publish import Message, add_sink
from queue_server.unit_of_work import current_session, run_in_transaction

log = logging.getLogger(__name__)

# sid -> the actor that authenticated on connect (None for an anonymous tracking page)
_actors: dict[str, Actor | None] = {}
_actors_lock = threading.Lock()

JoinHandler = Callable[[Session, Actor | None, dict[str, Any]], tuple[list[str], dict[str, Any]]]
SCREENS: dict[str, JoinHandler] = {}


def screen(name: str) -> Callable[[JoinHandler], JoinHandler]:
    """Register what joining a screen means: the rooms and the snapshot."""

    def decorate(handler: JoinHandler) -> JoinHandler:
        SCREENS[name] = handler
        return handler

    return decorate


def emit_message(message: Message) -> None:
    if message.rooms:
        socketio.emit(message.event, message.payload, to=list(message.rooms))


def connected_count() -> int:
    with _actors_lock:
        return len(_actors)


def init_app(app: Flask) -> None:
    """Bind the handlers to this app's Socket.IO server. Explicitly, per app: the
    decorator form binds to whichever server existed when the module was imported."""
    _quiet_closed_websocket_threads()
    add_sink(emit_message)
    socketio.on_event("connect", on_connect)
    socketio.on_event("disconnect", on_disconnect)
    socketio.on_event("join", on_join)
    socketio.on_event("call_next", on_call_next)
    socketio.on_event("token_action", on_token_action)


def _quiet_closed_websocket_threads() -> None:
    """In threading mode python-engineio's websocket writer thread closes the socket when
    its queue ends; when the reader saw the client leave first, simple-websocket's close()
    raises ConnectionClosed and the thread dies with a traceback on stderr, though nothing
    is wrong (the client is simply gone). Note it at debug level instead; every other
    exception in a thread still goes to the previous hook."""
    from simple_websocket import ConnectionClosed

    previous = threading.excepthook
    if getattr(previous, "khidmat_quiet", False):
        return

    def hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is not None and issubclass(args.exc_type, ConnectionClosed):
            log.debug("websocket thread %s ended: the client had gone", getattr(args.thread, "name", "?"))
            return
        previous(args)

    hook.khidmat_quiet = True  # type: ignore[attr-defined]
    threading.excepthook = hook


def _authenticate(auth: Any) -> Actor | None:
    key = auth.get("key") if isinstance(auth, dict) else None
    if key:
        from queue_server.models import StaffApiKey

        digest = key_hash(str(key))
        api_key = db.session.query(StaffApiKey).filter_by(key_hash=digest, revoked_at=None).first()
        if api_key is not None and api_key.staff.is_active:
            return staff_actor(api_key.staff)
        device = db.session.query(Device).filter_by(key_hash=digest, is_active=True).first()
        if device is not None:
            return device_actor(device)
        raise NotAuthenticated(N_("Unknown or revoked key."), code="bad_key")
    staff_id = session.get("staff_id")
    if staff_id is not None:
        staff = db.session.get(Staff, staff_id)
        if staff is not None and staff.is_active and session.get("auth_epoch") == staff.password_hash[-12:]:
            return staff_actor(staff)
    device_id = session.get("device_id")
    if device_id is not None:
        device = db.session.get(Device, device_id)
        if device is not None and device.is_active and session.get("device_key") == device.key_hash:
            return device_actor(device)
    return None


def on_connect(auth: Any = None) -> bool:
    try:
        actor = _authenticate(auth)
    except DomainError:
        db.session.rollback()
        return False
    finally:
        db.session.remove()
    with _actors_lock:
        _actors[request.sid] = actor  # type: ignore[attr-defined]
    from queue_server.metrics import CONNECTED_SOCKETS

    CONNECTED_SOCKETS.set(connected_count())
    return True


def on_disconnect(*_args: Any) -> None:
    sid = request.sid  # type: ignore[attr-defined]
    with _actors_lock:
        _actors.pop(sid, None)
    from queue_server.metrics import CONNECTED_SOCKETS

    CONNECTED_SOCKETS.set(connected_count())
    for listener in list(_disconnect_listeners):
        try:
            listener(sid)
        except Exception:  # one listener's trouble must not keep the others from hearing
            log.exception("disconnect listener %r failed", listener)


_disconnect_listeners: list[Callable[[str], None]] = []


def on_leave(listener: Callable[[str], None]) -> None:
    """Call ``listener(sid)`` whenever a socket of this process disconnects."""
    if listener not in _disconnect_listeners:
        _disconnect_listeners.append(listener)


def _error(exc: DomainError) -> dict[str, Any]:
    return {"ok": False, "error": exc.code, "message": translate(exc), **exc.extra()}


def _actor() -> Actor | None:
    with _actors_lock:
        return _actors.get(request.sid)  # type: ignore[attr-defined]


MAX_ID = 2**31 - 1  # ids are 32-bit integer columns on PostgreSQL


def payload_id(data: Any, name: str) -> int | None:
    """An id from a socket payload: a JSON integer in the database's range, else None
    (``true`` is not 1, and an id too large for the column names nothing)."""
    value = data.get(name) if isinstance(data, dict) else None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        return None
    return value


def payload_text(data: Any, name: str, max_length: int = 64) -> str | None:
    value = data.get(name) if isinstance(data, dict) else None
    if not isinstance(value, str) or not value or len(value) > max_length or "\x00" in value:
        return None
    return value


def _require(actor: Actor | None, *kinds: str) -> Actor:
    if actor is None:
        raise NotAuthenticated(N_("Log in or give a key."))
    if not admits(actor, kinds):
        raise Forbidden(N_("You are not allowed to do this."))
    return actor


def on_join(data: Any = None) -> dict[str, Any]:
    """Join a screen: {"screen": "display"|"kiosk"|"counter"|"dashboard"|"track", ...}."""
    try:
        if not isinstance(data, dict) or data.get("screen") not in SCREENS:
            raise ValidationFailed(N_("Unknown screen."))
        handler = SCREENS[data["screen"]]
        targets, snapshot = handler(current_session(), _actor(), data)
        db.session.rollback()
    except DomainError as exc:
        db.session.rollback()
        return _error(exc)
    finally:
        db.session.remove()
    for current in client_rooms():
        if current != request.sid:  # type: ignore[attr-defined]
            leave_room(current)
    for target in targets:
        join_room(target)
    socketio.emit("snapshot", snapshot, to=request.sid)  # type: ignore[attr-defined]
    _note_device_seen(_actor())
    return {"ok": True, "rooms": len(targets)}


def _note_device_seen(actor: Actor | None) -> None:
    """Screens re-join every minute (static/live.js): that is how the dashboard knows a
    display or kiosk is still there. A busy database only delays the note."""
    if actor is None or actor.kind != "device" or actor.id is None:
        return
    device_id = actor.id
    try:
        run_in_transaction(lambda s: note_seen(s, device_id, utcnow()))
    except DomainError:
        log.info("device %s seen, not recorded: the database is busy", device_id)
    finally:
        db.session.remove()


def _centre_screen(data: dict[str, Any], actor: Actor | None, *kinds: str):  # type: ignore[no-untyped-def]
    who = _require(actor, *kinds)
    code = payload_text(data, "centre")
    if code is None:
        raise ValidationFailed(N_("Say which centre."))
    return centre_for(current_session(), who, code)


@screen("display")
def join_display(s: Session, actor: Actor | None, data: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    centre = _centre_screen(data, actor, "display", "staff")
    return [room.display(centre.id)], queue_state.centre_snapshot(s, centre)


@screen("kiosk")
def join_kiosk(s: Session, actor: Actor | None, data: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    centre = _centre_screen(data, actor, "kiosk", "staff")
    return [room.display(centre.id)], queue_state.centre_snapshot(s, centre)


@screen("dashboard")
def join_dashboard(s: Session, actor: Actor | None, data: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    centre = _centre_screen(data, actor, "manager")
    return [room.dashboard(centre.id)], queue_state.centre_snapshot(s, centre)


@screen("counter")
def join_counter(s: Session, actor: Actor | None, data: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    who = _require(actor, "staff")
    counter_id = payload_id(data, "counter")
    counter = s.get(Counter, counter_id) if counter_id is not None else None
    if counter is None or not who.may_act_in(counter.centre_id):
        raise Forbidden(N_("You may not watch this counter."))
    if counter.staff_id != who.id and not who.is_manager:
        raise Forbidden(N_("Counter %(number)s is not yours."), number=counter.number)
    snapshot = queue_state.centre_snapshot(s, counter.centre)
    snapshot["counter_id"] = counter.id
    return [room.counters(counter.centre_id), room.counter(counter.id)], snapshot


@screen("track")
def join_track(s: Session, actor: Actor | None, data: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    from queue_server.tracking import track_view

    code = payload_text(data, "code")
    if code is None:
        raise ValidationFailed(N_("Say which token."))
    return [room.token(code)], track_view(s, code, request.remote_addr or "?")


def on_call_next(data: Any = None) -> dict[str, Any]:
    """A counter calls the next token over the socket: {"counter": id}."""
    try:
        who = _require(_actor(), "clerk", "manager")
        counter_id = payload_id(data, "counter")
        if counter_id is None:
            raise ValidationFailed(N_("Say which counter."))

        def work(s: Session) -> dict[str, Any] | None:
            token = operations.call_next(s, counter_id, who)
            return queue_state.token_staff(token) if token else None

        return {"ok": True, "token": run_in_transaction(work)}
    except DomainError as exc:
        return _error(exc)
    finally:
        db.session.remove()


TOKEN_ACTIONS = {
    "recall": operations.recall,
    "no-show": operations.no_show,
    "start": operations.start,
    "park": operations.park,
    "unpark": operations.unpark,
    "complete": operations.complete,
    "cancel": operations.cancel,
    "requeue": operations.requeue,
}


def on_token_action(data: Any = None) -> dict[str, Any]:
    """{"token": id, "action": "recall"|...; "outcome" for complete}."""
    try:
        who = _require(_actor(), "staff")
        token_id = payload_id(data, "token")
        if token_id is None:
            raise ValidationFailed(N_("Say which token."))
        action = TOKEN_ACTIONS.get(str(data.get("action")))
        if action is None:
            raise ValidationFailed(N_("Unknown action."))
        kwargs: dict[str, Any] = {}
        if data.get("action") == "complete" and data.get("outcome"):
            kwargs["outcome"] = str(data["outcome"])

        def work(s: Session) -> dict[str, Any]:
            return queue_state.token_staff(action(s, token_id, who, **kwargs))

        return {"ok": True, "token": run_in_transaction(work)}
    except DomainError as exc:
        return _error(exc)
    finally:
        db.session.remove()


def kick(sid: str) -> None:
    disconnect(sid)
