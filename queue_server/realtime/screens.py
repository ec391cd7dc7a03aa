"""The screens registry: what joining a screen means, and the built-in screens.

A screen is a name registered with ``@screen(name)``: its join handler checks the caller
and returns the rooms to put the socket in and a function that reads the snapshot to send
it (called once the rooms are entered: ``on_join``). A socket ``join``
({"screen": name, ...}) leaves its earlier rooms, joins the new ones and receives the
snapshot at once, and on every later join (a reconnect), so a missed event never leaves a
screen wrong; its answer names the screens' client version (``assets.client_version``), so
that a page an upgrade left behind reloads. A join only reads: the device's presence is noted in memory
(``realtime.presence``). The UI packages register their own screens (``console``,
``dashboard``, ``province``); this module holds ``display``, ``kiosk``, ``counter`` and
``track``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app, request
from flask_socketio import join_room, leave_room
from flask_socketio import rooms as client_rooms
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from queue_server import rooms as room
from queue_server.actors import Actor
from queue_server.assets import client_version
from queue_server.errors import N_, DomainError, Forbidden, ValidationFailed
from queue_server.extensions import db, socketio
from queue_server.models import Centre, Counter
from queue_server.operations.lookup import centre_for
from queue_server.read import queue_state
from queue_server.realtime.hub import error_reply, payload_id, payload_text, require, socket_actor
from queue_server.realtime.occupancy import occupancy
from queue_server.realtime.presence import note_device_seen
from queue_server.unit_of_work import current_session, end_reading, noted_trouble, reading

# A screen's rooms, and how to read its snapshot (read after the rooms are entered).
Join = tuple[list[str], Callable[[], dict[str, Any]]]
JoinHandler = Callable[[Session, Actor | None, dict[str, Any]], Join]
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


def on_join(data: Any = None) -> dict[str, Any]:
    """Join a screen: {"screen": "display"|"kiosk"|"counter"|"dashboard"|"track", ...}.
    The socket's rooms are entered (``realtime.occupancy``) before the snapshot is read, so
    that a change committed after the read is built for this screen too."""
    sid = request.sid  # type: ignore[attr-defined]
    try:
        if not isinstance(data, dict) or data.get("screen") not in SCREENS:
            raise ValidationFailed(N_("Unknown screen."))
        handler = SCREENS[data["screen"]]
        with reading() as session:
            who = socket_actor()
            targets, read_snapshot = handler(session, who, data)
            before = occupancy().enter(sid, targets)
            try:
                # read in a transaction begun now: on SQLite a read's view of the database
                # is fixed by its first statement, which came before the rooms were entered
                end_reading(session)
                snapshot = read_snapshot()
            except BaseException:  # (refused, or the database gone): its rooms are as they were
                occupancy().enter(sid, before)
                raise
    except DomainError as exc:
        return error_reply(exc)
    except DBAPIError as exc:  # the database is gone or full: the screen waits, offline
        trouble = noted_trouble(exc)
        if trouble is None:
            raise
        return error_reply(trouble)
    finally:
        db.session.remove()
    for current in client_rooms():
        if current != sid:
            leave_room(current)
    for target in targets:
        join_room(target)
    socketio.emit("snapshot", snapshot, to=sid)
    note_device_seen(who)
    return {"ok": True, "rooms": len(targets), "client": client_version(current_app)}


def _centre_screen(data: dict[str, Any], actor: Actor | None, *kinds: str) -> Centre:
    who = require(actor, *kinds)
    code = payload_text(data, "centre")
    if code is None:
        raise ValidationFailed(N_("Say which centre."))
    return centre_for(current_session(), who, code)


@screen("display")
def join_display(s: Session, actor: Actor | None, data: dict[str, Any]) -> Join:
    centre = _centre_screen(data, actor, "display", "staff")
    return [room.display(centre.id)], lambda: queue_state.centre_snapshot(s, centre)


@screen("kiosk")
def join_kiosk(s: Session, actor: Actor | None, data: dict[str, Any]) -> Join:
    centre = _centre_screen(data, actor, "kiosk", "staff")
    return [room.display(centre.id)], lambda: queue_state.centre_snapshot(s, centre)


@screen("counter")
def join_counter(s: Session, actor: Actor | None, data: dict[str, Any]) -> Join:
    who = require(actor, "staff")
    counter_id = payload_id(data, "counter")
    counter = s.get(Counter, counter_id) if counter_id is not None else None
    if counter is None or not who.may_act_in(counter.centre_id):
        raise Forbidden(N_("You may not watch this counter."))
    if counter.staff_id != who.id and not who.is_manager:
        raise Forbidden(N_("Counter %(number)s is not yours."), number=counter.number)
    return [room.counters(counter.centre_id), room.counter(counter.id)], lambda: {
        **queue_state.centre_snapshot(s, counter.centre),
        "counter_id": counter.id,
    }


@screen("track")
def join_track(s: Session, actor: Actor | None, data: dict[str, Any]) -> Join:
    from queue_server.read.tracking import find_tracked, track_payload

    code = payload_text(data, "code")
    if code is None:
        raise ValidationFailed(N_("Say which token."))
    token = find_tracked(s, code, request.remote_addr or "?")
    return [room.token(code), room.tracking(token.centre_id)], lambda: track_payload(s, token)
