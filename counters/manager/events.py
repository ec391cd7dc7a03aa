"""The dashboard's realtime side: the ``dashboard`` and ``province`` screens, and the
worker that keeps them current.

Joining ``dashboard`` ({"screen": "dashboard", "centre": <code>}, managers) puts a client
in ``centre:<id>:dashboard`` and sends the centre's live figures as the snapshot; joining
``province`` (province administrators) puts it in ``province:dashboard`` with every centre.

Every message an operation publishes after its commit passes through a publish sink here;
one for a centre's rooms marks the centre changed. The ``Hub`` (a background worker,
``queue_server.realtime.workers``: started with the first dashboard or the first change,
never by itself in testing) wakes at once, gathers the changes of the next instant,
evaluates the centre's alerts and pushes its figures: ``stats`` to the centre's dashboards
and ``province_row`` to the province view. So a manager sees a change
within a fraction of a second. Every ``SWEEP_SECONDS`` it also re-evaluates the centres
where something is open, since a wait passes its target by time alone.

A centre whose dashboard nobody watches (no manager's dashboard, no province view:
``publish.watched``) is refreshed at most every ``UNWATCHED_SECONDS`` however often it
changes: its alerts are still raised within seconds, but a busy centre no longer pays for
its figures on every change (in ``bench/bench_server.py`` they cost half as much as the
requests themselves). Such a refresh reads only what the alerts need
(``live_centre(figures=False)``: what is open, not every token of the day) and sends
nothing: with 3,000 tokens served, a full refresh took 100 ms.

A watched centre's refreshes take at most ``DASHBOARD_SHARE`` (a tenth) of the hub's time:
after a refresh that took d seconds, the centre's next waits d × (1 / share − 1). A quiet
centre's dashboard still follows every change within a fraction of a second; a busy one is
refreshed a few times a second instead of after every call. (Before the processes shared
their rooms through Redis, ``realtime.occupancy``, every room counted as watched between
processes: without this budget, the figures of every busy centre were rebuilt ten times a
second, a fifth of a PostgreSQL server's CPU in ``bench_server.py --db pg1``.)
"""

from __future__ import annotations

import logging
import math
import threading
import time
from datetime import date
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from queue_server import alerts, rooms
from queue_server.actors import Actor
from queue_server.auth import admits
from queue_server.clock import utcnow
from queue_server.errors import N_, Forbidden, NotAuthenticated, ValidationFailed
from queue_server.extensions import socketio
from queue_server.models import (
    Alert,
    Centre,
    Counter,
    CounterState,
    Device,
    DeviceKind,
    Role,
    Token,
    TokenState,
)
from queue_server.operations import alerts as alert_changes
from queue_server.operations.lookup import centre_for
from queue_server.publish import Message, add_sink, observes_only, watched
from queue_server.read import queue_state, statistics
from queue_server.realtime.screens import Join, screen
from queue_server.realtime.workers import Worker
from queue_server.unit_of_work import end_reading, reading, run_in_transaction

log = logging.getLogger(__name__)

SWEEP_SECONDS = 20.0
COALESCE_SECONDS = 0.1
UNWATCHED_SECONDS = 5.0
SHARE = 0.1  # of the hub's time, at most, for one watched centre's refreshes


