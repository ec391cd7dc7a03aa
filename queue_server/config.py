"""Configuration: a class of defaults, overridden by ``KHIDMAT_*`` environment variables.

No secret has a fallback: the session key is read from the environment or generated once
into the instance folder and reused on every start.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

ENV_PREFIX = "KHIDMAT_"


class Config:
    """Defaults for one centre on a laptop: SQLite under ``instance/``, one process."""

    DATABASE_URL: str | None = None  # None: SQLite file under instance/
    REDIS_URL: str | None = None
    SECRET_KEY: str | None = None
    DEFAULT_TIMEZONE = "Asia/Karachi"
    LANGUAGES = ("ur", "en")
    DEFAULT_LANGUAGE = "en"
    SQLITE_BUSY_TIMEOUT_MS = 15_000
    # Kiosk issuing limits: per device, per window.
    ISSUE_RATE_LIMIT = 30
    ISSUE_RATE_WINDOW_SECONDS = 60
    LOGIN_MAX_FAILURES = 5
    LOGIN_LOCK_SECONDS = 300
    IDEMPOTENCY_SECONDS = 30
    ASYNC_MODE = "threading"
    SOCKETIO_CHANNEL = "khidmat"  # the Redis channel shared by every process of one deployment
    PUBLIC_BASE_URL: str | None = None  # e.g. https://queue.example.pk; None: the request's host
    NOTIFIER = "log"  # the notification outbox adapter (queue_server.notify.NOTIFIERS)
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SECURE = False  # set KHIDMAT_SESSION_COOKIE_SECURE=1 when served over HTTPS
    WTF_CSRF_TIME_LIMIT = None
    TESTING = False


def _coerce(value: str, default: Any) -> Any:
    if isinstance(default, bool):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(value)
    return value


def load_config(instance_path: Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Merge class defaults, ``KHIDMAT_*`` variables and explicit overrides, in that order."""
    values: dict[str, Any] = {name: getattr(Config, name) for name in dir(Config) if name.isupper()}
    for name, default in list(values.items()):
        env = os.environ.get(ENV_PREFIX + name)
        if env is not None and env != "":
            values[name] = _coerce(env, default)
    values.update(overrides or {})

    instance_path.mkdir(parents=True, exist_ok=True)
    if not values.get("DATABASE_URL"):
        values["DATABASE_URL"] = f"sqlite:///{instance_path / 'khidmat.sqlite3'}"
    if not values.get("SECRET_KEY"):
        values["SECRET_KEY"] = _instance_secret(instance_path / "secret_key")
    values["SQLALCHEMY_DATABASE_URI"] = values["DATABASE_URL"]
    values["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(values["DATABASE_URL"], values)
    return values


def _instance_secret(path: Path) -> str:
    """Read the instance's secret key, creating it (mode 0600) the first time."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def engine_options(url: str, values: dict[str, Any]) -> dict[str, Any]:
    if url.startswith("sqlite"):
        return {
            "connect_args": {
                "check_same_thread": False,
                "timeout": values["SQLITE_BUSY_TIMEOUT_MS"] / 1000,
            },
        }
    return {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 20}
