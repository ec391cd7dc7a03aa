"""``khidmat serve``: gunicorn, configured for the database in use.

SQLite (the embedded default): one process in threading mode (gunicorn ``gthread``), a
thread per open socket; gevent would freeze on SQLite's write lock, so it is refused.
PostgreSQL: gevent workers, as many as asked; more than one process needs
``KHIDMAT_REDIS_URL`` so every process can reach every screen. The Socket.IO
``async_mode`` is always set explicitly (``KHIDMAT_ASYNC_MODE``) to match the worker class,
so an installed eventlet is never picked up by accident.

gevent must patch the standard library before anything else is imported: psycopg 3 picks
its wait function when it is imported, and the one it picks in an unpatched process blocks
the whole worker while a query waits (two requests contending for one row then wait for
each other forever). ``khidmat serve`` has already imported the application by the time
it runs, so for gevent it re-executes itself as ``python -m queue_server.serving``, which
patches first and imports the application only in the workers.

Behind a reverse proxy set ``KHIDMAT_PROXY_HOPS`` (the number of proxies in front, usually
1): the client address (rate limits), scheme and host then come from the proxy's
``X-Forwarded-*`` headers. Without it those headers are ignored, so a client cannot fake them.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__" and os.environ.get("KHIDMAT_ASYNC_MODE") == "gevent":
    from gevent import monkey

    monkey.patch_all()

import json  # after gevent's patching, on purpose
import logging
from typing import Any

log = logging.getLogger(__name__)
ASYNC_MODES = ("threading", "gevent")


def plan(
    *, workers: int | None, threads: int, async_mode: str | None, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Decide the worker class and count for this environment; refuse unsafe mixes."""
    env = dict(os.environ if env is None else env)
    url = env.get("KHIDMAT_DATABASE_URL", "")
    is_sqlite = not url or url.startswith("sqlite")
    mode = async_mode or ("threading" if is_sqlite else "gevent")
    if mode not in ASYNC_MODES:
        raise SystemExit(f"async mode {mode!r}: use threading or gevent")
    if mode == "gevent" and is_sqlite:
        raise SystemExit("gevent with SQLite freezes on the write lock: use threading or PostgreSQL")
    workers = workers or 1
    if workers < 1:
        raise SystemExit("--workers must be at least 1")
    if workers > 1 and (is_sqlite or not env.get("KHIDMAT_REDIS_URL")):
        raise SystemExit("several workers need PostgreSQL and KHIDMAT_REDIS_URL")
    options: dict[str, Any] = {
        "workers": workers,
        "worker_class": "gevent" if mode == "gevent" else "gthread",
        "timeout": 60,
        "graceful_timeout": 10,
        "keepalive": 5,
        "accesslog": "-",
        "logger_class": "queue_server.access_log.RedactingLogger",
        "errorlog": "-",
        "loglevel": "info",
    }
    if mode == "threading":
        options["threads"] = threads
    else:
        options["worker_connections"] = 2000
    return {"mode": mode, "options": options}


def close_screens_on_stop(worker: Any) -> None:
    """A stopping worker closes its screens' sockets instead of waiting for them.

    On SIGTERM gunicorn lets a worker finish its requests for up to ``graceful_timeout``;
    a screen's websocket never finishes, so every stop or restart with a screen connected
    would keep the hall without a server for the whole grace period. The worker still
    finishes its HTTP requests; its sockets are closed at the transport (no Socket.IO
    "disconnect", which a client takes as final), so every screen reconnects with its
    backoff, to the next server as soon as one listens. They are closed again every half
    second until the worker exits: a gevent worker notices the stop only at its next
    second, and a screen quick to reconnect may reach it until then."""
    import signal

    previous = signal.getsignal(signal.SIGTERM)
    if not callable(previous):  # not gunicorn's own handler: leave the stop as it is
        return
    stopping: list[bool] = []

    def on_stop(sig: int, frame: Any) -> None:
        previous(sig, frame)
        if not stopping:
            stopping.append(True)
            from queue_server.extensions import socketio

            socketio.start_background_task(close_sockets_until_exit)

    signal.signal(signal.SIGTERM, on_stop)


