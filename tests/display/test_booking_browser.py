"""Booking from the phone in a real browser: choose a time, give a name and a mobile
number, type the code from the SMS, and land on the booking's page with its QR; the same
in Urdu; a bad number is refused on the page in the page's language."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import create_engine, text

pytestmark = pytest.mark.browser
PHONE = (390, 844)


def otp_sent(server: Any, code: str) -> str:
    """The code the SMS carried (the log notifier's outbox row), read from the database."""
    engine = create_engine(server.database_url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT n.payload FROM notifications n JOIN appointments a ON a.id = n.appointment_id "
                "WHERE a.code = :code AND n.kind = 'booking_otp'"
            ),
            {"code": code},
        ).all()
    engine.dispose()
    [payload] = rows
    data = payload[0] if isinstance(payload[0], dict) else json.loads(payload[0])
    return str(data["otp"])


@pytest.mark.parametrize("lang", ["en", "ur"])
def test_a_citizen_books_a_visit_from_the_phone(live_server: Any, new_page: Any, lang: str) -> None:
    page = new_page(viewport=PHONE)
    errors: list[str] = []
    missing: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    page.goto(f"{live_server.url}/book/demo?lang={lang}")
    assert page.locator("html").get_attribute("dir") == ("rtl" if lang == "ur" else "ltr")
    free = page.locator("#bk-slots .bk-choice:not([disabled])").first
    free.wait_for(timeout=15_000)
    slot = free.get_attribute("data-slot")
    free.click()
    page.screenshot(path=str(_artifact(f"booking-form-{lang}.png")), full_page=True)
    page.fill("#bk-name", "Ali Raza")
    page.fill("#bk-phone", "12345")
    page.click("#bk-book")
    refusal = page.locator("#bk-error")
    refusal.wait_for()
    page.wait_for_function("document.getElementById('bk-error').textContent.length > 0")
    message = refusal.text_content() or ""
    assert ("موبائل" in message) if lang == "ur" else ("Mobile number" in message)
    page.fill("#bk-phone", "0300-1234567")
    page.click("#bk-book")
    page.locator("#bk-step-otp").wait_for(state="visible")
    assert "*****67" in (page.text_content("#bk-otp-text") or "")
    with page.expect_navigation():
        booking_code = _pending_code(live_server)
        page.fill("#bk-otp", otp_sent(live_server, booking_code))
        page.click("#bk-confirm")
    assert page.text_content("#bk-code") == booking_code
    assert page.locator("#bk-view").get_attribute("data-state") == "booked"
    qr = page.locator(".bk-qr img")
    assert page.evaluate("(img) => img.complete && img.naturalWidth > 0", qr.element_handle())
    got = live_server.api("GET", f"/api/v1/appointments/{booking_code}").json()
    assert got["slot"] == slot and got["state"] == "booked"
    page.screenshot(path=str(_artifact(f"booking-{lang}.png")), full_page=True)
    page.click("#bk-cancel")
    page.wait_for_function("document.getElementById('bk-view').dataset.state === 'cancelled'", timeout=10_000)
    assert errors == [], "no script errors"
    assert missing == [], "every asset answers, the icon included"


def _pending_code(server: Any) -> str:
    engine = create_engine(server.database_url)
    with engine.connect() as conn:
        codes = conn.execute(text("SELECT code FROM appointments WHERE state = 'unverified'")).scalars().all()
    engine.dispose()
    [code] = codes
    return str(code)


def _artifact(name: str) -> Any:
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "artifacts" / "screens"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def open_round_the_clock(server: Any) -> None:
    """The demo centre open every hour of every day, so the test does not depend on when it runs."""
    engine = create_engine(server.database_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE opening_hours SET is_closed = false, is_round_the_clock = true"))
    engine.dispose()


def test_a_citizen_joins_the_queue_from_the_phone_and_checks_in(live_server: Any, new_page: Any) -> None:
    open_round_the_clock(live_server)
    page = new_page(viewport=PHONE)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_server.url}/join/demo?lang=ur")
    page.fill("#join-phone", "0300-7654321")
    with page.expect_navigation():
        page.click("#join-go")
    assert "/t/" in page.url
    page.locator("#tk-checkin").wait_for(state="visible")
    code = page.text_content("#tk-checkin-code") or ""
    assert len(code) == 8
    assert "کیوسک" in (page.text_content("#tk-checkin-text") or "")
    page.screenshot(path=str(_artifact("join-tracking-ur.png")), full_page=True)
    checked = live_server.api("POST", f"/api/v1/centres/demo/appointments/{code}/check-in", key=live_server.keys["kiosk"])
    assert checked.status_code == 201
    page.locator("#tk-checkin").wait_for(state="hidden", timeout=15_000)
    assert errors == []
