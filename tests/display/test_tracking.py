"""The citizen's tracking page and its API, through the Flask test client and the Socket.IO
test client: nothing personal anywhere, unknown and expired codes, live positions and the
"almost your turn" outbox, and feedback once only."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from queue_server import notify, rooms
from queue_server.api.schemas import TrackOut, TrackRequestOut
from queue_server.clock import utcnow
from queue_server.models import (
    Centre,
    Counter,
    Event,
    Feedback,
    Notification,
    NotificationStatus,
    ServiceRequest,
    SmsPart,
    Token,
)
from queue_server.notify import LogNotifier, OutgoingNotification, deliver_pending, notifier_for
from queue_server.operations import feedback as feedback_ops
from queue_server.publish import Message, add_sink, remove_sink
from queue_server.read.tracking import MISSES_PER_MINUTE, TRACKING_DAYS
from tests.conftest import bearer
from tests.support.factories import socketio_client
from tests.support.live import unpacked

NAME = "Ayesha Siddiqa Khan"
CNIC = "35202-7654321-8"
PHONE = "0321-7654321"
PERSONAL = (NAME, "Ayesha", "Siddiqa", CNIC, "7654321", "3217654321", "0321")
PERSONAL_KEYS = {"applicant_name", "cnic", "phone", "notes", "reason", "documents_checked", "fee_received"}


@pytest.fixture
def sent() -> Iterator[list[Message]]:
    got: list[Message] = []
    add_sink(got.append)
    yield got
    remove_sink(got.append)


class Desk:
    """Drives the queue through the real JSON API, as the kiosk and a clerk would."""

    def __init__(
        self, client: FlaskClient, keys: dict[str, str], counter_no: Callable[[int], Counter]
    ) -> None:
        self.client = client
        self.keys = keys
        # Ids up front: a socket join ends the shared session, detaching loaded objects.
        self.counter_ids = {n: counter_no(n).id for n in range(1, 9)}

    def post(self, path: str, who: str, body: dict[str, Any] | None = None, status: int = 200) -> Any:
        r = self.client.post(path, json=body or {}, headers=bearer(self.keys[who]))
        assert r.status_code == status, (path, r.status_code, r.get_json())
        return r.get_json()

    def issue(self, service: str = "character", priority: str = "normal") -> dict[str, Any]:
        body = {"service": service, "priority": priority}
        return self.post("/api/v1/centres/demo/tokens", "kiosk", body, status=201)  # type: ignore[no-any-return]

    def open(self, number: int = 1) -> int:
        counter_id = self.counter_ids[number]
        self.post(f"/api/v1/counters/{counter_id}/open", f"clerk{number}")
        return counter_id

    def call(self, counter: int = 1) -> dict[str, Any]:
        return self.post(f"/api/v1/counters/{self.counter_ids[counter]}/call-next", f"clerk{counter}")  # type: ignore[no-any-return]

    def act(self, token_id: int, action: str, counter: int = 1) -> dict[str, Any]:
        return self.post(f"/api/v1/tokens/{token_id}/{action}", f"clerk{counter}")  # type: ignore[no-any-return]

    def serve(self, counter: int = 1) -> dict[str, Any]:
        """Call the next token at the counter, start and complete it."""
        token = self.call(counter)
        self.act(token["id"], "start", counter)
        return self.act(token["id"], "complete", counter)


@pytest.fixture
def desk(client: FlaskClient, keys: dict[str, str], counter_no: Callable[[int], Counter]) -> Desk:
    return Desk(client, keys, counter_no)


def track(client: FlaskClient, code: str, **kw: Any) -> Any:
    return client.get(f"/api/v1/track/{code}", **kw)


def keys_of(data: Any) -> set[str]:
    if isinstance(data, dict):
        return set(data) | {k for v in data.values() for k in keys_of(v)}
    if isinstance(data, list):
        return {k for v in data for k in keys_of(v)}
    return set()


def assert_nothing_personal(where: str, blob: Any) -> None:
    text = blob if isinstance(blob, str) else json.dumps(blob, ensure_ascii=False)
    for secret in PERSONAL:
        assert secret not in text, f"{secret!r} leaked into {where}"
    if not isinstance(blob, str):
        assert not keys_of(blob) & PERSONAL_KEYS, (
            f"personal field in {where}: {keys_of(blob) & PERSONAL_KEYS}"
        )


def socket_for(app: Flask, client: FlaskClient) -> Any:
    return socketio_client(app, client=client)


# Nothing personal ---------------------------------------------------------------------


def test_nothing_personal_in_the_api_the_page_or_the_token_room(
    app: Flask, client: FlaskClient, desk: Desk, session: Session, sent: list[Message]
) -> None:
    token = desk.issue()
    code = token["public_code"]
    watcher = socket_for(app, client)
    assert watcher.emit("join", {"screen": "track", "code": code}, callback=True)["ok"]
    desk.open(1)
    desk.call(1)
    desk.act(token["id"], "start")
    # The clerk records the application with the citizen's name, CNIC and mobile.
    req = client.get(f"/api/v1/tokens/{token['id']}/request", headers=bearer(desk.keys["clerk1"])).get_json()
    fields = {"applicant_name": NAME, "cnic": CNIC, "phone": PHONE}
    r = client.patch(f"/api/v1/requests/{req['id']}", json=fields, headers=bearer(desk.keys["clerk1"]))
    assert r.status_code == 200, r.get_json()
    desk.post(f"/api/v1/requests/{req['id']}/advance", "clerk1", {"to": "in_process"})
    desk.act(token["id"], "complete")
    desk.post(f"/api/v1/requests/{req['id']}/advance", "clerk1", {"to": "ready"})
    session.expire_all()
    stored = session.scalar(select(ServiceRequest).where(ServiceRequest.token_id == token["id"]))
    assert (
        stored is not None and stored.applicant_name == NAME and stored.cnic == CNIC
    )  # it is in the database

    api = track(client, code)
    assert api.status_code == 200
    view = api.get_json()
    assert view["state"] == "done" and view["request"]["state"] == "ready"
    # Exactly the documented fields, none other: the allow-list is the OpenAPI schema.
    TrackOut.model_validate(view)
    assert set(view) == set(TrackOut.model_fields)
    assert set(view["request"]) == set(TrackRequestOut.model_fields)
    assert_nothing_personal("the track API", view)
    assert_nothing_personal("the track API text", api.get_data(as_text=True))
    page = client.get(f"/t/{code}")
    assert page.status_code == 200
    assert_nothing_personal("the tracking page", page.get_data(as_text=True))
    to_room = [m for m in sent if rooms.token(code) in m.rooms]
    assert {m.event for m in to_room} >= {"token_called", "token_changed"}
    for message in to_room:
        assert_nothing_personal(f"{message.event} to the token room", message.payload)
    received = unpacked(watcher.get_received())
    assert any(e["name"] == "token_called" for e in received)
    for event in received:
        assert_nothing_personal(f"socket event {event['name']}", event["args"])
    watcher.disconnect()


def test_the_socket_snapshot_is_the_api_view(app: Flask, client: FlaskClient, desk: Desk) -> None:
    desk.issue()
    mine = desk.issue()
    watcher = socket_for(app, client)
    reply = watcher.emit("join", {"screen": "track", "code": mine["public_code"]}, callback=True)
    assert reply["ok"]
    snapshot = next(e["args"][0] for e in watcher.get_received() if e["name"] == "snapshot")
    assert snapshot == track(client, mine["public_code"]).get_json()
    assert snapshot["ahead"] == 1 and snapshot["number"] == "A002"
    bad = watcher.emit("join", {"screen": "track", "code": "x" * 24}, callback=True)
    assert bad["ok"] is False and bad["error"] == "unknown_code"
    watcher.disconnect()


# Unknown, malformed, rate-limited and expired codes ----------------------------------


@pytest.mark.parametrize(
    "code", ["AAAAAAAAAAAAAAAAAAAAAAAA", "short", "has%20space-but-long-enough", "x" * 300]
)
def test_an_unknown_code_gets_a_friendly_page_in_both_languages(
    client: FlaskClient, demo: Any, code: str
) -> None:
    page = client.get(f"/t/{code}", headers={"Accept-Language": "en"})
    html = page.get_data(as_text=True)
    assert page.status_code == 404
    assert "We could not find this token" in html
    assert "یہ ٹوکن نہیں ملا" in html, "the Urdu text is there too"
    assert f"{TRACKING_DAYS} days" in html
    assert page.headers["Cache-Control"] == "no-store" and page.headers["Referrer-Policy"] == "no-referrer"
    api = track(client, code)
    assert api.status_code == 404 and api.get_json()["error"] in ("unknown_code", "not_found")


def test_the_unknown_code_page_leads_with_the_chosen_language(client: FlaskClient, demo: Any) -> None:
    html = client.get("/t/AAAAAAAAAAAAAAAAAAAAAAAA?lang=ur").get_data(as_text=True)
    assert html.index("یہ ٹوکن نہیں ملا") < html.index("We could not find this token")
    assert '<html lang="ur" dir="rtl">' in html


def test_misses_are_rate_limited_and_then_every_lookup_is_refused(client: FlaskClient, desk: Desk) -> None:
    token = desk.issue()
    guesser = {"REMOTE_ADDR": "10.1.1.1"}
    for i in range(MISSES_PER_MINUTE):
        assert track(client, f"guess{i:020d}", environ_base=guesser).status_code == 404
    limited = track(client, "guess-one-more-0000000", environ_base=guesser)
    assert limited.status_code == 429 and limited.get_json()["error"] == "rate_limited"
    # A guess that happens to hit is refused too, or the 429s would not stop the guessing.
    assert track(client, token["public_code"], environ_base=guesser).status_code == 429
    page = client.get(f"/t/{token['public_code']}", environ_base=guesser)
    assert page.status_code == 429 and "Too many tries" in page.get_data(as_text=True)
    # Other citizens are not affected.
    assert track(client, token["public_code"], environ_base={"REMOTE_ADDR": "10.1.1.2"}).status_code == 200


def test_hits_do_not_count_as_misses(client: FlaskClient, desk: Desk) -> None:
    token = desk.issue()
    for _ in range(MISSES_PER_MINUTE * 2):
        assert track(client, token["public_code"]).status_code == 200


VISIT = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)  # 11:00 in Lahore, a Monday


def test_a_code_expires_a_set_number_of_days_after_the_visit(
    app: Flask, client: FlaskClient, desk: Desk
) -> None:
    with time_machine.travel(VISIT, tick=False):
        token = desk.issue()
        desk.open(1)
        desk.serve(1)
    code = token["public_code"]
    with time_machine.travel(VISIT + timedelta(days=TRACKING_DAYS), tick=False):
        assert track(client, code).get_json()["state"] == "done"
        assert client.get(f"/t/{code}").status_code == 200
    with time_machine.travel(VISIT + timedelta(days=TRACKING_DAYS + 1), tick=False):
        gone = track(client, code)
        assert gone.status_code == 404 and gone.get_json()["error"] == "unknown_code"
        page = client.get(f"/t/{code}")
        assert page.status_code == 404 and token["number"] not in page.get_data(as_text=True)
        watcher = socket_for(app, client)
        assert watcher.emit("join", {"screen": "track", "code": code}, callback=True)["ok"] is False
        watcher.disconnect()


def test_a_request_in_process_keeps_its_code_alive_until_it_is_closed(
    client: FlaskClient, desk: Desk
) -> None:
    with time_machine.travel(VISIT, tick=False):
        token = desk.issue("verification")  # five working days
        desk.open(1)
        desk.call(1)
        desk.act(token["id"], "start")
        req = client.get(
            f"/api/v1/tokens/{token['id']}/request", headers=bearer(desk.keys["clerk1"])
        ).get_json()
        fields = {"applicant_name": NAME, "cnic": CNIC, "phone": PHONE}
        client.patch(f"/api/v1/requests/{req['id']}", json=fields, headers=bearer(desk.keys["clerk1"]))
        desk.post(f"/api/v1/requests/{req['id']}/advance", "clerk1", {"to": "in_process"})
        desk.act(token["id"], "complete")
    code = token["public_code"]
    delivered_at = VISIT + timedelta(days=20)
    with time_machine.travel(delivered_at, tick=False):
        assert track(client, code).get_json()["request"]["state"] == "in_process"
        desk.post(f"/api/v1/requests/{req['id']}/advance", "manager", {"to": "ready"})
        desk.post(f"/api/v1/requests/{req['id']}/advance", "manager", {"to": "delivered"})
    with time_machine.travel(delivered_at + timedelta(days=TRACKING_DAYS), tick=False):
        assert track(client, code).get_json()["request"]["state"] == "delivered"
    with time_machine.travel(delivered_at + timedelta(days=TRACKING_DAYS + 1), tick=False):
        assert track(client, code).status_code == 404


# Live positions and "almost your turn" -----------------------------------------------


def positions(sent: list[Message], codes: dict[str, str]) -> dict[str, int]:
    """number -> the last place (``ahead``) pushed to that token's room by a position update."""
    out: dict[str, int] = {}
    for message in sent:
        for number, code in codes.items():
            if message.event == "position" and rooms.token(code) in message.rooms:
                out[number] = message.payload["ahead"]
    return out


