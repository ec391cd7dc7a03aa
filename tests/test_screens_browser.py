"""Small but visible things on every screen (issue 14.8), in headless Chromium against a real
server: one digit style per language (Latin, as the token numbers are) on the kiosk, the
hall display and the phone's tracking page, which agree; a favicon on every page; no
console errors on any page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.kiosk.test_kiosk_browser import pair as pair_kiosk
from tests.support.live import wait_true

pytestmark = pytest.mark.browser
CENTRE_TZ = ZoneInfo("Asia/Karachi")
EASTERN_DIGITS = re.compile("[\u0660-\u0669\u06f0-\u06f9]")


def watch(page: Any) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"{page.url}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"{page.url}: {e}"))
    return errors


def favicon(page: Any, server: Any) -> None:
    href = page.get_attribute("link[rel=icon]", "href")
    assert href, f"no favicon on {page.url}"
    r = page.request.get(server.url + href if href.startswith("/") else href)
    assert r.status == 200 and r.headers["content-type"].startswith("image/"), (page.url, r.status)


def digits_of(page: Any) -> tuple[bool, list[str]]:
    text = page.evaluate("document.body.innerText")
    return bool(re.search("[0-9]", text)), EASTERN_DIGITS.findall(text)


def test_kiosk_display_and_phone_agree_on_digits_every_page_has_a_favicon_and_no_console_error(
    live_server: Any, new_page: Any
) -> None:
    s = live_server
    counters = {c["number"]: c["id"] for c in s.api("GET", "/api/v1/centres/demo/counters", s.keys["manager"]).json()["counters"]}
    assert s.api("POST", f"/api/v1/counters/{counters[1]}/open", s.keys["clerk1"]).status_code == 200
    tokens = [s.api("POST", "/api/v1/centres/demo/tokens", s.keys["kiosk"], json={"service": "character"}).json() for _ in range(12)]
    errors: list[str] = []

    for lang in ("en", "ur"):
        # The kiosk: waiting counts and waits.
        page = new_page(viewport=(1080, 1920))
        errors += watch(page)
        pair_kiosk(page, s)
        if page.evaluate("document.documentElement.lang") != lang:
            page.click("#lang-toggle")
        wait_true(page, f"document.documentElement.lang === '{lang}'")
        page.wait_for_timeout(500)
        latin, eastern = digits_of(page)
        assert latin and not eastern, ("kiosk", lang, eastern)
        favicon(page, s)
        page.click('[data-service="character"]')
        page.wait_for_selector("#screen-priority:not([hidden])")
        latin, eastern = digits_of(page)
        assert latin and not eastern, ("kiosk priority", lang, eastern)

        # The hall display: clock, counts, waits.
        page = new_page(viewport=(1920, 1080))
        errors += watch(page)
        page.goto(f"{s.url}/display/demo?lang={lang}")
        page.fill("#device-key", s.keys["display"])
        page.click("#pair-form button[type=submit]")
        page.wait_for_selector("#display[data-state=live]", timeout=15000)
        latin, eastern = digits_of(page)
        assert latin and not eastern, ("display", lang, eastern)
        favicon(page, s)

        # The phone: position, wait, dates and times.
        # (a phone whose clock is set to another zone: the times are still the centre's)
        page = new_page(viewport=(390, 844), is_mobile=True, has_touch=True, timezone_id="America/New_York")
        errors += watch(page)
        page.goto(f"{s.url}/t/{tokens[-1]['public_code']}?lang={lang}")
        page.wait_for_timeout(1500)
        latin, eastern = digits_of(page)
        assert latin and not eastern, ("tracking", lang, eastern)
        feed = page.text_content("#tk-feed") or ""
        karachi = [(datetime.now(UTC) + timedelta(minutes=d)).astimezone(CENTRE_TZ).strftime("%H:%M") for d in (-1, 0)]
        assert any(k in feed for k in karachi), (feed, karachi)
        favicon(page, s)

        # Every other page: a favicon, and nothing wrong in the console.
        page = new_page(viewport=(1366, 768))
        errors += watch(page)
        for path in ("/counter", "/manage/login", "/book/demo", "/join/demo"):
            page.goto(f"{s.url}{path}?lang={lang}")
            page.wait_for_load_state("networkidle")
            favicon(page, s)
        page.goto(f"{s.url}/manage/login?lang={lang}")
        page.fill("input[name=username]", "manager")
        page.fill("input[name=password]", s.passwords["manager"])
        page.click("form button[type=submit]")
        page.wait_for_load_state("networkidle")
        for path in ("/manage", "/manage/reports", "/manage/alerts", "/manage/whatif"):
            page.goto(f"{s.url}{path}?lang={lang}")
            page.wait_for_load_state("networkidle")
            favicon(page, s)
            latin, eastern = digits_of(page)
            assert not eastern, (path, lang, eastern)
    assert errors == [], errors
