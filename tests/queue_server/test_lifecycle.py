from __future__ import annotations

import pytest

from queue_server.errors import IllegalTransition
from queue_server.lifecycle import TRANSITIONS, Action, allowed_actions, next_state
from queue_server.states import TokenState as S


@pytest.mark.parametrize(
    ("action", "before", "after"),
    [
        (Action.CALL, S.WAITING, S.CALLED),
        (Action.RECALL, S.CALLED, S.CALLED),
        (Action.NO_SHOW, S.CALLED, S.NO_SHOW),
        (Action.REQUEUE, S.NO_SHOW, S.WAITING),
        (Action.START, S.CALLED, S.SERVING),
        (Action.PARK, S.SERVING, S.PARKED),
        (Action.UNPARK, S.PARKED, S.SERVING),
        (Action.COMPLETE, S.SERVING, S.DONE),
        (Action.TRANSFER, S.SERVING, S.WAITING),
        (Action.CANCEL, S.WAITING, S.CANCELLED),
        (Action.CANCEL, S.CALLED, S.CANCELLED),
        (Action.CLOSE, S.PARKED, S.CLOSED),
    ],
)
def test_allowed(action: Action, before: S, after: S) -> None:
    assert next_state(action, before) == after


def test_every_other_pair_is_refused_naming_the_state() -> None:
    refused = 0
    for action, (allowed, _) in TRANSITIONS.items():
        for state in S:
            if state in allowed:
                continue
            with pytest.raises(IllegalTransition) as info:
                next_state(action, state)
            assert info.value.current == state.value
            assert state.value in str(info.value)
            refused += 1
    assert refused > 60


def test_final_states_allow_nothing_but_requeue_of_no_show() -> None:
    for state in (S.DONE, S.CANCELLED, S.CLOSED):
        assert allowed_actions(state) == []
    assert allowed_actions(S.NO_SHOW) == [Action.REQUEUE]
