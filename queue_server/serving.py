"""``khidmat serve``: gunicorn, configured for the database in use.

SQLite (the embedded default): one process in threading mode, a thread per open socket
(gevent would freeze on SQLite's write lock). PostgreSQL: gevent workers, as many as asked;
more than one needs ``KHIDMAT_REDIS_URL`` so every process can reach every screen.
"""

from __future__ import annotations

import os
from typing import Any

from gunicorn.app.base import BaseApplication


class _Server(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from queue_server.app import create_app

        return create_app()


def run(*, host: str, port: int, workers: int | None, threads: int, async_mode: str | None) -> None:
    url = os.environ.get("KHIDMAT_DATABASE_URL", "")
    is_sqlite = not url or url.startswith("sqlite")
    mode = async_mode or ("threading" if is_sqlite else "gevent")
    if mode == "gevent" and is_sqlite:
        raise SystemExit("gevent with SQLite freezes on the write lock: use threading or PostgreSQL")
    workers = workers or 1
    if workers > 1 and (is_sqlite or not os.environ.get("KHIDMAT_REDIS_URL")):
        raise SystemExit("several workers need PostgreSQL and KHIDMAT_REDIS_URL")
    os.environ["KHIDMAT_ASYNC_MODE"] = mode
    options: dict[str, Any] = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gevent" if mode == "gevent" else "gthread",
        "timeout": 60,
        "graceful_timeout": 10,
        "accesslog": "-",
        "errorlog": "-",
        "loglevel": "info",
    }
    if mode == "threading":
        options["threads"] = threads
    else:
        options["worker_connections"] = 2000
    _Server(options).run()
