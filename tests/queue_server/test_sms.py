"""SMS through a real SMPP exchange: the text split into parts (pure), and the outbox
delivering through the SMPP gateway to a small SMSC on the loopback — bind, submit,
receipts, retry after the SMSC drops the link (nothing sent twice), per-number limits,
and the number kept apart and purged."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from queue_server import notify
from queue_server.models import (
    Centre,
    Counter,
    Event,
    Notification,
    NotificationStatus,
    SmsPart,
    SmsRecipient,
)
from queue_server.notify import deliver_pending, notifier_for
from queue_server.sms import parts
from tests.conftest import bearer
from tests.fakes.smsc import FakeSmsc

URDU = "آپ کی باری قریب ہے۔ براہ کرم اندر تشریف لائیں۔ ٹوکن A042، کریکٹر سرٹیفکیٹ، کاؤنٹر 3 پر جائیں۔"

# Splitting (no app) -----------------------------------------------------------------------


def test_short_latin_text_is_one_gsm_part() -> None:
    split = parts.split("Token A042: please go to counter 3 now.", reference=1)
    assert split.data_coding == parts.DATA_CODING_GSM and split.esm_class == 0
    assert len(split.parts) == 1 and parts.decode(split) == "Token A042: please go to counter 3 now."


@pytest.mark.parametrize(("length", "count"), [(160, 1), (161, 2), (306, 2), (307, 3)])
def test_gsm_text_splits_at_160_then_153(length: int, count: int) -> None:
    split = parts.split("x" * length, reference=9)
    assert len(split.parts) == count
    assert parts.decode(split) == "x" * length


def test_an_escaped_gsm_character_is_never_cut_in_two() -> None:
    text = "a" * 152 + "€" + "b" * 10  # the euro sign takes two septets: 154 > 153
    split = parts.split(text, reference=3)
    assert [len(p) - 6 for p in split.parts] == [152, 2 + 10]
    assert parts.decode(split) == text


def test_urdu_goes_as_ucs2_split_into_whole_characters() -> None:
    split = parts.split(URDU * 2, reference=200)
    assert split.is_unicode and split.esm_class == parts.ESM_CLASS_UDHI
    assert len(split.parts) == 3
    for seq, part in enumerate(split.parts, start=1):
        assert part[:6] == bytes([5, 0, 3, 200, 3, seq]), "the concatenation header"
        assert len(part) <= 140
        part[6:].decode("utf-16-be")  # each part decodes alone: no character split
    assert parts.decode(split) == URDU * 2


def test_seventy_urdu_characters_fit_one_part_seventy_one_do_not() -> None:
    assert len(parts.split("ب" * 70, reference=0).parts) == 1
    assert len(parts.split("ب" * 71, reference=0).parts) == 2


def test_a_surrogate_pair_is_never_split() -> None:
    text = "ب" * 66 + "😀" + "ب" * 10  # the emoji is two UTF-16 units: 68 > 67
    split = parts.split(text, reference=0)
    assert [len(p[6:]) // 2 for p in split.parts] == [66, 12]
    assert parts.decode(split) == text


def test_more_than_255_parts_is_refused() -> None:
    with pytest.raises(parts.MessageTooLong):
        parts.split("ب" * (67 * 255 + 1), reference=0)


# Through the SMSC -------------------------------------------------------------------------


@pytest.fixture
def smsc() -> Iterator[FakeSmsc]:
    server = FakeSmsc()
    yield server
    server.close()


@pytest.fixture
def app_config(app_config: dict[str, Any], smsc: FakeSmsc) -> dict[str, Any]:
    return {**app_config, "NOTIFIER": "sms", "SMS_GATEWAY_URL": smsc.url, "SMS_PER_NUMBER_PER_HOUR": 3}


@pytest.fixture
def gateway_closed(app: Flask) -> Iterator[None]:
    yield
    notifier = app.extensions.get("khidmat_notifier")
    if notifier is not None:
        notifier.gateway.close()


class Hall:
    """The kiosk issues, clerk 1 serves, citizens give numbers: all through the JSON API."""

    def __init__(self, client: FlaskClient, keys: dict[str, str], counter_no: Callable[[int], Counter]) -> None:
        self.client, self.keys = client, keys
        self.counter_id = counter_no(1).id
        self.post(f"/api/v1/counters/{self.counter_id}/open", "clerk1")

    def post(self, path: str, who: str | None, body: Any = None, status: int = 200) -> Any:
        headers = bearer(self.keys[who]) if who else {}
        r = self.client.post(path, json=body if body is not None else {}, headers=headers)
        assert r.status_code == status, (path, r.status_code, r.get_json())
        return r.get_json()

    def issue(self) -> dict[str, Any]:
        return self.post("/api/v1/centres/demo/tokens", "kiosk", {"service": "character"}, 201)  # type: ignore[no-any-return]

    def give(self, token: dict[str, Any], phone: str, language: str = "ur", status: int = 201) -> Any:
        return self.post(f"/api/v1/track/{token['public_code']}/sms", None, {"phone": phone, "language": language}, status)

    def call(self) -> dict[str, Any]:
        return self.post(f"/api/v1/counters/{self.counter_id}/call-next", "clerk1")  # type: ignore[no-any-return]

    def finish(self, token_id: int) -> None:
        self.post(f"/api/v1/tokens/{token_id}/start", "clerk1")
        self.post(f"/api/v1/tokens/{token_id}/complete", "clerk1")


@pytest.fixture
def hall(client: FlaskClient, keys: dict[str, str], counter_no: Callable[[int], Counter]) -> Hall:
    return Hall(client, keys, counter_no)


def deliver(app: Flask, session: Session) -> int:
    sent = deliver_pending(session, notifier_for(app))
    session.commit()
    return sent


def statuses(session: Session) -> dict[tuple[int | None, str], NotificationStatus]:
    session.expire_all()
    return {(n.token_id, n.kind): n.status for n in session.scalars(select(Notification))}


def test_almost_your_turn_and_called_reach_the_phone_in_urdu_with_receipts(
    app: Flask, session: Session, hall: Hall, smsc: FakeSmsc, gateway_closed: None
) -> None:
    first, second = hall.issue(), hall.issue()
    given = hall.give(second, "0300-1234567")
    assert given["phone"] == "0300-*****67", "the answer masks the number"
    called = hall.call()
    assert called["id"] == first["id"]
    assert deliver(app, session) == 1, "the almost-turn of the second token; the first gave no number"
    assert smsc.binds == [("khidmat", "secret")]
    [(destination, text)] = smsc.messages()
    assert destination == "923001234567"
    assert smsc.received[0].data_coding == parts.DATA_CODING_UCS2
    assert "A002" in text and "باری" in text and "کریکٹر سرٹیفکیٹ" in text
    got = statuses(session)
    assert got[(second["id"], "almost_turn")] in (NotificationStatus.SENT, NotificationStatus.DELIVERED)

    hall.finish(first["id"])
    assert hall.call()["id"] == second["id"]
    deliver(app, session)
    messages = smsc.messages()
    assert len(messages) == 2 and "A002" in messages[1][1] and "1" in messages[1][1], "the called SMS"
    # The SMSC sends each receipt after its answer: collect them as they come (bounded).
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        assert deliver(app, session) == 0  # nothing left to send; picks up receipts
        got = statuses(session)
        if {got[(second["id"], "almost_turn")], got[(second["id"], "called")]} == {NotificationStatus.DELIVERED}:
            break
        time.sleep(0.05)
    assert got[(second["id"], "almost_turn")] == NotificationStatus.DELIVERED
    assert got[(second["id"], "called")] == NotificationStatus.DELIVERED
    delivered = session.scalar(select(func.count()).select_from(SmsPart).where(SmsPart.receipt == "DELIVRD"))
    assert delivered == len(smsc.received) >= 2


def test_the_number_is_kept_apart_and_nothing_personal_is_logged(
    app: Flask, session: Session, hall: Hall, centre: Centre, gateway_closed: None
) -> None:
    token = hall.issue()
    hall.give(token, "+92 321 7654321", language="en")
    session.expire_all()
    assert session.get(SmsRecipient, token["id"]).phone == "+923217654321"
    blobs = [str(e.data) for e in session.scalars(select(Event))] + [str(n.payload) for n in session.scalars(select(Notification))]
    assert not any("7654321" in b for b in blobs)
    hall.post(f"/api/v1/counters/{hall.counter_id}/close", "clerk1")
    from queue_server.actors import SYSTEM  # noqa: PLC0415
    from queue_server.operations.day import end_of_day

    end_of_day(session, centre, SYSTEM)
    session.commit()
    assert session.scalar(select(func.count()).select_from(SmsRecipient)) == 0, "purged at end of day"


@pytest.mark.parametrize(
    ("phone", "status", "error"),
    [("12345", 400, "invalid_phone"), ("", 400, "invalid_phone"), (None, 400, "invalid_phone")],
)
def test_a_bad_number_is_refused_and_changes_nothing(
    session: Session, hall: Hall, phone: Any, status: int, error: str, gateway_closed: None
) -> None:
    token = hall.issue()
    r = hall.client.post(f"/api/v1/track/{token['public_code']}/sms", json={"phone": phone})
    assert r.status_code == status and r.get_json()["error"] == error
    r = hall.client.post(f"/api/v1/track/{token['public_code']}/sms", json={"phone": "0300-1234567"}, headers={"Accept-Language": "ur"})
    assert r.status_code == 201
    r = hall.client.post(f"/api/v1/track/{token['public_code']}/sms", json={"phone": "bad"}, headers={"Accept-Language": "ur"})
    assert r.status_code == 400 and "موبائل" in r.get_json()["message"], "in the citizen's language"
    session.expire_all()
    assert session.get(SmsRecipient, token["id"]).phone == "+923001234567", "the good number stays"
    assert hall.client.post("/api/v1/track/not-a-code-at-all-xxxx/sms", json={"phone": "0300-1234567"}).status_code == 404


def test_a_dropped_link_is_retried_after_back_off_and_no_part_is_sent_twice(
    app: Flask, session: Session, hall: Hall, smsc: FakeSmsc, gateway_closed: None
) -> None:
    app.config["NOTIFY_RETRY_SECONDS"] = 0
    tokens = [hall.issue() for _ in range(3)]
    hall.give(tokens[1], "0300-1111111")
    hall.give(tokens[2], "0300-2222222")
    smsc.drop_on_submit = 1  # the SMSC goes away on the first submit, unanswered
    hall.call()
    assert deliver(app, session) == 1, "one failed (link dropped), the next reconnects and goes"
    got = statuses(session)
    assert sorted(got.values()).count(NotificationStatus.PENDING) == 1, got
    assert {NotificationStatus.SENT, NotificationStatus.DELIVERED} & set(got.values()), "the receipt may be in already"
    failed = session.scalars(select(Notification).where(Notification.status == NotificationStatus.PENDING)).one()
    assert failed.attempts == 1 and failed.next_attempt_at is not None and "lost" in failed.last_error
    assert deliver(app, session) == 1, "retried"
    assert deliver(app, session) == 0
    assert sorted(d for d, _ in smsc.messages()) == ["923001111111", "923002222222"], "each once"


def test_a_multipart_message_resends_only_the_part_that_did_not_leave(
    app: Flask, session: Session, centre: Centre, hall: Hall, smsc: FakeSmsc, gateway_closed: None
) -> None:
    app.config["NOTIFY_RETRY_SECONDS"] = 0
    token = hall.issue()
    hall.give(token, "0300-1234567")
    notify.enqueue(
        session, centre_id=centre.id, token_id=token["id"], kind="almost_turn",
        payload={"number": token["number"], "ahead": 1, "service_ur": "ژ" * 120, "service_en": ""},
    )
    session.commit()

    assert smsc.received == []
    smsc_submit_limit = 1  # let the first part through, then cut the link on the second
    notifier = notifier_for(app)
    real_submit = notifier.gateway.submit

    def submit(*args: Any, **kwargs: Any) -> str:
        if len(smsc.received) >= smsc_submit_limit:
            smsc.drop_on_submit = 1
        return real_submit(*args, **kwargs)

    notifier.gateway.submit = submit  # type: ignore[method-assign]
    assert deliver(app, session) == 0
    assert len(smsc.received) == 1
    assert session.scalar(select(func.count()).select_from(SmsPart)) == 1, "the acknowledged part is recorded"
    notifier.gateway.submit = real_submit  # type: ignore[method-assign]
    assert deliver(app, session) == 1
    headers = [r.short_message[:6] for r in smsc.received]
    total = headers[0][4]
    assert total >= 2 and [h[5] for h in headers] == list(range(1, total + 1)), "each part once, in order"
    assert len({h[3] for h in headers}) == 1, "the same concatenation reference"
    assert "".join(smsc.texts()).count("ژ") == 120


def test_a_number_gets_at_most_its_hourly_share(
    app: Flask, session: Session, centre: Centre, hall: Hall, smsc: FakeSmsc, gateway_closed: None
) -> None:
    tokens = [hall.issue() for _ in range(5)]
    for token in tokens:
        hall.give(token, "0300-9999999")
        notify.enqueue(session, centre_id=centre.id, token_id=token["id"], kind="test", payload={"number": token["number"]})
    session.commit()
    assert deliver(app, session) == 3
    assert len(smsc.messages()) == 3
    assert list(statuses(session).values()).count(NotificationStatus.THROTTLED) == 2


def test_a_failed_send_waits_its_back_off_before_the_next_attempt(
    app: Flask, session: Session, centre: Centre, hall: Hall, smsc: FakeSmsc, gateway_closed: None
) -> None:
    app.config["NOTIFY_RETRY_SECONDS"] = 30
    token = hall.issue()
    hall.give(token, "0300-1234567")
    notify.enqueue(session, centre_id=centre.id, token_id=token["id"], kind="test", payload={"number": "A001"})
    session.commit()
    smsc.drop_on_submit = 1
    assert deliver(app, session) == 0
    assert deliver(app, session) == 0, "not again before the back-off"
    row = session.scalars(select(Notification)).one()
    assert row.attempts == 1 and row.status == NotificationStatus.PENDING
    assert notify.retry_delay(1).total_seconds() == 30 and notify.retry_delay(3).total_seconds() == 120
    assert notify.retry_delay(20).total_seconds() == 900, "at most 15 minutes"
    row.next_attempt_at = None
    session.commit()
    assert deliver(app, session) == 1
    assert len(smsc.messages()) == 1
