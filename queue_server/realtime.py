"""The realtime hub (Flask-SocketIO).

Screens connect websocket-only, authenticate (a device or staff key in the Socket.IO
``auth`` payload, or the browser session), then ``join`` a screen: they are put in that
screen's rooms and receive a ``snapshot`` at once, and on every later join (a reconnect),
so a missed event never leaves a screen wrong. Operations publish after commit through
``queue_server.publish``; this module is the sink that emits to the rooms. Counters can
also call and act on tokens over the socket: the same operations, in their own unit of
work (Flask's request hooks do not run for socket events).

Size: the Socket.IO entry point: connecting, joining a screen and the console's actions
share one authorisation and one room scheme.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, request, session
from flask_socketio import disconnect, join_room, leave_room
from flask_socketio import rooms as client_rooms
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from queue_server import operations, queue_state
from queue_server import rooms as room
from queue_server.actions import token_action
from queue_server.actors import Actor
from queue_server.auth import admits, key_actor, nonce_actor, note_key_address
from queue_server.clock import utcnow
from queue_server.errors import N_, DomainError, Forbidden, NotAuthenticated, ValidationFailed
from queue_server.extensions import db, socketio
from queue_server.http_errors import translate
from queue_server.metrics import CONNECTED_SOCKETS
from queue_server.models import Counter
from queue_server.models.types import is_row_id
from queue_server.operations.devices import note_seen
from queue_server.operations.lookup import centre_for
from queue_server.publish import Message, add_sink
from queue_server.unit_of_work import current_session, noted_trouble, reading, run_in_transaction

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Connection:
    """One socket of this process: who it authenticated as, with what (a key or a login
    session's nonce, checked again on every action), and from where."""

    actor: Actor | None  # None: an anonymous tracking page
    credential: tuple[str, str] | None  # ("key", key) | ("session", nonce)
    address: str


# sid -> its connection
_actors: dict[str, Connection] = {}
_actors_lock = threading.Lock()

JoinHandler = Callable[[Session, Actor | None, dict[str, Any]], tuple[list[str], dict[str, Any]]]
SCREENS: dict[str, JoinHandler] = {}


def screen(name: str) -> Callable[[JoinHandler], JoinHandler]:
    """Register what joining a screen means: the rooms and the snapshot. A name is one
    screen: a second package claiming it is refused (it would silently take the joins)."""

    def decorate(handler: JoinHandler) -> JoinHandler:
        existing = SCREENS.get(name)
        if existing is not None and _where(existing) != _where(handler):  # (a reload is the same one)
            raise ValueError(f"screen {name!r} is already {_where(existing)}; {_where(handler)} may not take it")
        SCREENS[name] = handler
        return handler

    return decorate


def _where(handler: JoinHandler) -> str:
    return f"{handler.__module__}.{handler.__qualname__}"


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


def _credential(auth: Any) -> tuple[str, str] | None:
    """What the socket authenticates with: a key in the ``auth`` payload, else the browser
    session's nonce, else nothing (anonymous)."""
    key = auth.get("key") if isinstance(auth, dict) else None
    if key:
        return "key", str(key)[:200]
    nonce = session.get("sid")
    if isinstance(nonce, str) and nonce:
        return "session", nonce
    return None


def _resolve(credential: tuple[str, str] | None) -> Actor | None:
    """The actor behind a credential as the database says now; NotAuthenticated for a key
    that is unknown or revoked or belongs to someone deactivated, or a session that ended."""
    if credential is None:
        return None
    kind, value = credential
    found = key_actor(db.session(), value) if kind == "key" else nonce_actor(db.session(), value)
    if found is None:
        raise NotAuthenticated(N_("Your key or session is no longer valid: log in or pair again."))
    return found[0]


def _admit(actor: Actor | None, address: str) -> bool:
    """Whether one more socket fits: a bounded total per process, and within it a bounded
    share for anonymous sockets, overall and per address, so that the rest stays free for
    paired devices and staff (each socket holds a thread in threading mode)."""
    config = current_app.config
    if len(_actors) >= int(config["SOCKET_MAX_TOTAL"]):
        return False
    if actor is not None:
        return True
    anonymous = [c for c in _actors.values() if c.actor is None]
    if len(anonymous) >= int(config["SOCKET_MAX_ANONYMOUS"]):
        return False
    return sum(1 for c in anonymous if c.address == address) < int(config["SOCKET_MAX_PER_ADDRESS"])


def on_connect(auth: Any = None) -> bool:
    credential = _credential(auth)
    try:
        actor = _resolve(credential)
    except DomainError:
        if credential is None or credential[0] == "key":
            return False
        actor, credential = None, None  # an ended browser session: an anonymous page
    finally:
        db.session.remove()
    address = request.remote_addr or "?"
    with _actors_lock:
        if not _admit(actor, address):
            log.warning(
                "socket refused: connection limits reached (address %s, %s)",
                address,
                actor.label if actor else "anonymous",
            )
            return False
        _actors[request.sid] = Connection(actor, credential, address)  # type: ignore[attr-defined]
    if credential is not None and credential[0] == "key":
        _note_key_use(credential[1], address)
    CONNECTED_SOCKETS.set(connected_count())
    return True


def _note_key_use(key: str, address: str) -> None:
    """A key connecting from a new address is audited; a busy database only delays it to
    the next connect (it never refuses the socket)."""
    try:
        found = key_actor(db.session(), key)
        if found is not None:
            note_key_address(found[1], key, address)
    except DomainError:
        log.info("key use from %s not recorded: the database is busy", address)
    finally:
        db.session.remove()


def on_disconnect(*_args: Any) -> None:
    sid = request.sid  # type: ignore[attr-defined]
    with _actors_lock:
        _actors.pop(sid, None)
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


def socket_actor() -> Actor | None:
    """The socket's caller as the database says *now*: a key revoked, a clerk or device
    deactivated, a password changed or a session ended since the socket connected stops
    it at its next action, and the socket is disconnected (NotAuthenticated is raised)."""
    sid = request.sid  # type: ignore[attr-defined]
    with _actors_lock:
        connection = _actors.get(sid)
    if connection is None or connection.credential is None:
        return None
    try:
        return _resolve(connection.credential)
    except DomainError:
        log.info("socket %s of %s: credential no longer valid, disconnecting", sid,
                  connection.actor.label if connection.actor else "?")
        disconnect(sid)
        raise


def payload_id(data: Any, name: str) -> int | None:
    """An id from a socket payload: a JSON integer in the database's range, else None
    (``true`` is not 1, and an id too large for the column names nothing)."""
    value = data.get(name) if isinstance(data, dict) else None
    return value if is_row_id(value) else None


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
        with reading() as session:
            who = socket_actor()
            targets, snapshot = handler(session, who, data)
    except DomainError as exc:
        return _error(exc)
    except DBAPIError as exc:  # the database is gone or full: the screen waits, offline
        trouble = noted_trouble(exc)
        if trouble is None:
            raise
        return _error(trouble)
    finally:
        db.session.remove()
    for current in client_rooms():
        if current != request.sid:  # type: ignore[attr-defined]
            leave_room(current)
    for target in targets:
        join_room(target)
    socketio.emit("snapshot", snapshot, to=request.sid)  # type: ignore[attr-defined]
    _note_device_seen(who)
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
        who = _require(socket_actor(), "clerk", "manager")
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


def on_token_action(data: Any = None) -> dict[str, Any]:
    """{"token": id, "action": a name of ``queue_server.actions.TOKEN_ACTIONS``, and the
    action's input ("outcome" for complete, "reason" for recall and cancel)}."""
    try:
        who = _require(socket_actor(), "staff")
        token_id = payload_id(data, "token")
        if token_id is None:
            raise ValidationFailed(N_("Say which token."))
        action = token_action(data.get("action"))
        _require(who, *action.admits)
        inputs = action.inputs(data)

        def work(s: Session) -> dict[str, Any]:
            return queue_state.token_staff(action.run(s, token_id, who, **inputs))

        return {"ok": True, "token": run_in_transaction(work)}
    except DomainError as exc:
        return _error(exc)
    finally:
        db.session.remove()


def kick(sid: str) -> None:
    disconnect(sid)
