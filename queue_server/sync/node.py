"""Node side: take the centre's configuration from the province (``pull_config``) and push
the centre's events the province has not seen yet, in chain order, in batches. Resumable and idempotent: each push starts from the head the province reports,
and the province skips records it holds already, so a batch re-sent after a lost answer
stores nothing twice. The node keeps serving whether or not a push succeeds."""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from queue_server.clock import utcnow
from queue_server.errors import N_, NotFound, ValidationFailed
from queue_server.models import Centre, Event
from queue_server.models.sync import NodeSyncState
from queue_server.sync.rows import snapshot
from queue_server.unit_of_work import run_in_transaction

log = logging.getLogger(__name__)


class SyncFailed(Exception):
    """The province could not be reached or refused a batch (the message says which)."""


@dataclass(frozen=True)
class PushResult:
    sent: int
    stored: int
    last_seq: int
    pending: int


def node_centre(session: Session, code: str | None) -> Centre:
    if code:
        centre = session.scalar(select(Centre).where(Centre.code == code))
        if centre is None:
            raise NotFound(N_("No centre %(centre)s."), centre=code)
        return centre
    centres = list(session.scalars(select(Centre).limit(2)))
    if len(centres) != 1:
        raise ValidationFailed(N_("This node holds several centres: set KHIDMAT_NODE_CENTRE."))
    return centres[0]


def _state(session: Session, centre_id: int) -> NodeSyncState:
    state = session.get(NodeSyncState, centre_id)
    if state is None:
        state = NodeSyncState(centre_id=centre_id, acked_seq=0)
        session.add(state)
        session.flush()
    return state


def _call(
    config: dict[str, Any], method: str, path: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    url = str(config["PROVINCE_URL"]).rstrip("/") + path
    if not url.startswith(("http://", "https://")):
        raise SyncFailed("KHIDMAT_PROVINCE_URL must be an http(s) URL")
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)  # noqa: S310  (scheme checked above)
    req.add_header("Authorization", f"Bearer {config['NODE_KEY']}")
    req.add_header("Accept", "application/json")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=config["SYNC_TIMEOUT_SECONDS"]) as resp:  # noqa: S310
            return json.loads(resp.read())  # type: ignore[no-any-return]
    except urllib.error.HTTPError as exc:
        try:
            answer = json.loads(exc.read())
            detail = f"{answer.get('error')}: {answer.get('message')}"
        except (ValueError, AttributeError):
            detail = exc.reason
        raise SyncFailed(f"province refused ({exc.code}) {detail}") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise SyncFailed(f"province unreachable: {exc}") from exc


def _event_dict(event: Event) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "at": event.at.isoformat(timespec="microseconds"),
        "kind": event.kind,
        "actor": event.actor,
        "token_id": event.token_id,
        "counter_id": event.counter_id,
        "service_id": event.service_id,
        "data": event.data,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


def push(config: dict[str, Any], *, max_batches: int | None = None) -> PushResult:
    """Push every event the province lacks (or ``max_batches`` batches); record the outcome.

    Reads in short transactions and never holds a write lock across a network call."""
    centre_id, code = _own_centre(config)
    sent = stored = batches = 0
    try:
        head = _call(config, "GET", f"/api/v1/sync/{code}/head")
        last_seq = int(head["last_seq"])
        while max_batches is None or batches < max_batches:

            def read(s: Session, after: int = last_seq) -> tuple[list[dict[str, Any]], dict[str, Any], int]:
                rows = s.scalars(
                    select(Event)
                    .where(Event.centre_id == centre_id, Event.seq > after)
                    .order_by(Event.seq)
                    .limit(config["SYNC_BATCH_SIZE"])
                )
                events = [_event_dict(e) for e in rows]
                touched = snapshot(s, centre_id, {e["token_id"] for e in events if e["token_id"]})
                total = (
                    s.scalar(select(func.count()).select_from(Event).where(Event.centre_id == centre_id)) or 0
                )
                return events, touched, total

            events, touched, total = run_in_transaction(read)
            if not events:
                break
            answer = _call(
                config,
                "POST",
                f"/api/v1/sync/{code}/events",
                {
                    "centre": code,
                    "origin_centre_id": centre_id,
                    "pending": max(total - events[-1]["seq"], 0),
                    "events": events,
                    "rows": touched,
                },
            )
            sent += len(events)
            stored += int(answer["stored"])
            last_seq = int(answer["last_seq"])
            batches += 1
            _record(centre_id, last_seq, str(answer["last_hash"]), None)
    except SyncFailed as exc:
        _record(centre_id, None, None, str(exc))
        raise
    pending = run_in_transaction(
        lambda s: (
            s.scalar(
                select(func.count())
                .select_from(Event)
                .where(Event.centre_id == centre_id, Event.seq > last_seq)
            )
            or 0
        )
    )
    if sent == 0:
        _record(centre_id, last_seq, str(head["last_hash"]), None)
    return PushResult(sent, stored, last_seq, int(pending))


