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
    LOGIN_MAX_FAILURES = 5  # per account and address (queue_server.login_throttle)
    LOGIN_LOCK_SECONDS = 300
    LOGIN_ADDRESS_MAX_FAILURES = 20  # per address, over every account
    DEVICE_SESSION_DAYS = 400  # a paired kiosk/display browser; ended by revoking the device
    NOTE_RETENTION_DAYS = 90  # free text of reasons and notices (models.security.EventNote)
    MAX_CONTENT_LENGTH = 256 * 1024  # bytes of one request body (the largest form is far smaller)
    MAX_FORM_MEMORY_SIZE = 64 * 1024
    # Who may read /metrics and the detail of /healthz: these addresses (comma-separated),
    # or an administrator's key. Others get 403 and a bare status.
    METRICS_ALLOWED = "127.0.0.1,::1"
    # Sockets per process (threading mode holds a thread per socket): anonymous ones (the
    # tracking page) overall and per address; paired devices and staff may use the rest.
    SOCKET_MAX_TOTAL = 190
    SOCKET_MAX_ANONYMOUS = 120
    SOCKET_MAX_PER_ADDRESS = 20
    TRACK_LOOKUPS_PER_MINUTE = 60  # tracking lookups (page, API, socket join) per address
    TRACKING_POLL_SECONDS = 10  # a tracking page without a live link asks this often
    IDEMPOTENCY_SECONDS = 30
    ASYNC_MODE = "threading"
    SOCKETIO_CHANNEL = "khidmat"  # the Redis channel shared by every process of one deployment
    PUBLIC_BASE_URL: str | None = None  # e.g. https://queue.example.pk; None: the request's host
    NOTIFIER = "log"  # the notification outbox adapter (queue_server.notify.NOTIFIERS): log or sms
    SMS_GATEWAY_URL = ""  # smpp://system_id:password@host:port or https://user:password@host/path (NOTIFIER=sms)
    # The shared key an HTTP gateway sends with each delivery receipt (POST /api/v1/sms/receipts,
    # header X-Receipt-Key or ?key=); empty: receipts are not taken over HTTP.
    SMS_RECEIPT_KEY = ""
    SMS_SENDER = "Khidmat"  # the alphanumeric sender the SMS shows
    SMS_PER_NUMBER_PER_HOUR = 6  # more to one number in an hour are not sent (throttled)
    NOTIFY_RETRY_SECONDS = 30  # first back-off after a failed send; doubles, at most 15 min
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SECURE = False  # set KHIDMAT_SESSION_COOKIE_SECURE=1 when served over HTTPS
    WTF_CSRF_TIME_LIMIT = None
    # Signed checkpoints of every centre's chain head (queue_server/checkpoints.py).
    AUDIT_CHECKPOINT_SECONDS = 3600  # 0: only at end of day
    AUDIT_SIGNING_KEY_PATH: str | None = None  # None: audit_signing_key.pem in instance/
    AUDIT_CHECKPOINT_LOG: str | None = None  # None: audit-checkpoints.jsonl in instance/
    AUDIT_TRUSTED_KEYS = ""  # earlier public keys (base64, comma-separated) after a key change
    # A centre node (one centre on its own machine) pushes its chain to the province here.
    PROVINCE_URL: str | None = None  # e.g. https://province.example.pk; None: not a node, no sync
    NODE_KEY: str | None = None  # from ``khidmat node register --centre C`` on the province
    NODE_CENTRE: str | None = None  # the centre code this node runs; None: its only centre
    SYNC_INTERVAL_SECONDS = 60  # the background push; 0: off (push with ``khidmat node push``)
    SYNC_BATCH_SIZE = 100
    SYNC_TIMEOUT_SECONDS = 15
    # While the database is unreachable, how often this process asks it again (and tells
    # the screens when it answers; queue_server/outage.py).
    DB_PROBE_SECONDS = 2.0
    # How often the device sightings of socket joins are written (queue_server/realtime/presence.py);
    # well under the dashboard's offline threshold.
    PRESENCE_FLUSH_SECONDS = 30.0
    # With Redis: how often a process renews its rooms there, and how long they last
    # without it, after a process died (queue_server/realtime/occupancy.py). Keep the
    # expiry a few heartbeats long.
    ROOMS_HEARTBEAT_SECONDS = 15.0
    ROOMS_EXPIRE_SECONDS = 60.0
    # The screens' expected waits (a forecast of the whole queue) are computed at most this
    # often per centre: the minutes of a later change follow at most this late
    # (queue_server/operations/announce.py); 0: a forecast for every change.
    SCREEN_ESTIMATES_SECONDS = 2.0
    # A centre's queue summary (its counts and estimates, to every screen) is built at most
    # this often per process: a change in a burst is shown with the next one, at most this
    # late (queue_server/operations/announce.py); 0: a summary after every change.
    QUEUE_SUMMARY_SECONDS = 0.5
    # PostgreSQL ends a transaction left idle this long (its client is gone); 0: never.
    PG_IDLE_IN_TRANSACTION_SECONDS = 15.0
    # A write statement in a read (a GET request, a screen's join, a read model): logged;
    # with this set (the tests set it, for their servers too) it fails instead.
    STRICT_READS = False
    TESTING = False
    BENCH_FLOOR = False  # bench/bench_server.py only: serve the bare /bench/floor route


