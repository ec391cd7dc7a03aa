"""The token life cycle as data: which action may move a token from which state.

Pure: no Flask, no database. ``DESIGN.md`` ("Token life cycle") is the source.
"""

from __future__ import annotations

from enum import StrEnum

from queue_server.errors import IllegalTransition
from queue_server.states import TokenState as S


class Action(StrEnum):
    CALL = "call"
    RECALL = "recall"
    NO_SHOW = "no-show"
    REQUEUE = "requeue"
    START = "start"
    PARK = "park"
    UNPARK = "unpark"
    COMPLETE = "complete"
    TRANSFER = "transfer"
    CANCEL = "cancel"
    CLOSE = "close"


TRANSITIONS: dict[Action, tuple[frozenset[S], S]] = {
    Action.CALL: (frozenset({S.WAITING}), S.CALLED),
    Action.RECALL: (frozenset({S.CALLED}), S.CALLED),
    Action.NO_SHOW: (frozenset({S.CALLED}), S.NO_SHOW),
    Action.REQUEUE: (frozenset({S.NO_SHOW}), S.WAITING),
    Action.START: (frozenset({S.CALLED}), S.SERVING),
    Action.PARK: (frozenset({S.SERVING}), S.PARKED),
    Action.UNPARK: (frozenset({S.PARKED}), S.SERVING),
    Action.COMPLETE: (frozenset({S.SERVING}), S.DONE),
    Action.TRANSFER: (frozenset({S.SERVING}), S.WAITING),
    Action.CANCEL: (frozenset({S.WAITING, S.CALLED}), S.CANCELLED),
    Action.CLOSE: (frozenset({S.WAITING, S.CALLED, S.SERVING, S.PARKED}), S.CLOSED),
}


def next_state(action: Action, current: S) -> S:
    """The state ``action`` leads to from ``current``; IllegalTransition when it may not."""
    allowed, target = TRANSITIONS[action]
    if current not in allowed:
        raise IllegalTransition(action.value, current.value)
    return target


def allowed_actions(current: S) -> list[Action]:
    return [a for a, (allowed, _) in TRANSITIONS.items() if current in allowed]
