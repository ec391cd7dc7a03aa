"""One action registry and one screens registry (issue 11): the token actions of ``queue_server.actions`` are what
the JSON API serves and documents, what the socket's ``token_action`` and the console's
``console_action`` take, and what ``khidmat token`` runs (tests/queue_server/test_cli.py)."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from queue_server.actions import (
    ACTIONS,
    COUNTER_ACTIONS,
    REQUEST_ACTIONS,
    TOKEN_ACTIONS,
    CallIn,
    find_action,
    token_action,
)
from queue_server.errors import ValidationFailed


def test_the_api_serves_and_documents_every_action_of_the_registry(client: FlaskClient) -> None:
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for action in ACTIONS:
        path = f"/api/v1/{action.subject}s/{{{action.subject}_id}}/{action.name}"
        assert path in paths, path
        operation = paths[path]["post"]
        assert operation["summary"] == action.summary
        assert operation["operationId"] == f"api_{action.subject}_{action.key}"
        assert ("requestBody" in operation) == (action.body is not None), action.name
    # every POST on a token, a counter or a request is an action of the registry, but for
    # what only the API does: issue at a counter (and print)
    posted = {
        found.group(1)
        for p, item in paths.items()
        if "post" in item
        and (found := re.match(r"/api/v1/(?:tokens|counters|requests)/\{\w+\}/([\w/-]+)$", p))
    }
    assert posted - {a.name for a in ACTIONS} == {"issue"}


def test_the_console_takes_every_action_of_the_registry(app: Flask) -> None:
    from counters.events import ACTIONS as CONSOLE

    assert {a.key for a in TOKEN_ACTIONS.values()} <= set(CONSOLE)
    # a console's counter is opened by claiming it on the console's page
    assert {a.key for a in COUNTER_ACTIONS.values()} - set(CONSOLE) == {"open"}
    assert {f"request_{a.key}" for a in REQUEST_ACTIONS.values()} <= set(CONSOLE)


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
    transfer = TOKEN_ACTIONS["transfer"]
    assert transfer.inputs({"service": "fir", "token": 5}) == {
        "service": "fir",
        "counter": None,
        "reason": "",
    }
    with pytest.raises(ValidationFailed, match="exactly one"):
        transfer.inputs({"service": "fir", "counter": 3})
    assert find_action("counter", "call_next") is COUNTER_ACTIONS["call-next"]
    assert find_action("request", "collection_call") is REQUEST_ACTIONS["collection-call"]
    with pytest.raises(ValidationFailed, match="Unknown action"):
        find_action("counter", "start")  # a token's action, not a counter's
    with pytest.raises(ValidationFailed, match="Invalid expect_state"):
        REQUEST_ACTIONS["advance"].inputs({"expect_state": "lost"})


def test_a_screen_name_is_one_screen() -> None:
    from queue_server.realtime.screens import SCREENS, screen

    assert {"display", "kiosk", "dashboard", "counter", "track", "console"} <= set(SCREENS)

    def join_display(*_: object) -> tuple[list[str], dict[str, object]]:  # another package's
        return [], {}

    with pytest.raises(ValueError, match="screen 'display' is already queue_server.realtime.screens.join_display"):
        screen("display")(join_display)
    assert SCREENS["display"].__module__ == "queue_server.realtime.screens"


def test_a_required_text_is_documented_as_refused_when_blank_or_holding_a_nul() -> None:
    # The fuzzer found this: the pattern once let a NUL stand as the one non-space character.
    pattern = CallIn.model_json_schema()["properties"]["reason"]["pattern"]
    for refused in ("", "   ", "\x00", "ä\x00Ë", "ok\x00"):
        assert re.search(pattern, refused) is None, repr(refused)
    for admitted in ("ok", " called by hand ", "اردو"):
        assert re.search(pattern, admitted), admitted
