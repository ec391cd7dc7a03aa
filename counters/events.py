"""The console's socket side: the "console" screen (join → the console state, for this
socket only) and ``console_action``, every action a clerk takes, each in its own unit of
work, answered with the fresh console state. Bound per app by ``register``."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app, request
from flask_babel import gettext
from redis.exceptions import RedisError
from sqlalchemy.orm import Session

from counters import console
from queue_server import rooms as room
from queue_server import ticket_printing
from queue_server.actions import COUNTER_ACTIONS, REQUEST_ACTIONS, TOKEN_ACTIONS, Action
from queue_server.actors import Actor
from queue_server.errors import N_, Conflict, DomainError, ValidationFailed
from queue_server.extensions import db, socketio
from queue_server.models import Counter, Priority, Token
from queue_server.operations import requests as service_requests
from queue_server.operations.deliveries import delivery_staff
from queue_server.read import console as read_console
from queue_server.read import queue_state
from queue_server.read import requests as shown
from queue_server.realtime.hub import on_leave, socket_actor
from queue_server.realtime.screens import Join, screen
from queue_server.redis_link import redis_client
from queue_server.unit_of_work import current_session, end_reading, reading, run_in_transaction

log = logging.getLogger(__name__)

# console id -> the sockets (sids) of this process that joined as that console
_presence: dict[str, set[str]] = {}
_presence_lock = threading.Lock()
# With several server processes (Redis configured) each console's sockets are also listed
# in Redis, so a second tab that lands on another process is refused too. A console joins
# again every minute (static/live.js), which keeps its entry; a process that dies without
# saying goodbye leaves entries that expire after this long.
PRESENCE_SECONDS = 150


def register(app: Flask) -> None:
    """Bind the console's socket events to this app's Socket.IO server."""
    socketio.on_event("console_action", on_console_action)
    on_leave(_forget)


def is_live(console_id: str) -> bool:
    """Whether a console is connected now: to this process, or (with Redis) to another."""
    server = socketio.server
    with _presence_lock:
        sids = set(_presence.get(console_id, ()))
    live = {sid for sid in sids if server is not None and server.manager.is_connected(sid, "/")}
    with _presence_lock:
        if live:
            _presence[console_id] = live
        else:
            _presence.pop(console_id, None)
    return _shared_presence(console_id, gone=sids - live) or bool(live)


def _presence_key() -> tuple[Any, str] | None:
    url = current_app.config.get("REDIS_URL")
    if not url:
        return None
    return redis_client(url), f"{current_app.config['SOCKETIO_CHANNEL']}:console:"


def _shared_presence(
    console_id: str, *, joined: str = "", gone: set[str] | frozenset[str] = frozenset()
) -> bool:
    """Record a socket that joined as the console or sockets that are gone, and say whether
    any socket of the console is still listed. Without Redis (one process): False. When
    Redis cannot be reached the console counts as gone, so a clerk is never locked out."""
    shared = _presence_key()
    if shared is None:
        return False
    client, prefix = shared
    key = prefix + console_id
    try:
        pipe = client.pipeline()
        if gone:
            pipe.srem(key, *gone)
        if joined:
            pipe.sadd(key, joined)
            pipe.expire(key, PRESENCE_SECONDS)
        pipe.scard(key)
        return bool(pipe.execute()[-1])
    except RedisError as exc:
        log.warning("console presence in Redis unavailable (%s): treated as gone", exc)
        return False


def _forget(sid: str) -> None:
    """A socket disconnected: it no longer keeps any console present."""
    with _presence_lock:
        consoles = [cid for cid, sids in _presence.items() if sid in sids]
        for cid in consoles:
            _presence[cid].discard(sid)
            if not _presence[cid]:
                del _presence[cid]
    for cid in consoles:
        _shared_presence(cid, gone={sid})


def message_of(exc: DomainError) -> str:
    """The error in the caller's language, with state and action words translated too."""
    template = gettext(exc.template)
    if not exc.params:
        return template
    params = {
        k: gettext(console.WORDS[v]) if isinstance(v, str) and v in console.WORDS else v
        for k, v in exc.params.items()
    }
    try:
        return template % params
    except (KeyError, TypeError, ValueError):
        return str(exc)


def error_reply(exc: DomainError) -> dict[str, Any]:
    """As the API answers (with its HTTP status), in the caller's language."""
    return {"ok": False, "error": exc.code, "status": exc.status, "message": message_of(exc), **exc.extra()}


