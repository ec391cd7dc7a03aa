"""Presence: which devices are connected and when each was last seen.

Screens re-join every minute (static/live.js): that is how the dashboard knows a display or
kiosk is still there. A join never writes: ``note`` keeps the device's last sighting in
memory (device id → time, per process), and the ``presence`` worker writes the sightings
every ``PRESENCE_FLUSH_SECONDS`` in one transaction (``operations.devices.note_seen_many``:
at most one write per device per ``SEEN_EVERY``, as a kiosk's status check does). The
dashboard reads ``Device.last_seen_at`` and calls a screen offline after
``SCREEN_OFFLINE_SECONDS``, well above the flush interval.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from flask import Flask, current_app

from queue_server.actors import Actor
from queue_server.clock import utcnow
from queue_server.operations.devices import note_seen_many
from queue_server.realtime.workers import Worker, app_worker
from queue_server.unit_of_work import run_in_transaction

log = logging.getLogger(__name__)

FLUSH_SECONDS = 30.0
_KEY = "khidmat.presence"


class Presence(Worker):
    """The devices seen by this process since the last flush, and the worker that writes them."""

    def __init__(self, app: Flask) -> None:
        super().__init__(app, "presence", interval_key="PRESENCE_FLUSH_SECONDS", default_interval=FLUSH_SECONDS)
        self._seen: dict[int, datetime] = {}
        self._seen_lock = threading.Lock()

    def note(self, device_id: int, at: datetime) -> None:
        """Remember that the device was seen (memory only) and make sure the flush runs."""
        with self._seen_lock:
            self._seen[device_id] = at
        self.ensure_started()

    def pending(self) -> dict[int, datetime]:
        with self._seen_lock:
            return dict(self._seen)

    def round(self) -> int:
        """Write the sightings noted since the last round; return how many rows changed.
        When the database is busy or gone they are kept for the next round."""
        with self._seen_lock:
            seen, self._seen = self._seen, {}
        if not seen:
            return 0
        try:
            return run_in_transaction(lambda s: note_seen_many(s, seen))
        except Exception:
            with self._seen_lock:
                for device_id, at in seen.items():  # a newer sighting wins
                    if self._seen.get(device_id, at) <= at:
                        self._seen[device_id] = at
            raise


def presence(app: Flask | None = None) -> Presence:
    """This app's presence (made by ``queue_server.realtime.init_app``)."""
    return app_worker(app or current_app._get_current_object(), _KEY, Presence)  # type: ignore[attr-defined]


def init_app(app: Flask) -> None:
    app.extensions[_KEY] = Presence(app)


def note_device_seen(actor: Actor | None) -> None:
    """A socket of a paired device joined a screen: it is there now."""
    if actor is None or actor.kind != "device" or actor.id is None:
        return
    presence().note(actor.id, utcnow())