def test_a_call_tells_every_waiting_token_its_new_place(
    app: Flask, client: FlaskClient, desk: Desk, session: Session, sent: list[Message]
) -> None:
    tokens = [desk.issue() for _ in range(6)]
    codes = {t["number"]: t["public_code"] for t in tokens}
    watcher = socket_for(app, client)
    watcher.emit("join", {"screen": "track", "code": tokens[4]["public_code"]}, callback=True)
    watcher.get_received()
    desk.open(1)
    sent.clear()
    assert desk.call(1)["number"] == "A001"
    told = positions(sent, codes)
    assert told == {"A002": 0, "A003": 1, "A004": 2, "A005": 3, "A006": 4}
    for number, ahead in told.items():
        assert track(client, codes[number]).get_json()["ahead"] == ahead, "the push agrees with the API"
    update = [e["args"][0] for e in unpacked(watcher.get_received()) if e["name"] == "position"]
    assert update and update[-1]["ahead"] == 3 and update[-1]["number"] == "A005"
    assert "eta_minutes" in update[-1]
    watcher.disconnect()


def test_a_priority_token_moves_the_normal_ones_back(desk: Desk, sent: list[Message]) -> None:
    tokens = [desk.issue() for _ in range(3)]
    codes = {t["number"]: t["public_code"] for t in tokens}
    sent.clear()
    senior = desk.issue(priority="senior")
    assert senior["ahead"] == 0
    assert positions(sent, codes) == {"A001": 1, "A002": 2, "A003": 3}


