"""Every endpoint × every kind of caller, generated from the endpoint registry, so an
endpoint added anywhere is in the table without being listed here.

For each endpoint: anonymous callers and bad keys get 401; callers whose kind the endpoint
does not admit get 403; admitted callers of another centre get 403 or 404 for the demo
centre's resources; admitted callers of the centre never get 401 or 403 (a 404, 409 or 400
for the state they find is fine). Refused calls change nothing. Every answer has a
documented status and matches its documented schema. And no malformed input (bodies,
types, huge numbers, path values) ever gets a 500.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from queue_server.api.registry import PUBLIC, Endpoint
from tests.queue_server.api_world import (
    CALLERS,
    World,
    all_endpoints,
    best_caller,
    build_world,
    changes,
    expectation,
)
from tests.queue_server.openapi_check import body_schema, response_problems, sample, url_for

ENDPOINTS = all_endpoints()
IDS = [f"{ep.method} {ep.path}" for ep in ENDPOINTS]
ADMITTED_ORDER = ("clerk", "kiosk", "display", "manager", "admin")  # the most limited first
# on a public endpoint these refusals are about the input, not the caller
PUBLIC_REFUSALS = {"bad_credentials", "csrf", "bad_key", "rate_limited"}


def call(app: Flask, ep: Endpoint, url: str, headers: dict[str, str], **kw: Any) -> tuple[int, Any]:
    client = app.test_client()  # a fresh cookie jar: every caller is only who its key says
    response = client.open(url, method=ep.method, headers=headers, **kw)
    data = response.get_json(silent=True) if response.data else None
    return response.status_code, data


def judge(ep: Endpoint, caller: str, status: int, data: Any) -> str | None:
    expected = expectation(ep, caller)
    error = data.get("error") if isinstance(data, dict) else None
    where = f"{ep.method} {ep.path} as {caller}: {status} {error}"
    if status >= 500:
        return f"{where}: a server error"
    if expected == "unauthenticated" and status != 401:
        return f"{where}: expected 401"
    if expected == "forbidden" and status != 403:
        return f"{where}: expected 403"
    # 400: the request was refused for its form before anything was looked up
    if expected == "other_centre" and status not in (400, 403, 404):
        return f"{where}: another centre's caller must get 403 or 404 (or 400)"
    if expected == "admitted" and status in (401, 403):
        return f"{where}: an admitted caller was refused"
    if expected == "public" and status in (401, 403) and error not in PUBLIC_REFUSALS:
        return f"{where}: a public endpoint refused the caller"
    return None


def test_the_table_covers_every_api_rule(app: Flask) -> None:
    """No JSON endpoint escapes the table (and the document) by being added without the registry."""
    declared = {(ep.path, ep.method) for ep in ENDPOINTS}
    missing = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/") or rule.rule == "/api/v1/openapi.json":
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:  # type: ignore[operator]
            if (rule.rule, method) not in declared:
                missing.append(f"{method} {rule.rule}")
    assert missing == [], "declare these with queue_server.api.registry.endpoint"
    assert len(ENDPOINTS) >= 25
    assert len({(ep.path, ep.method) for ep in ENDPOINTS}) == len(ENDPOINTS), "declared twice"


def test_the_table_can_tell_callers_apart() -> None:
    """The expectations themselves: a clerk-only endpoint refuses devices and managers."""
    by_path = {(ep.method, ep.path): ep for ep in ENDPOINTS}
    open_counter = by_path[("POST", "/api/v1/counters/<int:counter_id>/open")]
    assert expectation(open_counter, "clerk") == "admitted"
    assert expectation(open_counter, "manager") == "forbidden"
    assert expectation(open_counter, "display") == "forbidden"
    assert expectation(open_counter, "clerk_other") == "other_centre"
    assert expectation(open_counter, "bad_key") == "unauthenticated"
    issue = by_path[("POST", "/api/v1/centres/<code>/tokens")]
    assert expectation(issue, "kiosk") == "admitted" and expectation(issue, "display") == "forbidden"
    assert expectation(by_path[("GET", "/api/v1/me")], "display_other") == "admitted"


@pytest.mark.parametrize("ep", ENDPOINTS, ids=IDS)
def test_every_caller_gets_its_answer(
    ep: Endpoint, app: Flask, session: Session, keys: dict[str, str], passwords: dict[str, str]
) -> None:
    world = build_world(session, keys, passwords)
    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    url = url_for(ep, world.path_values(ep))
    schema = body_schema(doc, ep)
    body = sample(schema, doc, world.hints()) if schema is not None else None
    kw: dict[str, Any] = {"json": body} if body is not None else {}
    refused = [c for c in CALLERS if expectation(ep, c) not in ("admitted", "public")]
    admitted = [c for c in ADMITTED_ORDER if expectation(ep, c) == "admitted"]
    admitted += [c for c in CALLERS if expectation(ep, c) == "public"] if ep.admits == PUBLIC else []
    admitted += [c for c in CALLERS if c not in refused and c not in admitted]

    problems: list[str] = []
    before = changes(session)
    for caller in refused:
        status, data = call(app, ep, url, world.headers(caller), **kw)
        problems += filter(None, [judge(ep, caller, status, data)])
        problems += response_problems(doc, ep, status, data)
    assert changes(session) == before, f"a refused call to {ep.method} {ep.path} changed something"
    for caller in admitted:
        status, data = call(app, ep, url, world.headers(caller), **kw)
        problems += filter(None, [judge(ep, caller, status, data)])
        problems += response_problems(doc, ep, status, data)
    assert problems == [], "\n".join(problems)


def malformed_bodies(schema_props: list[str]) -> list[dict[str, Any]]:
    """Ways to send a bad body: not JSON, not an object, wrong types, huge and odd values."""
    raw = [
        b"not json",
        b"{",
        b"[1, 2]",
        b'"text"',
        b"null",
        b"1e999",
        b"[" * 5000 + b"]" * 5000,
        b'{"a": ' * 3000 + b"1" + b"}" * 3000,
        b"\xff\xfe\x00garbage",
        b'{"' + b"k" * 70_000 + b'": 1}',
    ]
    variants: list[dict[str, Any]] = [
        {"data": r, "headers": {"Content-Type": "application/json"}} for r in raw
    ]
    variants.append({"data": {"a": "b"}})  # a form, not JSON
    variants.append({"data": "service=x", "headers": {"Content-Type": "text/plain"}})
    odd = [
        None,
        True,
        -1,
        0,
        2**31,
        2**63,
        10**30,
        1.5,
        "",
        "x" * 5000,
        "\x00",
        "٣",
        [],
        {},
        [{}],
        {"a": [1]},
    ]
    for name in schema_props or ["service", "counter", "token"]:
        variants += [{"json": {name: value}} for value in odd]
    variants.append({"json": {"unexpected": 1}})
    return variants


@pytest.mark.parametrize("ep", ENDPOINTS, ids=IDS)
def test_malformed_input_is_a_4xx_never_a_500(
    ep: Endpoint, app: Flask, session: Session, keys: dict[str, str], passwords: dict[str, str]
) -> None:
    world = build_world(session, keys, passwords)
    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    schema = body_schema(doc, ep)
    props: list[str] = []
    if schema is not None:
        target = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
        props = list(target.get("properties", {}))
    values = world.path_values(ep)
    urls = [url_for(ep, values)]
    for name, conv in ep.params.items():
        bad = (
            [2**31, 2**63, 10**30, "0" * 40 + "1"]
            if conv == "int"
            else ["x" * 1000, "a%00b", "%C3%28", "..%2F..", "' OR 1=1 --", "٣٣"]
        )
        urls += [url_for(ep, {**values, name: value}) for value in bad]
    answers: list[tuple[str, int, Any]] = []
    for caller in {best_caller(ep), "anonymous"}:
        headers = world.headers(caller)
        for url in urls:
            status, data = call(app, ep, url, headers)
            answers.append((f"{caller} {url[:80]}", status, data))
        for variant in malformed_bodies(props):
            extra = variant.pop("headers", {})
            status, data = call(app, ep, urls[0], {**headers, **extra}, **variant)
            shown = json.dumps(variant, default=repr)[:80]
            answers.append((f"{caller} {shown}", status, data))
    problems = [f"{what}: {status}" for what, status, _ in answers if status >= 500]
    for what, status, data in answers:
        if status >= 400 and not (
            isinstance(data, dict)
            and isinstance(data.get("error"), str)
            and isinstance(data.get("message"), str)
        ):
            problems.append(f"{what}: {status} without {{error, message}}: {data!r:.80}")
    assert problems == [], "\n".join(problems)


WRITES = [ep for ep in ENDPOINTS if ep.csrf]  # writes a browser session may make


@pytest.mark.parametrize("ep", WRITES, ids=[f"{ep.method} {ep.path}" for ep in WRITES])
def test_a_browser_session_needs_the_csrf_token(
    ep: Endpoint, app: Flask, session: Session, keys: dict[str, str], passwords: dict[str, str]
) -> None:
    """Logged in through the form (or paired), a browser's writes need the page's CSRF token."""
    world = build_world(session, keys, passwords)
    client = app.test_client()
    token = client.get("/api/v1/auth/csrf").get_json()["csrf_token"]
    admits = set(ep.admits)
    username = (
        "clerk1"
        if admits & {"clerk", "staff"}
        else "manager"
        if "manager" in admits
        else "admin"
        if "admin" in admits
        else None
    )
    if username is not None:
        signed_in = client.post(
            "/api/v1/auth/login",
            json={"username": username, "password": passwords[username]},
            headers={"X-CSRFToken": token},
        )
        assert signed_in.status_code == 200, signed_in.get_json()
        token = signed_in.get_json()["csrf_token"]
    else:
        kind = "kiosk" if "kiosk" in admits else "display"
        paired = client.post("/api/v1/devices/pair", json={"key": keys[kind]})
        assert paired.status_code == 200, paired.get_json()
        token = client.get("/api/v1/auth/csrf").get_json()["csrf_token"]
    url = url_for(ep, world.path_values(ep))
    before = changes(session)
    refused = client.open(url, method=ep.method, json={})
    assert refused.status_code == 403 and refused.get_json()["error"] == "csrf"
    refused = client.open(url, method=ep.method, json={}, headers={"X-CSRFToken": "forged"})
    assert refused.status_code == 403 and refused.get_json()["error"] == "csrf"
    assert changes(session) == before
    allowed = client.open(url, method=ep.method, json={}, headers={"X-CSRFToken": token})
    assert allowed.status_code < 500
    assert allowed.status_code not in (401, 403), allowed.get_json()


def test_world_is_what_the_table_assumes(
    app: Flask, session: Session, keys: dict[str, str], passwords: dict[str, str]
) -> None:
    world: World = build_world(session, keys, passwords)
    client = app.test_client()
    me = client.get("/api/v1/me", headers=world.headers("clerk_other")).get_json()
    assert me["centre"] == "north" and me["role"] == "clerk"
    token = client.get(f"/api/v1/tokens/{world.serving_token}", headers=world.headers("clerk")).get_json()
    assert token["state"] == "serving" and token["counter"] == 1
    assert (
        client.get(f"/api/v1/requests/{world.request_id}", headers=world.headers("clerk")).status_code == 200
    )


# Auth rules the table relies on --------------------------------------------------------


def browser_login(app: Flask, username: str, password: str) -> tuple[Any, str, int]:
    """A browser client logged in through the form's API; (client, csrf token, status)."""
    client = app.test_client()
    token = client.get("/api/v1/auth/csrf").get_json()["csrf_token"]
    r = client.post(
        "/api/v1/auth/login",
        json={"username": username, "password": password},
        headers={"X-CSRFToken": token},
    )
    return client, (r.get_json() or {}).get("csrf_token", token), r.status_code