@screen("console")
def join_console(s: Session, actor: Actor | None, data: dict[str, Any]) -> Join:
    """A clerk's console for the counter it has claimed: the centre's counters room (queue
    and counter changes) and the counter's own room."""
    who = console.require_clerk(actor)
    counter = console.require_console(s, data.get("counter"), who, data.get("console"))
    sid = request.sid  # type: ignore[attr-defined]
    with _presence_lock:
        _presence.setdefault(str(data["console"]), set()).add(sid)
    _shared_presence(str(data["console"]), joined=sid)
    return [room.counters(counter.centre_id), room.counter(counter.id)], lambda: read_console.console_state(
        s, counter, who
    )


Handler = Callable[[Session, Counter, Actor, dict[str, Any]], dict[str, Any]]


def _token_at(s: Session, counter: Counter, data: dict[str, Any]) -> Token:
    token = console.require_expected(s, data.get("token"), data.get("expect"), counter)
    if token.counter_id != counter.id:
        raise Conflict(
            N_("Token %(number)s was changed elsewhere: it is now %(state)s. The console shows it afresh."),
            code="stale",
            number=token.number,
            state=token.state.value,
        )
    return token


def _token_op(action: Action) -> Handler:
    def handle(s: Session, counter: Counter, who: Actor, data: dict[str, Any]) -> dict[str, Any]:
        token = _token_at(s, counter, data)
        return {"token": queue_state.token_staff(action.run(s, token.id, who, **action.inputs(data)))}

    return handle


def _counter_op(action: Action) -> Handler:
    """On this counter; call-next answers with the token called, or None."""

    def handle(s: Session, counter: Counter, who: Actor, data: dict[str, Any]) -> dict[str, Any]:
        done = action.run(s, counter.id, who, **action.inputs(data))
        return {"token": queue_state.token_staff(done) if done else None} if action.result == "token" else {}

    return handle


def _requeue(s: Session, counter: Counter, who: Actor, data: dict[str, Any]) -> dict[str, Any]:
    """A no-show is no longer at the counter: the console names it."""
    token = console.require_expected(s, data.get("token"), data.get("expect") or "no_show", counter)
    return {"token": queue_state.token_staff(TOKEN_ACTIONS["requeue"].run(s, token.id, who))}


def _transfer(s: Session, counter: Counter, who: Actor, data: dict[str, Any]) -> dict[str, Any]:
    """The clerk picks a counter by its number (``to_counter``); the registry's transfer
    takes a counter's id."""
    token = _token_at(s, counter, data)
    target = data.get("to_counter")
    given = {k: data.get(k) for k in ("service", "reason")}
    if isinstance(target, int) and not isinstance(target, bool):
        found = (
            s.query(Counter).filter_by(centre_id=counter.centre_id, number=target).one_or_none()
            if console.valid_id(target)
            else None
        )
        if found is None:
            raise ValidationFailed(N_("There is no counter %(number)s."), number=str(target)[:12])
        given["counter"] = found.id
    elif not (isinstance(given["service"], str) and given["service"]):
        raise ValidationFailed(N_("Transfer to either a service or a counter."))
    action = TOKEN_ACTIONS["transfer"]
    return {"token": queue_state.token_staff(action.run(s, token.id, who, **action.inputs(given)))}


def _request_id(data: dict[str, Any]) -> int:
    value = data.get("request")
    if not console.valid_id(value):
        raise ValidationFailed(N_("Say which request."))
    return value


def _expect(data: dict[str, Any]) -> str | None:
    value = data.get("expect")
    return value if isinstance(value, str) and value else None


def _request_op(action: Action) -> Handler:
    """On a request the clerk names (``request``, with the state it saw as ``expect``)."""

    def handle(s: Session, counter: Counter, who: Actor, data: dict[str, Any]) -> dict[str, Any]:
        inputs = action.inputs({**data, "expect_state": _expect(data)})
        done = action.run(s, _request_id(data), who, **inputs)
        if action.result == "delivery":  # a delivery step: the delivery and its request
            return {"delivery": delivery_staff(done), "request": shown.request_detail(done.request, who)}
        return {"request": shown.request_detail(done, who)}

    return handle


