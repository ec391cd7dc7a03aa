"""Health and Prometheus metrics."""

from __future__ import annotations

import time

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy import func, select, text

from queue_server.extensions import db

bp = Blueprint("metrics", __name__)

REGISTRY = CollectorRegistry()
TOKENS_ISSUED = Counter("khidmat_tokens_issued", "Tokens issued", ["centre"], registry=REGISTRY)
TOKENS_CALLED = Counter("khidmat_tokens_called", "Tokens called", ["centre"], registry=REGISTRY)
QUEUE_LENGTH = Gauge("khidmat_queue_waiting", "Tokens waiting now", ["centre"], registry=REGISTRY)
CONNECTED_SOCKETS = Gauge(
    "khidmat_connected_sockets", "Connected Socket.IO clients in this process", registry=REGISTRY
)
LATENCY = Histogram("khidmat_request_seconds", "HTTP request latency", ["endpoint"], registry=REGISTRY)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    checks: dict[str, str] = {}
    try:
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
        checks["database"] = "ok"
    except Exception as exc:  # a health check reports; it must not raise
        checks["database"] = f"error: {type(exc).__name__}"
    url = current_app.config.get("REDIS_URL")
    if url:
        try:
            import redis

            redis.Redis.from_url(url, socket_timeout=2).ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    return jsonify({"status": "ok" if ok else "degraded", **checks}), 200 if ok else 503


@bp.get("/metrics")
def metrics() -> Response:
    from queue_server.models import Centre, Token, TokenState

    rows = db.session.execute(
        select(Centre.code, func.count(Token.id))
        .join(Token, Token.centre_id == Centre.id)
        .where(Token.state == TokenState.WAITING)
        .group_by(Centre.code)
    ).all()
    db.session.rollback()
    QUEUE_LENGTH.clear()
    for code, count in rows:
        QUEUE_LENGTH.labels(code).set(count)
    return Response(generate_latest(REGISTRY), mimetype=CONTENT_TYPE_LATEST)


@bp.record_once
def _timing(state) -> None:  # type: ignore[no-untyped-def]
    app: Flask = state.app

    @app.before_request
    def _start() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _stop(response: Response) -> Response:
        if "started" in g:
            LATENCY.labels(request.endpoint or "unknown").observe(time.perf_counter() - g.started)
        return response