def test_a_cancelled_token_moves_the_ones_behind_it_up(desk: Desk, sent: list[Message]) -> None:
    tokens = [desk.issue() for _ in range(3)]
    codes = {t["number"]: t["public_code"] for t in tokens}
    sent.clear()
    desk.post(f"/api/v1/tokens/{tokens[0]['id']}/cancel", "manager", {"reason": "left"})
    assert positions(sent, codes) == {"A002": 0, "A003": 1}
    own = [m.payload for m in sent if rooms.token(codes["A001"]) in m.rooms]
    assert own and own[-1]["view"]["state"] == "cancelled", "the cancelled token's page is told too"


def test_almost_your_turn_goes_into_the_outbox_once_per_token(
    app: Flask, desk: Desk, session: Session, centre: Centre
) -> None:
    assert centre.almost_turn_ahead == 3
    tokens = [desk.issue() for _ in range(7)]
    desk.open(1)

    def told() -> list[tuple[int | None, int]]:
        session.expire_all()
        rows = session.execute(
            select(Notification.token_id, Notification.payload).where(Notification.kind == "almost_turn")
        ).all()
        return sorted((token_id, payload["ahead"]) for token_id, payload in rows)

    assert told() == [], "nothing at issue: the first change of places tells"
    desk.serve(1)  # A001 called: A002..A005 are within 3
    assert told() == [(tokens[i]["id"], i - 1) for i in range(1, 5)]
    desk.serve(1)  # A002 called: A006 comes within 3; the others were told already
    desk.serve(1)
    assert [token_id for token_id, _ in told()] == [t["id"] for t in tokens[1:7]]

    log = notifier_for(app)
    assert isinstance(log, LogNotifier)
    assert deliver_pending(session, log) == 6
    session.commit()
    assert [n.token_id for n in log.sent] == [t["id"] for t in tokens[1:7]]
    assert {n.kind for n in log.sent} == {"almost_turn"}
    for n in log.sent:
        assert_nothing_personal("a notification", n.payload)
        assert n.payload["number"] and n.payload["service_en"] == "Character certificate"
    statuses = session.scalars(select(Notification.status)).all()
    assert set(statuses) == {NotificationStatus.SENT}
    assert deliver_pending(session, log) == 0, "sent once"


