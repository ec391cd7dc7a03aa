"""Configuration from KHIDMAT_* variables, as a deployment sets it."""

from __future__ import annotations

from pathlib import Path

import pytest

from queue_server.app import create_app
from queue_server.config import load_config
from queue_server.extensions import db
from tests.support.factories import socketio_client


def test_environment_overrides_defaults_with_their_types(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KHIDMAT_SESSION_COOKIE_SECURE", "1")
    monkeypatch.setenv("KHIDMAT_LOGIN_MAX_FAILURES", "7")
    monkeypatch.setenv("KHIDMAT_SOCKETIO_CHANNEL", "khidmat-lahore")
    values = load_config(tmp_path)
    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["LOGIN_MAX_FAILURES"] == 7
    assert values["SOCKETIO_CHANNEL"] == "khidmat-lahore"


def test_a_number_from_the_environment_is_a_number_and_bad_text_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KHIDMAT_SCREEN_ESTIMATES_SECONDS", " 0.5")
    monkeypatch.setenv("KHIDMAT_DB_PROBE_SECONDS", "3")
    values = load_config(tmp_path)
    assert values["SCREEN_ESTIMATES_SECONDS"] == 0.5 and values["DB_PROBE_SECONDS"] == 3.0
    assert isinstance(values["DB_PROBE_SECONDS"], float)
    monkeypatch.setenv("KHIDMAT_LOGIN_MAX_FAILURES", "seven")
    with pytest.raises(RuntimeError, match=r"KHIDMAT_LOGIN_MAX_FAILURES must be a whole number, not 'seven'"):
        load_config(tmp_path)
    monkeypatch.setenv("KHIDMAT_LOGIN_MAX_FAILURES", "7")
    monkeypatch.setenv("KHIDMAT_DB_PROBE_SECONDS", "2s")
    with pytest.raises(RuntimeError, match=r"KHIDMAT_DB_PROBE_SECONDS must be a number, not '2s'"):
        load_config(tmp_path)


def test_secure_cookies_are_off_by_default_and_the_secret_is_kept(tmp_path: Path) -> None:
    first = load_config(tmp_path)
    assert first["SESSION_COOKIE_SECURE"] is False
    assert len(first["SECRET_KEY"]) >= 32
    assert load_config(tmp_path)["SECRET_KEY"] == first["SECRET_KEY"], "generated once, then reused"


def test_a_secure_deployment_marks_the_staff_cookie_secure(
    app_config: dict[str, object], monkeypatch: pytest.MonkeyPatch, demo: object, passwords: dict[str, str]
) -> None:
    monkeypatch.setenv("KHIDMAT_SESSION_COOKIE_SECURE", "true")
    app = create_app({**app_config, "WTF_CSRF_ENABLED": False})
    client = app.test_client()
    r = client.post("/counter/login", data={"username": "clerk1", "password": passwords["clerk1"]})
    with app.app_context():
        db.engine.dispose()  # this second app's pool: no connection left for the GC to find
    assert r.status_code in (302, 303), r.status_code
    cookie = r.headers.get("Set-Cookie", "")
    assert "Secure" in cookie, cookie


def test_an_app_without_redis_does_not_inherit_an_earlier_apps_message_queue(
    app_config: dict[str, object],
) -> None:
    """One app per process in production, many in the tests: each starts from its own
    configuration (an inherited Redis queue made every later test client refuse to run)."""
    from socketio import RedisManager

    from queue_server.extensions import socketio

    with_redis = create_app({**app_config, "REDIS_URL": "redis://127.0.0.1:9/0"})
    assert isinstance(socketio.server.manager, RedisManager)
    without = create_app(app_config)
    assert not isinstance(socketio.server.manager, RedisManager)
    client = socketio_client(without)
    assert client.is_connected()
    client.disconnect()
    for made in (with_redis, without):
        with made.app_context():
            db.engine.dispose()
