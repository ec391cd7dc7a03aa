"""Appointments through the JSON API with a frozen clock: slots and their capacity, the
SMS code, the booking's life (confirm, move, cancel), check-in at the kiosk within its
window and placement by the appointment time, no-shows at end of day, the manager's
figures, and bad input refused in the citizen's language."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from queue_server import slots
from queue_server.actors import SYSTEM
from queue_server.models import Appointment, AppointmentState, Centre, Counter, Event, Notification, Token
from queue_server.notify import LogNotifier, deliver_pending, notifier_for
from queue_server.operations.day import end_of_day
from tests.conftest import bearer

# Monday 2 March 2026, 07:00 in Lahore (UTC+5): the demo centre opens at 08:00.
MONDAY_7AM = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
DAY = "2026-03-02"

pytestmark = pytest.mark.frozen_at(MONDAY_7AM)


def local(hh_mm: str) -> datetime:
    hours, minutes = map(int, hh_mm.split(":"))
    return datetime(2026, 3, 2, hours - 5, minutes, tzinfo=UTC)


class Phone:
    """A citizen's phone and the kiosk, through the JSON API; SMS read from the log outbox."""

    def __init__(self, app: Flask, client: FlaskClient, session: Session, keys: dict[str, str]) -> None:
        self.app, self.client, self.session, self.keys = app, client, session, keys

    def slots(self, service: str = "character", day: str = DAY, status: int = 200) -> Any:
        r = self.client.get(f"/api/v1/centres/demo/slots?service={service}&date={day}")
        assert r.status_code == status, r.get_json()
        return r.get_json()

    def book(self, slot: str, *, phone: str = "0300-1234567", name: str = "Ali Raza", status: int = 201, **extra: Any) -> Any:
        body = {"service": "character", "slot": slot, "name": name, "phone": phone, "language": "en", **extra}
        r = self.client.post("/api/v1/centres/demo/appointments", json=body)
        assert r.status_code == status, r.get_json()
        return r.get_json()

    def sms(self) -> list[Any]:
        notifier = notifier_for(self.app)
        assert isinstance(notifier, LogNotifier)
        deliver_pending(self.session, notifier)
        self.session.commit()
        return notifier.sent

    def otp_for(self, code: str) -> str:
        booking_id = self.session.scalar(select(Appointment.id).where(Appointment.code == code))
        [otp] = [n.payload["otp"] for n in self.sms() if n.kind == "booking_otp" and self._of(n.id) == booking_id]
        return str(otp)

    def _of(self, notification_id: int) -> int | None:
        return self.session.scalar(select(Notification.appointment_id).where(Notification.id == notification_id))

    def confirmed(self, slot: str, **kw: Any) -> str:
        code = self.book(slot, **kw)["code"]
        r = self.client.post(f"/api/v1/appointments/{code}/verify", json={"otp": self.otp_for(code)})
        assert r.status_code == 200 and r.get_json()["state"] == "booked", r.get_json()
        return str(code)

    def check_in(self, code: str, status: int = 201) -> Any:
        r = self.client.post(f"/api/v1/centres/demo/appointments/{code}/check-in", headers=bearer(self.keys["kiosk"]))
        assert r.status_code == status, r.get_json()
        return r.get_json()


@pytest.fixture
def phone(app: Flask, client: FlaskClient, session: Session, keys: dict[str, str], frozen_clock: Any) -> Phone:
    return Phone(app, client, session, keys)


def slot_at(phone: Phone, hh_mm: str) -> dict[str, Any]:
    [slot] = [s for s in phone.slots()["slots"] if s["local"] == hh_mm]
    return slot


def test_slots_cover_the_opening_hours_with_a_share_of_capacity(phone: Phone, session: Session, centre: Centre) -> None:
    got = phone.slots()
    assert [s["local"] for s in got["slots"]][:2] == ["08:00", "08:30"]
    assert got["slots"][-1]["local"] == "15:30", "the last slot ends at closing"
    assert len(got["slots"]) == 16
    capacity = got["slots"][0]["capacity"]
    assert capacity >= 1 and all(s["free"] == capacity for s in got["slots"])
    assert phone.slots(day="2026-03-08")["slots"] == [], "Sunday: closed"
    # the share keeps the rest for walk-ins: with every slot's capacity at 100 % it is more
    policy = slots.Policy.of({"appointments": {"enabled": True, "share": 1.0}})
    assert slots.capacity(policy, 10, [1.0, 0.5]) == 4 and slots.capacity(policy, 10, []) == 0


