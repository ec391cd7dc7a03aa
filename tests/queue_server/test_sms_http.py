"""SMS through an HTTP gateway (``KHIDMAT_SMS_GATEWAY_URL=http(s)://…``) served on the
loopback by a small fake (tests/fakes/http_sms.py), over real HTTP: each part one POST with
Urdu in UCS-2 and its concatenation header, the gateway's delivery receipts called back to
``POST /api/v1/sms/receipts`` (shared key), retry after the gateway fails or loses its
answer with nothing sent twice, and the per-number limit the outbox applies to any gateway."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from queue_server import notify
from queue_server.models import Centre, Counter, Notification, NotificationStatus, SmsPart
from queue_server.notify import notifier_for
from queue_server.sms import parts
from queue_server.sms.gateways import GatewayDown, HttpGateway
from tests.fakes.http_sms import FakeHttpGateway
from tests.queue_server.test_sms import Hall, deliver, statuses

RECEIPT_KEY = "receipt-key-for-tests-0123456789"


@pytest.fixture
def gateway() -> Iterator[FakeHttpGateway]:
    server = FakeHttpGateway()
    yield server
    server.close()


@pytest.fixture
def app_config(app_config: dict[str, Any], gateway: FakeHttpGateway) -> dict[str, Any]:
    return {
        **app_config, "NOTIFIER": "sms", "SMS_GATEWAY_URL": gateway.url, "SMS_PER_NUMBER_PER_HOUR": 3,
        "SMS_RECEIPT_KEY": RECEIPT_KEY, "NOTIFY_RETRY_SECONDS": 0,
    }


@pytest.fixture
def hall(client: FlaskClient, keys: dict[str, str], counter_no: Callable[[int], Counter]) -> Hall:
    return Hall(client, keys, counter_no)


def receipt(client: FlaskClient, body: Any, key: str | None = RECEIPT_KEY, **kw: Any) -> Any:
    headers = {"X-Receipt-Key": key} if key is not None else {}
    return client.post("/api/v1/sms/receipts", json=body, headers={**headers, **kw.pop("headers", {})}, **kw)


def test_the_gateway_is_chosen_by_the_url(app: Flask) -> None:
    notifier = notifier_for(app)
    gw = notifier.gateway
    assert isinstance(gw, HttpGateway)
    assert notifier.polls_receipts is False, "receipts call back: the delivery loop does not wait for them"
    assert "@" not in gw.url and gw.username == "khidmat", "credentials go in the form, not the URL called"


def test_urdu_parts_reach_the_gateway_in_ucs2_and_receipts_mark_them_delivered(
    app: Flask, client: FlaskClient, session: Session, centre: Centre, hall: Hall, gateway: FakeHttpGateway
) -> None:
    token = hall.issue()
    hall.give(token, "0300-1234567")
    notify.enqueue(
        session, centre_id=centre.id, token_id=token["id"], kind="almost_turn",
        payload={"number": token["number"], "ahead": 1, "service_ur": "ژ" * 100, "service_en": ""},
    )
    session.commit()
    assert deliver(app, session) == 1
    assert len(gateway.taken) >= 2, "more than 70 Urdu characters: several parts"
    total = len(gateway.taken)
    for seq, taken in enumerate(gateway.taken, start=1):
        assert taken.to == "923001234567" and taken.sender == "Khidmat"
        assert taken.dcs == parts.DATA_CODING_UCS2
        assert taken.udh[:3] == bytes([5, 0, 3]) and taken.udh[4:] == bytes([total, seq])
        assert len(taken.body) <= 2 * parts.UCS2_PART
        taken.body.decode("utf-16-be")  # no character cut in two
    assert "".join(gateway.texts()).count("ژ") == 100
    assert statuses(session)[(token["id"], "almost_turn")] == NotificationStatus.SENT

    first, *rest = [t.message_id for t in gateway.taken]
    r = receipt(client, {"message_id": first, "status": "DELIVRD"})
    assert r.status_code == 200 and r.get_json() == {"message_id": first, "status": "DELIVRD"}
    assert statuses(session)[(token["id"], "almost_turn")] == NotificationStatus.SENT, "one part of several"
    for message_id in rest:
        assert receipt(client, {"message_id": message_id, "status": "DELIVRD"}).status_code == 200
    assert statuses(session)[(token["id"], "almost_turn")] == NotificationStatus.DELIVERED
    assert receipt(client, {"message_id": first, "status": "DELIVRD"}).status_code == 200, "told twice: fine"
    assert statuses(session)[(token["id"], "almost_turn")] == NotificationStatus.DELIVERED


def test_an_undelivered_receipt_marks_the_message_undelivered(
    app: Flask, client: FlaskClient, session: Session, hall: Hall, gateway: FakeHttpGateway
) -> None:
    first, second = hall.issue(), hall.issue()
    hall.give(second, "0321-7654321", language="en")
    assert hall.call()["id"] == first["id"]
    assert deliver(app, session) == 1
    [taken] = gateway.taken
    assert taken.dcs == parts.DATA_CODING_GSM and taken.udh == b"" and "A002" in taken.text
    assert receipt(client, {"message_id": taken.message_id, "status": "UNDELIV"}, key=None,
                   query_string={"key": RECEIPT_KEY}).status_code == 200, "the key may come in the URL"
    assert statuses(session)[(second["id"], "almost_turn")] == NotificationStatus.UNDELIVERED


@pytest.mark.parametrize(
    ("body", "key", "status", "error"),
    [
        ({"message_id": "h00001", "status": "DELIVRD"}, None, 401, "bad_key"),
        ({"message_id": "h00001", "status": "DELIVRD"}, "wrong-key", 401, "bad_key"),
        ({"message_id": "h00001", "status": "delivered!"}, RECEIPT_KEY, 400, "invalid"),
        ({"message_id": "", "status": "DELIVRD"}, RECEIPT_KEY, 400, "invalid"),
        ({"message_id": "h00001"}, RECEIPT_KEY, 400, "invalid"),
        ({"message_id": "h00001", "status": "DELIVRD", "extra": 1}, RECEIPT_KEY, 400, "invalid"),
        ({"message_id": 5, "status": "DELIVRD"}, RECEIPT_KEY, 400, "invalid"),
        ({"message_id": "no-such-id", "status": "DELIVRD"}, RECEIPT_KEY, 404, "unknown_message"),
        ([1, 2], RECEIPT_KEY, 400, "malformed"),
    ],
)
def test_a_bad_receipt_is_refused_clearly_and_changes_nothing(
    app: Flask, client: FlaskClient, session: Session, hall: Hall, gateway: FakeHttpGateway,
    body: Any, key: str | None, status: int, error: str,
) -> None:
    _first, second = hall.issue(), hall.issue()
    hall.give(second, "0300-1234567")
    hall.call()
    deliver(app, session)
    assert gateway.taken[0].message_id == "h00001"
    r = receipt(client, body, key=key)
    assert r.status_code == status, r.get_json()
    assert r.get_json()["error"] == error and r.get_json()["message"]
    assert statuses(session)[(second["id"], "almost_turn")] == NotificationStatus.SENT
    assert session.scalar(select(func.count()).select_from(SmsPart).where(SmsPart.receipt != "")) == 0


def test_refusals_come_in_the_callers_language(client: FlaskClient, hall: Hall) -> None:
    r = receipt(client, {"message_id": "nothing", "status": "DELIVRD"}, headers={"Accept-Language": "ur"})
    assert r.status_code == 404 and r.get_json()["message"] != "No SMS part has that message id."
    r = receipt(client, {"message_id": "nothing", "status": "DELIVRD"}, key="wrong", headers={"Accept-Language": "ur"})
    assert r.status_code == 401 and r.get_json()["message"] != "Unknown or revoked key."


def test_guessing_the_receipt_key_is_stopped(
    app: Flask, client: FlaskClient, session: Session, hall: Hall, gateway: FakeHttpGateway
) -> None:
    from queue_server.api.sms import REFUSED_LIMIT

    _first, second = hall.issue(), hall.issue()
    hall.give(second, "0300-1234567")
    hall.call()
    deliver(app, session)
    body = {"message_id": "h00001", "status": "DELIVRD"}
    for guess in range(REFUSED_LIMIT):
        assert receipt(client, body, key=f"guess-{guess}").status_code == 401
    stopped = receipt(client, body, key="guess-x", headers={"Accept-Language": "ur"})
    assert stopped.status_code == 429 and stopped.get_json()["error"] == "rate_limited", stopped.get_json()
    assert stopped.get_json()["message"] != "Too many refused receipts from this address: wait a few minutes."
    # past the limit even the right key waits: a guess that happens to be right learns nothing
    assert receipt(client, body).status_code == 429
    assert statuses(session)[(second["id"], "almost_turn")] == NotificationStatus.SENT
    other = receipt(client, body, environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert other.status_code == 200, "another address (the gateway) is not held up"


def test_without_a_receipt_key_no_receipt_is_taken(app: Flask, client: FlaskClient, hall: Hall) -> None:
    app.config["SMS_RECEIPT_KEY"] = ""
    for key in ("", None, "anything"):
        r = receipt(client, {"message_id": "h00001", "status": "DELIVRD"}, key=key)
        assert r.status_code == 404 and r.get_json()["error"] == "not_configured"


def test_a_failing_gateway_is_retried_after_back_off_and_nothing_is_sent_twice(
    app: Flask, session: Session, hall: Hall, gateway: FakeHttpGateway
) -> None:
    tokens = [hall.issue() for _ in range(3)]
    hall.give(tokens[1], "0300-1111111")
    hall.give(tokens[2], "0300-2222222")
    gateway.fail_next = 1  # the gateway answers 503 to the first submit
    hall.call()
    assert deliver(app, session) == 1, "one failed, the other went"
    failed = session.scalars(select(Notification).where(Notification.status == NotificationStatus.PENDING)).one()
    assert failed.attempts == 1 and failed.next_attempt_at is not None and "503" in failed.last_error
    assert deliver(app, session) == 1, "retried after the back-off (0 s here)"
    assert deliver(app, session) == 0
    assert sorted({t.to for t in gateway.taken}) == ["923001111111", "923002222222"]
    refs = [t.ref for t in gateway.taken]
    assert len(refs) == len(set(refs)) and gateway.requests == len(refs) + 1, "each part once (and the 503)"


def test_an_answer_lost_after_the_gateway_took_the_part_does_not_send_it_twice(
    app: Flask, session: Session, centre: Centre, hall: Hall, gateway: FakeHttpGateway
) -> None:
    token = hall.issue()
    hall.give(token, "0300-1234567")
    notify.enqueue(session, centre_id=centre.id, token_id=token["id"], kind="test", payload={"number": "A001"})
    session.commit()
    gateway.lose_answer_next = 1
    assert deliver(app, session) == 0, "no answer: the sender cannot know it left"
    assert len(gateway.taken) == 1 and gateway.requests == 1
    gateway.cut_answer_next = 1
    assert deliver(app, session) == 0, "an answer cut half-way: not known either"
    assert deliver(app, session) == 1, "sent again with the same part reference"
    assert gateway.requests == 3 and len(gateway.taken) == 1, "the gateway recognised the part: taken once"
    assert session.scalar(select(func.count()).select_from(SmsPart)) == 1


def test_a_number_gets_at_most_its_hourly_share(
    app: Flask, session: Session, centre: Centre, hall: Hall, gateway: FakeHttpGateway
) -> None:
    tokens = [hall.issue() for _ in range(5)]
    for token in tokens:
        hall.give(token, "0300-9999999")
        notify.enqueue(session, centre_id=centre.id, token_id=token["id"], kind="test", payload={"number": token["number"]})
    session.commit()
    assert deliver(app, session) == 3
    assert len(gateway.taken) == 3
    assert list(statuses(session).values()).count(NotificationStatus.THROTTLED) == 2


def test_an_unreachable_gateway_is_down_not_refused(gateway: FakeHttpGateway) -> None:
    gw = HttpGateway.from_url(gateway.url, "Khidmat", timeout=2)
    gateway.close()
    with pytest.raises(GatewayDown):
        gw.submit("+923001234567", b"hi", data_coding=0, esm_class=0, reference="1.1")
    with pytest.raises(ValueError, match="http"):
        HttpGateway.from_url("ftp://x@y/z", "Khidmat")


def test_an_answer_cut_half_way_is_down_not_an_error(gateway: FakeHttpGateway) -> None:
    gw = HttpGateway.from_url(gateway.url, "Khidmat", timeout=2)
    gateway.cut_answer_next = 1
    with pytest.raises(GatewayDown):
        gw.submit("+923001234567", b"hi", data_coding=0, esm_class=0, reference="1.1")
    assert gw.submit("+923001234567", b"hi", data_coding=0, esm_class=0, reference="1.1") == "h00001"
    assert len(gateway.taken) == 1
