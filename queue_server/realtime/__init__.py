"""The realtime package (Flask-SocketIO): what screens see live, and the server's background work.

- ``hub``: the sockets of this process (``Connection``, admission limits, the caller of a
  socket action as the database says now), and the publish sink that emits a committed
  change to its rooms.
- ``screens``: the screens registry (``@screen(name)``, a name taken once) and ``join``;
  the built-in ``display``, ``kiosk``, ``counter`` and ``track`` screens.
- ``presence``: which devices were seen; a join notes it in memory, a worker writes it.
- ``console``: the counter's socket actions (``call_next``, ``token_action``).
- ``workers``: the one background-worker policy (``Worker``) every loop of the server
  follows: started at most once per app per process, never by itself in testing (tests
  call ``run_once``), each round in an app context that ends with ``db.session.remove()``,
  a failed round logged by name and the loop going on, its interval from the config,
  ``wake()`` for work that should run now, and a stop once a newer app took over.

The names other modules use are re-exported here, looked up on first use: the core
(``notify``, ``checkpoints``, ``outage``) imports ``queue_server.realtime.workers``, and
importing this package must not pull in the socket handlers and the operations behind
them (they import the core back).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from flask import Flask

if TYPE_CHECKING:
    from queue_server.realtime.hub import (
        Connection,
        connected_count,
        connections,
        emit_change,
        kick,
        on_leave,
        payload_id,
        payload_text,
        socket_actor,
    )
    from queue_server.realtime.screens import SCREENS, JoinHandler, screen
    from queue_server.realtime.workers import Worker

__all__ = [
    "SCREENS",
    "Connection",
    "JoinHandler",
    "Worker",
    "connected_count",
    "connections",
    "emit_change",
    "init_app",
    "kick",
    "on_leave",
    "payload_id",
    "payload_text",
    "screen",
    "socket_actor",
]

_HOMES = {
    "hub": ("Connection", "connected_count", "connections", "emit_change", "kick", "on_leave",
            "payload_id", "payload_text", "socket_actor"),
    "screens": ("SCREENS", "JoinHandler", "screen"),
    "workers": ("Worker",),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> Any:
    home = _HOME_OF.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)


def init_app(app: Flask) -> None:
    """Bind the socket handlers to this app's Socket.IO server. Explicitly, per app: the
    decorator form binds to whichever server existed when the module was imported."""
    from queue_server.extensions import socketio
    from queue_server.publish import add_sink
    from queue_server.realtime import console, hub, presence, screens

    hub.quiet_closed_websocket_threads()
    presence.init_app(app)
    add_sink(hub.emit_change, watching=hub.watching, batch=True)
    socketio.on_event("connect", hub.on_connect)
    socketio.on_event("disconnect", hub.on_disconnect)
    socketio.on_event("join", screens.on_join)
    socketio.on_event("call_next", console.on_call_next)
    socketio.on_event("token_action", console.on_token_action)
