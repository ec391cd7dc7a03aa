"""The one policy for background work: ``Worker``, a named loop of rounds for one app.

Every loop of the server (the dashboard hub, notification delivery, the audio
pre-rendering, the presence flush, the audit checkpoints, the database probe) is a
``Worker``, so each behaves the same way:

- it is started at most once per app per process (``ensure_started``), with
  ``socketio.start_background_task``, so it runs under threading and gevent alike;
- it never starts by itself when ``app.testing``: the tests drive one round with
  ``run_once()`` (or start the loop on purpose with ``start()``);
- each round runs in an app context and ends with ``db.session.remove()``;
- a round that raises is logged with the worker's name, and the loop goes on;
- it waits ``interval`` seconds (from the app's config) between rounds, or less when
  ``wake()`` is called; wakes that come while it waits or works make one round;
- it stops when a newer worker of its name was made: its app was replaced (only the
  tests make several apps in one process), and its database may be someone else's;
- a worker ``until_idle`` ends when a round says nothing is left (returns False) and no
  wake came meanwhile; the next ``wake()`` starts it again.

This module imports nothing of the realtime hub: the core (``notify``, ``checkpoints``,
``outage``) uses it without pulling in the socket handlers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask

from queue_server.extensions import db, socketio

log = logging.getLogger(__name__)

# name -> the newest worker of that name in this process; an older one stops at its next wake
_newest: dict[str, Worker] = {}
_newest_lock = threading.Lock()


class Worker:
    """A named loop of rounds for one app (see the module's docstring for the policy).
    Give the round as ``work`` or override ``round``; it returns False when nothing is
    left to do (only ``until_idle`` workers care)."""

    def __init__(
        self,
        app: Flask,
        name: str,
        *,
        interval_key: str | None,
        default_interval: float,
        work: Callable[[], Any] | None = None,
        coalesce: float = 0.0,
        until_idle: bool = False,
    ) -> None:
        self.app = app
        self.name = name
        # (None: a worker that only works when woken; the interval is its pause after a
        # round that left work)
        self.interval = float(app.config.get(interval_key, default_interval) if interval_key else default_interval)
        self.coalesce = coalesce
        self.until_idle = until_idle
        self._work = work
        self._woken = threading.Event()
        self._lock = threading.Lock()
        self._running = False
        with _newest_lock:
            _newest[name] = self

    # -- the round ------------------------------------------------------------------------

    def round(self) -> Any:
        """One round of work, in an app context. False: nothing is left to do."""
        if self._work is None:
            raise NotImplementedError(f"worker {self.name!r} has no work")
        return self._work()

    def run_once(self) -> Any:
        """One round now, on the caller's thread, in a fresh app context (its own
        session, removed after). Exceptions reach the caller (the loop logs them)."""
        with self.app.app_context():
            try:
                return self.round()
            finally:
                db.session.remove()

    def next_wait(self) -> float:
        """Seconds to wait for a wake before the next round."""
        return self.interval

    # -- the loop -------------------------------------------------------------------------

    @property
    def is_running(self) -> bool:
        return self._running

    def is_current(self) -> bool:
        """Whether this is still the process's worker of its name (no newer app took over)."""
        return _newest.get(self.name) is self

    def wake(self) -> None:
        """Run a round soon: at once if the loop waits, after the current round if it works.
        Starts the loop if it is not running (never in testing)."""
        self._woken.set()
        self.ensure_started()

    def ensure_started(self) -> None:
        """Start the loop unless it runs already; in testing, never (tests call run_once)."""
        if not self.app.testing:
            self.start()

    def start(self) -> bool:
        """Start the loop unless it runs already, testing or not; True when started here."""
        with self._lock:
            if self._running:
                return False
            self._running = True
        socketio.start_background_task(self.run)
        return True

    def run(self) -> None:
        """The loop: wait, round, and again, until replaced (or idle, for ``until_idle``)."""
        while True:
            self._woken.wait(timeout=max(0.0, self.next_wait()))
            if self.coalesce:
                socketio.sleep(self.coalesce)  # gather the wakes of the next instant
            self._woken.clear()
            if not self.is_current():
                log.info("background worker %s: a newer app took over, stopping", self.name)
                with self._lock:
                    self._running = False
                return
            try:
                more = self.run_once()
            except Exception:
                log.exception("background worker %s: the round failed", self.name)
                more = True  # try again after the interval
            if self.until_idle and more is False:
                with self._lock:
                    if not self._woken.is_set():  # (a wake now starts a new loop)
                        self._running = False
                        return

def newest(name: str) -> Worker | None:
    """The process's current worker of a name, if any was made."""
    return _newest.get(name)


W = TypeVar("W", bound=Worker)
_made_lock = threading.Lock()


def app_worker(app: Flask, key: str, make: Callable[[Flask], W]) -> W:
    """The app's one worker kept under ``key`` in ``app.extensions``, made at its first
    need (once, however many threads need it at once)."""
    with _made_lock:
        found = app.extensions.get(key)
        if found is None:
            found = app.extensions[key] = make(app)
    return found  # type: ignore[no-any-return]
