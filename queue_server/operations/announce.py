"""What each change tells the screens. A message about the change itself (a token called,
a counter's card) is built inside the transaction from the rows it changed; a read model
(the queue summary, the positions of those waiting, a tracking page's view) is built after
the commit in a read-only session (``publish.publish_built``), so the writer holds its lock
only for the change. Everything is sent after the commit.

Size: every message a change sends, and the screens' estimates those messages carry (the
kept forecast and the worker that refreshes it), which decide what each build reads.
Debt: the estimates could be a module of their own once their tests stop patching this
one's clock."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from functools import partial
from time import monotonic
from typing import Any

from flask import Flask, current_app
from sqlalchemy import ColumnElement, Row, Select, bindparam, case, event, exists, select
from sqlalchemy.orm import Session, joinedload

from queue_server import estimate, notify, rooms
from queue_server.models import (
    Centre,
    Counter,
    Notification,
    Priority,
    RequestState,
    Service,
    ServiceRequest,
    Token,
    TokenState,
)
from queue_server.models.token import TOKEN_COLUMNS as _TOKENS
from queue_server.operations import sms
from queue_server.publish import (
    Message,
    after_commit,
    build_apart,
    is_rebuild,
    publish,
    publish_built,
    watched,
)
from queue_server.read import queue_state
from queue_server.read.tracking import track_payload
from queue_server.realtime.workers import Worker, app_worker

ALMOST_TURN = "almost_turn"
REQUEST_READY = "request_ready"
LIVE_POSITIONS = 25


_TRACKED = "khidmat_tracking_pages"


def track_later(session: Session, token: Token) -> None:
    """The token's tracking page redraws from its view as it stands after the commit:
    built once however many changes the token and its request went through in the
    transaction (start opens a request, complete withdraws an untouched one), and sent
    after every other message of the change; not built when nobody has the page open."""
    session.info.setdefault(_TRACKED, {})[token.id] = token.public_code


@event.listens_for(Session, "before_commit")
def _publish_tracking_pages(session: Session) -> None:
    tracked: dict[int, str] = session.info.pop(_TRACKED, {})
    if tracked:
        publish_built(session, lambda reader: _tracking_pages(reader, tracked))


def _tracking_pages(reader: Session, tracked: dict[int, str]) -> Iterable[Message]:
    for token_id in sorted(t for t, code in tracked.items() if watched(rooms.token(code))):
        token = reader.get(Token, token_id, options=[joinedload(Token.service), joinedload(Token.counter)])
        if token is None or _centre(reader, token.centre_id) is None:
            continue
        view = track_payload(reader, token)
        track = {"token": queue_state.token_public(token), "ahead": view["ahead"], "view": view}
        yield Message("token_changed", (rooms.token(token.public_code),), track, centre_id=token.centre_id)


@event.listens_for(Session, "after_rollback")
def _drop_tracking_pages(session: Session) -> None:
    session.info.pop(_TRACKED, None)


def queue_changed(
    session: Session,
    centre: Centre,
    *,
    capacities: queue_state.Capacities | None = None,
    after_call: bool = False,
) -> None:
    """The waiting counts and estimates of the centre's services, and the tokens next up;
    ``capacities`` when the caller computed them already in this transaction, after its
    last change (they are then a picture of the queue as committed). ``after_call``: the
    change is a call, whose own messages go to the screens first (below)."""
    centre_id = centre.id
    publish_built(
        session,
        lambda reader: _settled_summary(reader, centre_id, capacities, after_call=after_call),
        key=("queue_changed", centre_id),
    )


# A burst of changes, a summary or two --------------------------------------------------
#
# A summary is a read model of the whole centre (its counts, estimates and next tokens,
# about 7.5 KB to every screen), and a busy centre changes many times a second: eight
# counters calling, the kiosks issuing. A change finds the centre's summary built here
# less than QUEUE_SUMMARY_SECONDS ago: it builds none, and the worker of the screens'
# estimates owes the centre one at that age (``EstimatesWorker``), which then shows every
# change since. The first change after a quiet spell builds at once, so the screens of a
# calm centre see each change with it; those of a busy one at most that many seconds late.
# The call itself (``token_called``, the counter's card) is never held back, and a call
# after a quiet spell does not send the summary with it either: it opens the window, and
# the summary comes at its end. Sent together, each screen's socket carried the summary
# right behind the call, so the last of a hall of screens heard its call only after every
# screen before it had been sent both (at 500 screens, the bench's `floor+2` row: p99
# 860 ms against 120 for the call alone). 0: a summary for every change, with it.

# app.extensions: centre id -> monotonic() of its last summary built here, or of the call
# that opened a window
_SUMMARIES = "khidmat_queue_summaries"


def _settled_summary(
    reader: Session,
    centre_id: int,
    capacities: queue_state.Capacities | None = None,
    *,
    after_call: bool = False,
) -> list[Message]:
    """``_queue_summary`` after a commit, unless one was built here too recently or the
    change is a call (above): the centre is then owed it."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    settle = float(app.config.get("QUEUE_SUMMARY_SECONDS", 0) or 0)
    if settle > 0 and _watched_centre(centre_id):
        built = app.extensions.setdefault(_SUMMARIES, {})
        now, last = monotonic(), built.get(centre_id)
        if last is not None and now - last < settle:
            _estimates_worker(app).owe(centre_id, last + settle)
            return []
        if after_call:
            built[centre_id] = now  # (the window opens now: changes within it wait too)
            _estimates_worker(app).owe(centre_id, now + settle)
            return []
    return _queue_summary(reader, centre_id, capacities)