def test_a_booking_is_confirmed_by_the_sms_code_and_holds_its_place(phone: Phone, session: Session) -> None:
    slot = slot_at(phone, "09:00")
    booked = phone.book(slot["start"])
    assert booked["state"] == "unverified" and booked["phone"] == "0300-*****67" and len(booked["code"]) == 8
    assert slot_at(phone, "09:00")["free"] == slot["free"] - 1, "an unconfirmed booking holds the place"
    code = booked["code"]
    wrong = phone.client.post(f"/api/v1/appointments/{code}/verify", json={"otp": "000000x"})
    assert wrong.status_code == 400 and wrong.get_json()["field"] == "otp"
    assert phone.client.get(f"/api/v1/appointments/{code}").get_json()["state"] == "unverified"
    ok = phone.client.post(f"/api/v1/appointments/{code}/verify", json={"otp": phone.otp_for(code)})
    assert ok.status_code == 200 and ok.get_json()["state"] == "booked"
    kinds = [n.kind for n in phone.sms()]
    assert kinds.count("booking_confirmed") == 1
    events = session.scalars(select(Event.kind).where(Event.kind.like("appointment_%")).order_by(Event.id)).all()
    assert events == ["appointment_booked", "appointment_confirmed"]
    blobs = " ".join(str(e.data) for e in session.scalars(select(Event)))
    assert "Ali Raza" not in blobs and "1234567" not in blobs, "nothing personal in the chain"


def test_an_unconfirmed_booking_lets_go_of_its_place_when_its_code_expires(phone: Phone, frozen_clock: Any) -> None:
    slot = slot_at(phone, "10:00")
    phone.book(slot["start"])
    assert slot_at(phone, "10:00")["free"] == slot["free"] - 1
    frozen_clock.shift(timedelta(minutes=11))
    assert slot_at(phone, "10:00")["free"] == slot["free"]


def test_a_full_slot_and_a_hoarding_number_are_refused(phone: Phone, session: Session) -> None:
    slot = slot_at(phone, "11:00")
    for i in range(slot["capacity"]):
        phone.book(slot["start"], phone=f"0301-000000{i}")
    full = phone.book(slot["start"], phone="0302-1111111", status=409)
    assert full["error"] == "slot_full"
    other = slot_at(phone, "11:30")["start"]
    phone.book(other, phone="0333-5555555")
    phone.book(slot_at(phone, "12:00")["start"], phone="0333-5555555")
    again = phone.book(slot_at(phone, "12:30")["start"], phone="0333-5555555", status=409)
    assert again["error"] == "too_many_bookings"


@pytest.mark.parametrize(
    ("change", "error", "field"),
    [
        ({"slot": "2026-03-02T09:10:00+05:00"}, "invalid_slot", "slot"),  # not a slot start
        ({"slot": "2026-03-02T06:00:00+05:00"}, "invalid_slot", "slot"),  # before opening
        ({"slot": "tomorrow"}, "invalid_slot", "slot"),
        ({"slot": "2026-03-02T09:00:00"}, "invalid_slot", "slot"),  # no offset
        ({"slot": "2026-04-30T09:00:00+05:00"}, "invalid_date", "date"),  # too far ahead
        ({"name": "   "}, "invalid_name", "name"),
        ({"name": "x" * 81}, "invalid_name", "name"),
        ({"phone": "12345"}, "invalid_phone", "phone"),
        ({"phone": 3001234567}, "invalid_phone", "phone"),
    ],
)
def test_bad_booking_input_is_refused_naming_the_field(
    phone: Phone, session: Session, change: dict[str, Any], error: str, field: str
) -> None:
    body = {"slot": slot_at(phone, "09:00")["start"], **change}
    got = phone.book(body.pop("slot"), status=400, **body)
    assert got["error"] == error and got["field"] == field
    assert session.scalar(select(Appointment.id)) is None, "nothing stored"


def test_errors_come_in_the_citizens_language(phone: Phone) -> None:
    r = phone.client.post(
        "/api/v1/centres/demo/appointments",
        json={"service": "character", "slot": "bad", "name": "Ali", "phone": "0300-1234567"},
        headers={"Accept-Language": "ur"},
    )
    assert r.status_code == 400 and any("\u0600" <= ch <= "\u06ff" for ch in r.get_json()["message"])


