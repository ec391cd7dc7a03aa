"""Security review fixes (issue 19), HTTP side: safe redirects, sessions that a database
copy cannot forge, revocation, throttled logins with one answer, limits and headers, and
no free text in the undeletable event log. Each test failed against the code before."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from queue_server.app import create_app
from queue_server.audit import verify_chain
from queue_server.models import Centre, Counter, Device, Event, EventNote, LoginSession, Staff, StaffApiKey
from tests.conftest import bearer
from tests.counters.test_console_socket import FreshClient, csrf
from tests.support.factories import socketio_client

EVIL = "203.0.113.66"


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    app.test_client_class = FreshClient
    return app.test_client()


def form_login(client: FlaskClient, username: str, password: str, path: str = "/counter", **kw: Any) -> Any:
    token = csrf(client.get("/counter", **kw).data)
    return client.post(
        "/counter/login" if path == "/counter" else path,
        data={"username": username, "password": password, "csrf_token": token},
        **kw,
    )


# 3. No open redirect ------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "/%09/evil.example",
        "/\t/evil.example",
        "//evil.example",
        "/\\evil.example",
        "https://evil.example/",
        "/%2F/evil.example",
        " //evil.example",
        "/%0a",
    ],
)
def test_login_next_never_leaves_the_site(
    client: FlaskClient, passwords: dict[str, str], target: str
) -> None:
    page = client.get("/manage/login", query_string={"next": target})
    assert page.status_code == 200
    token = csrf(page.data)
    r = client.post(
        "/manage/login",
        query_string={"next": target},
        data={"username": "manager", "password": passwords["manager"], "csrf_token": token},
    )
    assert r.status_code in (302, 303)
    location = r.headers["Location"]
    assert location.startswith("/") and not location.startswith("//") and "\\" not in location
    assert "evil" not in location and "\t" not in location and "\n" not in location


def test_the_console_login_honours_a_safe_next_and_refuses_another(
    client: FlaskClient, passwords: dict[str, str]
) -> None:
    page = client.get("/counter/login", query_string={"next": "/manage/reports"})
    assert page.status_code == 200 and b'name="next"' in page.data
    r = client.post(
        "/counter/login",
        data={
            "username": "manager",
            "password": passwords["manager"],
            "csrf_token": csrf(page.data),
            "next": "/manage/reports",
        },
    )
    assert r.status_code == 303 and r.headers["Location"] == "/manage/reports"
    client.post("/counter/logout", data={"csrf_token": csrf(client.get("/counter").data)})
    page = client.get("/counter/login", query_string={"next": "/%09/evil.example"})
    r = client.post(
        "/counter/login",
        data={
            "username": "clerk1",
            "password": passwords["clerk1"],
            "csrf_token": csrf(page.data),
            "next": "/\t/evil.example",
        },
    )
    assert r.status_code == 303 and r.headers["Location"] == "/counter"


# 5. Sessions that a database copy cannot forge ------------------------------------------


def forged_cookie(app: Flask, data: dict[str, Any]) -> str:
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    return str(serializer.dumps(data))


def test_a_database_copy_and_the_secret_key_forge_no_session(
    app: Flask, client: FlaskClient, session: Session, demo: Any
) -> None:
    manager = session.scalar(select(Staff).where(Staff.username == "manager"))
    display = session.scalar(select(Device).where(Device.kind == "display"))
    assert manager is not None and display is not None
    attempts = [
        {"staff_id": manager.id, "auth_epoch": manager.password_hash[-12:], "login_id": "x"},
        {"device_id": display.id, "device_key": display.key_hash},
    ]
    for data in attempts:
        client.set_cookie("session", forged_cookie(app, data))
        assert client.get("/api/v1/centres/demo/counters").status_code == 401
        assert client.get("/manage").status_code == 302


def test_logout_ends_the_session_on_the_server(client: FlaskClient, passwords: dict[str, str]) -> None:
    assert form_login(client, "manager", passwords["manager"]).status_code == 303
    stolen = client.get_cookie("session")
    assert stolen is not None
    assert client.get("/api/v1/centres/demo/counters").status_code == 200
    client.post("/manage/logout", data={"csrf_token": csrf(client.get("/manage/login").data)})
    client.set_cookie("session", stolen.value)  # the cookie kept from before the logout
    assert client.get("/api/v1/centres/demo/counters").status_code == 401


def test_a_session_ends_at_the_centres_local_midnight(
    client: FlaskClient, session: Session, passwords: dict[str, str], centre: Centre
) -> None:
    from queue_server.operations.accounts import staff_session_expires_at

    # 23:30 in Karachi (UTC+5) is 18:30 UTC; the session ends at 19:00 UTC.
    late = datetime(2026, 3, 2, 18, 30, tzinfo=UTC)
    assert staff_session_expires_at(centre, late) == datetime(2026, 3, 2, 19, 0, tzinfo=UTC)
    morning = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)  # 09:00 local
    assert staff_session_expires_at(centre, morning) == datetime(2026, 3, 2, 19, 0, tzinfo=UTC)
    assert staff_session_expires_at(None, morning) == datetime(2026, 3, 2, 19, 0, tzinfo=UTC)

    assert form_login(client, "clerk1", passwords["clerk1"]).status_code == 303
    assert client.get("/api/v1/centres/demo/counters").status_code == 200
    row = session.scalar(select(LoginSession).where(LoginSession.ended_at.is_(None)))
    assert row is not None
    row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    session.commit()
    assert client.get("/api/v1/centres/demo/counters").status_code == 401


@pytest.mark.parametrize("secret", ["CHANGE-ME", "change-me-please-now-0123456789abcdef", "short", "   "])
def test_a_placeholder_or_short_secret_key_is_refused_at_startup(tmp_path: Path, secret: str) -> None:
    with pytest.raises(RuntimeError, match="KHIDMAT_SECRET_KEY"):
        create_app({"SECRET_KEY": secret, "INSTANCE_PATH": tmp_path, "TESTING": False})


def test_the_deployment_samples_secret_is_refused(tmp_path: Path) -> None:
    sample = Path(__file__).resolve().parents[2] / "deploy" / "khidmat.env.example"
    values = dict(
        line.split("=", 1)
        for line in sample.read_text().splitlines()
        if line.startswith("KHIDMAT_SECRET_KEY=")
    )
    with pytest.raises(RuntimeError, match="KHIDMAT_SECRET_KEY"):
        create_app({"SECRET_KEY": values["KHIDMAT_SECRET_KEY"], "INSTANCE_PATH": tmp_path})


# 4. Revocation: CLI and API -----------------------------------------------------------


def test_cli_deactivates_staff_revokes_keys_and_ends_sessions(
    app: Flask,
    client: FlaskClient,
    runner: Any,
    session: Session,
    keys: dict[str, str],
    passwords: dict[str, str],
) -> None:
    assert client.get("/api/v1/centres/demo/counters", headers=bearer(keys["clerk1"])).status_code == 200
    r = runner.invoke(args=["staff", "revoke-keys", "clerk1"])
    assert r.exit_code == 0, r.output
    assert client.get("/api/v1/centres/demo/counters", headers=bearer(keys["clerk1"])).status_code == 401

    assert form_login(client, "clerk2", passwords["clerk2"]).status_code == 303
    assert client.get("/api/v1/centres/demo/counters").status_code == 200
    r = runner.invoke(args=["staff", "end-sessions", "clerk2"])
    assert r.exit_code == 0, r.output
    assert client.get("/api/v1/centres/demo/counters").status_code == 401

    r = runner.invoke(args=["staff", "deactivate", "clerk3"])
    assert r.exit_code == 0, r.output
    assert client.get("/api/v1/centres/demo/counters", headers=bearer(keys["clerk3"])).status_code == 401
    assert form_login(client, "clerk3", passwords["clerk3"]).status_code == 401
    r = runner.invoke(args=["staff", "deactivate", "nobody"])
    assert r.exit_code != 0 and "nobody" in r.output
    kinds = set(session.scalars(select(Event.kind)))
    assert {"staff_keys_revoked", "staff_sessions_ended", "staff_deactivated"} <= kinds


def test_cli_revokes_and_rotates_device_keys(
    app: Flask, client: FlaskClient, runner: Any, session: Session, keys: dict[str, str]
) -> None:
    display = session.scalar(select(Device).where(Device.kind == "display"))
    kiosk = session.scalar(select(Device).where(Device.kind == "kiosk"))
    assert display is not None and kiosk is not None
    r = runner.invoke(args=["device", "rotate", str(display.id)])
    assert r.exit_code == 0, r.output
    new_key = json.loads(r.output)["key"]
    assert client.get("/api/v1/centres/demo/counters", headers=bearer(keys["display"])).status_code == 401
    assert client.get("/api/v1/centres/demo/counters", headers=bearer(new_key)).status_code == 200
    r = runner.invoke(args=["device", "revoke", str(kiosk.id)])
    assert r.exit_code == 0, r.output
    r2 = client.post(
        "/api/v1/centres/demo/tokens", headers=bearer(keys["kiosk"]), json={"service": "character"}
    )
    assert r2.status_code == 401
    kinds = set(session.scalars(select(Event.kind)))
    assert {"device_key_rotated", "device_revoked"} <= kinds


def test_api_revocation_is_for_managers_of_that_centre(
    client: FlaskClient, session: Session, keys: dict[str, str]
) -> None:
    clerk = session.scalar(select(Staff).where(Staff.username == "clerk1"))
    display = session.scalar(select(Device).where(Device.kind == "display"))
    assert clerk is not None and display is not None
    assert (
        client.post(f"/api/v1/staff/{clerk.id}/revoke-keys", headers=bearer(keys["clerk2"])).status_code
        == 403
    )
    assert (
        client.post(f"/api/v1/staff/{clerk.id}/revoke-keys", headers=bearer(keys["display"])).status_code
        == 403
    )
    assert client.post("/api/v1/staff/999999/revoke-keys", headers=bearer(keys["manager"])).status_code == 404
    r = client.post(f"/api/v1/staff/{clerk.id}/revoke-keys", headers=bearer(keys["manager"]))
    assert r.status_code == 200 and r.get_json()["revoked"] == 1
    assert client.get("/api/v1/centres/demo/counters", headers=bearer(keys["clerk1"])).status_code == 401
    r = client.post(f"/api/v1/devices/{display.id}/rotate", headers=bearer(keys["manager"]))
    assert r.status_code == 200 and r.get_json()["key"].startswith("kq_dev_")
    assert client.get("/api/v1/centres/demo/counters", headers=bearer(r.get_json()["key"])).status_code == 200
    r = client.post(f"/api/v1/staff/{clerk.id}/deactivate", headers=bearer(keys["manager"]))
    assert r.status_code == 200
    assert session.scalar(select(StaffApiKey.revoked_at).where(StaffApiKey.staff_id == clerk.id)) is not None


# 6. Throttling without denial of service or enumeration ---------------------------------


def test_failed_logins_lock_only_the_guessers_address_and_answer_alike(
    app: Flask, client: FlaskClient, passwords: dict[str, str]
) -> None:
    evil = {"environ_base": {"REMOTE_ADDR": EVIL}}
    answers = [form_login(client, "clerk1", "wrong", **evil) for _ in range(8)]
    unknown = form_login(client, "no-such-user", "wrong", **evil)
    # Every failure answers the same: a locked account looks like an unknown one.
    assert {a.status_code for a in answers} == {401} and unknown.status_code == 401
    assert (
        b"Wrong username or password." in answers[-1].data and b"Wrong username or password." in unknown.data
    )
    # The guesser's address is now slowed down even with the right password ...
    assert form_login(client, "clerk1", passwords["clerk1"], **evil).status_code == 401
    # ... while the clerk, at their own desk, still logs in.
    assert form_login(client, "clerk1", passwords["clerk1"]).status_code == 303


# 7. Limits and headers ------------------------------------------------------------------


def test_a_huge_login_form_is_refused_before_it_is_parsed(client: FlaskClient) -> None:
    r = client.post("/counter/login", data={"username": "x", "password": "y" * 2_000_000})
    assert r.status_code == 413


def test_health_detail_and_metrics_only_for_allowed_callers(
    client: FlaskClient, keys: dict[str, str]
) -> None:
    outside = {"environ_base": {"REMOTE_ADDR": EVIL}}
    assert client.get("/metrics", **outside).status_code == 403
    health = client.get("/healthz", **outside)
    assert health.status_code == 200 and health.get_json() == {"status": "ok"}
    assert client.get("/metrics").status_code == 200  # the host itself (a local scraper)
    assert client.get("/healthz").get_json()["database"] == "ok"
    assert client.get("/metrics", headers=bearer(keys["admin"]), **outside).status_code == 200


@pytest.mark.parametrize(
    "path", ["/counter", "/manage/login", "/kiosk/demo", "/display/demo", "/api/v1/openapi.json"]
)
def test_pages_send_csp_frame_denial_and_nosniff(client: FlaskClient, path: str) -> None:
    r = client.get(path)
    csp = r.headers.get("Content-Security-Policy", "")
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "http" not in csp
    assert r.headers.get("X-Frame-Options") == "DENY"
    assert r.headers.get("X-Content-Type-Options") == "nosniff"
    assert "Strict-Transport-Security" not in r.headers  # plain HTTP: no HSTS


def test_hsts_and_secure_cookies_behind_https(app_config: dict[str, Any], passwords: dict[str, str]) -> None:
    made = create_app({**app_config, "SESSION_COOKIE_SECURE": True})
    made.test_client_class = FreshClient
    with made.app_context():
        c = made.test_client()
        page = c.get("/counter", base_url="https://localhost")
        assert "max-age=" in page.headers.get("Strict-Transport-Security", "")
        r = form_login(
            c,
            "clerk1",
            passwords["clerk1"],
            base_url="https://localhost",
            headers={"Referer": "https://localhost/counter"},
        )
        assert r.status_code == 303, r.data[:300]
        cookie = c.get_cookie("session", domain="localhost")
        from queue_server.extensions import db

        db.session.remove()
        db.engine.dispose()  # this second app's pool: nothing left for the collector to warn about
        assert cookie is not None and cookie.secure and cookie.http_only, r.headers


def test_forwarded_host_is_ignored_unless_trusted() -> None:
    from werkzeug.test import EnvironBuilder

    from queue_server.serving import proxy_fix

    seen: dict[str, str] = {}

    def wsgi(environ: dict[str, Any], start: Any) -> list[bytes]:
        seen["host"] = environ.get("HTTP_HOST", "")
        seen["addr"] = environ.get("REMOTE_ADDR", "")
        start("200 OK", [])
        return []

    headers = {"X-Forwarded-Host": "evil.example", "X-Forwarded-For": "198.51.100.7"}
    env = EnvironBuilder(path="/", headers=headers, base_url="http://queue.local").get_environ()
    proxy_fix(wsgi, hops=1, trust_host=False)(env, lambda *a: None)
    assert seen == {"host": "queue.local", "addr": "198.51.100.7"}
    env = EnvironBuilder(path="/", headers=headers, base_url="http://queue.local").get_environ()
    proxy_fix(wsgi, hops=1, trust_host=True)(env, lambda *a: None)
    assert seen["host"] == "evil.example"


def test_tracking_codes_stay_out_of_the_access_log() -> None:
    from queue_server.serving import redact_path

    code = "AbCdEfGhIjKlMnOpQrStUvWxYz012345"
    assert code not in redact_path(f"GET /t/{code}?lang=ur HTTP/1.1")
    assert code not in redact_path(f"/api/v1/track/{code}/feedback")
    assert redact_path("GET /counter HTTP/1.1") == "GET /counter HTTP/1.1"

    # gunicorn's own logger, as `khidmat serve` configures it
    from types import SimpleNamespace

    from gunicorn.glogging import Logger

    from queue_server.access_log import RedactingLogger
    from queue_server.serving import plan

    assert plan(workers=1, threads=4, async_mode="threading", env={})["options"]["logger_class"] == (
        "queue_server.access_log.RedactingLogger"
    )
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/t/{code}",
        "PATH_INFO": f"/t/{code}",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_REFERER": f"https://queue.example.pk/t/{code}",
    }
    response = SimpleNamespace(status="200 OK", headers=[("Content-Type", 'text/"x"')], sent=10)
    request = SimpleNamespace(headers=[("REFERER", f"https://queue.example.pk/t/{code}"), ("X-Seen", "1")])
    line = access_line(RedactingLogger, "%(r)s %(f)s %({referer}i)s %({path_info}e)s", environ, response, request)
    assert line == "GET /t/… HTTP/1.1 https://queue.example.pk/t/… https://queue.example.pk/t/… /t/…"

    # Each atom as gunicorn's own logger makes it, where there is no code to redact.
    environ |= {"RAW_URI": "/counter?x=1", "PATH_INFO": "/counter", "HTTP_REFERER": "-", "QUERY_STRING": "x=1"}
    request = SimpleNamespace(headers=[("X-Seen", "1"), ("x-seen", "2")])
    every = " ".join(f"%({atom})s" for atom in [*"hlutrsmUqHbBfaTDMLp", "{X-Seen}i", "{content-type}o",
                                                "{PATH_INFO}e", "{none}i", "{x}q", "zz"])
    ours = access_line(RedactingLogger, every, environ, response, request)
    assert ours == access_line(Logger, every, environ, response, request)
    assert '/counter?x=1' in ours and ' 2 text/\\"x\\" /counter - - -' in ours


def access_line(
    logger_class: type[Any], line_format: str, environ: dict[str, str], response: Any, request: Any
) -> str:
    """The access log line ``logger_class`` writes for one request (at a fixed time)."""
    import logging
    from datetime import timedelta as span

    from gunicorn.config import Config

    config = Config()
    config.set("accesslog", "-")
    config.set("access_log_format", line_format)
    logger = logger_class(config)
    logger.now = lambda: "[07/Dec/2026:10:00:00 +0000]"
    lines: list[str] = []
    keep = logging.Handler()
    keep.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    logger.access_log.addHandler(keep)
    try:
        logger.access(response, request, environ, span(seconds=1, microseconds=2500))
    finally:
        logger.access_log.removeHandler(keep)
    [line] = lines
    return line


# 8. No free text in the undeletable log -------------------------------------------------

CNIC = "35202-1234567-1"


def test_reasons_and_notices_keep_their_text_out_of_the_chain(
    app: Flask,
    client: FlaskClient,
    session: Session,
    keys: dict[str, str],
    centre: Centre,
    counter_no: Callable[[int], Counter],
    runner: Any,
) -> None:
    from queue_server.operations.notes import purge_notes

    counter = counter_no(1)
    assert (
        client.post(f"/api/v1/counters/{counter.id}/open", headers=bearer(keys["clerk1"])).status_code == 200
    )
    tokens = [
        client.post(
            "/api/v1/centres/demo/tokens", headers=bearer(keys["kiosk"]), json={"service": "character"}
        ).get_json()
        for _ in range(3)
    ]
    r = client.post(
        f"/api/v1/counters/{counter.id}/call",
        headers=bearer(keys["clerk1"]),
        json={"token": tokens[2]["id"], "reason": f"elderly, CNIC {CNIC}"},
    )
    assert r.status_code == 200, r.get_json()
    r = client.post(
        f"/api/v1/tokens/{tokens[1]['id']}/cancel",
        headers=bearer(keys["manager"]),
        json={"reason": f"left; CNIC {CNIC}"},
    )
    assert r.status_code == 200, r.get_json()
    r = client.put(
        "/api/v1/centres/demo/notice",
        headers=bearer(keys["manager"]),
        json={"notice_en": f"Call {CNIC}", "notice_ur": ""},
    )
    assert r.status_code == 200
    session.expire_all()
    events = session.scalars(select(Event).where(Event.centre_id == centre.id)).all()
    assert not [e.kind for e in events if CNIC in json.dumps(e.data)]
    by_kind = {e.kind: e for e in events}
    for kind in ("token_called_specific", "token_cancelled", "notice_changed"):
        assert by_kind[kind].data.get("note") is True, by_kind[kind].data
    assert by_kind["token_called_specific"].data["reason_code"] == "other"
    notes = session.scalars(select(EventNote)).all()
    assert len(notes) == 3 and all(CNIC in n.text for n in notes)
    # The text goes after its retention; the chain still verifies.
    later = datetime.now(UTC) + timedelta(days=app.config["NOTE_RETENTION_DAYS"] + 1)
    assert purge_notes(session, now=later) == 3
    session.commit()
    assert session.scalars(select(EventNote)).all() == []
    assert verify_chain(session, centre.id).ok
    r = runner.invoke(args=["notes", "purge"])
    assert r.exit_code == 0, r.output


# 16.5 Key use from a new address is audited ---------------------------------------------


def test_a_key_used_from_a_new_address_is_an_audited_event(
    app: Flask, client: FlaskClient, session: Session, keys: dict[str, str]
) -> None:
    def uses() -> list[tuple[str, Any]]:
        session.expire_all()
        found = session.scalars(
            select(Event).where(Event.kind == "key_used_from_new_address").order_by(Event.seq)
        )
        return [(e.actor, e.data["address"]) for e in found]

    path = "/api/v1/centres/demo/tokens"
    for address in ("10.0.0.5", "10.0.0.5", "10.0.0.9", "10.0.0.9"):
        r = client.post(
            path,
            headers=bearer(keys["kiosk"]),
            json={"service": "character"},
            environ_base={"REMOTE_ADDR": address},
        )
        assert r.status_code == 201
    kiosk = session.scalar(select(Device.id).where(Device.kind == "kiosk"))
    assert uses() == [(f"device:{kiosk}", "10.0.0.5"), (f"device:{kiosk}", "10.0.0.9")]
    # The kiosk's own issuing route (it prints) keeps the record too, once.
    for n in range(2):
        r = client.post(
            "/kiosk/demo/issue",
            headers=bearer(keys["kiosk"]),
            json={"service": "character", "priority": "normal", "idempotency_key": f"new-address-{n}"},
            environ_base={"REMOTE_ADDR": "10.0.0.11"},
        )
        assert r.status_code == 201, r.get_json()
    assert uses()[2:] == [(f"device:{kiosk}", "10.0.0.11")]
    # A refused call records nothing, the key's use included.
    counter = session.scalar(select(Counter.id).where(Counter.number == 3))
    refused = client.post(
        f"/api/v1/counters/{counter}/close",
        headers=bearer(keys["clerk1"]),
        environ_base={"REMOTE_ADDR": "10.0.0.7"},
    )
    assert refused.status_code in (403, 409)
    assert len(uses()) == 3
    io = socketio_client(app, keys["display"])
    assert io.is_connected()
    io.disconnect()
    display = session.scalar(select(Device.id).where(Device.kind == "display"))
    assert uses()[-1][0] == f"device:{display}"
