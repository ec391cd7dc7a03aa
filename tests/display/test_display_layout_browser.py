"""The hall display's layout (issue 14.6), measured in headless Chromium at 1920x1080 against
a real server, in Urdu and in English: Urdu is never set smaller than the English beside it,
the collection badge fits the big panel's header, a "next up" strip and the expected wait per
service are on the screen, and the idle screen says when the centre is open."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.display.test_display_browser import (
    ARTIFACTS,
    TV,
    call_next,
    pair,
    sql,
    wait_hero,
)
from tests.support.live import wait_true

pytestmark = pytest.mark.browser
LANGS = ("en", "ur")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
EASTERN_DIGITS = re.compile("[\u0660-\u0669\u06f0-\u06f9]")

# Every visible pair of English and Urdu siblings: the Urdu one's computed font size must not
# be smaller (Nastaliq at the same size already reads smaller than Latin).
URDU_SMALLER = """() => {
  const shown = n => n.getClientRects().length > 0 && getComputedStyle(n).visibility !== 'hidden';
  const size = n => parseFloat(getComputedStyle(n).fontSize);
  const bad = [];
  const parents = new Set();
  document.querySelectorAll('#display .ur').forEach(u => parents.add(u.parentElement));
  parents.forEach(p => {
    const kids = Array.from(p.children);
    const en = kids.filter(k => k.classList.contains('en') && shown(k));
    const ur = kids.filter(k => k.classList.contains('ur') && shown(k));
    en.forEach((e, i) => {
      const u = ur[i];
      if (u && size(u) + 0.01 < size(e)) bad.push(`${p.id || p.className}: ur ${size(u)}px < en ${size(e)}px`);
    });
  });
  return bad;
}"""

BADGE_FIT = """() => {
  const hero = document.getElementById('hero').getBoundingClientRect();
  const badge = document.getElementById('hero-kind');
  const b = badge.getBoundingClientRect();
  const number = document.getElementById('hero-number').getBoundingClientRect();
  const clipped = Array.from(badge.children).some(c => c.scrollWidth > c.clientWidth + 1);
  return {inside: b.left >= hero.left - 0.5 && b.right <= hero.right + 0.5 && b.top >= hero.top,
          overlap: b.bottom > number.top, numberInside: number.top >= hero.top && number.bottom <= hero.bottom,
          clipped: clipped, width: b.width, height: b.height};
}"""


def display_page(new_page: Any, server: Any, lang: str) -> Any:
    page = new_page(viewport=TV)
    pair(page, server, f"/display/demo?lang={lang}")
    assert page.evaluate("document.documentElement.lang") == lang
    return page


def test_urdu_never_smaller_next_up_waits_and_the_collection_badge_fits(live_server: Any, new_page: Any) -> None:
    s = live_server
    pages = {lang: display_page(new_page, s, lang) for lang in LANGS}

    # Idle: nobody called; the demo centre is open round the clock and says so.
    for lang, page in pages.items():
        assert page.locator("#hero-empty").is_visible()
        assert page.locator("#hero-hours").is_visible(), lang
        assert page.text_content("#hours-en") == "Open round the clock"
        assert page.text_content("#hours-ur") == "چوبیس گھنٹے کھلا ہے"
        assert page.evaluate(URDU_SMALLER) == [], lang

    c1, c2 = s.open_counter(1), s.open_counter(2)
    issued = [s.issue(svc) for svc in ("character", "character", "tenant", "character", "vehicle")]
    first, _ = call_next(s, 1, c1)
    assert first["id"] == issued[0]["id"]
    still_waiting = [t["number"] for t in issued[1:]]
    for lang, page in pages.items():
        wait_hero(page, first["number"])
        # Next up: the waiting tokens, earliest first (all normal priority here).
        wait_true(page, f"document.querySelectorAll('#next-up .next-item').length === {len(still_waiting)}")
        shown = page.eval_on_selector_all("#next-up .next-number", "ns => ns.map(n => n.textContent)")
        assert shown == still_waiting, lang
        assert page.locator("#next-section").is_visible()
        box = page.locator("#next-section").bounding_box()
        assert box and box["y"] + box["height"] <= TV[1], "the strip is on the screen"
        # Expected wait per service, in both languages, Latin digits in both.
        wait_true(page, "!!document.querySelector('.waiting-item[data-service=character] .waiting-eta')")
        en = page.text_content(".waiting-item[data-service=character] .waiting-eta-en") or ""
        ur = page.text_content(".waiting-item[data-service=character] .waiting-eta-ur") or ""
        assert re.fullmatch(r"about \u2068\d+\u2069 min|under a minute", en), en
        assert "منٹ" in ur and not EASTERN_DIGITS.search(ur), ur
        assert page.locator(".waiting-item[data-service=character] .waiting-eta").is_visible()
        assert page.evaluate(URDU_SMALLER) == [], lang

    # A collection call: the badge "Collect your documents" fits the big panel's header.
    b, _ = call_next(s, 2, c2)
    clerk2 = s.keys["clerk2"]
    assert s.api("POST", f"/api/v1/tokens/{b['id']}/start", clerk2, json={}).status_code == 200
    req = s.api("GET", f"/api/v1/tokens/{b['id']}/request", clerk2).json()
    body = {"applicant_name": "Ali Khan", "cnic": "35202-1234567-1", "phone": "0300-1234567"}
    assert s.api("PATCH", f"/api/v1/requests/{req['id']}", clerk2, json=body).status_code == 200
    assert s.api("POST", f"/api/v1/requests/{req['id']}/advance", clerk2, json={"to": "in_process"}).status_code == 200
    assert s.api("POST", f"/api/v1/requests/{req['id']}/collection-call", clerk2, json={}).status_code == 200
    for lang, page in pages.items():
        wait_hero(page, b["number"], "collection")  # (not b's call, drawn first)
        page.wait_for_timeout(3000)  # the flash is over: measure the resting layout
        fit = page.evaluate(BADGE_FIT)
        assert fit["inside"] and fit["numberInside"] and not fit["overlap"] and not fit["clipped"], (lang, fit)
        assert fit["height"] < TV[1] * 0.12, (lang, fit)
        assert page.evaluate(URDU_SMALLER) == [], lang
        page.screenshot(path=str(ARTIFACTS / f"display-collection-{lang}.png"))


def test_the_idle_screen_of_a_closed_centre_says_when_it_opens(live_server: Any, new_page: Any) -> None:
    s = live_server
    # Open only on the weekday after tomorrow, 08:00-16:00: closed now, whatever the hour.
    day = (datetime.now(UTC).astimezone(ZoneInfo("Asia/Karachi")) + timedelta(days=2)).weekday()
    sql(s, "UPDATE opening_hours SET is_closed = true, is_round_the_clock = false, opens_at = NULL, closes_at = NULL")
    sql(
        s,
        "UPDATE opening_hours SET is_closed = false, opens_at = '08:00:00', closes_at = '16:00:00' WHERE weekday = :d",
        d=day,
    )
    ARTIFACTS.mkdir(exist_ok=True)
    for lang in LANGS:
        page = display_page(new_page, s, lang)
        assert page.locator("#hero-hours").is_visible()
        assert page.locator("#display").get_attribute("data-open") == "closed"
        assert page.locator("#hero-welcome").is_hidden(), "no 'take a token' while closed"
        en = page.text_content("#hours-en") or ""
        assert "closed" in en and "08:00" in en and WEEKDAYS[day] in en, en
        ur = page.text_content("#hours-ur") or ""
        assert "بند" in ur and "08:00" in ur and not EASTERN_DIGITS.search(ur), ur
        # Right to left: the sentence ends (its Urdu full stop) at the left, and the time
        # inside it still reads 08:00 from left to right.
        order = page.evaluate(
            """() => {
              const node = document.getElementById('hours-ur').firstChild;
              const rect = (i) => { const r = document.createRange(); r.setStart(node, i); r.setEnd(node, i + 1);
                                   return r.getBoundingClientRect(); };
              const text = node.textContent;
              const t = text.indexOf('08:00');
              const lefts = Array.from(text).map((_, i) => rect(i)).filter(r => r.width > 0).map(r => r.left);
              return {stop: rect(text.length - 1).left, minLeft: Math.min(...lefts),
                      h: rect(t).left, colon: rect(t + 2).left, m: rect(t + 3).left};
            }"""
        )
        assert order["stop"] <= order["minLeft"] + 1, order
        assert order["h"] < order["colon"] < order["m"], order
        assert page.evaluate(URDU_SMALLER) == [], lang
        page.screenshot(path=str(ARTIFACTS / f"display-closed-{lang}.png"))