def _watched_centre(centre_id: int) -> bool:
    return any(watched(room) for room in rooms.centre_rooms(centre_id))


def _queue_summary(
    reader: Session, centre_id: int, capacities: queue_state.Capacities | None = None
) -> list[Message]:
    targets = rooms.centre_rooms(centre_id)
    if not _watched_centre(centre_id):  # no screen: the observers only
        return [Message("queue_changed", (), {"centre_id": centre_id}, centre_id=centre_id)]
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    app.extensions.setdefault(_SUMMARIES, {})[centre_id] = monotonic()
    found = _centre(reader, centre_id)
    if found is None:
        return []
    forecast = _screens_forecast(reader, found, capacities)
    caps = _known_capacities(reader, found, capacities)  # (none when the forecast was a kept one)
    waiting = queue_state.waiting_in(caps) if caps is not None else queue_state.waiting_by_service(reader, found)
    services = queue_state.queue_summary(reader, found, forecast=forecast, waiting=waiting)
    payload = {"centre_id": centre_id, "services": services, "next_up": queue_state.next_up(reader, found)}
    return [Message("queue_changed", targets, payload, centre_id=centre_id)]


# The screens' estimates, at most every SCREEN_ESTIMATES_SECONDS ---------------------------
#
# A queue summary tells each service's expected wait for a token issued now: a forecast of
# the whole queue (``estimate.forecast``), most of what a call costs. The counts it shows
# change with every call; the minutes it shows barely do. So a summary (or the positions
# of tracking pages) whose snapshot has no forecast yet (an issue plays one only until its
# own token is called, for its ticket, and adds that figure to the kept one:
# ``token_estimated``) reuses the centre's last one while it is younger than
# SCREEN_ESTIMATES_SECONDS (a summary then reads only its counts afresh, not the snapshot
# a forecast needs), and the screens are owed a summary with a fresh forecast when that
# age is reached: a worker builds it then, so the last change is always in the minutes
# shown, at most that many seconds late. 0: a forecast for every summary.

_ESTIMATES = "khidmat_screen_estimates"  # app.extensions: centre id -> (monotonic, forecast)


def _screens_forecast(
    reader: Session, centre: Centre, capacities: queue_state.Capacities | None = None, tokens: Iterable[int] = ()
) -> estimate.Forecast:
    """The forecast the screens' minutes come from: the snapshot's when this change
    computed it, else the centre's last one while it is young enough and knows
    ``tokens`` (a position's minutes), without reading a snapshot; else one computed now
    from the snapshot (``_capacities``), kept for the next changes."""
    known = _known_capacities(reader, centre, capacities)
    computed = queue_state.known_forecast(known) if known is not None else None
    if computed is None:
        kept = _kept_forecast(centre.id, tokens)
        if kept is not None:
            return kept
    forecast = computed or queue_state.forecast_of(_capacities(reader, centre, capacities))
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    app.extensions.setdefault(_ESTIMATES, {})[centre.id] = (monotonic(), forecast)
    return forecast


