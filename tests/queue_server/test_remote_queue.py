"""Joining the queue from the phone, through the JSON API with a frozen clock: the token
keeps its place but is passed over until the citizen checks in at the kiosk; one open
token per mobile number; only while the centre is open and where it allows it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from queue_server.models import Centre, Counter, Event, SmsRecipient
from tests.conftest import bearer

MONDAY_9AM = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)  # 09:00 in Lahore

pytestmark = pytest.mark.frozen_at(MONDAY_9AM)


def at(hh_mm: str) -> datetime:
    hours, minutes = map(int, hh_mm.split(":"))
    return datetime(2026, 3, 2, hours - 5, minutes, tzinfo=UTC)


@pytest.fixture
def allowed(session: Session, centre: Centre) -> None:
    centre.settings = {**(centre.settings or {}), "remote_queue": {"enabled": True}}
    session.commit()


def take(client: FlaskClient, phone: str = "0300-1234567", status: int = 201, **extra: Any) -> Any:
    body = {"service": "character", "phone": phone, "language": "ur", **extra}
    r = client.post("/api/v1/centres/demo/remote-tokens", json=body)
    assert r.status_code == status, r.get_json()
    return r.get_json()


def test_a_centre_that_does_not_allow_it_refuses(
    client: FlaskClient, frozen_clock: Any, centre: Centre, session: Session
) -> None:
    centre.settings = {**(centre.settings or {}), "remote_queue": {"enabled": False}}
    session.commit()
    assert take(client, status=409)["error"] == "remote_off"


def test_one_open_token_per_number_and_only_while_open(
    client: FlaskClient, frozen_clock: Any, allowed: None, session: Session
) -> None:
    got = take(client)
    assert got["number"].startswith("A") and len(got["check_in_code"]) == 8 and got["tracking_url"].endswith(got["public_code"])
    assert take(client, status=409)["error"] == "remote_token_held"
    assert take(client, phone="12345", status=400)["field"] == "phone"
    assert take(client, phone="0301-7654321", service="nope", status=404)["error"] == "not_found"
    session.expire_all()
    assert session.scalar(select(SmsRecipient.phone)) == "+923001234567", "its SMS go to that number"
    frozen_clock.move_to(datetime(2026, 3, 8, 5, 0, tzinfo=UTC))  # Sunday: closed
    assert take(client, phone="0302-1111111", status=409)["error"] == "centre_closed"


def test_the_phone_token_is_passed_over_until_it_checks_in_then_keeps_its_place(
    client: FlaskClient, frozen_clock: Any, allowed: None, keys: dict[str, str], counter_no: Callable[[int], Counter],
    session: Session,
) -> None:
    away = take(client)
    kiosk = bearer(keys["kiosk"])
    frozen_clock.move_to(at("09:05"))
    first = client.post("/api/v1/centres/demo/tokens", json={"service": "character"}, headers=kiosk).get_json()
    frozen_clock.move_to(at("09:06"))
    second = client.post("/api/v1/centres/demo/tokens", json={"service": "character"}, headers=kiosk).get_json()
    counter = counter_no(1).id
    clerk = bearer(keys["clerk1"])
    client.post(f"/api/v1/counters/{counter}/open", headers=clerk)

    def call_and_finish() -> int:
        token = client.post(f"/api/v1/counters/{counter}/call-next", headers=clerk).get_json()
        for action in ("start", "complete"):
            client.post(f"/api/v1/tokens/{token['id']}/{action}", headers=clerk)
        return int(token["id"])

    frozen_clock.move_to(at("09:10"))
    assert call_and_finish() == first["id"], "the absent phone token is passed over"
    track = client.get(f"/api/v1/track/{away['public_code']}").get_json()
    assert track["remote"] == {"check_in_code": away["check_in_code"], "checked_in": False}
    checked = client.post(f"/api/v1/centres/demo/appointments/{away['check_in_code']}/check-in", headers=kiosk)
    assert checked.status_code == 201 and checked.get_json()["number"] == away["number"]
    again = client.post(f"/api/v1/centres/demo/appointments/{away['check_in_code']}/check-in", headers=kiosk)
    assert again.status_code == 409 and again.get_json()["error"] == "checked_in"
    frozen_clock.move_to(at("09:15"))
    assert call_and_finish() == checked.get_json()["id"], "checked in, it goes in the place it held"
    assert call_and_finish() == second["id"]
    kinds = session.scalars(select(Event.kind).where(Event.kind.like("remote_token_%")).order_by(Event.id)).all()
    assert kinds == ["remote_token_taken", "remote_token_checked_in"]
    assert not any("1234567" in str(e.data) for e in session.scalars(select(Event))), "no number in the chain"


def test_end_of_day_forgets_the_numbers(client: FlaskClient, frozen_clock: Any, allowed: None, session: Session, centre: Centre) -> None:
    from queue_server.actors import SYSTEM
    from queue_server.models import RemoteToken
    from queue_server.operations.day import end_of_day

    take(client)
    frozen_clock.move_to(at("17:00"))
    end_of_day(session, centre, SYSTEM)
    session.commit()
    assert session.scalars(select(RemoteToken.phone)).all() == [""]
    assert session.scalar(select(SmsRecipient.phone)) is None


def test_the_number_of_a_phone_token_is_on_no_public_screen(
    app: Any, client: FlaskClient, frozen_clock: Any, allowed: None, session: Session, centre: Centre, keys: dict[str, str]
) -> None:
    """The number never reaches the hall's screen (its snapshot and page), the tracking
    view, the kiosk's list or the event log; the answer to the citizen shows it masked."""
    from queue_server.read.queue_state import centre_snapshot  # noqa: PLC0415

    got = take(client, phone="0301-7654321")
    walk_in = client.post("/api/v1/centres/demo/tokens", json={"service": "character"}, headers=bearer(keys["kiosk"])).get_json()
    given = client.post(f"/api/v1/track/{walk_in['public_code']}/sms", json={"phone": "0333-9876543"}).get_json()
    assert given["phone"] == "0333-*****43", "masked in the answer"
    assert "7654321" not in str(got)
    digits = ("7654321", "3017654321", "9876543", "3339876543")
    session.expire_all()
    seen = [
        str(centre_snapshot(session, centre)),
        client.get(f"/api/v1/track/{got['public_code']}").get_data(as_text=True),
        client.get(f"/api/v1/track/{walk_in['public_code']}").get_data(as_text=True),
        client.get("/api/v1/centres/demo/services", headers=bearer(keys["kiosk"])).get_data(as_text=True),
        client.get(f"/t/{got['public_code']}").get_data(as_text=True),
        client.get("/api/v1/centres/demo/counters", headers=bearer(keys["display"])).get_data(as_text=True),
        " ".join(str(e.data) for e in session.scalars(select(Event))),
    ]
    for where, text in enumerate(seen):
        assert not any(d in text for d in digits), where
