"""The counter's socket actions: ``call_next`` and ``token_action``.

The same operations as the JSON API (``queue_server.actions``), each in its own unit of work
(Flask's request hooks do not run for socket events), the caller checked again as the
database says now (``socket_actor``). The answer is the token as staff see it, or the
refusal in the caller's language.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from queue_server import operations
from queue_server.actions import token_action
from queue_server.errors import N_, DomainError, ValidationFailed
from queue_server.extensions import db
from queue_server.read import queue_state
from queue_server.realtime.hub import error_reply, payload_id, require, socket_actor
from queue_server.unit_of_work import run_in_transaction


def on_call_next(data: Any = None) -> dict[str, Any]:
    """A counter calls the next token over the socket: {"counter": id}."""
    try:
        who = require(socket_actor(), "clerk", "manager")
        counter_id = payload_id(data, "counter")
        if counter_id is None:
            raise ValidationFailed(N_("Say which counter."))

        def work(s: Session) -> dict[str, Any] | None:
            token = operations.call_next(s, counter_id, who)
            return queue_state.token_staff(token) if token else None

        return {"ok": True, "token": run_in_transaction(work)}
    except DomainError as exc:
        return error_reply(exc)
    finally:
        db.session.remove()


def on_token_action(data: Any = None) -> dict[str, Any]:
    """{"token": id, "action": a name of ``queue_server.actions.TOKEN_ACTIONS``, and the
    action's input ("outcome" for complete, "reason" for recall and cancel)}."""
    try:
        who = require(socket_actor(), "staff")
        token_id = payload_id(data, "token")
        if token_id is None:
            raise ValidationFailed(N_("Say which token."))
        action = token_action(data.get("action"))
        require(who, *action.admits)
        inputs = action.inputs(data)

        def work(s: Session) -> dict[str, Any]:
            return queue_state.token_staff(action.run(s, token_id, who, **inputs))

        return {"ok": True, "token": run_in_transaction(work)}
    except DomainError as exc:
        return error_reply(exc)
    finally:
        db.session.remove()