def test_a_rolled_back_change_queues_no_notification(app: Flask, session: Session, centre: Centre) -> None:
    notify.enqueue(session, centre_id=centre.id, token_id=None, kind="test", payload={})
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Notification)) == 0
    assert not session.info.get("khidmat_notify_kick"), "the next transaction's kick is not lost"


def test_one_notification_of_a_kind_per_token(session: Session, centre: Centre, desk: Desk) -> None:
    token_id = desk.issue()["id"]
    first = notify.enqueue(session, centre_id=centre.id, token_id=token_id, kind="almost_turn", payload={})
    again = notify.enqueue(session, centre_id=centre.id, token_id=token_id, kind="almost_turn", payload={})
    session.commit()
    assert first is not None and again is None
    assert session.scalar(select(func.count()).select_from(Notification)) == 1


def test_a_failing_adapter_keeps_the_notification_then_gives_up(
    app: Flask, session: Session, centre: Centre
) -> None:
    class Down:
        channel = "log"
        tries = 0

        def send(self, notification: OutgoingNotification) -> None:
            self.tries += 1
            raise RuntimeError("gateway down")

    app.config["NOTIFY_RETRY_SECONDS"] = 0  # no back-off between the attempts here
    notify.enqueue(session, centre_id=centre.id, token_id=None, kind="test", payload={"x": 1})
    session.commit()
    down = Down()
    for _ in range(notify.MAX_ATTEMPTS + 2):
        assert deliver_pending(session, down) == 0
        session.commit()
    row = session.scalars(select(Notification)).one()
    assert down.tries == notify.MAX_ATTEMPTS
    assert row.status == NotificationStatus.FAILED and row.attempts == notify.MAX_ATTEMPTS
    assert row.last_error == "gateway down"


