"""The OpenAPI document at /api/v1/openapi.json: a valid OpenAPI 3.1 document, generated
from the endpoint declarations, and true to the endpoints: a body its schema accepts
passes the endpoint's validation, a body its schema refuses is a 400, and real answers
(statuses and bodies) are the documented ones."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from queue_server import ratelimit
from queue_server.api.registry import PUBLIC, Endpoint
from tests.queue_server.api_world import all_endpoints, best_caller, build_world
from tests.queue_server.openapi_check import (
    body_schema,
    errors,
    resolve,
    response_problems,
    sample,
    url_for,
)

ENDPOINTS = all_endpoints()
WITH_BODY = [ep for ep in ENDPOINTS if ep.body is not None]
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


@pytest.fixture
def doc(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.get_json()  # type: ignore[no-any-return]


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if "$ref" in node else []
        return own + [r for v in node.values() for r in refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in refs(v)]
    return []


def test_the_document_is_valid_openapi_3_1(doc: dict[str, Any]) -> None:
    assert doc["openapi"].startswith("3.1.")
    assert doc["info"]["title"] and doc["info"]["version"]
    operation_ids: list[str] = []
    for path, item in doc["paths"].items():
        assert path.startswith("/api/v1/"), path
        placeholders = set(re.findall(r"{(\w+)}", path))
        for method, op in item.items():
            assert method in METHODS
            operation_ids.append(op["operationId"])
            assert op["summary"] and op["responses"], (method, path)
            in_path = {p["name"] for p in op["parameters"] if p["in"] == "path"}
            assert in_path == placeholders, (method, path)
            assert all(p["required"] for p in op["parameters"] if p["in"] == "path")
            assert any(code.startswith("2") for code in op["responses"]), (method, path)
            for code, response in op["responses"].items():
                assert re.fullmatch(r"[1-5]\d\d", code) and response["description"]
            for scheme in op.get("security", []):
                assert set(scheme) <= set(doc["components"]["securitySchemes"])
    assert len(operation_ids) == len(set(operation_ids)), "operationIds must be unique"
    for ref in refs(doc):
        resolve(doc, ref)  # every reference resolves


def test_the_document_passes_the_reference_validator(doc: dict[str, Any]) -> None:
    """With openapi-spec-validator installed (dev extra), the reference implementation agrees."""
    try:
        from openapi_spec_validator import validate
    except ImportError:
        validate = None
    if validate is not None:
        validate(doc)
    assert doc["paths"]


def test_the_document_lists_every_declared_endpoint_and_only_those(doc: dict[str, Any]) -> None:
    declared = {
        (re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", ep.path), ep.method.lower())
        for ep in ENDPOINTS
        if ep.path.startswith("/api/v1/")
    }
    documented = {(path, method) for path, item in doc["paths"].items() for method in item}
    assert documented == declared
    for ep in ENDPOINTS:
        op = doc["paths"][re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", ep.path)][ep.method.lower()]
        assert ("security" in op) == (ep.admits != PUBLIC)
        assert {int(code) for code in op["responses"]} == ep.documented_statuses
        assert ("requestBody" in op) == (ep.body is not None)


def test_the_validator_in_this_suite_can_fail(doc: dict[str, Any]) -> None:
    """The checker used below refuses what it must (so the tests that use it can fail)."""
    issue = doc["components"]["schemas"]["IssueTokenIn"]
    assert errors({"service": "character"}, issue, doc) == []
    assert errors({"service": "character", "priority": "normal"}, issue, doc) == []
    assert errors({}, issue, doc), "service is required"
    assert errors({"service": 5}, issue, doc)
    assert errors({"service": "a b"}, issue, doc), "pattern"
    assert errors({"service": "x", "priority": "vip"}, issue, doc), "enum"
    assert errors({"service": "x", "extra": 1}, issue, doc), "no extra fields"
    token = {"$ref": "#/components/schemas/TokenOut"}
    assert errors({"id": 1}, token, doc), "missing fields"
    assert errors([], token, doc)


ODD_VALUES: list[Any] = [None, True, 0, -1, 2**31, 10**30, 1.5, "", "x", "x" * 5000, [], {}, ["x"]]


@pytest.mark.parametrize("ep", WITH_BODY, ids=[f"{ep.method} {ep.path}" for ep in WITH_BODY])
def test_the_documented_body_schema_accepts_what_the_endpoint_accepts(
    ep: Endpoint,
    app: Flask,
    session: Session,
    keys: dict[str, str],
    passwords: dict[str, str],
    doc: dict[str, Any],
) -> None:
    """Schema-valid bodies pass the endpoint's validation (they may still be refused by the
    operation, with its own error code); bodies the schema refuses are a 400."""
    world = build_world(session, keys, passwords)
    schema = body_schema(doc, ep)
    assert schema is not None
    model = resolve(doc, schema["$ref"])
    url = url_for(ep, world.path_values(ep))
    headers = world.headers(best_caller(ep))
    valid = sample(schema, doc, world.hints())
    probes: list[dict[str, Any]] = [valid, {**valid, "not_a_field": 1}]
    for name in model.get("properties", {}):
        probes += [{**valid, name: value} for value in ODD_VALUES]
    disagreements = []
    for body in probes:
        documented_ok = not errors(body, schema, doc)
        ratelimit.reset()  # every probe is judged on its body, not on how many came before
        response = app.test_client().open(url, method=ep.method, headers=headers, json=body)
        answer = response.get_json(silent=True) or {}
        # the registry's own body check: code "invalid" naming the field
        refused_by_validation = (
            response.status_code == 400 and answer.get("error") == "invalid" and "field" in answer
        )
        if documented_ok and refused_by_validation:
            disagreements.append(f"documented as valid, refused: {body!r:.100} -> {answer}")
        if not documented_ok and response.status_code != 400:
            disagreements.append(f"documented as invalid, answered {response.status_code}: {body!r:.100}")
        if body is valid:
            assert documented_ok, f"the sample body is not valid: {errors(body, schema, doc)}"
    assert disagreements == [], "\n".join(disagreements)


def test_real_answers_of_the_core_flow_are_the_documented_ones(
    app: Flask, session: Session, keys: dict[str, str], passwords: dict[str, str], doc: dict[str, Any]
) -> None:
    """A day at the counter through the API; every answer checked against the document."""
    by_route = {(ep.method, ep.path): ep for ep in ENDPOINTS}
    client = app.test_client()
    seen: list[tuple[str, int]] = []
    problems: list[str] = []

    def api(method: str, rule: str, key: str | None, values: dict[str, Any] | None = None, **kw: Any) -> Any:
        ep = by_route[(method, "/api/v1" + rule)]
        headers = {"Authorization": f"Bearer {keys[key]}"} if key else {}
        headers.update(kw.pop("headers", {}))
        response = client.open(url_for(ep, values or {}), method=method, headers=headers, **kw)
        data = response.get_json(silent=True) if response.data else None
        problems.extend(response_problems(doc, ep, response.status_code, data))
        seen.append((f"{method} {rule}", response.status_code))
        return response.status_code, data

    status, services = api("GET", "/centres/<code>/services", "kiosk", {"code": "demo"})
    assert status == 200 and len(services["services"]) == 19
    status, issued = api(
        "POST",
        "/centres/<code>/tokens",
        "kiosk",
        {"code": "demo"},
        json={"service": "character", "idempotency_key": "kiosk-press-0001"},
    )
    assert status == 201
    again, replay = api(
        "POST",
        "/centres/<code>/tokens",
        "kiosk",
        {"code": "demo"},
        json={"service": "character", "idempotency_key": "kiosk-press-0001"},
    )
    assert again == 200 and replay["id"] == issued["id"] and replay["replay"] is True
    api("POST", "/centres/<code>/tokens", "manager", {"code": "demo"}, json={"service": "verification"})
    api("GET", "/centres/<code>/snapshot", "display", {"code": "demo"})
    status, counters = api("GET", "/centres/<code>/counters", "display", {"code": "demo"})
    counter = next(c["id"] for c in counters["counters"] if c["number"] == 1)
    other = next(c["id"] for c in counters["counters"] if c["number"] == 2)
    assert api("POST", "/counters/<int:counter_id>/open", "clerk1", {"counter_id": counter})[0] == 200
    status, token = api("POST", "/counters/<int:counter_id>/call-next", "clerk1", {"counter_id": counter})
    assert status == 200 and token["id"] == issued["id"]
    tid = {"token_id": token["id"]}
    assert api("POST", "/tokens/<int:token_id>/complete", "clerk1", tid, json={})[0] == 409
    for action in ("recall", "start", "park", "unpark"):
        assert api("POST", f"/tokens/<int:token_id>/{action}", "clerk1", tid)[0] == 200
    api("GET", "/tokens/<int:token_id>", "clerk1", tid)
    api("GET", "/tokens/<int:token_id>/request", "clerk1", tid)
    assert api("POST", "/tokens/<int:token_id>/transfer", "clerk1", tid, json={"counter": other})[0] == 200
    status, second = api("POST", "/counters/<int:counter_id>/call-next", "clerk1", {"counter_id": counter})
    assert status == 200
    assert api("POST", "/tokens/<int:token_id>/no-show", "clerk1", {"token_id": second["id"]})[0] == 200
    assert api("POST", "/tokens/<int:token_id>/requeue", "manager", {"token_id": second["id"]})[0] == 200
    assert (
        api("POST", "/tokens/<int:token_id>/cancel", "manager", {"token_id": second["id"]}, json={})[0] == 200
    )
    assert api("POST", "/counters/<int:counter_id>/call-next", "clerk1", {"counter_id": counter})[0] == 204
    assert api("POST", "/counters/<int:counter_id>/pause", "clerk1", {"counter_id": counter})[0] == 200
    assert api("POST", "/counters/<int:counter_id>/resume", "clerk1", {"counter_id": counter})[0] == 200
    assert api("POST", "/counters/<int:counter_id>/close", "clerk1", {"counter_id": counter})[0] == 200
    assert api("GET", "/track/<code>", None, {"code": issued["public_code"]})[0] == 200
    assert api("GET", "/track/<code>", None, {"code": "x" * 30})[0] == 404
    assert api("GET", "/me", "display")[0] == 200
    status, csrf = api("GET", "/auth/csrf", None)
    status, me = api(
        "POST",
        "/auth/login",
        None,
        json={"username": "clerk2", "password": passwords["clerk2"]},
        headers={"X-CSRFToken": csrf["csrf_token"]},
    )
    assert status == 200 and me["kind"] == "staff"
    wrong = api(
        "POST",
        "/auth/login",
        None,
        json={"username": "clerk2", "password": "wrong"},
        headers={"X-CSRFToken": me["csrf_token"]},
    )
    assert wrong[0] == 401
    assert api("POST", "/auth/logout", None, headers={"X-CSRFToken": me["csrf_token"]})[0] == 200
    pair = by_route[("POST", "/api/v1/devices/pair")]
    response = app.test_client().post(pair.path, json={"key": keys["display"], "kind": "display"})
    problems.extend(response_problems(doc, pair, response.status_code, response.get_json()))
    assert response.status_code == 200
    assert problems == [], "\n".join(problems)
    assert len(seen) >= 30