def _kept_forecast(centre_id: int, tokens: Iterable[int] = ()) -> estimate.Forecast | None:
    """The centre's last forecast while it is younger than SCREEN_ESTIMATES_SECONDS and
    knows ``tokens`` (the screens are then owed a fresh summary when it is due), else None."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    max_age = float(app.config.get("SCREEN_ESTIMATES_SECONDS", 0) or 0)
    recent: dict[int, tuple[float, estimate.Forecast]] = app.extensions.get(_ESTIMATES, {})
    if max_age <= 0 or centre_id not in recent:
        return None
    at, forecast = recent[centre_id]
    if monotonic() - at >= max_age or not all(t in forecast.waits for t in tokens):
        return None
    _estimates_worker(app).owe(centre_id, at + max_age)
    return forecast


def token_estimated(session: Session, centre_id: int, token_id: int, seconds: float | None) -> None:
    """After the commit, the centre's kept forecast learns the figure an issue computed for
    its own token, so that its tracking page's minutes come from it too (rather than a new
    forecast of the whole queue) until the kept one is due for its refresh."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if seconds is None or not app.config.get("SCREEN_ESTIMATES_SECONDS"):
        return  # (0: every summary computes its own forecast; nothing is kept for long)

    def learn() -> None:
        recent: dict[int, tuple[float, estimate.Forecast]] = app.extensions.get(_ESTIMATES, {})
        kept = recent.get(centre_id)
        if kept is not None:  # (a copy: a forecast may be a snapshot's, shared)
            at, forecast = kept
            recent[centre_id] = (at, estimate.Forecast({**forecast.waits, token_id: seconds}, forecast.new))

    after_commit(session, learn)


class EstimatesWorker(Worker):
    """Builds the summary of each centre whose screens were shown a reused forecast, or
    were not sent one for a change in a burst (``_settled_summary``), once it is due
    (``_kept_forecast``): folded, like a commit, into a build of the same summary running
    then."""

    def __init__(self, app: Flask) -> None:
        super().__init__(app, "screen estimates", interval_key=None, default_interval=1.0, until_idle=True)
        self._due: dict[int, float] = {}  # centre id -> monotonic instant its fresh summary is due
        self._due_lock = threading.Lock()

    def owe(self, centre_id: int, due: float) -> None:
        """The centre is owed a fresh summary at ``due`` (or at the sooner instant it is
        owed one already)."""
        with self._due_lock:
            if centre_id in self._due and self._due[centre_id] <= due:
                return
            self._due[centre_id] = due
        self.wake()

    def owed(self) -> dict[int, float]:
        with self._due_lock:
            return dict(self._due)

    def next_wait(self) -> float:
        with self._due_lock:
            soonest = min(self._due.values(), default=None)
        return self.interval if soonest is None else max(0.0, soonest - monotonic())

    def round(self) -> bool:
        """Build the summaries due now; False when none is owed any more."""
        now = monotonic()
        with self._due_lock:
            due = sorted(c for c, at in self._due.items() if at <= now)
            for centre_id in due:
                del self._due[centre_id]
        for centre_id in due:  # (bound now: a build folded into another thread runs later)
            build_apart(partial(_queue_summary, centre_id=centre_id), key=("queue_changed", centre_id))
        with self._due_lock:
            return bool(self._due)


def _estimates_worker(app: Flask) -> EstimatesWorker:
    return app_worker(app, "khidmat_screen_estimates_worker", EstimatesWorker)


def token_changed(session: Session, token: Token) -> None:
    public = queue_state.token_public(token)
    targets = list(rooms.centre_rooms(token.centre_id))
    if token.counter_id:
        targets.append(rooms.counter(token.counter_id))
    publish(session, Message("token_changed", tuple(targets), {"token": public}, centre_id=token.centre_id))
    track_later(session, token)
    if token.state in (TokenState.WAITING, TokenState.CANCELLED):
        positions_changed(session, token.centre, token.service_id)