def test_the_worker_answers_the_gateway_outside_any_transaction(
    app: Flask, session: Session, centre: Centre, desk: Desk
) -> None:
    """A slow gateway holds up no token operation: on SQLite a transaction holds the
    writer's lock, so a send inside one would make every issue and call wait for it."""
    notify.enqueue(session, centre_id=centre.id, token_id=None, kind="test", payload={"x": 1})
    session.commit()
    sending, issued = threading.Event(), threading.Event()

    class Slow:
        channel = "log"
        sent: list[tuple[int, bool]] = []

        def send(self, notification: OutgoingNotification) -> None:
            sending.set()
            self.sent.append((notification.id, issued.wait(10)))  # the gateway answers late

    slow = Slow()
    app.extensions["khidmat_notifier"] = slow
    try:
        worker = threading.Thread(target=notify.delivery_worker(app).run_once)
        worker.start()
        assert sending.wait(10)
        desk.issue()  # while the gateway has not answered
        issued.set()
        worker.join(20)
    finally:
        app.extensions.pop("khidmat_notifier")
    [(sent_id, issued_meanwhile)] = slow.sent
    assert issued_meanwhile, "the issue waited for the gateway"
    session.expire_all()
    row = session.get(Notification, sent_id)
    assert row is not None and row.status == NotificationStatus.SENT and row.attempts == 1


