"""One action registry and one screens registry (issue 11): the token actions of ``queue_server.actions`` are what
the JSON API serves and documents, what the socket's ``token_action`` and the console's
``console_action`` take, and what ``khidmat token`` runs (tests/queue_server/test_cli.py)."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from queue_server.actions import TOKEN_ACTIONS, token_action
from queue_server.errors import ValidationFailed


def test_the_api_serves_and_documents_every_action_of_the_registry(client: FlaskClient) -> None:
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    served = {p.rsplit("/", 1)[1] for p in paths if p.startswith("/api/v1/tokens/{token_id}/")}
    assert set(TOKEN_ACTIONS) <= served
    for action in TOKEN_ACTIONS.values():
        operation = paths[f"/api/v1/tokens/{{token_id}}/{action.name}"]["post"]
        assert operation["summary"] == action.summary
        assert ("requestBody" in operation) == (action.body is not None), action.name


def test_the_console_takes_every_action_of_the_registry(app: Flask) -> None:
    from counters.events import ACTIONS

    assert {action.key for action in TOKEN_ACTIONS.values()} <= set(ACTIONS)


def test_an_action_is_named_in_either_spelling_and_its_input_is_checked() -> None:
    assert token_action("no_show") is token_action("no-show") is TOKEN_ACTIONS["no-show"]
    with pytest.raises(ValidationFailed, match="Unknown action"):
        token_action("teleport")
    with pytest.raises(ValidationFailed):
        token_action(["start"])
    complete = TOKEN_ACTIONS["complete"]
    assert complete.inputs({}) == {"outcome": "served"}
    assert complete.inputs({"outcome": "referred", "token": 5}) == {"outcome": "referred"}
    with pytest.raises(ValidationFailed):
        complete.inputs({"outcome": "lunch"})
    with pytest.raises(ValidationFailed):
        TOKEN_ACTIONS["cancel"].inputs({"reason": "x" * 201})
    assert TOKEN_ACTIONS["start"].inputs({"outcome": "lunch"}) == {}  # no input: nothing read


def test_a_screen_name_is_one_screen() -> None:
    from queue_server.realtime import SCREENS, screen

    assert {"display", "kiosk", "dashboard", "counter", "track", "console"} <= set(SCREENS)

    def join_display(*_: object) -> tuple[list[str], dict[str, object]]:  # another package's
        return [], {}

    with pytest.raises(ValueError, match="screen 'display' is already queue_server.realtime.join_display"):
        screen("display")(join_display)
    assert SCREENS["display"].__module__ == "queue_server.realtime"