class Hub(Worker):
    """Per process: which centres changed, and the worker that refreshes their dashboards.
    A wake gathers the changes of the next instant (COALESCE_SECONDS) into one round."""

    def __init__(self, app: Flask) -> None:
        super().__init__(
            app,
            "dashboard hub",
            interval_key="DASHBOARD_SWEEP_SECONDS",
            default_interval=SWEEP_SECONDS,
            coalesce=COALESCE_SECONDS,
        )
        self.dirty: set[int] = set()
        self.lock = threading.Lock()
        self.next_sweep = time.monotonic() + self.interval
        self.unwatched_every = float(app.config.get("DASHBOARD_UNWATCHED_SECONDS", UNWATCHED_SECONDS))
        self.refreshed: dict[int, float] = {}  # centre id -> when (monotonic) it was last refreshed
        share = float(app.config.get("DASHBOARD_SHARE", SHARE))
        self.rest_factor = 1.0 / share - 1.0 if share > 0 else 0.0
        self.resting: dict[int, float] = {}  # centre id -> until when (monotonic) its budget rests
        self.urgent: set[int] = set()  # centres to refresh in the next round whatever the time

    def mark(self, centre_id: int, *, at_once: bool = False) -> None:
        """The centre's dashboards are stale: refresh them in the next round (``at_once``:
        even when nobody watches and it was refreshed a moment ago, as after a change of
        its alert thresholds, whose alerts a manager expects to see at once)."""
        with self.lock:
            self.dirty.add(centre_id)
            if at_once:
                self.urgent.add(centre_id)
        self.wake()

    def next_wait(self) -> float:
        wait = self.next_sweep - time.monotonic()
        with self.lock:
            if self.dirty:  # a change waiting for its unwatched centre's turn
                wait = min(wait, min(self._due_in(c, time.monotonic()) for c in self.dirty))
        return max(0.05, wait)

    def _due_in(self, centre_id: int, now: float) -> float:
        """Seconds until the centre's change is refreshed: at once when its thresholds
        changed; when someone watches it, once its last refresh's budget has rested
        (``DASHBOARD_SHARE``); else UNWATCHED_SECONDS after its last refresh."""
        if centre_id in self.urgent:
            return 0.0
        if watched(rooms.dashboard(centre_id)) or watched(rooms.PROVINCE):
            return self.resting.get(centre_id, -math.inf) - now
        return self.refreshed.get(centre_id, -math.inf) + self.unwatched_every - now

    def round(self) -> None:
        now = time.monotonic()
        with self.lock:
            changed, self.dirty = self.dirty, set()
            due = {c for c in changed if self._due_in(c, now) <= 0}
            self.urgent -= due
        if now >= self.next_sweep:
            self.next_sweep = now + self.interval
            with reading() as session:
                due |= active_centres(session)
        with self.lock:
            self.dirty |= changed - due  # (their turn comes within unwatched_every)
        for centre_id in sorted(due):
            began = time.monotonic()
            self.refresh(centre_id)
            ended = time.monotonic()
            self.refreshed[centre_id] = now
            self.resting[centre_id] = ended + (ended - began) * self.rest_factor

    def refresh(self, centre_id: int) -> None:
        try:
            # Nobody watching: the alerts only, from what they read (no figures of the day).
            shown = watched(rooms.dashboard(centre_id))
            in_province = watched(rooms.PROVINCE)
            figures = shown or in_province

            def work(s: Session) -> dict[str, Any] | None:
                centre = s.get(Centre, centre_id)
                return alert_changes.evaluate(s, centre, figures=figures).live if centre is not None else None

            # Most refreshes change no alert: find that out reading, so the counters'
            # writes never wait for the figures; take the write transaction only to change one.
            with reading() as session:
                centre = session.get(Centre, centre_id)
                if centre is None:
                    return
                live = alerts.live_unless_changed(session, centre, figures=figures)
            if live is None:
                live = run_in_transaction(work)
            if live is None:
                return
            if shown:
                socketio.emit("stats", live, to=rooms.dashboard(centre_id))
            if in_province:
                with reading() as session:
                    rows = statistics.province(session, centre_ids=[centre_id])
                if rows:
                    socketio.emit("province_row", rows[0], to=rooms.PROVINCE)
        except Exception:
            log.exception("refreshing the dashboard of centre %s", centre_id)
            end_reading()


def active_centres(session: Session) -> set[int]:
    """Centres where time alone can change an alert: a counter open, someone waiting,
    an alert open, or a kiosk printer in fault."""
    found: set[int] = set(
        session.scalars(select(Counter.centre_id).distinct().where(Counter.state != CounterState.CLOSED))
    )
    found |= set(session.scalars(select(Alert.centre_id).distinct().where(Alert.cleared_at.is_(None))))
    found |= set(
        session.scalars(
            select(Device.centre_id)
            .distinct()
            .where(
                Device.kind == DeviceKind.KIOSK, Device.printer_status.in_(list(statistics.PRINTER_FAULTS))
            )
        )
    )
    # Someone waiting: the tokens in each centre's hall (its business day, and the day
    # before when it is open across the boundary).
    by_days: dict[tuple[date, date], list[int]] = {}
    now = utcnow()
    for centre in session.scalars(select(Centre)).all():
        by_days.setdefault(queue_state.hall_days(centre, centre.business_day(now)), []).append(centre.id)
    for (first, last), ids in by_days.items():
        found |= set(
            session.scalars(
                select(Token.centre_id).distinct().where(
                    Token.centre_id.in_(ids),
                    Token.business_day.between(first, last),
                    Token.state == TokenState.WAITING,
                )
            )
        )
    return found


_hub: Hub | None = None


def hub() -> Hub | None:
    return _hub


def on_message(message: Message) -> None:
    """Publish sink: a committed change in a centre makes its dashboards stale."""
    current = _hub
    if current is None or message.event in ("stats", "province_row"):
        return
    if message.centre_id is not None:
        current.mark(message.centre_id, at_once=message.event == "alerts_changed")


def init_app(app: Flask) -> None:
    global _hub
    _hub = Hub(app)
    add_sink(on_message, watching=observes_only)


# Screens --------------------------------------------------------------------------------


def _require_manager(actor: Actor | None) -> Actor:
    if actor is None:
        raise NotAuthenticated(N_("Log in or give a key."))
    if not admits(actor, ("manager",)):
        raise Forbidden(N_("You are not allowed to do this."))
    return actor


@screen("dashboard")
def join_dashboard(s: Session, actor: Actor | None, data: dict[str, Any]) -> Join:
    who = _require_manager(actor)
    code = data.get("centre")
    if not isinstance(code, str):
        raise ValidationFailed(N_("Say which centre."))
    centre = centre_for(s, who, code)
    current = _hub
    if current is not None:
        current.mark(centre.id, at_once=True)  # evaluate its alerts now
    return [rooms.dashboard(centre.id)], lambda: statistics.live_centre(s, centre)


@screen("province")
def join_province(s: Session, actor: Actor | None, data: dict[str, Any]) -> Join:
    who = _require_manager(actor)
    if who.role != Role.ADMIN or who.centre_id is not None:
        raise Forbidden(N_("Only a province administrator sees every centre."))
    current = _hub
    if current is not None:
        current.ensure_started()
    return [rooms.PROVINCE], lambda: {"server_time": utcnow().isoformat(), "centres": statistics.province(s)}
