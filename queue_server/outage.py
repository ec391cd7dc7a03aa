"""Screens are told when the database is gone and when it is back.

The first unit of work of this process that finds the database unreachable marks an
outage: every screen gets ``service_state`` ``{"database": "down"}`` and shows itself
offline (the link status, the kiosk's out-of-service page), instead of showing a queue
that can no longer move. A probe (a background worker, ``queue_server.realtime.workers``)
then asks the database every ``DB_PROBE_SECONDS``; when it answers, the screens get
``{"database": "up"}`` and join again, which brings each a fresh snapshot. With a message queue (Redis) the events reach the screens of every
process; each process probes for itself.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from flask import Flask, current_app
from sqlalchemy import text

from queue_server.extensions import db, socketio
from queue_server.realtime.workers import Worker, app_worker
from queue_server.unit_of_work import on_database_unavailable

log = logging.getLogger(__name__)
EVENT = "service_state"
_lock = threading.Lock()
_down = False


def is_down() -> bool:
    return _down


def database_unavailable() -> None:
    """Mark the outage once, tell the screens, start the probe."""
    global _down
    with _lock:
        if _down:
            return
        _down = True
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    log.warning("database unreachable: screens told, probing every %ss", app.config["DB_PROBE_SECONDS"])
    _tell({"database": "down"})
    probe = app_worker(
        app,
        _PROBE_KEY,
        lambda app: Worker(
            app, "database probe", interval_key="DB_PROBE_SECONDS", default_interval=2.0,
            work=_probe_once, until_idle=True,
        ),
    )
    # Started even in testing (start, not ensure_started): the outage is marked for the
    # whole process, and only the probe ends it; a test that cut the database must not
    # leave every later test of the process "down".
    probe.start()


_PROBE_KEY = "khidmat_outage_probe"


def _probe_once() -> bool:
    """Ask the database; False (the worker ends) once it answers and the screens are told."""
    global _down
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # still gone: ask again later
        log.debug("database still unreachable: %s", exc)
        return True
    with _lock:
        _down = False
    log.warning("database answers again: screens told")
    _tell({"database": "up"})
    return False


def _tell(payload: dict[str, Any]) -> None:
    try:
        socketio.emit(EVENT, payload)
    except Exception:  # no socket server (a CLI command) or the queue is gone too
        log.exception("could not tell the screens about the database")


def init_app(app: Flask) -> None:
    on_database_unavailable(database_unavailable)