def test_check_in_respects_the_window_and_places_the_token_by_its_time(
    phone: Phone, frozen_clock: Any, keys: dict[str, str], counter_no: Callable[[int], Counter], session: Session
) -> None:
    code = phone.confirmed(slot_at(phone, "08:30")["start"])
    early = phone.check_in(code, status=409)
    assert early["error"] == "too_early" and "08:00" in early["message"]
    frozen_clock.move_to(local("08:05"))
    walk_in = phone.client.post(
        "/api/v1/centres/demo/tokens", json={"service": "character"}, headers=bearer(keys["kiosk"])
    ).get_json()
    frozen_clock.move_to(local("08:10"))
    token = phone.check_in(code)
    assert token["number"].startswith("A") and token["state"] == "waiting"
    assert phone.check_in(code, status=409)["error"] == "checked_in"
    counter = counter_no(1).id
    assert phone.client.post(f"/api/v1/counters/{counter}/open", headers=bearer(keys["clerk1"])).status_code == 200
    frozen_clock.move_to(local("08:20"))
    first = phone.client.post(f"/api/v1/counters/{counter}/call-next", headers=bearer(keys["clerk1"])).get_json()
    assert first["id"] == walk_in["id"], "before the slot, the walk-in who came first goes first"
    for action in ("start", "complete"):
        phone.client.post(f"/api/v1/tokens/{first['id']}/{action}", headers=bearer(keys["clerk1"]))
    frozen_clock.move_to(local("08:34"))
    later = phone.client.post(
        "/api/v1/centres/demo/tokens", json={"service": "character"}, headers=bearer(keys["kiosk"])
    ).get_json()
    frozen_clock.move_to(local("08:40"))
    second = phone.client.post(f"/api/v1/counters/{counter}/call-next", headers=bearer(keys["clerk1"])).get_json()
    assert second["id"] == token["id"] != later["id"], "after its time, the booking goes before a later walk-in"
    assert phone.client.get(f"/api/v1/appointments/{code}").get_json()["token_number"] == token["number"]


def test_late_arrivals_are_turned_to_the_queue_and_no_shows_are_settled(
    phone: Phone, frozen_clock: Any, session: Session, centre: Centre
) -> None:
    late = phone.confirmed(slot_at(phone, "08:00")["start"])
    missed = phone.confirmed(slot_at(phone, "08:30")["start"], phone="0300-7654321")
    frozen_clock.move_to(local("08:16"))
    assert phone.check_in(late, status=409)["error"] == "too_late"
    frozen_clock.move_to(local("17:00"))
    end_of_day(session, centre, SYSTEM)
    session.commit()
    states = dict(session.execute(select(Appointment.code, Appointment.state)).all())
    assert states == {late: AppointmentState.NO_SHOW, missed: AppointmentState.NO_SHOW}
    assert session.scalar(select(Token.id)) is None


