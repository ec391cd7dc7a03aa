"""The hall display in headless Chromium against a real ``khidmat serve``: pairing through the
real pairing screen, calls made through the API appearing and being announced, recovery
after a server restart, hostile text shown as text, and screenshots at 1920x1080."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

pytestmark = pytest.mark.browser

FAST_AUDIO = """
const play = HTMLMediaElement.prototype.play;
HTMLMediaElement.prototype.play = function () { this.playbackRate = 4; return play.call(this); };
"""

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
TV = (1920, 1080)


# --- helpers ----------------------------------------------------------------------------------


def call_next(server: Any, number: int, cid: int) -> tuple[dict[str, Any], float]:
    """Call the next token at a counter; return it and the wall-clock time the request left."""
    sent_at = time.time()
    r = server.api("POST", f"/api/v1/counters/{cid}/call-next", server.keys[f"clerk{number}"])
    assert r.status_code == 200, r.text
    return r.json(), sent_at


def pair(page: Any, server: Any, path: str = "/display/demo") -> None:
    """Pair through the real pairing screen, as staff do once per TV."""
    page.goto(server.url + path)
    page.wait_for_selector("#pair-form")
    assert page.locator("#display").count() == 0, "an unpaired browser must not see the hall"
    page.fill("#device-key", server.keys["display"])
    page.click("#pair-form button[type=submit]")
    page.wait_for_selector("#display[data-state=live]", timeout=15000)


def hero_number(page: Any) -> str:
    return str(page.locator("#hero-number").text_content())


def wait_hero(page: Any, number: str, kind: str | None = None, timeout: float = 10000) -> None:
    """Until the big panel shows ``number`` (as ``kind`` of call, when given): a panel that
    shows the number already, as another kind, is still waiting for its event."""
    page.wait_for_function(
        """([n, kind]) => document.getElementById('hero-number').textContent === n
            && (kind === null || document.getElementById('hero').dataset.kind === kind)""",
        arg=[number, kind],
        timeout=timeout,
    )


def applied_at(page: Any, number: str, kind: str = "call") -> float:
    """When (epoch ms) the screen drew the call, as the page recorded it."""
    rows = page.evaluate("window.KhidmatDisplay.applied")
    return next(float(r["at"]) for r in rows if r["number"] == number and r["kind"] == kind)


def report(capsys: pytest.CaptureFixture[str], line: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    with (ARTIFACTS / "display-latency.txt").open("a") as fh:
        fh.write(line + "\n")
    with capsys.disabled():
        print("\n" + line)


def sql(server: Any, statement: str, **params: Any) -> None:
    engine = create_engine(server.database_url)
    with engine.begin() as conn:
        conn.execute(text(statement), params)
    engine.dispose()


# --- tests ---------------------------------------------------------------------------------------


def test_a_call_appears_is_announced_in_turn_and_a_recall_again(
    live_server: Any, new_page: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    s = live_server
    page = new_page(viewport=TV)
    # The announcements play through the real audio path, four times as fast: three of
    # them (chime, Urdu, English) would take forty seconds.
    page.add_init_script(FAST_AUDIO)
    pair(page, s)
    assert page.locator("#hero-empty").is_visible()

    c1 = s.open_counter(1)
    c2 = s.open_counter(2)
    first = s.issue("character")
    second = s.issue("overseas")

    with page.expect_response(lambda r: f"/announce/{first['id']}.wav" in r.url, timeout=15000) as audio:
        token, sent_at = call_next(s, 1, c1)
        wait_hero(page, token["number"])
    latency_ms = applied_at(page, token["number"]) - sent_at * 1000
    report(capsys, f"display: call request -> screen drew {token['number']}: {latency_ms:.0f} ms")
    response = audio.value
    assert response.status in (200, 206)
    assert response.headers["content-type"] == "audio/wav"
    assert response.request.url.endswith("kind=call&counter=1")

    assert page.locator("#hero-counter").text_content() == "1"
    assert page.locator("#hero-service-en").text_content() == "Character certificate"
    assert page.locator("#hero-service-ur").text_content() == "کریکٹر سرٹیفکیٹ"
    assert "flash" in (page.locator("#hero").get_attribute("class") or "")
    tile = page.locator(".counter-tile[data-counter='1'] .tile-token-num")
    assert tile.text_content() == token["number"]

    # A second call at once, and a recall of the first: announced one after the other.
    nxt, _ = call_next(s, 2, c2)
    wait_hero(page, nxt["number"])
    assert nxt["number"] == second["number"]
    assert page.locator("#recent .recent-item").first.get_attribute("data-token-id") == str(first["id"])
    r = s.api("POST", f"/api/v1/tokens/{first['id']}/recall", s.keys["clerk1"], json={})
    assert r.status_code == 200, r.text
    wait_hero(page, token["number"])
    assert page.locator("#hero").get_attribute("data-kind") == "recall"
    assert page.locator("#hero-kind-en").text_content() == "Called again"

    page.wait_for_function("window.KhidmatDisplay.played.length >= 3", timeout=60000)
    played = page.evaluate("window.KhidmatDisplay.played")
    assert [(p["number"], p["kind"]) for p in played] == [
        (token["number"], "call"),
        (nxt["number"], "call"),
        (token["number"], "recall"),
    ]
    assert all(p["ok"] and not p["fallback"] for p in played), played
    for before, after in zip(played, played[1:], strict=False):
        assert after["start"] >= before["end"], f"announcements overlapped: {played}"


def test_the_screen_recovers_after_a_server_restart(
    live_server: Any, new_page: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    s = live_server
    page = new_page(viewport=TV)
    pair(page, s)
    assert page.evaluate("document.documentElement.dataset.link") == "up"
    assert page.locator("#link-status").is_hidden()
    snapshots = page.evaluate("window.KhidmatDisplay.snapshots")

    s.stop()
    page.wait_for_function("document.documentElement.dataset.link === 'down'", timeout=15000)
    assert page.locator("#link-status").is_visible()
    s.start()
    page.wait_for_function("document.documentElement.dataset.link === 'up'", timeout=30000)
    page.wait_for_function(f"window.KhidmatDisplay.snapshots > {snapshots}", timeout=15000)
    assert page.locator("#link-status").is_hidden()

    # Nobody touched the page: calls after the restart still reach it, and still speak.
    cid = s.open_counter(3)
    s.issue("tenant")
    with page.expect_response(lambda r: "/announce/" in r.url, timeout=15000) as audio:
        token, sent_at = call_next(s, 3, cid)
        wait_hero(page, token["number"])
    assert audio.value.status in (200, 206)
    latency_ms = applied_at(page, token["number"]) - sent_at * 1000
    report(
        capsys, f"display: after restart, call request -> screen drew {token['number']}: {latency_ms:.0f} ms"
    )


def test_hostile_notice_and_service_name_are_shown_as_text(live_server: Any, new_page: Any) -> None:
    s = live_server
    hostile_en = "<img src=x onerror=\"window.__pwned='notice'\"><b>Closed early</b>"
    hostile_ur = "<script>window.__pwned='ur'</script>آج جلد بند"
    hostile_service = "<svg onload=\"window.__pwned='service'\">Bank</svg>"
    sql(
        s,
        "UPDATE services SET name_en = :en, name_ur = :ur WHERE code = 'bank'",
        en=hostile_service,
        ur="<i onmouseover=alert(1)>بینک</i>",
    )
    page = new_page(viewport=TV)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    pair(page, s)

    r = s.api(
        "PUT",
        "/api/v1/centres/demo/notice",
        s.keys["manager"],
        json={"notice_en": hostile_en, "notice_ur": hostile_ur},
    )
    assert r.status_code == 200, r.text
    page.wait_for_function("document.documentElement.dataset.notice === 'on'", timeout=15000)
    page.wait_for_function(
        "t => document.getElementById('ticker-text').textContent === t", arg=hostile_en, timeout=15000
    )

    cid = s.open_counter(8)
    s.issue("bank")
    token, _ = call_next(s, 8, cid)
    wait_hero(page, token["number"])
    assert page.locator("#hero-service-en").text_content() == hostile_service
    assert page.locator("#hero-service-ur").text_content() == "<i onmouseover=alert(1)>بینک</i>"
    waiting_issue = s.issue("bank")
    assert waiting_issue["number"]
    page.wait_for_selector(".waiting-item[data-service='bank']", timeout=10000)
    assert page.locator(".waiting-item[data-service='bank'] .waiting-en").text_content() == hostile_service

    # The Urdu half of the notice comes round after the English one has crossed the
    # screen (its crossing, half a minute at the ticker's pace, finished at once).
    page.evaluate("document.getElementById('ticker-text').getAnimations().forEach(a => a.finish())")
    page.wait_for_function(
        "t => document.getElementById('ticker-text').textContent === t", arg=hostile_ur, timeout=60000
    )
    page.hover("#hero-service-ur")
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#display img, #display svg, #display script, #display i, #display b").count() == 0
    assert dialogs == []


def _busy_hall(s: Any) -> None:
    """A morning in the demo centre: counters at work, people waiting, a notice."""
    for number, services in ((1, ["character"] * 3), (2, ["overseas"]), (4, ["vehicle"] * 2)):
        cid = s.open_counter(number)
        for code in services:
            s.issue(code)
        call_next(s, number, cid)
    cid = s.open_counter(5)
    for code in ("learner", "learner", "licence_renewal"):
        s.issue(code)
    call_next(s, 5, cid)
    for code in ("tenant", "tenant", "employee", "lost_document", "fir_copy", "bank", "women_desk"):
        s.issue(code)
    cid = s.open_counter(7)
    s.issue("special_persons")
    call_next(s, 7, cid)
    s.api(
        "PUT",
        "/api/v1/centres/demo/notice",
        s.keys["manager"],
        json={
            "notice_en": "The centre closes at 4 pm today. Bring your original CNIC and a photocopy.",
            "notice_ur": "آج مرکز شام چار بجے بند ہوگا۔ اپنا اصل شناختی کارڈ اور اس کی فوٹو کاپی ساتھ لائیں۔",
        },
    )
    r = s.api("POST", "/api/v1/tokens/1/recall", s.keys["clerk1"], json={})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("lang", ["en", "ur"])
def test_screenshots_of_a_busy_hall(live_server: Any, new_page: Any, lang: str) -> None:
    s = live_server
    _busy_hall(s)
    page = new_page(viewport=TV)
    pair(page, s, f"/display/demo?lang={lang}")
    assert page.evaluate("document.documentElement.lang") == lang
    assert page.evaluate("document.documentElement.dir") == ("rtl" if lang == "ur" else "ltr")
    page.wait_for_function("document.fonts.status === 'loaded'")
    assert page.locator(".counter-tile").count() == 8
    assert page.locator("#hero").get_attribute("data-kind") == "recall"
    assert page.locator(".waiting-item").count() >= 5
    # Nothing spills out of the TV picture.
    overflow = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
    assert overflow == list(TV), overflow
    page.wait_for_timeout(1500)  # let the flash settle and the ticker move in
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"display-{lang}.png"))
    zone = new_page(viewport=TV)
    pair(zone, s, f"/display/demo?lang={lang}&counters=4,5")
    assert zone.locator(".counter-tile").count() == 2
    shown = json.loads(zone.locator("#display-config").text_content() or "{}")["zone"]
    assert shown == [4, 5]
    zone.wait_for_timeout(800)
    zone.screenshot(path=str(ARTIFACTS / f"display-zone-{lang}.png"))


def test_the_big_panel_shows_the_latest_call_still_current_through_refreshes(
    live_server: Any, new_page: Any
) -> None:
    """A refresh (a re-join's snapshot) must not replace a live collection call with an old
    "called again" token, and a token that came to the counter never returns as the call."""
    s = live_server
    page = new_page(viewport=TV)
    pair(page, s)
    c1, c2 = s.open_counter(1), s.open_counter(2)
    first = s.issue("character")
    a, _ = call_next(s, 1, c1)
    assert a["id"] == first["id"]
    second = s.issue("character")
    b, _ = call_next(s, 2, c2)
    assert b["id"] == second["id"]
    wait_hero(page, b["number"])
    clerk2 = s.keys["clerk2"]
    assert s.api("POST", f"/api/v1/tokens/{b['id']}/start", clerk2, json={}).status_code == 200
    req = s.api("GET", f"/api/v1/tokens/{b['id']}/request", clerk2).json()
    body = {"applicant_name": "Ali Khan", "cnic": "35202-1234567-1", "phone": "0300-1234567"}
    assert s.api("PATCH", f"/api/v1/requests/{req['id']}", clerk2, json=body).status_code == 200
    assert s.api("POST", f"/api/v1/requests/{req['id']}/advance", clerk2, json={"to": "in_process"}).status_code == 200
    # A is called again after B was called: by call time, A is the most recent token called.
    assert s.api("POST", f"/api/v1/tokens/{a['id']}/recall", s.keys["clerk1"], json={}).status_code == 200
    wait_hero(page, a["number"], "recall")  # (not the first call of A, still drawn)
    collect = s.api("POST", f"/api/v1/requests/{req['id']}/collection-call", clerk2, json={})
    assert collect.status_code == 200, collect.text
    wait_hero(page, b["number"], "collection")

    page.reload()
    page.wait_for_selector("#display[data-state=live]", timeout=15000)
    assert hero_number(page) == b["number"], "a refresh keeps the live collection call"
    assert page.locator("#hero").get_attribute("data-kind") == "collection"
    assert page.locator("#hero-counter").text_content() == "2"

    done = s.api("POST", f"/api/v1/requests/{req['id']}/advance", clerk2, json={"to": "delivered"})
    assert done.status_code == 200, done.text
    wait_hero(page, a["number"], "recall")  # collected: the panel falls back to the call still current

    assert s.api("POST", f"/api/v1/tokens/{a['id']}/start", s.keys["clerk1"], json={}).status_code == 200
    page.wait_for_function("document.getElementById('hero-call').hidden === true", timeout=10000)
    page.reload()
    page.wait_for_selector("#display[data-state=live]", timeout=15000)
    assert page.locator("#hero-call").is_hidden(), "a token at the counter never returns as 'now calling'"
    assert page.locator("#hero-empty").is_visible()


def test_the_hall_screen_shows_a_database_outage_and_recovers(live_server: Any, new_page: Any) -> None:
    """The server tells every screen ``service_state`` when the database is gone and when it
    is back (tests/queue_server/test_faults.py cuts PostgreSQL and sees both events reach a
    screen); here the page's own handler of that event, on its real socket: offline while
    the database is down, then a fresh join (a new snapshot) when it is back."""
    page = new_page()
    pair(page, live_server)
    before = page.evaluate("window.KhidmatDisplay.snapshots")
    page.evaluate("window.KhidmatDisplay.live.socket.listeners('service_state')[0]({database: 'down'})")
    page.wait_for_selector("#display[data-link=down]")
    assert page.locator("#link-status").is_visible()
    page.evaluate("window.KhidmatDisplay.live.socket.listeners('service_state')[0]({database: 'up'})")
    page.wait_for_selector("#display[data-link=up]")
    assert not page.locator("#link-status").is_visible()
    page.wait_for_function("n => window.KhidmatDisplay.snapshots > n", arg=before, timeout=10000)


def test_a_screen_an_upgrade_left_behind_reloads_when_it_reconnects(live_server: Any, new_page: Any) -> None:
    s = live_server
    page = new_page(viewport=TV)
    pair(page, s)
    version = page.evaluate("document.querySelector('meta[name=khidmat-client]').content")
    assert len(version) == 16
    # Rejoining the same server (the 60 s resync, a reconnect) leaves the page alone.
    page.evaluate("window.__same_page = true; window.KhidmatDisplay.live.socket.disconnect().connect()")
    page.wait_for_function("document.documentElement.dataset.link === 'up'", timeout=15000)
    page.wait_for_timeout(1500)
    assert page.evaluate("window.__same_page === true"), "no upgrade: no reload"
    # The page was served by an older server: on reconnecting it loads the server's scripts.
    page.evaluate("document.querySelector('meta[name=khidmat-client]').content = 'an-older-build'")
    with page.expect_navigation(timeout=15000):
        page.evaluate("window.KhidmatDisplay.live.socket.disconnect().connect()")
    page.wait_for_selector("#display[data-state=live]", timeout=15000)
    assert page.evaluate("document.querySelector('meta[name=khidmat-client]').content") == version
    assert page.evaluate("window.__same_page === undefined"), "a fresh page"
