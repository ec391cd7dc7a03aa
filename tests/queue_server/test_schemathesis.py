"""Schemathesis against the served OpenAPI document, with all its checks: every operation
the document lists, unauthorised and as each role (kiosk, display, clerk, manager,
province admin); and stateful sequences along the document's links (issue → call → start
→ complete) that reach real tokens. Bounded by KHIDMAT_SCHEMATHESIS_EXAMPLES per
operation and role (default 4) and KHIDMAT_SCHEMATHESIS_STEPS for the sequences."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import hypothesis
import hypothesis.errors
import pytest
import schemathesis
import time_machine
from flask import Flask
from hypothesis import HealthCheck, Phase, given
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select, text

from queue_server import ratelimit
from queue_server.extensions import db
from queue_server.models import Token, TokenState
from tests.conftest import bearer

pytestmark = pytest.mark.slow

# A Tuesday morning in the demo centre's hours: what a fuzzed call may do depends on the
# centre being open (on a Sunday it is closed), so the draws must not depend on the day
# the suite runs. The clock ticks: tokens are issued one after another.
TUESDAY_10AM_PKT = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _open_hours() -> Iterator[None]:
    with time_machine.travel(TUESDAY_10AM_PKT, tick=True):
        yield

EXAMPLES = int(os.environ.get("KHIDMAT_SCHEMATHESIS_EXAMPLES", "4"))
STEPS = int(os.environ.get("KHIDMAT_SCHEMATHESIS_STEPS", "50"))
ROLES = (None, "kiosk", "display", "clerk1", "manager", "admin")
# every check that applies to an API whose operations change state; the ones that
# compare against a positive/negative data mode run in the stateful part
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
SETTINGS = hypothesis.settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
def api_schema(app: Flask, keys: dict[str, str]) -> Iterator[Any]:
    app.config["ISSUE_RATE_LIMIT"] = 10_000  # the fuzzer is not a kiosk in a hall
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    # a body over the limit is refused before it is read: 413 is a refusal too
    schema.config.checks.negative_data_rejection.expected_statuses.append("413")
    yield schema
    ratelimit.reset()


def fuzz(operation: Any, headers: dict[str, str], mode: GenerationMode) -> Any:
    @given(case=operation.as_strategy(generation_mode=mode))
    @SETTINGS
    def run(case: Any) -> None:
        CALLS.append(1)
        case.call_and_validate(headers=headers)  # every check

    return run


CALLS: list[int] = []


def test_every_operation_as_every_role(api_schema: Any, keys: dict[str, str]) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 40, "the document lists every operation"
    failures: list[str] = []
    for operation in operations:
        for role in ROLES:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                try:
                    fuzz(operation, bearer(keys[role]) if role else {}, mode)()
                except hypothesis.errors.Unsatisfiable:
                    continue  # nothing in the operation can be made invalid (no body, no parameter)
                except (
                    Exception,
                    BaseExceptionGroup,
                ) as exc:  # collect them all: one run names every mismatch
                    failures.append(
                        f"{operation.label} as {role or 'nobody'} ({mode.value}): {str(exc)[:700]}"
                    )
    assert failures == [], f"{len(failures)} failures:\n\n" + "\n\n".join(failures)
    assert len(CALLS) >= len(operations) * len(ROLES)


LIFE_CYCLE = [
    "POST /api/v1/centres/{code}/tokens",
    "POST /api/v1/counters/{counter_id}/call",
    "POST /api/v1/counters/{counter_id}/call-next",
    "POST /api/v1/tokens/{token_id}/start",
    "POST /api/v1/tokens/{token_id}/complete",
]


def run_sequences(schema: Any, keys: dict[str, str], app: Flask) -> list[str]:
    """Stateful sequences along the document's links, as the demo centre's clerk at
    counter 1; returns the operations that answered 200/201, in order."""
    machine = schema.as_state_machine()
    clerk = bearer(keys["clerk1"])
    counters = app.test_client().get("/api/v1/centres/demo/counters", headers=clerk).get_json()["counters"]
    counter_id = next(c["id"] for c in counters if c["number"] == 1)
    reached: list[str] = []

    class Sequences(machine):  # type: ignore[misc,valid-type]
        def setup(self) -> None:
            # Every sequence starts in the same hall: nobody waiting, nobody at the desk. Left
            # over from the sequence before, a waiting token makes call-next answer 200 where
            # it answered 204, and hypothesis sees the same draw lead elsewhere (flaky).
            client = app.test_client()
            # (test-client requests share the test's app context, so its session: read,
            # then end the read, or SQLite's write lock stays held)
            live = db.session.execute(
                select(Token.id, Token.state).where(
                    Token.state.in_((TokenState.WAITING, TokenState.CALLED, TokenState.SERVING))
                )
            ).all()
            db.session.rollback()
            for token_id, state in live:
                step = "complete" if state == TokenState.SERVING else "cancel"
                answer = client.post(f"/api/v1/tokens/{token_id}/{step}", headers=clerk, json={})
                assert answer.status_code == 200, answer.get_data(as_text=True)
            for step in ("open", "resume"):
                client.post(f"/api/v1/counters/{counter_id}/{step}", headers=clerk)

        def before_call(self, case: Any) -> None:
            # the clerk works in the demo centre, at the counter they opened (a link
            # cannot name them: they are the caller's, not a response's)
            if case.path_parameters and "counter_id" in case.path_parameters:
                case.path_parameters["counter_id"] = counter_id
            if case.path.endswith(("/call", "/call-next")):  # the clerk is back at the desk
                for step in ("open", "resume"):
                    app.test_client().post(f"/api/v1/counters/{counter_id}/{step}", headers=clerk)
                # and finishes with whoever is still at it (a sequence may stop mid-service)
                with app.app_context():
                    busy = db.session.scalars(
                        select(Token.id).where(
                            Token.counter_id == counter_id, Token.state == TokenState.SERVING
                        )
                    ).all()
                    db.session.remove()
                for token_id in busy:
                    app.test_client().post(f"/api/v1/tokens/{token_id}/complete", headers=clerk, json={})
            if case.path_parameters and "code" in case.path_parameters and "/centres/" in case.path:
                case.path_parameters["code"] = "demo"
            if case.path == "/api/v1/centres/{code}/tokens" and isinstance(case.body, dict):
                case.body = {**case.body, "service": "character"}  # a service the centre offers

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": clerk}

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            # every check but the two about broken auth: the clerk's key is put on each call
            # here, so a call generated with broken auth still carries a good key (the test
            # above covers no auth and invalid data, as every role)
            case.validate_response(response, excluded_checks=[ignored_auth, negative_data_rejection])

        def after_call(self, response: Any, case: Any) -> None:
            if response.status_code in (200, 201):
                reached.append(case.operation.label)

    Sequences.run(
        settings=hypothesis.settings(
            max_examples=STEPS,
            stateful_step_count=12,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    )
    return reached


def test_stateful_sequences_along_the_links(api_schema: Any, keys: dict[str, str], app: Flask) -> None:
    links = [
        (op.label, name)
        for op in (r.ok() for r in api_schema.get_all_operations())
        for response in op.definition.raw.get("responses", {}).values()
        for name in response.get("links", {})
    ]
    assert len(links) >= 3, links
    # Administration is left out here: its creations answer 201 once and 409 (taken) when
    # hypothesis replays a sequence, so the links followed would depend on the database,
    # not on the draw. The test above fuzzes it as every role.
    reached = run_sequences(api_schema.exclude(tag="admin"), keys, app)
    # the sequences over the whole document reached real tokens: issued, then called
    assert "POST /api/v1/centres/{code}/tokens" in reached, sorted(set(reached))
    assert {"POST /api/v1/counters/{counter_id}/call-next", "POST /api/v1/counters/{counter_id}/call"} & set(
        reached
    ), sorted(set(reached))


def test_stateful_sequences_walk_a_token_through_its_life(
    api_schema: Any, keys: dict[str, str], app: Flask, session: Any
) -> None:
    """The same sequences over the life-cycle operations only, so that they go the whole
    way along the links: issue, call, start, complete, and the tokens they served are done
    in the database."""
    reached = run_sequences(api_schema.include(name=LIFE_CYCLE), keys, app)
    assert {"POST /api/v1/tokens/{token_id}/start", "POST /api/v1/tokens/{token_id}/complete"} <= set(
        reached
    ), sorted(set(reached))
    done = session.scalar(text("SELECT count(*) FROM tokens WHERE state = 'done'"))
    # (the desk is also cleared between sequences, which completes some more)
    assert done >= reached.count("POST /api/v1/tokens/{token_id}/complete") > 0
