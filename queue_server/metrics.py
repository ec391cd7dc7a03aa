"""Health and Prometheus metrics.

``/healthz`` answers 200 when the database (and Redis, when configured) answer, else 503.
``/metrics`` is this process's registry: tokens issued and called (counted from the events
they append, once their transaction commits, whichever entry point made them: API, socket,
page or CLI), queue lengths, HTTP request latency, connected sockets and screens. Every
server process has its own figures: scrape each process, not the load balancer.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from queue_server.audit import on_append
from queue_server.extensions import db, socketio
from queue_server.publish import after_commit
from queue_server.redis_link import redis_client
from queue_server.security import may_read_operations
from queue_server.unit_of_work import end_reading

bp = Blueprint("metrics", __name__)

REGISTRY = CollectorRegistry()
TOKENS_ISSUED = Counter("khidmat_tokens_issued", "Tokens issued", ["centre"], registry=REGISTRY)
TOKENS_CALLED = Counter(
    "khidmat_tokens_called", "Tokens called to a counter (recalls not counted)", ["centre"], registry=REGISTRY
)
QUEUE_LENGTH = Gauge("khidmat_queue_waiting", "Tokens waiting now", ["centre"], registry=REGISTRY)
CONNECTED_SOCKETS = Gauge(
    "khidmat_connected_sockets", "Connected Socket.IO clients in this process", registry=REGISTRY
)
SCREENS = Gauge(
    "khidmat_screens_connected",
    "Sockets of this process that joined a screen, by kind of room",
    ["screen"],
    registry=REGISTRY,
)
LATENCY = Histogram("khidmat_request_seconds", "HTTP request latency", ["endpoint"], registry=REGISTRY)

# event kind (queue_server.audit) -> the counter it feeds
COUNTED_EVENTS: dict[str, Counter] = {
    "token_issued": TOKENS_ISSUED,
    "token_called": TOKENS_CALLED,
    "token_called_specific": TOKENS_CALLED,
}
ROOM_KINDS = {"display": "display", "counters": "counters", "dashboard": "dashboard"}

# Centre codes by id, per database engine: ids are only unique within one database (the
# tests make a fresh database, and app, per test).
_centre_codes: weakref.WeakKeyDictionary[Engine, dict[int, str]] = weakref.WeakKeyDictionary()
_codes_lock = threading.Lock()


def _codes_of(engine: Engine) -> dict[int, str]:
    with _codes_lock:
        return _centre_codes.setdefault(engine, {})


def _centre_code(session: Session, engine: Engine, centre_id: int) -> str | None:
    """The centre's code from the cache or the session's identity map (no SQL in a flush)."""
    codes = _codes_of(engine)
    code = codes.get(centre_id)
    if code is None:
        from queue_server.models import Centre

        centre = session.identity_map.get(Session.identity_key(Centre, centre_id))
        if centre is not None:
            code = codes[centre_id] = str(centre.code)
    return code


def _count_later(session: Session, counter: Counter, centre_id: int) -> Callable[[], None]:
    engine = session.get_bind().engine
    code = _centre_code(session, engine, centre_id)

    def count() -> None:
        label = code
        if label is None:
            from queue_server.models import Centre

            with engine.connect() as conn:
                label = conn.scalar(select(Centre.code).where(Centre.id == centre_id)) or str(centre_id)
            _codes_of(engine)[centre_id] = label
        counter.labels(label).inc()

    return count


def _count_event(session: Session, kind: str, centre_id: int) -> None:
    """Count an event of the chain once its transaction commits."""
    if kind in COUNTED_EVENTS:
        after_commit(session, _count_later(session, COUNTED_EVENTS[kind], centre_id))


on_append(_count_event)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """200 when the database (and Redis, the message queue, when configured) answer."""
    checks: dict[str, str] = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # a health check reports; it must not raise
        checks["database"] = f"error: {type(exc).__name__}"
    finally:
        end_reading()
    url = current_app.config.get("REDIS_URL")
    if url:
        try:
            redis_client(url).ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    detail = checks if may_read_operations() else {}  # what failed is for operators only
    return jsonify({"status": "ok" if ok else "degraded", **detail}), 200 if ok else 503


def screen_counts() -> dict[str, int]:
    """Sockets of this process in each kind of room (display, counters, dashboard, counter, track)."""
    server = getattr(socketio, "server", None)
    manager = getattr(server, "manager", None)
    rooms: dict[Any, dict[str, Any]] = dict(getattr(manager, "rooms", {}).get("/", {}))
    members: dict[str, set[str]] = {kind: set() for kind in (*ROOM_KINDS.values(), "counter", "track")}
    for name, sids in rooms.items():
        if not isinstance(name, str):
            continue
        parts = name.split(":")
        kind = None
        if parts[0] == "centre" and len(parts) == 3:
            kind = ROOM_KINDS.get(parts[2])
        elif parts[0] == "counter" and len(parts) == 2:
            kind = "counter"
        elif parts[0] == "token" and len(parts) == 2:
            kind = "track"
        if kind is not None:
            members[kind].update(sids)
    return {kind: len(sids) for kind, sids in members.items()}


@bp.get("/metrics")
def metrics() -> Response:
    from queue_server.models import Centre, Token, TokenState

    if not may_read_operations():
        return Response("forbidden\n", status=403, mimetype="text/plain")
    try:
        rows = db.session.execute(
            select(Centre.code, func.count(Token.id))
            .join(Token, Token.centre_id == Centre.id)
            .where(Token.state == TokenState.WAITING)
            .group_by(Centre.code)
        ).all()
    finally:
        end_reading()
    QUEUE_LENGTH.clear()
    for code, count in rows:
        QUEUE_LENGTH.labels(code).set(count)
    for kind, count in screen_counts().items():
        SCREENS.labels(kind).set(count)
    # CONNECTED_SOCKETS is kept by queue_server.realtime as sockets come and go.
    return Response(generate_latest(REGISTRY), mimetype=CONTENT_TYPE_LATEST)


@bp.record_once
def _timing(state) -> None:  # type: ignore[no-untyped-def]
    app: Flask = state.app

    # The start time rides on the request itself (not ``g``, which an app context that
    # outlives the request would share).
    @app.before_request
    def _start() -> None:
        request.environ["khidmat.started"] = time.perf_counter()

    @app.after_request
    def _stop(response: Response) -> Response:
        started = request.environ.get("khidmat.started")
        if started is not None:
            LATENCY.labels(request.endpoint or "unknown").observe(time.perf_counter() - started)
        return response