def close_sockets_until_exit() -> None:
    from queue_server.extensions import socketio

    engine = socketio.server.eio
    while True:
        sockets = [socket for socket in list(engine.sockets.values()) if not socket.closed]
        for socket in sockets:
            socket.close(wait=False, abort=True)
        if sockets:
            log.info("khidmat worker %s: stopping, closed %d sockets", os.getpid(), len(sockets))
        socketio.sleep(0.5)


def proxy_hops(env: dict[str, str] | None = None) -> int:
    raw = (os.environ if env is None else env).get("KHIDMAT_PROXY_HOPS", "0").strip() or "0"
    if not raw.isdigit():
        raise SystemExit("KHIDMAT_PROXY_HOPS must be a whole number (proxies in front of khidmat)")
    return int(raw)


def proxy_trusts_host(env: dict[str, str] | None = None) -> bool:
    """``KHIDMAT_PROXY_TRUST_HOST=1``: take the host from ``X-Forwarded-Host`` too. Off by
    default: the proxy passes ``Host`` itself, and a forged host would let another origin
    pass the socket's same-origin check and poison absolute links."""
    raw = (os.environ if env is None else env).get("KHIDMAT_PROXY_TRUST_HOST", "")
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def proxy_fix(wsgi_app: Any, hops: int, *, trust_host: bool = False) -> Any:
    """Trust ``hops`` proxies for the client address and scheme (and the host only when told)."""
    from werkzeug.middleware.proxy_fix import ProxyFix

    host = hops if trust_host else 0
    return ProxyFix(wsgi_app, x_for=hops, x_proto=hops, x_host=host, x_port=host)


def redact_path(text: str) -> str:
    from queue_server.access_log import redact_path as redact

    return redact(text)


def psycopg_wait() -> str:
    """The name of the wait function psycopg uses in this process ('' if not loaded)."""
    waiting = sys.modules.get("psycopg.waiting")
    return getattr(getattr(waiting, "wait", None), "__name__", "") if waiting else ""


def load_app(mode: str, hops: int) -> Any:
    """Build the application in a worker; refuse a gevent worker whose database driver
    would block it."""
    from queue_server.app import create_app

    app = create_app()
    with app.app_context():
        from queue_server.extensions import db

        db.engine.dialect.dbapi  # noqa: B018  (imports the driver now, to check it below)
    wait = psycopg_wait()
    if mode == "gevent" and wait == "wait_c":
        raise RuntimeError("psycopg was imported before gevent patched the process: its waits would block")
    if hops:
        # Outside the Socket.IO middleware, so the websocket handshake sees them too.
        app.wsgi_app = proxy_fix(app.wsgi_app, hops, trust_host=proxy_trusts_host())  # type: ignore[method-assign]
    from queue_server.sync.node import start_loop

    start_loop(app)  # a centre node pushes to the province in the background (off without a URL)
    log.info(
        "khidmat worker %s: async_mode=%s, psycopg wait=%s, redis=%s, proxy hops=%s",
        os.getpid(),
        mode,
        wait or "-",
        "on" if app.config.get("REDIS_URL") else "off",
        hops,
    )
    return app


def serve(options: dict[str, Any], mode: str, hops: int) -> None:
    from gunicorn.app.base import BaseApplication

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)
            self.cfg.set("post_worker_init", close_screens_on_stop)

        def load(self) -> Any:
            return load_app(mode, hops)

    Server().run()


def run(*, host: str, port: int, workers: int | None, threads: int, async_mode: str | None) -> None:
    """Serve until stopped (``khidmat serve``)."""
    decided = plan(workers=workers, threads=threads, async_mode=async_mode)
    hops = proxy_hops()
    os.environ["KHIDMAT_ASYNC_MODE"] = decided["mode"]
    options = {"bind": f"{host}:{port}", **decided["options"]}
    if decided["mode"] == "gevent":
        # a fresh interpreter that patches before importing anything (see the module doc)
        sys.stdout.flush()
        sys.stderr.flush()
        # -P: the code this process runs, not a copy in the working directory (``-m`` would
        # put the directory first on the path)
        argv = [sys.executable, "-P", "-m", "queue_server.serving", json.dumps(options)]
        os.execv(sys.executable, argv)  # noqa: S606  (our own interpreter, no shell)
    serve(options, decided["mode"], hops)


if __name__ == "__main__":
    serve(json.loads(sys.argv[1]), os.environ.get("KHIDMAT_ASYNC_MODE", "threading"), proxy_hops())
