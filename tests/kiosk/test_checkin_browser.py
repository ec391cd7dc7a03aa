"""Checking a booking in at the kiosk, in a real browser against a real server: the code
typed on the kiosk's keypad issues the booking's token on screen; a wrong code is refused
in the kiosk's language and the citizen stays on the check-in screen."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.kiosk.test_kiosk_browser import DONE, pair, set_language

pytestmark = pytest.mark.browser


def booked(server: Any, code: str, minutes_from_now: int = 5) -> None:
    """A confirmed booking for a slot starting shortly (as the phone would have made it)."""
    slot = (datetime.now(UTC) + timedelta(minutes=minutes_from_now)).replace(second=0, microsecond=0, tzinfo=None)
    engine = create_engine(server.database_url)
    with engine.begin() as conn:
        centre_id, service_id = conn.execute(
            text("SELECT c.id, s.id FROM centres c JOIN services s ON s.centre_id = c.id WHERE c.code = 'demo' AND s.code = 'character'")
        ).one()
        conn.execute(
            text(
                "INSERT INTO appointments (centre_id, service_id, slot_start, code, name, phone, language, state, "
                "otp_hash, otp_attempts, created_at, updated_at) VALUES (:c, :s, :slot, :code, 'Ali Raza', "
                "'+923001234567', 'ur', 'booked', '', 0, :now, :now)"
            ),
            {"c": centre_id, "s": service_id, "slot": slot, "code": code, "now": datetime.now(UTC).replace(tzinfo=None)},
        )
    engine.dispose()


def test_a_booking_is_checked_in_on_the_kiosk_keypad(live_server: Any, new_page: Any) -> None:
    page = new_page(viewport=(1080, 1920))
    pair(page, live_server)
    set_language(page, "ur")
    booked(live_server, "KQ7M4P2X")
    page.click("#btn-booking")
    page.wait_for_selector("#screen-checkin:not([hidden])")
    for ch in "ZZZZZZZZ":
        page.click(f'#checkin-keys .k-key:text-is("{ch}")')
    page.click("#checkin-go")
    page.wait_for_selector("#toast:not([hidden])")
    assert "بکنگ" in (page.text_content("#toast-text") or ""), "refused in Urdu"
    page.click("#toast-ok")
    assert page.locator("#screen-checkin:not([hidden])").count() == 1
    page.click("#checkin-clear")
    for ch in "KQ7M4P2X":
        page.click(f'#checkin-keys .k-key:text-is("{ch}")')
    page.screenshot(path=str(_shot("kiosk-checkin-ur.png")))
    page.click("#checkin-go")
    page.wait_for_selector(DONE, timeout=30_000)
    number = page.text_content("#done-number")
    assert number and number.startswith("A")
    got = live_server.api("GET", "/api/v1/appointments/KQ7M4P2X").json()
    assert got["state"] == "checked_in" and got["token_number"] == number


def _shot(name: str) -> Any:
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "artifacts"
    folder.mkdir(exist_ok=True)
    return folder / name
