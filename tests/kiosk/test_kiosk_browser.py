"""The kiosk in headless Chromium against a real ``khidmat serve``: paired through the real
pairing screen; a token taken in Urdu; a printer out of paper (the fake ESC/POS printer,
reached by the server over TCP) giving the token on screen and an alert to the dashboard;
a server restart showing "out of service" and the kiosk recovering by itself. Screenshots
of every screen at 1080x1920 and 1920x1080 in both languages go to artifacts/."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import socketio
from sqlalchemy import create_engine, text

from tests.fakes.escpos_printer import FakeEscposPrinter
from tests.support.live import listen, wait_true

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
PORTRAIT, LANDSCAPE = (1080, 1920), (1920, 1080)
DONE = "#screen-done:not([hidden])"
SERVICES = "#screen-services:not([hidden])"


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"kiosk-{name}.png"))


def set_printer(server: Any, settings: dict[str, Any]) -> None:
    """Configure the kiosk's printer in the admin data (the live server's database)."""
    engine = create_engine(server.database_url)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE devices SET printer = :p WHERE kind = 'kiosk'"), {"p": json.dumps(settings)}
        )
    engine.dispose()


def pair(page: Any, server: Any) -> None:
    page.goto(server.url + "/kiosk/demo")
    page.wait_for_selector("#pair-form")
    assert page.locator("#kiosk").count() == 0, "an unpaired browser sees no kiosk"
    page.fill("#device-key", server.keys["kiosk"])
    page.click("#pair-form button[type=submit]")
    page.wait_for_selector("#kiosk " + SERVICES, timeout=30000)
    ready(page)


def ready(page: Any) -> None:
    """Fonts loaded and the live link up (the service counts are live)."""
    wait_true(page, "document.fonts.status === 'loaded' && !!window.KhidmatKiosk && window.KhidmatKiosk.state.linkUp")
    wait_true(page, "window.KhidmatKiosk.state.printer !== null")


def set_language(page: Any, lang: str) -> None:
    if page.evaluate("document.documentElement.lang") != lang:
        page.click("#lang-toggle")
    page.wait_for_function("l => document.documentElement.lang === l", arg=lang)
    page.evaluate("document.fonts.ready.then(() => true)")


def take_token(page: Any, service: str, priority: str) -> dict[str, Any]:
    page.click(f'[data-service="{service}"]')
    try:
        page.wait_for_selector("#screen-priority:not([hidden])")
    except Exception as exc:
        state = page.evaluate("JSON.stringify(window.KhidmatKiosk.state)")
        raise AssertionError(f"the service was not taken; kiosk state: {state}") from exc
    page.click(f'[data-priority="{priority}"]')
    try:
        page.wait_for_selector(DONE, timeout=45000)
    except Exception as exc:
        state = page.evaluate("JSON.stringify(window.KhidmatKiosk.state)")
        raise AssertionError(f"no token on screen; kiosk state: {state}") from exc
    page.wait_for_function(
        "() => { const i = document.getElementById('done-ticket'); return i.complete && i.naturalWidth > 0; }",
        timeout=30000,
    )
    return page.evaluate("window.KhidmatKiosk.state.token")  # type: ignore[no-any-return]


def no_overflow(page: Any) -> None:
    """Nothing sticks out of the screen and the services fit without scrolling."""
    sizes = page.evaluate(
        """() => ({doc: [document.documentElement.scrollWidth, document.documentElement.scrollHeight],
                   view: [innerWidth, innerHeight],
                   groups: (g => g ? [g.scrollHeight, g.clientHeight, g.scrollWidth, g.clientWidth] : null)(
                       document.querySelector('#screen-services:not([hidden]) .k-groups'))})"""
    )
    assert sizes["doc"][0] <= sizes["view"][0] and sizes["doc"][1] <= sizes["view"][1], sizes
    if sizes["groups"]:
        scroll_h, client_h, scroll_w, client_w = sizes["groups"]
        assert scroll_h <= client_h + 1 and scroll_w <= client_w + 1, f"the services do not fit: {sizes}"
    cut = page.evaluate(
        """() => [...document.querySelectorAll('#kiosk button, #countdown, .k-ticket, .k-print-msg, .k-fact')]
             .filter(e => e.offsetParent !== null && e.textContent.trim() !== '')
             .filter(e => { const r = e.getBoundingClientRect();
                            return r.bottom > innerHeight + 1 || r.right > innerWidth + 1 || r.left < -1 || r.top < -1; })
             .map(e => e.id || e.className)"""
    )
    assert cut == [], f"cut off at the screen's edge: {cut}"


def smallest_target(page: Any) -> float:
    return float(
        page.evaluate(
            """() => Math.min(...[...document.querySelectorAll('button')]
                 .filter(b => b.offsetParent !== null)
                 .map(b => Math.min(b.getBoundingClientRect().width, b.getBoundingClientRect().height)))"""
        )
    )


@pytest.mark.parametrize("viewport", [PORTRAIT, LANDSCAPE], ids=["portrait", "landscape"])
def test_kiosk_take_a_token_in_urdu_and_english(
    live_server: Any, new_page: Any, viewport: tuple[int, int]
) -> None:
    orientation = "portrait" if viewport == PORTRAIT else "landscape"
    page = new_page(viewport=viewport)
    pair(page, live_server)

    set_language(page, "ur")
    assert page.evaluate("document.documentElement.dir") == "rtl"
    assert page.locator("#step-title").text_content() == "اپنی سروس منتخب کریں"
    assert page.locator(".k-service").count() == 19 and page.locator(".k-group").count() == 7
    assert "Noto Nastaliq Urdu" in page.evaluate(
        "getComputedStyle(document.querySelector('.k-name')).fontFamily"
    )
    assert page.evaluate("document.fonts.check('20px \"Noto Nastaliq Urdu\"')")
    no_overflow(page)
    assert smallest_target(page) >= 80, "touch targets of at least ~2 cm"
    shot(page, f"{orientation}-ur-start")

    page.click('[data-service="character"]')
    page.wait_for_selector("#screen-priority:not([hidden])")
    assert page.locator("#chosen-service").text_content().strip().endswith("کریکٹر سرٹیفکیٹ")
    no_overflow(page)
    shot(page, f"{orientation}-ur-priority")
    page.click("#btn-back")
    page.wait_for_selector(SERVICES)

    token = take_token(page, "character", "senior")
    assert token["number"] == "A001" and token["priority"] == "senior"
    assert page.locator("#done-number").text_content() == "A001"
    assert page.locator("#done-priority").text_content() == "بزرگ شہری"
    assert page.locator("#done-ahead").text_content() == "کوئی نہیں", "Urdu's zero is a dot: said in words"
    assert page.locator("#done-print").text_content().startswith("براہِ کرم اس اسکرین کی تصویر")
    assert page.locator("#btn-reprint").is_hidden(), "no printer on the demo kiosk: nothing to reprint"
    ticket = page.evaluate("document.getElementById('done-ticket').naturalWidth")
    assert ticket == 576, "the ticket PNG (with its QR code) is on the screen"
    no_overflow(page)
    shot(page, f"{orientation}-ur-done")

    # one tap switches the language, even on the token screen
    page.click("#lang-toggle")
    page.wait_for_function("document.documentElement.lang === 'en'")
    assert page.locator("#done-service").text_content() == "Character certificate"
    assert page.locator("#done-print").text_content().startswith("Please photograph this screen")
    no_overflow(page)
    shot(page, f"{orientation}-en-done")

    # after a short idle time the kiosk returns to the start, in its home language
    page.evaluate(
        "window.KhidmatKiosk.config.idle_seconds = 1; window.KhidmatKiosk.config.unprinted_idle_seconds = 1"
    )
    page.wait_for_selector(SERVICES, timeout=30000)
    home = page.evaluate("window.KhidmatKiosk.config.home_lang")
    assert page.evaluate("document.documentElement.lang") == home
    set_language(page, "en")
    # the count of the service went up, live
    page.wait_for_function(
        """() => document.querySelector('[data-service="character"] .k-waiting').textContent.includes('1')"""
    )
    no_overflow(page)
    shot(page, f"{orientation}-en-start")
    page.click('[data-service="vehicle"]')
    page.wait_for_selector("#screen-priority:not([hidden])")
    shot(page, f"{orientation}-en-priority")

    # a double tap on the last button issues one token
    page.evaluate(
        """() => { const b = document.querySelector('[data-priority="normal"]'); b.click(); b.click(); }"""
    )
    page.wait_for_selector(DONE, timeout=45000)
    assert page.locator("#done-number").text_content() == "F001"
    services = live_server.api("GET", "/api/v1/centres/demo/services", live_server.keys["kiosk"]).json()
    waiting = {s["code"]: s["waiting"] for s in services["services"]}
    assert waiting["vehicle"] == 1 and waiting["character"] == 1


def test_kiosk_printer_out_of_paper_gives_the_token_on_screen_and_alerts_staff(
    live_server: Any, new_page: Any
) -> None:
    with FakeEscposPrinter(mode="paper_out") as printer:
        set_printer(
            live_server,
            {"kind": "network", "host": "127.0.0.1", "port": printer.port, "timeout": 0.5, "width": 576},
        )
        alerts: list[dict[str, Any]] = []
        got_alert = threading.Event()
        dashboard = socketio.Client(reconnection=False)

        def on_alert(_name: str, data: dict[str, Any]) -> None:
            alerts.append(data)
            got_alert.set()

        listen(dashboard, ("alert",), on_alert)
        dashboard.connect(
            live_server.url,
            transports=["websocket"],
            auth={"key": live_server.keys["manager"]},
            wait_timeout=30,
        )
        try:
            assert dashboard.call("join", {"screen": "dashboard", "centre": "demo"}, timeout=30)["ok"]
            page = new_page(viewport=LANDSCAPE)
            pair(page, live_server)
            set_language(page, "ur")
            # the kiosk knows before anyone taps: a clear banner, tokens still issued on screen
            page.wait_for_selector("#printer-banner:not([hidden])", timeout=30000)
            assert "اسکرین پر دکھایا جائے گا" in page.locator("#printer-banner").text_content()
            no_overflow(page)
            shot(page, "landscape-ur-printer-down-start")

            token = take_token(page, "tenant", "disabled")
            assert token["number"] == "E001" and token["print"]["status"] == "paper_out"
            assert page.locator("#done-number").text_content() == "E001"
            message = page.locator("#done-print").text_content()
            assert message.startswith("پرنٹر میں کاغذ ختم ہو گیا ہے"), message
            assert page.locator("#done-print.k-print-error").count() == 1
            assert page.locator("#btn-reprint").is_visible()
            no_overflow(page)
            shot(page, "landscape-ur-paper-out-done")
            page.click("#lang-toggle")
            page.wait_for_function("document.documentElement.lang === 'en'")
            assert page.locator("#done-print").text_content().startswith("The printer is out of paper.")
            shot(page, "landscape-en-paper-out-done")

            assert got_alert.wait(30), "the dashboard got the printer alert"
            alert = next(a for a in alerts if a["token"])
            assert alert["status"] == "paper_out" and alert["level"] == "error"
            assert alert["token"]["number"] == "E001" and "E001" in alert["message_ur"]
            assert printer.printed == [], "nothing printed while the paper was out"

            # staff put paper in; the citizen taps "print again"
            printer.mode = "ok"
            page.click("#btn-reprint")
            page.wait_for_function(
                "document.getElementById('done-print').classList.contains('k-print-ok')", timeout=30000
            )
            assert page.locator("#done-print").text_content() == "Printed. Take your ticket from the printer."
            assert page.locator("#btn-reprint").is_hidden()
            assert len([job for job in printer.printed if b"\x1dv0" in job]) == 1
            tracked = live_server.api("GET", f"/api/v1/track/{token['public_code']}").json()
            assert tracked["number"] == "E001" and tracked["state"] == "waiting"
        finally:
            dashboard.disconnect()


def test_kiosk_out_of_service_when_the_server_is_down_then_recovers(live_server: Any, new_page: Any) -> None:
    page = new_page(viewport=PORTRAIT)
    pair(page, live_server)
    set_language(page, "ur")
    first = take_token(page, "bank", "normal")
    assert first["number"] == "R001"
    page.click("#btn-done")
    page.wait_for_selector(SERVICES)

    # a quick restart: the kiosk carries on (same session, same CSRF token)
    live_server.restart()
    # back in service: the live link up and the server's status answered since
    wait_true(
        page,
        "window.KhidmatKiosk.state.linkUp && window.KhidmatKiosk.state.statusFailures === 0"
        " && !window.KhidmatKiosk.state.outOfService",
    )
    assert take_token(page, "bank", "normal")["number"] == "R002"
    page.click("#btn-done")
    page.wait_for_selector(SERVICES)

    # the server stays down: "out of service" in both languages, then it recovers by itself
    live_server.stop()
    page.wait_for_selector("#oos:not([hidden])", timeout=30000)
    assert page.locator("#oos-title-ur").text_content() == "سروس عارضی طور پر بند ہے"
    assert page.locator("#oos-title-en").text_content() == "Out of service"
    assert "server" in page.locator("#oos-text-en").text_content()
    page.evaluate("document.fonts.ready.then(() => true)")
    shot(page, "portrait-out-of-service")
    time.sleep(1)
    page.click('[data-service="bank"]', force=True, no_wait_after=True, timeout=3000)
    assert page.locator("#screen-priority").is_hidden(), "nothing can be chosen while out of service"

    live_server.start()
    page.wait_for_selector("#oos", state="hidden", timeout=60000)
    page.wait_for_selector(SERVICES)
    assert take_token(page, "bank", "normal")["number"] == "R003"
