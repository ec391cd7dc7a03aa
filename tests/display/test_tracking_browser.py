"""The citizen's tracking page on a phone (headless Chromium, 390x844, touch) against a real
``khidmat serve``: the page follows the token as the tokens ahead are called through the
API, shows and rings the call, then the request's state and the feedback form, which
takes one answer only; the polling fallback when websockets are blocked; and the page an
unknown code gets. Screenshots in English and Urdu go to artifacts/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
PHONE = (390, 844)
PHONE_CONTEXT = {"is_mobile": True, "has_touch": True, "device_scale_factor": 2}
NAME, CNIC, MOBILE = "Bilal Ahmed Qureshi", "35201-1112223-5", "0333-4445566"
# Records what the page asks the phone to vibrate.
VIBRATION_PROBE = """
window.__vibrations = [];
Object.defineProperty(Navigator.prototype, "vibrate", {
  configurable: true,
  value: function (pattern) { window.__vibrations.push(pattern); return true; },
});
"""
NO_WEBSOCKET = "window.WebSocket = function () { throw new Error('blocked by the network'); };"


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


class Clerk:
    def __init__(self, server: Any, number: int = 1) -> None:
        self.server = server
        self.key = server.keys[f"clerk{number}"]
        rows = server.api("GET", "/api/v1/centres/demo/counters", self.key).json()["counters"]
        self.counter = next(c["id"] for c in rows if c["number"] == number)

    def do(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        r = self.server.api(method, path, self.key, json=body if body is not None else {})
        assert r.status_code in (200, 201), (path, r.status_code, r.text)
        return r.json()

    def open(self) -> None:
        self.do("POST", f"/api/v1/counters/{self.counter}/open")

    def call(self) -> dict[str, Any]:
        return self.do("POST", f"/api/v1/counters/{self.counter}/call-next")  # type: ignore[no-any-return]

    def token(self, token_id: int, action: str) -> None:
        self.do("POST", f"/api/v1/tokens/{token_id}/{action}")

    def serve(self) -> None:
        token = self.call()
        self.token(token["id"], "start")
        self.token(token["id"], "complete")


def wait_data(page: Any, name: str, value: str, timeout: float = 15000) -> None:
    page.wait_for_function(
        "([k, v]) => document.documentElement.dataset[k] === v", arg=[name, value], timeout=timeout
    )


def chimes(page: Any) -> int:
    return int(page.evaluate("Number(document.documentElement.dataset.chimes || 0)"))


@pytest.mark.parametrize("lang", ["en", "ur"])
def test_the_page_follows_the_token_from_the_queue_to_feedback(
    live_server: Any, new_page: Any, lang: str
) -> None:
    s = live_server
    clerk = Clerk(s)
    ahead_of_me = [s.issue(), s.issue()]
    mine = s.issue()
    assert mine["ahead"] == 2 and mine["tracking_url"].endswith(f"/t/{mine['public_code']}")
    page = new_page(viewport=PHONE, **PHONE_CONTEXT)
    page.add_init_script(VIBRATION_PROBE)
    response = page.goto(mine["tracking_url"] + f"?lang={lang}")
    assert response.status == 200
    wait_data(page, "feed", "live")
    assert page.locator("html").get_attribute("dir") == ("rtl" if lang == "ur" else "ltr")
    assert page.locator("#tk-number").text_content() == mine["number"]
    assert page.locator("#tk-ahead").text_content() == "2"
    # Two ahead and the centre warns at three: "almost your turn" already, rung once.
    assert page.locator("#tk-almost").is_visible()
    assert chimes(page) == 1
    shot(page, f"tracking-waiting-{lang}")

    clerk.open()
    assert clerk.call()["number"] == ahead_of_me[0]["number"]
    wait_data(page, "ahead", "1")
    clerk.token(ahead_of_me[0]["id"], "start")
    clerk.token(ahead_of_me[0]["id"], "complete")
    clerk.call()
    wait_data(page, "ahead", "0")
    next_text = "You are next" if lang == "en" else "اگلی باری آپ کی ہے"
    assert next_text in page.locator("#tk-almost").text_content()
    assert chimes(page) == 1, "almost-your-turn rings once"
    clerk.token(ahead_of_me[1]["id"], "start")
    clerk.token(ahead_of_me[1]["id"], "complete")

    assert clerk.call()["number"] == mine["number"]
    wait_data(page, "state", "called")
    call = page.locator("#tk-call")
    assert call.is_visible()
    go = "Go to counter 1 now" if lang == "en" else "ابھی کاؤنٹر نمبر 1 پر تشریف لائیں"
    assert call.text_content().strip() == go
    assert chimes(page) == 2
    vibrations = page.evaluate("window.__vibrations")
    assert vibrations[-1] == [500, 200, 500, 200, 500], vibrations
    shot(page, f"tracking-called-{lang}")
    clerk.token(mine["id"], "recall")
    page.wait_for_function("Number(document.documentElement.dataset.chimes) === 3", timeout=15000)

    clerk.token(mine["id"], "start")
    wait_data(page, "state", "serving")
    request = clerk.do("GET", f"/api/v1/tokens/{mine['id']}/request")
    clerk.do(
        "PATCH",
        f"/api/v1/requests/{request['id']}",
        {"applicant_name": NAME, "cnic": CNIC, "phone": MOBILE},
    )
    clerk.do("POST", f"/api/v1/requests/{request['id']}/advance", {"to": "in_process"})
    wait_data(page, "request", "in_process")
    clerk.token(mine["id"], "complete")
    wait_data(page, "state", "done")
    assert not page.locator("#tk-feedback").is_visible(), "feedback after the collection"
    assert not page.locator("#tk-status").is_visible(), "no 'visit complete' while the request waits"
    assert page.locator("#tk-request-state").text_content() == (
        "In process" if lang == "en" else "کارروائی جاری ہے"
    )
    shot(page, f"tracking-done-{lang}")

    clerk.do("POST", f"/api/v1/requests/{request['id']}/advance", {"to": "ready"})
    wait_data(page, "request", "ready")
    where = page.locator("#tk-request-where").text_content()
    assert ("counter 1" if lang == "en" else "کاؤنٹر نمبر 1") in where
    html = page.content()
    for secret in (NAME, "Bilal", CNIC, "1112223", "4445566"):
        assert secret not in html, f"{secret} on the citizen's page"
    assert not page.locator("#tk-status").is_visible() and not page.locator("#tk-feedback").is_visible()
    shot(page, f"tracking-ready-{lang}")

    clerk.do("POST", f"/api/v1/requests/{request['id']}/advance", {"to": "delivered"})
    wait_data(page, "request", "delivered")
    assert page.locator("#tk-request-state").text_content() == (
        "Delivered" if lang == "en" else "حوالے کر دی گئی"
    )
    page.locator("#tk-feedback").wait_for(state="visible", timeout=15000)

    # Feedback: a rating is needed; then one answer, and only one.
    page.click("#tk-send")
    assert page.locator("#tk-feedback-msg").get_attribute("data-tone") == "bad"
    page.locator(".tk-star").nth(3).tap()
    page.fill("#tk-comment", "Quick and polite." if lang == "en" else "عملہ بہت مددگار تھا، شکریہ۔")
    page.locator("#tk-send").tap()
    page.wait_for_selector("#tk-thanks:not([hidden])")
    assert not page.locator("#tk-feedback").is_visible()
    assert "4" in page.locator("#tk-thanks").text_content()
    shot(page, f"tracking-feedback-{lang}")
    second = page.evaluate(
        """code => fetch("/api/v1/track/" + code + "/feedback", {method: "POST",
             headers: {"Content-Type": "application/json"}, body: JSON.stringify({rating: 1})})
           .then(r => r.json().then(d => [r.status, d.error, d.message]))""",
        mine["public_code"],
    )
    assert second[0] == 409 and second[1] == "feedback_given" and second[2]
    page.reload()
    wait_data(page, "feed", "live")
    assert not page.locator("#tk-feedback").is_visible(), "no second form after a reload"
    assert page.locator("#tk-thanks").is_visible()


@pytest.mark.server_env(KHIDMAT_TRACKING_POLL_SECONDS="2")
def test_the_page_polls_when_websockets_are_blocked(live_server: Any, new_page: Any) -> None:
    s = live_server
    clerk = Clerk(s)
    first = s.issue()
    mine = s.issue()
    page = new_page(viewport=PHONE, **PHONE_CONTEXT)
    page.add_init_script(NO_WEBSOCKET)
    page.goto(mine["tracking_url"])
    wait_data(page, "feed", "polling")
    assert "every 2 seconds" in page.locator("#tk-feed").text_content()
    assert page.locator("#tk-ahead").text_content() == "1"
    clerk.open()
    assert clerk.call()["number"] == first["number"]
    wait_data(page, "ahead", "0", timeout=30000)
    clerk.token(first["id"], "start")
    clerk.token(first["id"], "complete")
    clerk.call()
    wait_data(page, "state", "called", timeout=30000)
    assert page.locator("#tk-call").is_visible()
    shot(page, "tracking-polling-en")


@pytest.mark.parametrize("lang", ["en", "ur"])
def test_an_unknown_code_gets_a_clear_page(live_server: Any, new_page: Any, lang: str) -> None:
    page = new_page(viewport=PHONE, **PHONE_CONTEXT)
    response = page.goto(f"{live_server.url}/t/NoSuchCode0000000000000?lang={lang}")
    assert response.status == 404
    headings = [h.strip() for h in page.locator("h1").all_text_contents()]
    expected = ["We could not find this token", "یہ ٹوکن نہیں ملا"]
    assert headings == (expected if lang == "en" else expected[::-1])
    assert "Something went wrong" not in page.content()
    shot(page, f"tracking-unknown-{lang}")
