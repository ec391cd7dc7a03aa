"""The hub: the sockets of this process and what reaches them.

Screens connect websocket-only and authenticate (a device or staff key in the Socket.IO
``auth`` payload, or the browser session); each socket is one ``Connection`` in this
process's table, admitted within bounded limits. Operations publish after commit through
``queue_server.publish``; ``emit_change`` is the sink that emits to the rooms: several
events of a change in one delivery per socket (``changes``: the events in a list) rather
than one delivery each. Every
socket action asks ``socket_actor`` for its caller as the database says now, and reads
its input with ``payload_id`` / ``payload_text``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from flask import current_app, has_app_context, request, session
from flask_socketio import disconnect

from queue_server import rooms
from queue_server.actors import Actor
from queue_server.auth import admits, key_actor, nonce_actor, note_key_address
from queue_server.errors import N_, DomainError, Forbidden, NotAuthenticated
from queue_server.extensions import db, socketio
from queue_server.http_errors import translate
from queue_server.metrics import CONNECTED_SOCKETS
from queue_server.models.types import is_row_id
from queue_server.publish import Message
from queue_server.realtime.occupancy import occupancy

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


def emit_change(messages: Sequence[Message]) -> None:
    """Publish sink (a batch one): a committed change's events (all, or those sent before
    a read model is built) to their rooms, each socket sent them once, in order, in one
    delivery: the rooms are grouped by the events they
    get, and a group of rooms is sent its one event as itself, or its several as
    ``changes`` ([[event, payload], ...], which the screens' client unpacks). A socket is
    in one room, except a counter's, which is in its centre's counters room too
    (``rooms.reached_beside``): the counter's room is sent only what that room is not."""
    events: dict[str, list[Message]] = {}
    for message in messages:
        for target in message.rooms:
            if not rooms.reached_beside(target, message.rooms):
                events.setdefault(target, []).append(message)
    groups: dict[tuple[int, ...], list[str]] = {}
    for target, sent in events.items():
        groups.setdefault(tuple(id(m) for m in sent), []).append(target)
    for targets in groups.values():
        sent = events[targets[0]]
        if len(sent) == 1:
            socketio.emit(sent[0].event, sent[0].payload, to=targets)
        else:
            socketio.emit("changes", [[m.event, m.payload] for m in sent], to=targets)


def watching(room: str) -> bool:
    """Whether a message to ``room`` reaches a socket (``publish.watched``): one of this
    process in the room, or with a message queue between processes, one of any process
    (``realtime.occupancy``). Outside an app: every room (nothing is known)."""
    return occupancy().watching(room) if has_app_context() else True


def connected_count() -> int:
    with _actors_lock:
        return len(_actors)


def connections() -> list[Connection]:
    """The sockets of this process now."""
    with _actors_lock:
        return list(_actors.values())


def quiet_closed_websocket_threads() -> None:
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
    occupancy().leave(sid)
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


def error_reply(exc: DomainError) -> dict[str, Any]:
    """A socket action's answer to a refusal, in the caller's language."""
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


def require(actor: Actor | None, *kinds: str) -> Actor:
    """The caller, if it is one of ``kinds`` (``admits``); else NotAuthenticated or Forbidden."""
    if actor is None:
        raise NotAuthenticated(N_("Log in or give a key."))
    if not admits(actor, kinds):
        raise Forbidden(N_("You are not allowed to do this."))
    return actor


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


def kick(sid: str) -> None:
    disconnect(sid)