def test_a_claim_lost_with_its_deliverer_is_sent_again_once_its_lease_ends(
    app: Flask, session: Session, centre: Centre
) -> None:
    notify.enqueue(session, centre_id=centre.id, token_id=None, kind="test", payload={"x": 1})
    session.commit()
    log = notifier_for(app)
    assert isinstance(log, LogNotifier)
    [claim] = notify.claim_due(session, log)
    session.commit()  # ... and its process dies before sending
    assert deliver_pending(session, log) == 0, "another deliverer leaves a live claim alone"
    session.commit()
    assert session.get(Notification, claim.outgoing.id).status == NotificationStatus.SENDING
    with time_machine.travel(utcnow() + notify.SENDING_LEASE + timedelta(seconds=1), tick=False):
        assert deliver_pending(session, log) == 1
        session.commit()
    session.expire_all()
    row = session.get(Notification, claim.outgoing.id)
    assert row is not None and row.status == NotificationStatus.SENT and row.attempts == 2
    assert [n.id for n in log.sent] == [claim.outgoing.id], "sent once"


def test_outcomes_written_again_after_a_rollback_keep_the_acknowledged_parts(
    app: Flask, session: Session, centre: Centre
) -> None:
    """The outcome's transaction may be retried (a lost race): its claims are written
    again whole, the parts the gateway acknowledged with them."""
    notify.enqueue(session, centre_id=centre.id, token_id=None, kind="test", payload={"x": 1})
    session.commit()

    class Acknowledging:
        channel = "log"

        def send(self, notification: OutgoingNotification) -> None:
            notification.acks.extend([(1, 2, "m-1"), (2, 2, "m-2")])

    gateway = Acknowledging()
    claims = notify.claim_due(session, gateway)
    session.commit()
    notify.send_claimed(gateway, claims)
    assert notify.record_outcomes(session, gateway, claims) == 1
    session.rollback()  # ... and run_in_transaction tries again
    assert notify.record_outcomes(session, gateway, claims) == 1
    session.commit()
    parts = session.scalars(select(SmsPart.message_id).order_by(SmsPart.part)).all()
    assert parts == ["m-1", "m-2"]
    assert session.scalars(select(Notification.status)).one() == NotificationStatus.SENT


def test_an_unknown_notifier_is_refused_at_first_use(app: Flask) -> None:
    app.extensions.pop("khidmat_notifier", None)
    app.config["NOTIFIER"] = "pigeon"
    with pytest.raises(RuntimeError, match="KHIDMAT_NOTIFIER"):
        notifier_for(app)


# Feedback -----------------------------------------------------------------------------


def leave(client: FlaskClient, code: str, body: Any, **kw: Any) -> Any:
    return client.post(f"/api/v1/track/{code}/feedback", json=body, **kw)