def _coerce(name: str, value: str, default: Any) -> Any:
    """An environment variable's text as its setting's type (that of the default)."""
    if isinstance(default, bool):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int | float):
        try:
            return type(default)(value.strip())
        except ValueError:
            kind = "a whole number" if isinstance(default, int) else "a number"
            raise RuntimeError(f"{ENV_PREFIX}{name} must be {kind}, not {value!r}") from None
    return value


def load_config(instance_path: Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Merge class defaults, ``KHIDMAT_*`` variables and explicit overrides, in that order."""
    values: dict[str, Any] = {name: getattr(Config, name) for name in dir(Config) if name.isupper()}
    for name, default in list(values.items()):
        env = os.environ.get(ENV_PREFIX + name)
        if env is not None and env != "":
            values[name] = _coerce(name, env, default)
    values.update(overrides or {})

    instance_path.mkdir(parents=True, exist_ok=True)
    if not values.get("DATABASE_URL"):
        values["DATABASE_URL"] = f"sqlite:///{instance_path / 'khidmat.sqlite3'}"
    if values.get("SECRET_KEY") is None or values.get("SECRET_KEY") == "":
        values["SECRET_KEY"] = _instance_secret(instance_path / "secret_key")
    check_secret_key(str(values["SECRET_KEY"]), testing=bool(values.get("TESTING")))
    values["SQLALCHEMY_DATABASE_URI"] = values["DATABASE_URL"]
    values["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(values["DATABASE_URL"], values)
    return values


SECRET_KEY_MIN_LENGTH = 32
PLACEHOLDERS = ("change-me", "change_me", "changeme", "replace-me")


def check_secret_key(key: str, *, testing: bool = False) -> None:
    """Refuse a placeholder (``CHANGE-ME`` of deploy/khidmat.env.example) always, and a key
    shorter than ``SECRET_KEY_MIN_LENGTH`` outside the test suite: a guessable key lets
    anyone sign a session cookie."""
    lowered = key.strip().lower()
    if not lowered or any(word in lowered for word in PLACEHOLDERS):
        raise RuntimeError(
            "KHIDMAT_SECRET_KEY is empty or a placeholder: generate one, e.g. "
            "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"
        )
    if not testing and len(key) < SECRET_KEY_MIN_LENGTH:
        raise RuntimeError(f"KHIDMAT_SECRET_KEY is too short: use at least {SECRET_KEY_MIN_LENGTH} characters")


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
        # A request may hold two connections at once (its own, and the read-only one the
        # read models are built in after its commit): a pool kept as large as the server's
        # threads spares opening (and setting up) a connection per request.
        return {
            "pool_size": 32,
            "max_overflow": 64,
            "connect_args": {
                "check_same_thread": False,
                "timeout": values["SQLITE_BUSY_TIMEOUT_MS"] / 1000,
            },
        }
    # A transaction whose client vanished (a process killed, a network cut that left the
    # connection half-open) would keep its row locks until TCP noticed, hours later, and
    # every counter would wait behind it. The server's transactions are short, so the
    # database ends one left idle for PG_IDLE_IN_TRANSACTION_SECONDS, and keepalives find
    # a dead peer within a minute.
    idle_ms = int(float(values["PG_IDLE_IN_TRANSACTION_SECONDS"]) * 1000)
    return {
        "pool_pre_ping": True,
        "pool_size": 10,
        "max_overflow": 20,
        "connect_args": {
            "options": f"-c idle_in_transaction_session_timeout={idle_ms}",
            "keepalives": 1,
            "keepalives_idle": 30,
            "keepalives_interval": 10,
            "keepalives_count": 3,
        },
    }