def token_called(
    session: Session,
    token: Token,
    kind: str = "call",
    *,
    capacities: queue_state.Capacities | None = None,
) -> None:
    """A call to show and announce: kind is "call", "recall" or "collection"."""
    public = queue_state.token_public(token)
    payload = {"token": public, "kind": kind}
    targets = (*rooms.centre_rooms(token.centre_id), rooms.token(token.public_code))
    if token.counter_id:
        targets = (*targets, rooms.counter(token.counter_id))
    publish(session, Message("token_called", targets, payload, centre_id=token.centre_id))
    if kind in ("call", "collection"):
        sms.tell_called(session, token, public.get("counter"))
    if kind == "call":
        positions_changed(session, token.centre, token.service_id, capacities=capacities)


def positions_changed(
    session: Session,
    centre: Centre,
    service_id: int,
    *,
    capacities: queue_state.Capacities | None = None,
) -> None:
    """Tell the first LIVE_POSITIONS waiting tokens of a service their new place (a
    ``position`` event, its ``ahead`` and ``eta_minutes``, to each tracking room), after the
    commit, and queue now the "almost your turn" notification, once per token, for those
    with at most ``centre.almost_turn_ahead`` before them. Bounded queries, so a call costs
    the same with 20 or 2,000 waiting; a page further back redraws from its periodic
    snapshot, when a minute of staleness is a small share of its wait. ``capacities`` as
    for ``queue_changed``."""
    threshold = centre.almost_turn_ahead
    if threshold >= 0:
        _tell_almost_turn(session, centre, service_id, min(threshold + 1, LIVE_POSITIONS))
    centre_id = centre.id

    def build(reader: Session) -> Iterable[Message]:
        if not watched(rooms.tracking(centre_id)):  # (no page of the centre open: nothing read)
            return []
        found = _centre(reader, centre_id)
        rows = _first_waiting(reader, found, service_id, LIVE_POSITIONS) if found is not None else []
        watching = [(ahead, row) for ahead, row in enumerate(rows) if watched(rooms.token(row.public_code))]
        if not watching:  # (no forecast for pages nobody has open)
            return []
        assert found is not None
        etas = _screens_forecast(reader, found, capacities, [row.id for _, row in watching])
        return [
            Message(
                "position",
                (rooms.token(row.public_code),),
                {"number": row.number, "ahead": ahead, "eta_minutes": etas.token_minutes(row.id)},
                centre_id=centre_id,
            )
            for ahead, row in watching
        ]

    publish_built(session, build, key=("positions", centre_id, service_id))


def _centre(reader: Session, centre_id: int) -> Centre | None:
    """The centre, loaded once per commit for all its builders: the reader keeps it (and
    its calendar) for its life, where the session's identity map would let it go."""
    held: dict[int, Centre | None] = reader.info.setdefault("khidmat_centres", {})
    if centre_id not in held:
        held[centre_id] = reader.get(Centre, centre_id)
    return held[centre_id]


def _capacities(
    reader: Session, centre: Centre, known: queue_state.Capacities | None = None
) -> queue_state.Capacities:
    """The centre's capacities as committed, computed once per commit for all its builders
    (the forecast is most of what a change costs). ``known``: what the transaction computed
    after its last change, used unless the builder runs again for later commits folded
    into it (``publish.is_rebuild``)."""
    cache: dict[int, queue_state.Capacities] = reader.info.setdefault(_CAPACITIES, {})
    if centre.id not in cache:
        cache[centre.id] = _known_capacities(reader, centre, known) or queue_state.counter_capacities(reader, centre)
    return cache[centre.id]


_CAPACITIES = "khidmat_capacities"  # reader.info: centre id -> its capacities as committed


def _known_capacities(
    reader: Session, centre: Centre, known: queue_state.Capacities | None = None
) -> queue_state.Capacities | None:
    """The capacities ``_capacities`` has without computing them, else None."""
    cached = reader.info.get(_CAPACITIES, {}).get(centre.id)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    return None if known is None or is_rebuild(reader) else known


def _first_waiting(
    session: Session, centre: Centre, service_id: int, limit: int, statement: Select[Any] | None = None
) -> list[Row[Any]]:
    """The first ``limit`` waiting tokens of a service, in the order they will be called
    (``statement``: ``_FIRST_WAITING`` or a variant with more columns)."""
    first, last = queue_state.hall_days(centre)
    params = {"centre_id": centre.id, "service_id": service_id, "first": first, "last": last, "limit": limit}
    return list(session.execute(_FIRST_WAITING if statement is None else statement, params).all())


