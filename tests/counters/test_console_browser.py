"""The counter console in headless Chromium against a real server, keyboard only: a full
morning of two clerks at two counters (call, recall to the limit, no-show and requeue,
start, requests with bad and good CNIC and mobile, park and unpark, transfer, complete,
collection call announced on the display, break, close), the race for the last token, a
second tab on the same counter refused, and a stale console refused without a change."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
import socketio
from playwright.sync_api import Page, WebSocketRoute, expect

from tests.support.live import listen

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
LIVE_EVENTS = ("token_changed", "counter_changed", "queue_changed", "token_called", "request_changed")
# what a stale console loses: those events, alone or in a change's one delivery
DROPPED = (*LIVE_EVENTS, "changes")
expect.set_options(timeout=10_000)


class Clerk:
    """One clerk's browser tab, driven by the keyboard only."""

    def __init__(self, page: Page, server: Any, username: str) -> None:
        self.page = page
        self.server = server
        self.username = username
        self.dropping = False  # while True, live events to this tab are lost (a stale console)
        self.dropped: list[str] = []
        # While True, the server's answer to a request's detail is held back until the answer
        # to the next advance has passed it: the server answers each message in its own
        # thread, so a detail read before an advance can arrive after the advance's answer.
        self.late_details = False
        self.detail_asks: set[str] = set()
        self.advance_asks: set[str] = set()
        self.held: list[str | bytes] = []
        page.route_web_socket("**/socket.io/**", self._route)

    def _route(self, ws: WebSocketRoute) -> None:
        """While ``dropping``, the tab is deaf: live events from the server are lost and its
        own requests for a fresh state (refresh, re-join) never leave. Its actions still go
        through, as a clerk's key presses on a console whose picture is out of date."""
        server = ws.connect_to_server()

        def from_server(message: str | bytes) -> None:
            text = message if isinstance(message, str) else ""
            if self.dropping and any(text.startswith(f'42["{name}"') for name in DROPPED):
                self.dropped.append(text)
                return
            answer = ack_id(text, "43")
            if answer in self.detail_asks:
                self.held.append(message)
                return
            ws.send(message)
            if answer in self.advance_asks:
                for late in self.held:
                    ws.send(late)
                self.held.clear()

        def from_page(message: str | bytes) -> None:
            text = message if isinstance(message, str) else ""
            if self.dropping and ('"action":"state"' in text or '["join"' in text):
                return
            asked = ack_id(text, "42")
            if self.late_details and asked and '"action":"request_detail"' in text:
                self.detail_asks.add(asked)
            if self.late_details and asked and '"action":"request_advance"' in text:
                self.advance_asks.add(asked)
            server.send(message)

        server.on_message(from_server)
        ws.on_message(from_page)

    def login(self, lang: str = "en", shots: bool = False) -> None:
        page = self.page
        page.goto(f"{self.server.url}/counter?lang={lang}")
        expect(page.locator("#username")).to_be_focused()
        if shots:
            self.shot(f"console-login-{lang}.png")
        page.keyboard.type(self.username)
        page.keyboard.press("Tab")
        page.keyboard.type(self.server.passwords[self.username])
        page.keyboard.press("Enter")
        expect(page.locator(".pick")).to_be_visible()
        if shots:
            self.shot(f"console-picker-{lang}.png")

    def pick(self, number: int) -> None:
        expect(self.page.locator("body")).to_have_attribute("data-ready", "1")
        self.page.keyboard.press(str(number))
        expect(self.page.locator("#console")).to_have_attribute("aria-busy", "false")

    def press(self, *keys: str) -> None:
        for key in keys:
            self.page.keyboard.press(key)
            self.page.wait_for_function("!document.body.classList.contains('busy')")

    def type(self, text: str) -> None:
        self.page.keyboard.type(text)

    @property
    def current(self) -> Any:
        return self.page.locator("#current-number")

    def expect_current(self, number: str) -> None:
        try:
            expect(self.current).to_have_text(number)
        except AssertionError as exc:
            toasts = self.page.locator(".toast").all_inner_texts()
            raise AssertionError(
                f"{self.username}: expected {number} at the counter; toasts {toasts}"
            ) from exc

    @property
    def toast(self) -> Any:
        return self.page.locator(".toast").last

    def expect_toast(self, text: str) -> None:
        expect(self.page.locator(".toast", has_text=text).last).to_be_visible()

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / name))