@dataclass(frozen=True)
class PullResult:
    centre: str
    changed: bool
    new_devices: list[str]


def pull_config(config: dict[str, Any]) -> PullResult:
    """Take the centre's configuration from the province (the catalogue, the centre's
    figures, hours, services, counters, staff and devices) and apply it here, all or
    nothing, through the same import as ``khidmat config import``: configuration is the
    province's, the day's records are the node's. Nothing changes when nothing changed
    there. Keys and passwords never travel: a device new to the node is paired from its
    ``/manage`` page (rotate its key), a clerk new to the node is given a password there."""
    from queue_server.actors import SYSTEM
    from queue_server.setup_file import ImportRefused, import_yaml

    centre_id, code = _own_centre(config)
    try:
        answer = _call(config, "GET", f"/api/v1/sync/{code}/config")
        text = str(answer.get("yaml", ""))
        try:
            report = run_in_transaction(lambda s: import_yaml(s, SYSTEM, text))
        except ImportRefused as refused:
            problems = "; ".join(f"line {line}: {message}" for line, message in refused.report.problems[:5])
            raise SyncFailed(f"the province's configuration does not apply here, nothing changed: {problems}") from None
    except SyncFailed as exc:
        _record(centre_id, None, None, f"configuration: {exc}")
        raise
    return PullResult(code, bool(report.changed), [item["device"] for item in report.secrets])


def _own_centre(config: dict[str, Any]) -> tuple[int, str]:
    if not config.get("PROVINCE_URL") or not config.get("NODE_KEY"):
        raise SyncFailed("not a node: set KHIDMAT_PROVINCE_URL and KHIDMAT_NODE_KEY")
    return run_in_transaction(lambda s: (lambda c: (c.id, c.code))(node_centre(s, config.get("NODE_CENTRE"))))


def _record(centre_id: int, acked_seq: int | None, acked_hash: str | None, error: str | None) -> None:
    def work(s: Session) -> None:
        state = _state(s, centre_id)
        now = utcnow()
        state.last_attempt_at = now
        if error is None:
            state.last_error = None
            state.last_sync_at = now
            if acked_seq is not None and acked_hash is not None:
                state.acked_seq, state.acked_hash = acked_seq, acked_hash
        else:
            state.last_error = error[:500]

    run_in_transaction(work)


def status(session: Session, code: str | None) -> dict[str, Any]:
    """What ``khidmat node status`` prints: acknowledged head, pending events, last sync and error."""
    centre = node_centre(session, code)
    state = session.get(NodeSyncState, centre.id)
    last = session.scalar(select(func.max(Event.seq)).where(Event.centre_id == centre.id)) or 0
    acked = state.acked_seq if state else 0
    return {
        "centre": centre.code,
        "events": last,
        "acknowledged": acked,
        "pending": max(last - acked, 0),
        "last_sync_at": state.last_sync_at.isoformat() if state and state.last_sync_at else None,
        "last_attempt_at": state.last_attempt_at.isoformat() if state and state.last_attempt_at else None,
        "last_error": state.last_error if state else None,
    }


def start_loop(app: Flask) -> threading.Thread | None:
    """Every SYNC_INTERVAL_SECONDS in a daemon thread: take the configuration, then push;
    off without a province URL."""
    interval = int(app.config.get("SYNC_INTERVAL_SECONDS") or 0)
    if not app.config.get("PROVINCE_URL") or not app.config.get("NODE_KEY") or interval <= 0:
        return None
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(interval):
            with app.app_context():
                try:
                    pulled = pull_config(app.config)
                    if pulled.changed:
                        log.info("sync: configuration of %s taken from the province", pulled.centre)
                    for device in pulled.new_devices:
                        log.warning("sync: new device %r: pair it from /manage/setup/%s", device, pulled.centre)
                except SyncFailed as exc:
                    log.warning("sync: %s", exc)
                except Exception:
                    log.exception("taking the configuration failed")
                try:
                    result = push(app.config)
                    log.info(
                        "sync: sent %s events, %s new; %s pending", result.sent, result.stored, result.pending
                    )
                except SyncFailed as exc:
                    log.warning("sync: %s", exc)
                except Exception:  # the node keeps serving whatever happens to sync
                    log.exception("sync failed")

    thread = threading.Thread(target=loop, name="khidmat-sync", daemon=True)
    thread.start()
    app.extensions["khidmat_sync_stop"] = stop
    return thread
