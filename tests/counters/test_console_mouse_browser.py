"""The counter console by mouse and touch as well as by keyboard (issue 14, item 5): every key
of the legend is a button doing what its key does, dialogs answer a click, dimmed keys keep a
contrast of 4.5:1, a fee below the amount due asks before it is recorded, and the Urdu login
form fits its card."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.counters.test_console_browser import Clerk, token
from tests.support.a11y import audit

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
expect.set_options(timeout=10_000)


def _luminance(rgb: tuple[float, ...]) -> float:
    def channel(c: float) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(fg: tuple[float, ...], bg: tuple[float, ...]) -> float:
    a, b = sorted((_luminance(fg), _luminance(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)


COLOURS = """(sel) => Array.from(document.querySelectorAll(sel)).map((k) => {
  const rgb = (s) => s.match(/[0-9.]+/g).slice(0, 3).map(Number);
  const kbd = k.querySelector('kbd');
  return {action: k.dataset.action, fg: rgb(getComputedStyle(k).color),
    bg: rgb(getComputedStyle(document.getElementById('legend')).backgroundColor),
    kfg: rgb(getComputedStyle(kbd).color), kbg: rgb(getComputedStyle(kbd).backgroundColor),
    opacity: Number(getComputedStyle(k).opacity)};
})"""


@pytest.mark.parametrize("lang", ["ur", "en"])
def test_the_login_form_fits_its_card(live_server: Any, new_page: Any, lang: str) -> None:
    page = new_page(viewport=(1366, 768))
    page.goto(f"{live_server.url}/counter?lang={lang}")
    expect(page.locator("#username")).to_be_focused()
    card = page.locator(".auth-card").bounding_box()
    assert card is not None
    for sel in ("#username", "#password", "#login-form button", ".auth-card h1", ".auth-card .hint"):
        box = page.locator(sel).bounding_box()
        assert box is not None, sel
        assert box["x"] >= card["x"] + 8 and box["x"] + box["width"] <= card["x"] + card["width"] - 8, (
            sel,
            box,
            card,
        )
    overflow = page.evaluate(
        "[...document.querySelectorAll('.auth-card *')].some(e => e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflow === 'visible' && e.tagName !== 'INPUT')"
    )
    assert not overflow
    page.screenshot(path=str(ARTIFACTS / f"console-login-card-{lang}.png"))


def test_every_key_is_a_button_and_a_short_fee_asks_first(live_server: Any, new_page: Any) -> None:
    server = live_server
    desk = Clerk(new_page(viewport=(1366, 768)), server, "clerk1")
    page = desk.page
    desk.login("en")
    desk.pick(1)
    keys = page.locator("#legend .key")
    assert keys.count() == 18
    assert page.evaluate("[...document.querySelectorAll('#legend .key')].every(k => k.tagName === 'BUTTON')")

    # Dimmed keys (nothing at the counter: recall, start, complete... are off) keep 4.5:1.
    expect(page.locator('#legend .key[data-action="recall"]')).to_have_class("key off")
    audit(page, "console idle with dimmed keys en")
    for k in page.evaluate(COLOURS, "#legend .key.off"):
        assert k["opacity"] == 1, k
        assert contrast(k["fg"], k["bg"]) >= 4.5, k
        assert contrast(k["kfg"], k["kbg"]) >= 4.5, k

    a1 = server.issue("character")
    # A dimmed key is marked disabled for assistive technology and does nothing when clicked.
    expect(page.locator('#legend .key[data-action="start"]')).to_be_disabled()
    page.locator('#legend .key[data-action="start"]').click(force=True)
    expect(page.locator("#idle")).to_be_visible()
    page.locator('#legend .key[data-action="call_next"]').click()
    desk.expect_current(a1["number"])
    # The keyboard stays first: the click leaves no button holding the focus.
    assert page.evaluate("document.activeElement === document.body")
    page.locator('#legend .key[data-action="start"]').click()
    expect(page.locator("#current-state")).to_contain_text("Serving")
    expect(page.locator("#request-state")).to_have_attribute("data-state", "open")

    page.locator('#legend .key[data-action="edit"]').click()
    page.locator("#f-name").fill("Ali Khan")
    page.locator("#f-cnic").fill("35202-1234567-1")
    page.locator("#f-phone").fill("0300-1234567")
    page.locator("#f-fee").fill("150")  # Rs 1500 due: a slip of the finger
    page.locator("#f-fee").press("Enter")
    expect(page.locator("#dialog")).to_be_visible()
    expect(page.locator("#dialog")).to_contain_text("1500")
    audit(page, "console fee dialog en")
    desk.shot("console-fee-short-en.png")
    page.locator("#dialog .dialog-button.cancel").click()
    expect(page.locator("#dialog")).to_be_hidden()
    expect(page.locator("#request-state")).to_have_attribute("data-state", "open")
    assert token(server, a1["id"])["state"] == "serving"

    # Asked again, confirmed with the keyboard this time: recorded.
    page.locator("#f-fee").press("Enter")
    expect(page.locator("#dialog")).to_be_visible()
    page.keyboard.press("Enter")
    desk.expect_toast("Request recorded.")
    expect(page.locator("#request-state")).to_have_attribute("data-state", "in_process")

    # A full fee is recorded without asking.
    page.locator('#legend .key[data-action="edit"]').click()
    page.locator("#f-fee").fill("1500")
    page.locator("#f-fee").press("Enter")
    desk.expect_toast("Saved.")
    expect(page.locator("#dialog")).to_be_hidden()

    page.locator('#legend .key[data-action="complete"]').click()
    expect(page.locator("#idle")).to_be_visible()
    assert token(server, a1["id"])["state"] == "done"

    # Dialogs answer the mouse: the close-counter question, cancelled, then confirmed, by clicks.
    page.locator('#legend .key[data-action="close"]').click()
    expect(page.locator("#dialog")).to_be_visible()
    desk.shot("console-mouse-dialog-en.png")
    page.locator("#dialog .dialog-button.cancel").click()
    expect(page.locator("#dialog")).to_be_hidden()
    expect(page.locator("#counter-state")).to_have_attribute("data-state", "open")
    page.locator('#legend .key[data-action="close"]').click()
    page.locator("#dialog .dialog-button.ok").click()
    expect(page.locator(".pick")).to_be_visible()  # a closed counter goes back to the picker
