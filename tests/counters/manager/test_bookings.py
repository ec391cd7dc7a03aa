"""The manager's bookings page (/manage/bookings): bookings per slot and service and the
day's booked against walk-in tokens, in English and Urdu; a bad date is refused in the
manager's language; managers only; no citizen's name or number on the page."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from tests.conftest import bearer
from tests.counters.manager.test_reports import login
from tests.queue_server.test_appointments import DAY, MONDAY_7AM, Phone, local, slot_at

pytestmark = pytest.mark.frozen_at(MONDAY_7AM)


@pytest.fixture
def phone(app: Flask, client: FlaskClient, session: Session, keys: dict[str, str], frozen_clock: Any) -> Phone:
    return Phone(app, client, session, keys)


def cell(html: str, attribute: str) -> str:
    return html.split(attribute, 1)[1].split(">", 1)[1].split("<", 1)[0].strip()


def test_bookings_per_slot_and_the_booked_share(
    phone: Phone, frozen_clock: Any, keys: dict[str, str], passwords: dict[str, str]
) -> None:
    code = phone.confirmed(slot_at(phone, "08:30")["start"], name="Ali Raza", phone="0300-1234567")
    phone.book(slot_at(phone, "09:00")["start"], name="Sana Bibi", phone="0300-7654321")
    frozen_clock.move_to(local("08:20"))
    phone.check_in(code)
    for _ in range(3):
        phone.client.post("/api/v1/centres/demo/tokens", json={"service": "character"}, headers=bearer(keys["kiosk"]))
    client = phone.client
    login(client, "manager", passwords["manager"])

    page = client.get(f"/manage/bookings?date={DAY}&lang=en")
    assert page.status_code == 200
    html = page.text
    assert 'aria-current="page">Bookings<' in html, "in the navigation"
    assert cell(html, 'data-figure="tokens"') == "4"
    assert cell(html, 'data-figure="booked"') == "1"
    assert cell(html, 'data-figure="walk_in"') == "3"
    assert cell(html, 'data-figure="share"') == "25%"
    assert 'data-slot="08:30" data-service="character"' in html and 'data-slot="09:00"' in html
    row_0830 = html.split('data-slot="08:30"', 1)[1].split("</tr>", 1)[0]
    assert cell(row_0830, 'data-state="checked_in"') == "1"
    row_0900 = html.split('data-slot="09:00"', 1)[1].split("</tr>", 1)[0]
    assert cell(row_0900, 'data-state="unverified"') == "1"
    assert cell(html, 'data-total="checked_in"') == "1"
    for personal in ("Ali Raza", "Sana Bibi", "1234567", "7654321", "0300"):
        assert personal not in html, "no name or number on the page"

    urdu = client.get(f"/manage/bookings?date={DAY}&lang=ur").text
    assert 'dir="rtl"' in urdu and "ہر وقت کی بکنگز" in urdu and "بکنگ والوں کا حصہ" in urdu
    assert cell(urdu, 'data-figure="share"') == "25%"

    empty = client.get("/manage/bookings?date=2026-03-03&lang=en").text
    assert 'id="bookings-none"' in empty and cell(empty, 'data-figure="share"') == "–"


@pytest.mark.parametrize("bad", ["tomorrow", "2026-02-30", "2026-3-2x", "\u0661\u0662"])
def test_a_bad_date_is_refused_in_the_managers_language(
    client: FlaskClient, demo: Any, passwords: dict[str, str], bad: str
) -> None:
    login(client, "manager", passwords["manager"])
    r = client.get("/manage/bookings", query_string={"date": bad, "lang": "en"})
    assert r.status_code == 400 and "YYYY-MM-DD" in r.text and 'id="bookings-error"' in r.text
    r = client.get("/manage/bookings", query_string={"date": bad, "lang": "ur"})
    assert r.status_code == 400 and "Give the date" not in r.text and 'id="bookings-error"' in r.text


def test_managers_only(client: FlaskClient, demo: Any, passwords: dict[str, str]) -> None:
    anonymous = client.get("/manage/bookings")
    assert anonymous.status_code == 302 and "login" in anonymous.headers["Location"]
    token = client.get("/manage/login").text.split('name="csrf_token" value="')[1].split('"')[0]
    client.post("/manage/login", data={"username": "clerk1", "password": passwords["clerk1"], "csrf_token": token})
    assert client.get("/manage/bookings").status_code in (302, 403)


@pytest.mark.browser
def test_the_bookings_page_in_the_browser(live_server: Any, new_page: Any) -> None:
    """Reached from the navigation, a date chosen in the form, accessible in both languages."""
    from tests.counters.manager.test_browser import login as browser_login  # noqa: PLC0415
    from tests.support.a11y import audit  # noqa: PLC0415

    page = new_page(viewport=(1440, 900))
    browser_login(page, live_server, "manager")
    page.click("nav.mgr-nav >> text=Bookings")
    page.wait_for_selector("#bookings-share")
    assert "/manage/bookings" in page.url
    assert page.inner_text('[data-figure="tokens"]').strip().isdigit()
    page.fill("#bookings-form input[name=date]", "2026-03-03")
    page.click("#bookings-form button[type=submit]")
    page.wait_for_selector("#bookings-none")
    assert "date=2026-03-03" in page.url
    audit(page, "bookings en")
    page.goto(f"{live_server.url}/manage/bookings?date=2026-03-03&lang=ur")
    page.wait_for_selector("#bookings-none")
    assert page.evaluate("document.documentElement.dir") == "rtl"
    audit(page, "bookings ur")