def _request_save(s: Session, counter: Counter, who: Actor, data: dict[str, Any]) -> dict[str, Any]:
    fields = data.get("fields") or {}
    if not isinstance(fields, dict):
        raise ValidationFailed(N_("Send the request's fields."))
    request_id = _request_id(data)
    current = service_requests.request_for(s, request_id, who)
    if data.get("record") and current.state == service_requests.S.OPEN:
        req = service_requests.advance_request(
            s, request_id, who, to=service_requests.S.IN_PROCESS.value, expect=_expect(data), fields=fields
        )
    else:
        req = service_requests.update_request(s, request_id, who, fields, expect=_expect(data))
    return {"request": shown.request_detail(req, who)}


def _request_detail(s: Session, counter: Counter, who: Actor, data: dict[str, Any]) -> dict[str, Any]:
    req = service_requests.request_for(s, _request_id(data), who)
    detail = shown.request_detail(req, who)
    detail["untouched"] = shown.is_untouched(req)
    return {"request": detail}


def _nothing(s: Session, counter: Counter, who: Actor, data: dict[str, Any]) -> dict[str, Any]:
    return {}


# The console's actions: those of the one registry (queue_server.actions) on the token at
# this counter, on this counter and on a request, as "request_<key>"; plus what only a
# console does (redraw, save a request's form, open its detail, issue at the counter).
ACTIONS: dict[str, Handler] = {
    "state": _nothing,
    **{a.key: _token_op(a) for a in TOKEN_ACTIONS.values()},
    **{a.key: _counter_op(a) for a in COUNTER_ACTIONS.values() if a.name != "open"},  # opened by claiming
    **{f"request_{a.key}": _request_op(a) for a in REQUEST_ACTIONS.values()},
    "requeue": _requeue,
    "transfer": _transfer,
    "request_detail": _request_detail,
    "request_save": _request_save,
}


def on_console_action(data: Any = None) -> dict[str, Any]:
    """{"action", "counter", "console", "token"?, "expect"?, …} → {"ok", "state", …}.
    Refused (nothing changed) for another console of the counter, a token that changed
    elsewhere, and whatever the operation itself refuses."""
    try:
        who = console.require_clerk(socket_actor())
        if isinstance(data, dict) and data.get("action") == "issue":
            return _issue(who, data)
        if not isinstance(data, dict) or data.get("action") not in ACTIONS:
            raise ValidationFailed(N_("Unknown action."))
        handler = ACTIONS[data["action"]]

        def work(s: Session) -> tuple[dict[str, Any], int | None]:
            counter = console.require_console(s, data.get("counter"), who, data.get("console"))
            result = handler(s, counter, who, data)
            if data["action"] == "close":
                return {"ok": True, "closed": True}, None
            return {"ok": True, **result}, counter.id

        reply, counter_id = run_in_transaction(work)
        if counter_id is not None:  # what the console draws, read after the commit
            with reading() as s:
                counter = s.get(Counter, counter_id)
                if counter is not None:
                    reply["state"] = read_console.console_state(s, counter, who)
        return reply
    except DomainError as exc:
        end_reading()  # a refusal before the unit of work began (the unit rolls back its own)
        reply = error_reply(exc)
        reply["state"] = _fresh_state(data)
        return reply
    finally:
        db.session.remove()


def _issue(who: Actor, data: dict[str, Any]) -> dict[str, Any]:
    """{"action": "issue", "service", "priority"?}: the clerk issues a token at this
    counter (no kiosk there). Issued and committed first, then printed on the counter's
    printer (``queue_server.ticket_printing``), so its own transactions, not ``work``'s."""
    service = data.get("service")
    if not isinstance(service, str) or not service or len(service) > 32:
        raise ValidationFailed(N_("Choose a service."))
    try:
        priority = Priority(data.get("priority") or Priority.NORMAL.value)
    except ValueError:
        raise ValidationFailed(N_("Unknown priority.")) from None
    counter_id = run_in_transaction(
        lambda s: console.require_console(s, data.get("counter"), who, data.get("console")).id
    )
    issued = ticket_printing.issue_and_print(counter_id, who, service, priority)
    with reading() as s:
        state = read_console.console_state(s, console.require_console(s, counter_id, who, data.get("console")), who)
    return {"ok": True, "issued": issued, "state": state}


def _fresh_state(data: Any) -> dict[str, Any] | None:
    """After a refusal, the console redraws from what is true now (when it still may)."""
    try:
        who = console.require_clerk(socket_actor())
        if not isinstance(data, dict):
            return None
        s = current_session()
        counter = console.require_console(s, data.get("counter"), who, data.get("console"))
        return read_console.console_state(s, counter, who)
    except DomainError:
        return None
    finally:
        end_reading()
