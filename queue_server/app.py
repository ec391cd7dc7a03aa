"""The composition root: ``create_app`` builds and wires an application."""

from __future__ import annotations

import importlib
import logging
import os
from pathlib import Path
from typing import Any

from flask import Flask, request
from flask_babel import get_locale

from queue_server import i18n
from queue_server.config import load_config
from queue_server.database import configure_engine, guard_reads
from queue_server.extensions import babel, csrf, db, migrate, socketio
from queue_server.security import configure_security
from queue_server.unit_of_work import read_only_requests

UI_BLUEPRINTS = (
    "kiosk.views",
    "counters.views",
    "counters.manager.views",
    "display.views",
    "display.tracking",
    "display.booking",
)
PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build an application. ``config`` overrides defaults and ``KHIDMAT_*`` variables."""
    config = dict(config or {})
    instance = Path(
        config.pop("INSTANCE_PATH", None)
        or os.environ.get("KHIDMAT_INSTANCE_PATH")
        or PROJECT_DIR / "instance"
    ).resolve()
    app = Flask("queue_server", instance_path=str(instance), root_path=str(PACKAGE_DIR))
    app.config.update(load_config(instance, config))
    app.config.setdefault("ASSETS_DIR", str(PROJECT_DIR / "node_modules"))
    configure_logging(app)
    configure_extensions(app)
    configure_i18n(app)
    configure_blueprints(app)
    configure_errors(app)
    configure_cli(app)
    configure_security(app)
    configure_audit(app)
    return app


def configure_logging(app: Flask) -> None:
    if not app.debug and not app.testing:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def configure_extensions(app: Flask) -> None:
    db.init_app(app)
    with app.app_context():
        configure_engine(db.engine, app.config["SQLITE_BUSY_TIMEOUT_MS"])
        guard_reads(db.engine, strict=bool(app.config["STRICT_READS"]))
    read_only_requests(app)
    migrate.init_app(app, db, directory=str(PACKAGE_DIR / "migrations"))
    csrf.init_app(app)
    # SocketIO keeps its options between init_app calls, and the Redis client manager of an
    # earlier app would survive a later app that has no message queue: start each app
    # from its own configuration (one app per process in production; many in the tests).
    socketio.server_options.pop("client_manager", None)
    socketio.init_app(
        app,
        async_mode=app.config["ASYNC_MODE"],
        message_queue=app.config.get("REDIS_URL") or None,
        channel=app.config["SOCKETIO_CHANNEL"],
        # None: only pages of this very origin (scheme://host, or X-Forwarded-Proto/Host
        # from the proxy) may open a socket, so another site cannot ride a browser's session.
        cors_allowed_origins=None,
        logger=False,
        engineio_logger=False,
    )


def configure_i18n(app: Flask) -> None:
    # One catalogue per package (queue_server, kiosk, counters, display), merged by Babel.
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = ";".join(str(f) for f in i18n.TRANSLATION_FOLDERS)

    def select_locale() -> str:
        languages = app.config["LANGUAGES"]
        wanted = request.args.get("lang") or request.cookies.get("lang")
        if wanted and wanted in languages:
            return str(wanted)
        return str(request.accept_languages.best_match(languages) or app.config["DEFAULT_LANGUAGE"])

    babel.init_app(app, locale_selector=select_locale)

    @app.after_request
    def remember_language(response):  # type: ignore[no-untyped-def]
        wanted = request.args.get("lang")
        if wanted in app.config["LANGUAGES"] and request.cookies.get("lang") != wanted:
            response.set_cookie("lang", wanted, max_age=365 * 86400, samesite="Lax")
        return response

    @app.context_processor
    def language_context() -> dict[str, Any]:
        lang = str(get_locale() or "en")
        return {"lang": lang, "dir": "rtl" if lang == "ur" else "ltr"}

    @app.context_processor
    def client_context() -> dict[str, Any]:
        from queue_server.assets import client_version

        return {"client_version": client_version(app)}


def configure_blueprints(app: Flask) -> None:
    from queue_server import outage, realtime
    from queue_server.api import bp as api_bp
    from queue_server.assets import bp as assets_bp
    from queue_server.metrics import bp as metrics_bp
    from queue_server.pairing import bp as pairing_bp

    app.register_blueprint(api_bp)
    app.register_blueprint(assets_bp)
    app.register_blueprint(metrics_bp)
    app.register_blueprint(pairing_bp)
    csrf.exempt(pairing_bp)
    csrf.exempt(api_bp)
    realtime.init_app(app)
    outage.init_app(app)
    if app.config.get("BENCH_FLOOR"):
        from queue_server.floor import bp as floor_bp

        app.register_blueprint(floor_bp)
        csrf.exempt(floor_bp)
    # The UI packages stand on the core; the core imports them only here.
    for name in UI_BLUEPRINTS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        app.register_blueprint(module.bp)


def configure_errors(app: Flask) -> None:
    from queue_server.http_errors import register

    register(app)


def configure_audit(app: Flask) -> None:
    from queue_server import checkpoints

    checkpoints.init_app(app)


def configure_cli(app: Flask) -> None:
    from queue_server.cli import register

    register(app)
