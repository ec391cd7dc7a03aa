"""``/healthz`` (database and Redis reachable) and Prometheus ``/metrics``: tokens issued
and called (counted once their transaction commits, whatever the entry point), queue
lengths, request latency, connected sockets and screens."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session

from queue_server import operations, unit_of_work
from queue_server.actors import SYSTEM
from queue_server.app import create_app
from queue_server.extensions import db
from queue_server.models import Centre
from tests.conftest import REDIS_URL, bearer
from tests.queue_server.test_socket_auth import Screen


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def metric(client: FlaskClient, name: str, **labels: str) -> float:
    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    return samples(response.get_data(as_text=True)).get((name, tuple(sorted(labels.items()))), 0.0)


def test_healthz_reports_the_database(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


def closed(app: Flask) -> None:
    """Close the extra app's connections (an open one left to the collector is a warning)."""
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_healthz_is_503_when_the_database_is_unreachable(tmp_path: Path) -> None:
    app = create_app(
        {
            "DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=2",
            "SECRET_KEY": "x" * 32,
            "INSTANCE_PATH": tmp_path,
        }
    )
    response = app.test_client().get("/healthz")
    closed(app)
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "degraded" and body["database"].startswith("error")


def test_a_request_that_meets_no_database_before_its_unit_of_work_marks_the_outage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Who is asking is resolved before the request's unit of work: when that read is the
    one that finds the database gone (as with every request of a cut that begins between
    transactions), the screens must be told all the same (queue_server.outage)."""
    told: list[str] = []
    monkeypatch.setattr(unit_of_work, "_outage_listeners", [lambda: told.append("down")])
    app = create_app(
        {
            "DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=2",
            "SECRET_KEY": "x" * 32,
            "INSTANCE_PATH": tmp_path,
        }
    )
    response = app.test_client().post(
        "/api/v1/centres/demo/tokens", json={"service": "character"}, headers=bearer("k" * 40)
    )
    closed(app)
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.get_json()["error"] == "database_unavailable"
    assert told == ["down"]


def test_healthz_is_503_when_redis_is_unreachable(app_config: dict[str, Any]) -> None:
    app = create_app({**app_config, "REDIS_URL": "redis://127.0.0.1:9/0"})
    with app.app_context():
        response = app.test_client().get("/healthz")
    closed(app)
    assert response.status_code == 503
    assert response.get_json()["database"] == "ok" and response.get_json()["redis"].startswith("error")


@pytest.mark.redis
def test_healthz_checks_redis_when_it_is_configured(app_config: dict[str, Any]) -> None:
    if not REDIS_URL:
        pytest.skip("needs KHIDMAT_TEST_REDIS_URL")
    app = create_app({**app_config, "REDIS_URL": REDIS_URL, "SOCKETIO_CHANNEL": "test-health"})
    with app.app_context():
        response = app.test_client().get("/healthz")
    closed(app)
    assert response.status_code == 200 and response.get_json()["redis"] == "ok"


def test_tokens_issued_and_called_are_counted_after_commit(
    app: Flask, client: FlaskClient, session: Session, keys: dict[str, str], centre: Centre
) -> None:
    issued = metric(client, "khidmat_tokens_issued_total", centre="demo")
    called = metric(client, "khidmat_tokens_called_total", centre="demo")
    for _ in range(3):
        r = client.post(
            "/api/v1/centres/demo/tokens", json={"service": "character"}, headers=bearer(keys["kiosk"])
        )
        assert r.status_code == 201
    operations.issue_token(session, centre, "character", SYSTEM)
    session.rollback()  # never committed: never counted
    operations.issue_token(session, centre, "bank", SYSTEM)
    session.commit()  # an entry point that is not the API (a page, the CLI) counts the same
    assert metric(client, "khidmat_tokens_issued_total", centre="demo") == issued + 4
    assert metric(client, "khidmat_queue_waiting", centre="demo") == 4

    counters = client.get("/api/v1/centres/demo/counters", headers=bearer(keys["clerk1"])).get_json()[
        "counters"
    ]
    first = next(c["id"] for c in counters if c["number"] == 1)
    client.post(f"/api/v1/counters/{first}/open", headers=bearer(keys["clerk1"]))
    token = client.post(f"/api/v1/counters/{first}/call-next", headers=bearer(keys["clerk1"])).get_json()
    client.post(
        f"/api/v1/tokens/{token['id']}/recall", headers=bearer(keys["clerk1"])
    )  # a recall is no new call
    assert metric(client, "khidmat_tokens_called_total", centre="demo") == called + 1
    assert metric(client, "khidmat_queue_waiting", centre="demo") == 3
    assert metric(client, "khidmat_request_seconds_count", endpoint="api.issue") >= 3


def test_request_latency_is_labelled_by_endpoint_not_by_url(client: FlaskClient) -> None:
    for n in range(3):
        client.get(f"/no/such/page/{n}")
    text = client.get("/metrics").get_data(as_text=True)
    assert "/no/such/page" not in text
    assert metric(client, "khidmat_request_seconds_count", endpoint="unknown") >= 3


def wait_until(check: Any, timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def test_connected_sockets_and_screens_on_a_live_server(live_server: Any) -> None:
    def figures() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        return samples(requests.get(live_server.url + "/metrics", timeout=10).text)

    display = Screen(live_server.url, live_server.keys["display"])
    anonymous = Screen(live_server.url)
    try:
        assert display.call("join", {"screen": "display", "centre": "demo"})["ok"]
        seen = figures()
        assert seen[("khidmat_connected_sockets", ())] == 2
        assert seen[("khidmat_screens_connected", (("screen", "display"),))] == 1
        assert seen[("khidmat_screens_connected", (("screen", "counter"),))] == 0
    finally:
        display.close()
        anonymous.close()
    assert wait_until(lambda: figures()[("khidmat_connected_sockets", ())] == 0)
    assert figures()[("khidmat_screens_connected", (("screen", "display"),))] == 0


def test_a_centre_id_reused_by_another_database_is_labelled_by_its_own_code(
    database_template: str, tmp_path: Path
) -> None:
    """Ids are unique within one database only: a process that served another database
    first (here: a centre "other" with id 1) still labels this one's id 1 correctly."""
    from tests.conftest import fresh_database_url
    from tests.support.race import build_race_centre, issue_many

    def issued(code: str, url: str, instance: Path) -> float:
        made = create_app(
            {"DATABASE_URL": url, "SECRET_KEY": "x", "INSTANCE_PATH": instance, "TESTING": True}
        )
        with made.app_context():
            build_race_centre(db.session, code=code, counters=1)
            db.session.commit()
            assert db.session.get(Centre, 1) is not None and db.session.get(Centre, 1).code == code
            issue_many(db.session, code, 1)
            db.session.commit()
            db.session.remove()
            value = metric(made.test_client(), "khidmat_tokens_issued_total", centre=code)
        closed(made)
        return value

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert issued("other", fresh_database_url(database_template, tmp_path / "a"), tmp_path / "a") >= 1
    # With one cache for every database, this token was counted as centre "other".
    assert issued("fresh", fresh_database_url(database_template, tmp_path / "b"), tmp_path / "b") >= 1