def test_login_needs_the_csrf_token_and_passwords_are_argon2id(
    app: Flask, session: Session, passwords: dict[str, str]
) -> None:
    from queue_server.models import Staff

    bare = app.test_client().post(
        "/api/v1/auth/login", json={"username": "clerk1", "password": passwords["clerk1"]}
    )
    assert bare.status_code == 403 and bare.get_json()["error"] == "csrf"
    _, _, status = browser_login(app, "clerk1", passwords["clerk1"])
    assert status == 200
    hashes = session.query(Staff.password_hash).all()
    assert hashes and all(h.startswith("$argon2id$") for (h,) in hashes)


def test_repeated_failures_throttle_the_account_from_that_address_only(
    app: Flask, session: Session, passwords: dict[str, str]
) -> None:
    from queue_server.models import Event

    limit = app.config["LOGIN_MAX_FAILURES"]
    for _ in range(limit):
        assert browser_login(app, "clerk3", "wrong")[2] == 401
    session.expire_all()
    assert session.query(Event).filter_by(kind="login_failed").count() == limit, "audited, despite the refusal"
    assert browser_login(app, "clerk3", passwords["clerk3"])[2] == 401, "throttled, with the same answer"
    assert browser_login(app, "clerk4", passwords["clerk4"])[2] == 200, "only that account is throttled"


