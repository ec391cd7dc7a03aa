"""The kiosk is honest about what it can serve (issue 14.3), in a real browser against a
real server: outside opening hours it says the centre is closed and when it opens; a
service no open counter serves is marked so (and, where the centre does not issue ahead,
not offered); when the printer fails, the number and its QR fill the screen."""

from __future__ import annotations

import json
import re
import socket
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, text

from tests.kiosk.test_kiosk_browser import DONE, SERVICES, pair, set_printer, take_token

pytestmark = pytest.mark.browser
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def sql(server: Any, statement: str, **params: Any) -> None:
    engine = create_engine(server.database_url)
    with engine.begin() as conn:
        conn.execute(text(statement), params)
    engine.dispose()


def test_outside_opening_hours_the_kiosk_says_closed_and_when_it_opens(live_server: Any, new_page: Any) -> None:
    page = new_page(viewport=(1080, 1920))
    pair(page, live_server)
    # Open only on the weekday after tomorrow, 08:00-16:00: closed now, whatever the hour.
    day = (datetime.now(UTC).astimezone(ZoneInfo("Asia/Karachi")) + timedelta(days=2)).weekday()
    sql(live_server, "UPDATE opening_hours SET is_closed = true, is_round_the_clock = false, opens_at = NULL, closes_at = NULL")
    sql(
        live_server,
        "UPDATE opening_hours SET is_closed = false, opens_at = '08:00:00', closes_at = '16:00:00' WHERE weekday = :d",
        d=day,
    )
    page.reload()
    page.wait_for_selector("#oos:not([hidden])", timeout=15_000)
    assert page.locator("#oos").get_attribute("data-reason") == "closed"
    english = page.text_content("#oos-text-en") or ""
    assert "closed" in english and "08:00" in english and WEEKDAYS[day] in english
    urdu = page.text_content("#oos-text-ur") or ""
    assert "08:00" in urdu and not re.search("[\u06f0-\u06f9]", urdu), "Latin digits on every screen"
    page.screenshot(path="artifacts/kiosk-closed.png")
    sql(live_server, "UPDATE opening_hours SET is_closed = false, is_round_the_clock = true")
    page.reload()
    page.wait_for_selector("#kiosk " + SERVICES, timeout=15_000)
    assert page.locator("#oos").is_hidden()


def test_a_service_no_counter_serves_is_said_so_and_offered_only_where_the_centre_issues_ahead(
    live_server: Any, new_page: Any
) -> None:
    page = new_page(viewport=(1080, 1920))
    pair(page, live_server)
    # No counter is open yet (early morning): no mark on every button; the citizen is told
    # after choosing, on the token screen and on the ticket.
    assert page.locator(".k-unserved-tag").count() == 0
    page.click('[data-service="character"]')
    page.wait_for_selector("#screen-priority:not([hidden])")
    assert page.locator("#unserved-note").is_visible()
    page.click('[data-priority="normal"]')
    page.wait_for_selector(DONE, timeout=30_000)
    assert page.locator("#done-unserved").is_visible()
    page.click("#btn-done")
    # A clerk opens counter 1 (its profile has the character certificate): the tag goes, live.
    counters = live_server.api("GET", "/api/v1/centres/demo/counters", live_server.keys["manager"]).json()["counters"]
    one = next(c["id"] for c in counters if c["number"] == 1)
    assert live_server.api("POST", f"/api/v1/counters/{one}/open", live_server.keys["clerk1"]).status_code == 200
    page.wait_for_function("() => document.querySelectorAll('.k-service.k-unserved').length > 0", timeout=15_000)
    tagged = page.locator(".k-service.k-unserved")
    assert tagged.count() > 0, "the services counter 1 does not serve are marked"
    assert page.locator('[data-service="character"] .k-unserved-tag').count() == 0
    # A centre that does not issue ahead does not offer what nobody serves.
    sql(live_server, "UPDATE centres SET settings = :s", s=json.dumps({"unserved": "refuse"}))
    page.reload()
    page.wait_for_selector("#kiosk " + SERVICES, timeout=15_000)
    unserved = page.locator(".k-service.k-unserved").first
    assert unserved.is_disabled()
    code = unserved.get_attribute("data-service")
    refused = live_server.api(
        "POST", "/kiosk/demo/issue", live_server.keys["kiosk"], json={"service": code, "priority": "normal"}
    )
    assert refused.status_code == 409 and refused.json()["error"] == "not_served_now"


def test_when_the_printer_fails_the_number_and_qr_fill_the_screen(live_server: Any, new_page: Any) -> None:
    with socket.socket() as probe:  # a port with no printer behind it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    set_printer(live_server, {"kind": "network", "host": "127.0.0.1", "port": port, "timeout": 0.5, "width": 576})
    page = new_page(viewport=(1080, 1920))
    pair(page, live_server)
    take_token(page, "character", "normal")
    assert "k-unprinted-error" in (page.locator("#screen-done").get_attribute("class") or "")
    number = page.locator("#done-number").bounding_box()
    ticket = page.locator("#done-ticket").bounding_box()
    assert number is not None and ticket is not None
    assert number["height"] >= 180, "the number is large enough to photograph"
    assert ticket["width"] >= 900, "the ticket with its QR spans the screen"
    assert page.locator(".k-facts").is_hidden()
    page.screenshot(path="artifacts/kiosk-printer-failed.png")