def test_feedback_only_when_done_once_and_valid(client: FlaskClient, desk: Desk, session: Session) -> None:
    token = desk.issue()
    code = token["public_code"]
    early = leave(client, code, {"rating": 5})
    assert early.status_code == 409 and early.get_json()["error"] == "not_done"
    assert "once your service is done" in early.get_json()["message"]
    assert track(client, code).get_json()["feedback"] == {"allowed": False, "given": False, "rating": None}
    desk.open(1)
    desk.serve(1)
    assert track(client, code).get_json()["feedback"]["allowed"] is True
    for bad in (0, 6, -1, "5", 3.5, None, True, [4]):
        r = leave(client, code, {"rating": bad})
        assert r.status_code == 400 and r.get_json()["error"] == "invalid_rating", bad
        assert r.get_json()["message"] == "Choose a rating from 1 to 5."
    assert leave(client, code, {}).get_json()["error"] == "invalid_rating"
    too_long = leave(client, code, {"rating": 4, "comment": "x" * 501})
    assert too_long.status_code == 400 and too_long.get_json()["error"] == "comment_too_long"
    assert "500 characters" in too_long.get_json()["message"]
    assert leave(client, code, {"rating": 4, "comment": 12}).get_json()["error"] == "invalid_comment"
    assert leave(client, code, {"rating": 4, "extra": 1}).status_code == 400
    assert session.scalar(select(func.count()).select_from(Feedback)) == 0, "nothing stored yet"

    comment = "عملہ بہت مددگار تھا\u0007 — quick and polite. " + "x" * 450
    ok = leave(client, code, {"rating": 4, "comment": comment})
    assert ok.status_code == 201, ok.get_json()
    assert ok.get_json()["rating"] == 4 and "\u0007" not in ok.get_json()["comment"]
    again = leave(client, code, {"rating": 1, "comment": "changed my mind"})
    assert again.status_code == 409 and again.get_json()["error"] == "feedback_given"
    stored = session.scalars(select(Feedback)).all()
    assert len(stored) == 1 and stored[0].rating == 4 and stored[0].counter_id is not None
    assert track(client, code).get_json()["feedback"] == {"allowed": False, "given": True, "rating": 4}
    assert session.scalar(select(func.count()).where(Event.kind == "feedback_left")) == 1


def test_feedback_waits_until_the_documents_are_collected(client: FlaskClient, desk: Desk, session: Session) -> None:
    token = desk.issue()
    desk.open(1)
    called = desk.call(1)
    desk.act(called["id"], "start")
    key = desk.keys["clerk1"]
    req = client.get(f"/api/v1/tokens/{called['id']}/request", headers=bearer(key)).get_json()
    fields = {"applicant_name": NAME, "cnic": CNIC, "phone": PHONE}
    assert client.patch(f"/api/v1/requests/{req['id']}", json=fields, headers=bearer(key)).status_code == 200
    for step in ("in_process", "ready"):
        client.post(f"/api/v1/requests/{req['id']}/advance", json={"to": step}, headers=bearer(key))
    desk.act(called["id"], "complete")
    view = track(client, token["public_code"]).get_json()
    assert view["state"] == "done" and view["request_state"] == "ready"
    assert view["feedback"]["allowed"] is False, "the visit is not over while the documents wait"
    early = leave(client, token["public_code"], {"rating": 5})
    assert early.status_code == 409 and early.get_json()["error"] == "request_pending"
    assert session.scalar(select(func.count()).select_from(Feedback)) == 0
    client.post(f"/api/v1/requests/{req['id']}/advance", json={"to": "delivered"}, headers=bearer(key))
    assert track(client, token["public_code"]).get_json()["feedback"]["allowed"] is True
    assert leave(client, token["public_code"], {"rating": 5}).status_code == 201


def test_feedback_messages_come_in_urdu(client: FlaskClient, desk: Desk) -> None:
    token = desk.issue()
    desk.open(1)
    desk.serve(1)
    urdu = {"Accept-Language": "ur"}
    bad = leave(client, token["public_code"], {"rating": 9}, headers=urdu)
    assert bad.get_json()["message"] == "1 سے 5 تک درجہ منتخب کریں۔"
    ok = leave(client, token["public_code"], {"rating": 5, "comment": "بہت اچھا"}, headers=urdu)
    assert ok.status_code == 201 and ok.get_json()["message"] == "آپ کی رائے کا شکریہ۔"
    assert ok.get_json()["language"] == "ur"
    again = leave(client, token["public_code"], {"rating": 5}, headers=urdu)
    assert "پہلے ہی موصول" in again.get_json()["message"]