def test_end_of_day_purges_names_and_numbers_on_schedule_and_keeps_the_figures(
    phone: Phone, frozen_clock: Any, session: Session, centre: Centre, keys: dict[str, str]
) -> None:
    """The schedule the README states: a booking never confirmed is erased at the end of
    the day its code lapsed (even for a later slot); every other booking keeps its name and
    number for 30 days after its slot, then loses them; the rows (code, slot, state), the
    figures and the event log stay."""
    came = phone.confirmed(slot_at(phone, "08:30")["start"], name="Ali Raza", phone="0300-1111111")
    missed = phone.confirmed(slot_at(phone, "09:00")["start"], name="Sana Bibi", phone="0300-2222222")
    tuesday = {s["local"]: s["start"] for s in phone.slots(day="2026-03-03")["slots"]}
    later = phone.confirmed(tuesday["10:00"], name="Omar Khan", phone="0300-3333333")
    never = phone.book(tuesday["10:30"], name="Zara Ali", phone="0300-4444444")["code"]
    frozen_clock.move_to(local("08:20"))
    phone.check_in(came)
    events_before = session.scalar(select(func.count(Event.id)))

    frozen_clock.move_to(local("17:00"))
    end_of_day(session, centre, SYSTEM)
    session.commit()
    session.expire_all()
    rows = {a.code: a for a in session.scalars(select(Appointment))}
    assert rows[never].state == AppointmentState.EXPIRED and (rows[never].name, rows[never].phone) == ("", "")
    assert rows[missed].state == AppointmentState.NO_SHOW and rows[missed].phone == "+923002222222", "kept 30 days"
    assert rows[came].name == "Ali Raza" and rows[later].state == AppointmentState.BOOKED
    r = phone.client.post(f"/api/v1/appointments/{never}/verify", json={"otp": "123456"})
    assert r.status_code == 409 and r.get_json()["error"] == "booking_expired"

    frozen_clock.move_to(local("17:00") + timedelta(days=29))
    end_of_day(session, centre, SYSTEM)
    session.commit()
    session.expire_all()
    rows = {a.code: a for a in session.scalars(select(Appointment))}
    assert rows[came].phone and rows[missed].phone and rows[later].phone, "not yet 30 days after the slot"

    frozen_clock.move_to(local("17:00") + timedelta(days=31, hours=1))
    end_of_day(session, centre, SYSTEM)
    session.commit()
    session.expire_all()
    rows = {a.code: a for a in session.scalars(select(Appointment))}
    assert all((a.name, a.phone) == ("", "") for a in rows.values()), "erased after 30 days"
    assert {rows[c].state for c in (came, missed, later)} == {
        AppointmentState.CHECKED_IN, AppointmentState.NO_SHOW
    }, "the states stay (the Tuesday booking became a no-show)"
    report = phone.client.get(f"/api/v1/centres/demo/appointments?date={DAY}", headers=bearer(keys["manager"])).get_json()
    assert report["booked_tokens"] == 1, "the figures survive the purge"
    assert session.scalar(select(func.count(Event.id))) > events_before, "the chain only grows"
    blobs = " ".join(str(e.data) for e in session.scalars(select(Event)))
    assert not any(x in blobs for x in ("1111111", "2222222", "Ali Raza", "Sana Bibi")), "never in the log"


def test_cancel_and_move_free_and_take_places(phone: Phone) -> None:
    nine, ten = slot_at(phone, "09:00"), slot_at(phone, "10:00")
    code = phone.confirmed(nine["start"])
    moved = phone.client.post(f"/api/v1/appointments/{code}/move", json={"slot": ten["start"]}).get_json()
    assert moved["time"] == "10:00"
    assert slot_at(phone, "09:00")["free"] == nine["free"] and slot_at(phone, "10:00")["free"] == ten["free"] - 1
    assert phone.client.post(f"/api/v1/appointments/{code}/cancel").get_json()["state"] == "cancelled"
    assert slot_at(phone, "10:00")["free"] == ten["free"]
    again = phone.client.post(f"/api/v1/appointments/{code}/cancel")
    assert again.status_code == 409 and again.get_json()["error"] == "booking_closed"
    assert phone.check_in(code, status=409)["error"] == "booking_closed"
    assert phone.client.get("/api/v1/appointments/ZZZZZZZZ").status_code == 404


def test_the_manager_sees_bookings_per_slot_and_the_booked_share(
    phone: Phone, frozen_clock: Any, keys: dict[str, str]
) -> None:
    code = phone.confirmed(slot_at(phone, "08:30")["start"])
    phone.book(slot_at(phone, "09:00")["start"], phone="0300-7654321")
    frozen_clock.move_to(local("08:20"))
    phone.check_in(code)
    phone.client.post("/api/v1/centres/demo/tokens", json={"service": "character"}, headers=bearer(keys["kiosk"]))
    r = phone.client.get(f"/api/v1/centres/demo/appointments?date={DAY}", headers=bearer(keys["manager"]))
    got = r.get_json()
    assert r.status_code == 200
    assert got["tokens"] == 2 and got["booked_tokens"] == 1 and got["walk_in_tokens"] == 1 and got["booked_share"] == 0.5
    assert {(s["time"], s.get("checked_in", 0), s.get("unverified", 0)) for s in got["slots"]} == {("08:30", 1, 0), ("09:00", 0, 1)}
    clerk = phone.client.get(f"/api/v1/centres/demo/appointments?date={DAY}", headers=bearer(keys["clerk1"]))
    assert clerk.status_code == 403
    assert phone.client.get(f"/api/v1/centres/demo/appointments?date={DAY}").status_code == 401