# On the tables (``TOKEN_COLUMNS``): plain Core statements, one per call.
_NOTIFICATIONS = Notification.__table__.c


def _first_waiting_statement(*extra: ColumnElement[Any]) -> Select[Any]:
    """``_first_waiting``'s statement, built once with bound parameters (every call runs it)."""
    return (
        select(_TOKENS.id, _TOKENS.public_code, _TOKENS.number, *extra)
        .where(
            _TOKENS.centre_id == bindparam("centre_id"),
            _TOKENS.service_id == bindparam("service_id"),
            _TOKENS.business_day.between(bindparam("first"), bindparam("last")),
            _TOKENS.state == TokenState.WAITING,
        )
        # The order of queue_state.tokens_ahead: priority first, then original issue time, id.
        .order_by(case((_TOKENS.priority == Priority.NORMAL, 1), else_=0), _TOKENS.queued_at, _TOKENS.id)
        .limit(bindparam("limit"))
    )


_FIRST_WAITING = _first_waiting_statement()
# With whether each was told "almost your turn" already: one statement, not two, per call.
_FIRST_WAITING_TOLD = _first_waiting_statement(
    exists()
    .where(_NOTIFICATIONS.token_id == _TOKENS.id, _NOTIFICATIONS.kind == ALMOST_TURN)
    .correlate(Token.__table__)
    .label("told")
)


def _tell_almost_turn(session: Session, centre: Centre, service_id: int, limit: int) -> None:
    """Queue "almost your turn" for each of the first ``limit`` waiting tokens of the
    service not told yet (``notify.enqueue`` keeps it to once per token even in a race)."""
    rows = _first_waiting(session, centre, service_id, limit, _FIRST_WAITING_TOLD)
    if all(row.told for row in rows):
        return
    service = session.get(Service, service_id)
    for ahead, row in enumerate(rows):
        if row.told:
            continue
        notify.enqueue(
            session,
            centre_id=centre.id,
            token_id=row.id,
            kind=ALMOST_TURN,
            payload={
                "number": row.number,
                "ahead": ahead,
                "centre": centre.code,
                "service_en": service.name_en if service else "",
                "service_ur": service.name_ur if service else "",
            },
        )


def counter_changed(session: Session, counter: Counter) -> None:
    """The counter's card (state, clerk, services, the token at it) to its screens."""
    counter_now_serving(session, counter, queue_state.current_token(session, counter))


def counter_now_serving(session: Session, counter: Counter, current: Token | None) -> None:
    """As ``counter_changed``, from a token operation that knows which token is now at the
    counter (None: nobody; a counter takes one citizen at a time)."""
    payload = {"counter": queue_state.counter_public(counter, current)}
    targets = (*rooms.centre_rooms(counter.centre_id), rooms.counter(counter.id))
    publish(session, Message("counter_changed", targets, payload, centre_id=counter.centre_id))


def centre_refresh(session: Session, centre: Centre) -> None:
    """Every screen of the centre redraws from a fresh snapshot (after end of day)."""
    publish(session, Message("refresh", rooms.centre_rooms(centre.id), {"centre_id": centre.id}, centre_id=centre.id))


def request_changed(session: Session, request: ServiceRequest) -> None:
    """A request moved on (in process, ready, delivered …): the citizen's tracking page
    redraws, and "ready for collection" goes into the notification outbox once."""
    token = request.token
    track_later(session, token)
    if request.state != RequestState.READY:
        if request.collection_called_at is not None:
            # Collected (or closed): its collection call is over on every public screen.
            over = {"token": queue_state.token_public(token), "collection_over": True}
            publish(session, Message("token_changed", rooms.centre_rooms(token.centre_id), over, centre_id=token.centre_id))
        return
    told = session.scalar(
        select(Notification.id).where(Notification.token_id == token.id, Notification.kind == REQUEST_READY)
    )
    if told is None:
        view = track_payload(session, token)
        notify.enqueue(
            session,
            centre_id=token.centre_id,
            token_id=token.id,
            kind=REQUEST_READY,
            payload={
                "number": token.number,
                "centre": token.centre.code,
                "service_en": token.service.name_en,
                "service_ur": token.service.name_ur,
                "collect_counter": view["request"]["collect_counter"] if view["request"] else None,
            },
        )