def test_feedback_volumes_are_throttled_per_client_and_per_centre(
    client: FlaskClient, desk: Desk, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    done = []
    desk.open(1)
    for _ in range(3):
        token = desk.issue()
        desk.serve(1)
        done.append(token["public_code"])
    monkeypatch.setattr(feedback_ops, "PER_CLIENT", 2)
    one = {"REMOTE_ADDR": "10.2.0.1"}
    assert leave(client, done[0], {"rating": 9}, environ_base=one).status_code == 400
    assert leave(client, done[0], {"rating": 3}, environ_base=one).status_code == 201
    busy = leave(client, done[1], {"rating": 3}, environ_base=one)
    assert busy.status_code == 429 and busy.get_json()["error"] == "rate_limited"
    monkeypatch.setattr(feedback_ops, "PER_CENTRE", 2)
    assert leave(client, done[1], {"rating": 2}, environ_base={"REMOTE_ADDR": "10.2.0.2"}).status_code == 201
    centre_busy = leave(client, done[2], {"rating": 2}, environ_base={"REMOTE_ADDR": "10.2.0.3"})
    assert centre_busy.status_code == 429
    assert session.scalar(select(func.count()).select_from(Feedback)) == 2


def test_managers_read_the_feedback_report(client: FlaskClient, desk: Desk, keys: dict[str, str]) -> None:
    desk.open(1)
    for rating, comment in ((5, "Excellent"), (2, "Too slow")):
        token = desk.issue()
        desk.serve(1)
        assert leave(client, token["public_code"], {"rating": rating, "comment": comment}).status_code == 201
    report = client.get("/api/v1/centres/demo/feedback?days=7", headers=bearer(keys["manager"]))
    assert report.status_code == 200, report.get_json()
    body = report.get_json()
    assert body["count"] == 2 and body["average"] == 3.5
    assert body["by_rating"] == {"1": 0, "2": 1, "3": 0, "4": 0, "5": 1}
    assert body["by_service"][0]["code"] == "character" and body["by_counter"][0]["counter"] == 1
    assert [e["comment"] for e in body["recent"]] == ["Too slow", "Excellent"]
    assert client.get("/api/v1/centres/demo/feedback", headers=bearer(keys["clerk1"])).status_code == 403
    bad = client.get("/api/v1/centres/demo/feedback?days=abc", headers=bearer(keys["manager"]))
    assert bad.status_code == 400


def test_the_openapi_document_lists_the_tracking_endpoints(client: FlaskClient) -> None:
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert "post" in paths["/api/v1/track/{code}/feedback"]
    body = paths["/api/v1/track/{code}/feedback"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["$ref"].endswith("/FeedbackIn")
    assert "get" in paths["/api/v1/centres/{code}/feedback"]


# The page -----------------------------------------------------------------------------


def config_of(html: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="track-config">(.*?)</script>', html, re.S)
    assert found, "no tracking config on the page"
    return json.loads(found.group(1))  # type: ignore[no-any-return]


@pytest.mark.parametrize("lang", ["en", "ur"])
def test_the_page_carries_the_view_and_its_texts(client: FlaskClient, desk: Desk, lang: str) -> None:
    desk.issue()
    token = desk.issue()
    page = client.get(f"/t/{token['public_code']}?lang={lang}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    config = config_of(html)
    assert config["view"] == track(client, token["public_code"]).get_json()
    assert config["view"]["ahead"] == 1 and config["lang"] == lang
    assert page.headers["Cache-Control"] == "no-store"
    if lang == "ur":
        assert '<html lang="ur" dir="rtl">' in html and "آپ سے پہلے افراد" in html
        assert config["strings"]["called"] == "ابھی کاؤنٹر نمبر {counter} پر تشریف لائیں"
    else:
        assert config["strings"]["called"] == "Go to counter {counter} now"


def test_the_tracking_link_on_a_ticket_opens_the_page(client: FlaskClient, desk: Desk) -> None:
    token = desk.issue()
    path = token["tracking_url"].split("://", 1)[1].split("/", 1)[1]
    assert path == f"t/{token['public_code']}"
    assert client.get("/" + path).status_code == 200


def test_tokens_table_is_unchanged_by_reading(client: FlaskClient, desk: Desk, session: Session) -> None:
    token = desk.issue()
    before = session.scalar(select(func.count()).select_from(Event))
    client.get(f"/t/{token['public_code']}")
    track(client, token["public_code"])
    assert session.scalar(select(func.count()).select_from(Event)) == before
    assert session.get(Token, token["id"]) is not None