def test_one_counter_one_clerk_session_one_counter_per_clerk(
    app: Flask, session: Session, keys: dict[str, str], passwords: dict[str, str]
) -> None:
    first, first_csrf, _ = browser_login(app, "clerk1", passwords["clerk1"])
    second, second_csrf, _ = browser_login(app, "clerk1", passwords["clerk1"])
    counters = first.get("/api/v1/centres/demo/counters").get_json()["counters"]
    one, two = (next(c["id"] for c in counters if c["number"] == n) for n in (1, 2))

    def open_(client: Any, counter: int, csrf: str) -> Any:
        return client.post(f"/api/v1/counters/{counter}/open", headers={"X-CSRFToken": csrf})

    assert open_(first, one, first_csrf).status_code == 200
    assert open_(first, one, first_csrf).status_code == 200, "opening it again in the same session is fine"
    again = open_(second, one, second_csrf)
    assert again.status_code == 409 and again.get_json()["error"] == "counter_open_elsewhere"
    by_key = app.test_client().post(f"/api/v1/counters/{one}/open", headers=bearer_of(keys["clerk1"]))
    assert by_key.status_code == 409 and by_key.get_json()["error"] == "counter_open_elsewhere"
    busy = open_(first, two, first_csrf)
    assert busy.status_code == 409 and busy.get_json()["error"] == "clerk_busy"
    taken = app.test_client().post(f"/api/v1/counters/{one}/open", headers=bearer_of(keys["clerk2"]))
    assert taken.status_code == 409 and taken.get_json()["error"] == "counter_taken"
    closed = first.post(f"/api/v1/counters/{one}/close", headers={"X-CSRFToken": first_csrf})
    assert closed.status_code == 200
    assert open_(second, one, second_csrf).status_code == 200, "free again: the other session may take it"


def bearer_of(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