def ack_id(text: str, kind: str) -> str:
    """The acknowledgement id of a Socket.IO packet of ``kind`` (42: an event asking for an
    answer, 43: the answer), or "" when it is not such a packet."""
    if not text.startswith(kind):
        return ""
    digits = text[2:].split("[", 1)[0]
    return digits if digits.isdigit() else ""


def token(server: Any, token_id: int) -> dict[str, Any]:
    return server.api("GET", f"/api/v1/tokens/{token_id}", server.keys["manager"]).json()  # type: ignore[no-any-return]


def wait_until(check: Any, what: str, page: Page | None = None, timeout: float = 10) -> Any:
    """Wait for a condition. With a page, Playwright's event loop runs meanwhile (its
    callbacks, such as the websocket route, only run inside Playwright calls)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        if page is not None:
            page.wait_for_timeout(50)
        else:
            time.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


class Display:
    """A paired hall display, as a plain Socket.IO client: what the public screen is told."""

    def __init__(self, server: Any) -> None:
        self.calls: list[dict[str, Any]] = []
        self.everything: list[Any] = []
        self.lock = threading.Lock()
        self.client = socketio.Client(reconnection=False)
        listen(self.client, ("snapshot", *LIVE_EVENTS), self._got)
        self.client.connect(
            server.url, transports=["websocket"], auth={"key": server.keys["display"]}, wait_timeout=10
        )
        assert self.client.call("join", {"screen": "display", "centre": "demo"}, timeout=10)["ok"]

    def _got(self, name: str, data: Any) -> None:
        with self.lock:
            self.everything.append((name, data))
            if name == "token_called":
                self.calls.append(data)

    def close(self) -> None:
        self.client.disconnect()


def test_a_full_morning_with_two_clerks_by_keyboard(live_server: Any, new_page: Any) -> None:
    server = live_server
    display = Display(server)
    one = Clerk(new_page(), server, "clerk1")
    two = Clerk(new_page(), server, "clerk2")
    try:
        one.login("en", shots=True)
        one.pick(1)
        two.login("ur", shots=True)
        expect(two.page.locator("html")).to_have_attribute("dir", "rtl")
        two.pick(2)
        expect(two.page.locator("#legend")).to_contain_text("اگلا بلائیں")  # "Call next"
        expect(one.page.locator("#idle")).to_contain_text("Press N")
        expect(one.page.locator("#counter-state")).to_have_attribute("data-state", "open")

        a1, a2, b1 = server.issue("character"), server.issue("character"), server.issue("character_other")
        expect(one.page.locator('#queue tr[data-service="character"] td.waiting')).to_have_text("2")

        # Call, recall to the centre's limit, then the only way on is no-show; requeue later.
        one.press("n")
        one.expect_current(a1["number"])
        expect(one.page.locator("#current-state")).to_contain_text("Called")
        one.press("r", "r", "r")
        expect(one.page.locator("#recalls")).to_contain_text("3/3")
        one.press("r")
        one.expect_toast("mark it as no-show")
        assert token(server, a1["id"])["recalls"] == 3
        one.press("x")
        expect(one.page.locator("#idle")).to_be_visible()
        assert token(server, a1["id"])["state"] == "no_show"

        # Counter 2 calls the next citizen; counter 1 serves the one after.
        two.press("n")
        two.expect_current(a2["number"])
        one.press("n")
        one.expect_current(b1["number"])

        # Start: the request opens. A bad CNIC is refused and nothing is recorded.
        one.press("s")
        expect(one.page.locator("#current-state")).to_contain_text("Serving")
        expect(one.page.locator("#request-state")).to_have_attribute("data-state", "open")
        one.press("e")
        one.type("Ali Khan")
        one.page.keyboard.press("Tab")
        one.type("35202-12345")
        one.page.keyboard.press("Tab")
        one.type("0300-1234567")
        one.page.keyboard.press("Tab")
        one.page.keyboard.press(" ")  # tick the first document
        one.page.keyboard.press("Tab")
        one.page.keyboard.press("Tab")
        one.type("1500")
        one.press("Enter")
        expect(one.page.locator("#request-error")).to_contain_text("35202-1234567-1")
        expect(one.page.locator("#f-cnic")).to_have_attribute("aria-invalid", "true")
        expect(one.page.locator("#request-state")).to_have_attribute("data-state", "open")
        expect(one.page.locator("#f-cnic")).to_be_focused()
        one.page.keyboard.press("Control+A")
        one.type("35202-1234567-1")
        one.page.keyboard.press("Tab")
        one.page.keyboard.press("Control+A")
        one.type("0423-123")  # a landline: refused
        one.press("Enter")
        expect(one.page.locator("#request-error")).to_contain_text("Pakistani mobile")
        expect(one.page.locator("#f-phone")).to_be_focused()
        one.page.keyboard.press("Control+A")
        one.type("+92 300 1234567")
        one.press("Enter")
        one.expect_toast("Request recorded.")
        expect(one.page.locator("#request-state")).to_have_attribute("data-state", "in_process")
        expect(one.page.locator("#f-phone")).to_have_value("0300-1234567")
        expect(one.page.locator("#doc-0")).to_be_checked()
        one.shot("console-serving-en.png")

        # Park the citizen (waiting for a photocopy), serve another meanwhile, unpark.
        c1 = server.issue("verification")
        one.press("p")
        expect(one.page.locator("#parked")).to_contain_text(b1["number"])
        one.press("n")
        one.expect_current(c1["number"])
        one.press("s")
        # Transfer to counter 2 itself: it goes to the front of counter 2's list.
        later = server.issue("character")
        one.press("t")
        expect(one.page.locator("#dialog")).to_be_visible()
        one.page.keyboard.press("2")
        expect(one.page.locator("#transfer-target")).to_contain_text("counter 2")
        one.shot("console-transfer-en.png")
        one.press("Enter")
        one.expect_toast("transferred")
        expect(one.page.locator("#idle")).to_be_visible()
        moved = token(server, c1["id"])
        assert moved["state"] == "waiting" and moved["target_counter"] == 2
        assert moved["queued_at"] == c1["queued_at"], "the citizen keeps the original issue time"
        one.press("u")
        one.expect_current(b1["number"])
        expect(one.page.locator("#request-state")).to_have_attribute("data-state", "in_process")

        # Counter 2 completes its citizen (untouched request: an outcome is asked), then
        # gets the transferred token before the one issued since.
        two.press("s", "c")
        expect(two.page.locator("#dialog")).to_be_visible()
        two.shot("console-complete-dialog-ur.png")
        two.press("1")  # referred
        expect(two.page.locator("#idle")).to_be_visible()
        two.press("b", "n")  # on a break, calling is refused: the server's message in Urdu
        two.expect_toast("کاؤنٹر 2 وقفے پر ہے۔")
        two.press("b")
        expect(two.page.locator("#direct")).to_contain_text(c1["number"])
        two.press("n")
        two.expect_current(c1["number"])
        assert token(server, later["id"])["state"] == "waiting"
        expect(two.page.locator("#served-today")).to_have_text("1")
        two.press("s")
        two.shot("console-serving-ur.png")

        # Counter 1 completes: a same-day request may go on; it is listed, masked, with time left.
        one.press("c")
        expect(one.page.locator("#idle")).to_be_visible()
        expect(one.page.locator("#served-today")).to_have_text("1")
        row = one.page.locator("#requests li.req").first
        expect(row).to_contain_text("35202-*******-1")
        expect(row).to_contain_text("left")
        assert "1234567" not in one.page.locator("#requests").inner_text()

        # Ready while the citizen waits: the collection call; the display hears "collection".
        one.press("1")
        expect(one.page.locator("#request-panel")).to_have_class("panel request selected")
        one.late_details = True  # the detail the collection call's state asks for answers late
        one.press("l")
        one.expect_toast("called back to collect")
        expect(one.page.locator("#request-state")).to_have_attribute("data-state", "ready")
        collection = wait_until(
            lambda: [c for c in display.calls if c["kind"] == "collection"],
            "a collection call on the display",
        )
        assert collection[0]["token"]["number"] == b1["number"] and collection[0]["token"]["counter"] == 1
        everything = repr(display.everything)
        assert "Ali Khan" not in everything and "1234567" not in everything
        one.press("a")  # the citizen collected it
        expect(one.page.locator("#request-state")).to_have_attribute("data-state", "delivered")
        assert one.detail_asks and not one.held, "the late detail came after the advance's answer"
        one.late_details = False
        one.press("Escape")
        expect(one.page.locator("#requests")).not_to_contain_text("35202")

        # The no-show comes back: requeued by the keyboard, in the original place.
        one.press("q")
        expect(one.page.locator("#dialog")).to_contain_text(a1["number"])
        one.press("1")
        one.expect_toast("waiting again")
        back = token(server, a1["id"])
        assert back["state"] == "waiting" and back["queued_at"] == a1["queued_at"]

        # A break: the display and dashboard see it; calling is refused meanwhile.
        one.press("b")
        expect(one.page.locator("#counter-state")).to_have_attribute("data-state", "paused")
        wait_until(
            lambda: any(
                n == "counter_changed" and d["counter"]["number"] == 1 and d["counter"]["state"] == "paused"
                for n, d in list(display.everything)
            ),
            "the display told of the break",
        )
        one.press("n")
        one.expect_toast("Counter 1 is paused")
        one.press("b")
        expect(one.page.locator("#counter-state")).to_have_attribute("data-state", "open")

        # Closing is refused while a token is at the counter; then allowed.
        one.press("n")
        one.expect_current(a1["number"])
        one.press("z", "Enter")
        one.expect_toast("still busy")
        one.press("x", "z", "Enter")
        expect(one.page.locator(".pick")).to_be_visible()
        counters = server.api("GET", "/api/v1/centres/demo/counters", server.keys["manager"]).json()[
            "counters"
        ]
        assert next(c for c in counters if c["number"] == 1)["state"] == "closed"
        # the picker's keys work once its script has run (a key pressed earlier is lost)
        expect(one.page.locator("body")).to_have_attribute("data-ready", "1")
        one.page.keyboard.press("l")  # log out from the picker
        expect(one.page.locator("#username")).to_be_visible()
    finally:
        display.close()


def test_the_race_for_the_last_token(live_server: Any, new_page: Any) -> None:
    server = live_server
    one = Clerk(new_page(), server, "clerk1")
    two = Clerk(new_page(), server, "clerk2")
    one.login()
    one.pick(1)
    two.login()
    two.pick(2)
    last = server.issue("character")  # both counters serve character certificates
    expect(one.page.locator('#queue tr[data-service="character"] td.waiting')).to_have_text("1")
    expect(two.page.locator('#queue tr[data-service="character"] td.waiting')).to_have_text("1")
    one.page.keyboard.press("n")
    two.page.keyboard.press("n")
    for clerk in (one, two):
        clerk.page.wait_for_function("!document.body.classList.contains('busy')")
    winners = [c for c in (one, two) if c.current.count() and c.current.inner_text() == last["number"]]
    assert len(winners) == 1, "exactly one counter gets the last token"
    loser = two if winners[0] is one else one
    loser.expect_toast("Nobody is waiting")
    expect(loser.page.locator("#idle")).to_be_visible()
    assert token(server, last["id"])["counter"] == (1 if winners[0] is one else 2)


def test_a_second_tab_on_the_same_counter_is_refused(live_server: Any, new_page: Any, browser: Any) -> None:
    server = live_server
    one = Clerk(new_page(), server, "clerk1")
    one.login()
    one.pick(1)
    second = one.page.context.new_page()  # same login, another tab
    second.goto(f"{server.url}/counter")
    expect(second.locator("#refusal")).to_be_visible()
    expect(second.locator("#refusal-message")).to_contain_text("already open in another window")
    second.screenshot(path=str(ARTIFACTS / "console-second-tab-refused-en.png"))
    server.issue("character")
    second.keyboard.press("n")  # a refused tab does nothing
    expect(one.page.locator('#queue tr[data-service="character"] td.waiting')).to_have_text("1")
    # The first tab still works; once it is gone, the second may take the counter over.
    one.press("n")
    expect(one.current).to_be_visible()
    one.page.close()

    def take_over() -> bool:
        # The server notices the closed tab's socket a moment later; until then, refused.
        second.keyboard.press("Enter")
        second.wait_for_timeout(100)
        return second.locator("#refusal").is_hidden()

    wait_until(take_over, "the second tab takes the counter over", second)
    expect(second.locator("#current-number")).to_be_visible()
    second.keyboard.press("x")
    expect(second.locator("#idle")).to_be_visible()
    # In Urdu too.
    third = one.page.context.new_page()
    third.goto(f"{server.url}/counter?lang=ur")
    expect(third.locator("#refusal")).to_be_visible()
    third.screenshot(path=str(ARTIFACTS / "console-second-tab-refused-ur.png"))


def test_a_stale_console_is_refused_and_changes_nothing(live_server: Any, new_page: Any) -> None:
    server = live_server
    one = Clerk(new_page(), server, "clerk1")
    two = Clerk(new_page(), server, "clerk2")
    one.login()
    one.pick(1)
    two.login()
    two.pick(2)
    gone = server.issue("character")
    expect(one.page.locator('#queue tr[data-service="character"] td.waiting')).to_have_text("1")
    # From here clerk 1's console hears nothing but the answers to its own keys.
    one.dropping = True
    one.press("n", "x")  # a no-show; both consoles list it for requeueing
    expect(one.page.locator("#legend .key[data-action=requeue]")).not_to_have_class("key off")
    expect(two.page.locator("#legend .key[data-action=requeue]")).not_to_have_class("key off")

    # Clerk 2 requeues the citizen meanwhile.
    two.press("q", "1")
    two.expect_toast("waiting again")
    wait_until(
        lambda: any('"state":"waiting"' in m for m in one.dropped), "the change clerk 1 missed", one.page
    )
    assert token(server, gone["id"])["state"] == "waiting"
    one.press("q")
    expect(one.page.locator("#dialog")).to_contain_text(gone["number"])  # the stale list
    one.press("1")
    one.expect_toast(f"Token {gone['number']} was changed elsewhere: it is now waiting")
    assert token(server, gone["id"])["state"] == "waiting"
    one.dropping = False

    # A manager acts at counter 1 while its console is deaf: the console's next key is refused.
    called = server.issue("character")
    expect(one.page.locator('#queue tr[data-service="character"] td.waiting')).to_have_text("2")
    one.dropped.clear()
    one.dropping = True
    one.press("n")
    one.expect_current(gone["number"])  # requeued in its original place: first
    r = server.api("POST", f"/api/v1/tokens/{gone['id']}/no-show", server.keys["manager"], json={})
    assert r.status_code == 200
    wait_until(lambda: any('"no_show"' in m for m in one.dropped), "the no-show clerk 1 missed", one.page)
    one.expect_current(gone["number"])  # still shown as called: stale
    one.press("s")
    one.expect_toast("was changed elsewhere: it is now no-show")
    assert token(server, gone["id"])["state"] == "no_show"
    expect(one.page.locator("#idle")).to_be_visible()  # redrawn from the server
    one.dropping = False
    one.press("n")
    one.expect_current(called["number"])


@pytest.mark.parametrize(
    ("lang", "clerk", "counter", "keys", "number", "priority", "no_printer"),
    [
        ("en", "clerk1", 1, ("a",), "A001", "normal", "No printer at this counter"),
        ("ur", "clerk2", 2, ("b", "2"), "B001", "senior", "اس کاؤنٹر پر پرنٹر نہیں ہے"),
    ],
)
def test_a_clerk_issues_a_token_from_the_console(
    live_server: Any,
    new_page: Any,
    lang: str,
    clerk: str,
    counter: int,
    keys: tuple[str, ...],
    number: str,
    priority: str,
    no_printer: str,
) -> None:
    server = live_server
    desk = Clerk(new_page(), server, clerk)
    desk.login(lang)
    desk.pick(counter)
    page = desk.page
    expect(page.locator('#legend .key[data-action="issue"]')).not_to_have_class("key off")
    desk.press("i")
    expect(page.locator("#dialog")).to_be_visible()
    for key in keys:
        page.keyboard.press(key)
    expect(page.locator("#issue-target")).not_to_be_empty()
    desk.press("Enter")
    expect(page.locator("#issued-number")).to_have_text(number)
    expect(page.locator("#issued-print")).to_contain_text(no_printer)
    ticket = page.locator("#issued-ticket")
    expect(ticket).to_be_visible()
    page.wait_for_function("document.getElementById('issued-ticket').naturalWidth > 300")
    expect(page.locator("#issued-tracking")).to_contain_text("/t/")
    desk.shot(f"console-issued-{lang}.png")
    page.keyboard.press("Escape")
    expect(page.locator("#dialog")).to_be_hidden()
    found = server.api("GET", "/api/v1/centres/demo/counters", server.keys["manager"])
    assert any(c["number"] == counter and c["state"] == "open" for c in found.json()["counters"])
    # The token waits like a kiosk token and is called by the next N.
    desk.press("n")
    desk.expect_current(number)
    mine = token(server, 1)  # the only token: issued at the counter, no kiosk involved
    assert (mine["number"], mine["priority"], mine["state"]) == (number, priority, "called")
