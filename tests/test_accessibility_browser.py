"""The accessibility gate (issue 14.9): axe-core runs on every public page and its main
states, in Urdu and English, at the sizes they run at; a critical or serious violation
fails the test, moderate ones are listed in the output (tests/support/a11y.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.counters.manager.test_browser import login as manager_login
from tests.counters.test_console_browser import Clerk
from tests.display.test_display_browser import call_next
from tests.display.test_display_browser import pair as pair_display
from tests.kiosk.test_kiosk_browser import DONE, set_language
from tests.kiosk.test_kiosk_browser import pair as pair_kiosk
from tests.support.a11y import audit

pytestmark = pytest.mark.browser
LANGS = ("en", "ur")


def test_kiosk_in_both_languages(live_server: Any, new_page: Any) -> None:
    page = new_page(viewport=(1080, 1920))
    pair_kiosk(page, live_server)
    for lang in LANGS:
        set_language(page, lang)
        audit(page, f"kiosk services {lang}")
        page.click('[data-service="character"]')
        page.wait_for_selector("#screen-priority:not([hidden])")
        audit(page, f"kiosk priority {lang}")
        page.click('[data-priority="normal"]')
        page.wait_for_selector(DONE, timeout=30_000)
        audit(page, f"kiosk token {lang}")
        page.click("#btn-done")
        page.wait_for_selector("#screen-services:not([hidden])")


def test_display_idle_and_calling(live_server: Any, new_page: Any) -> None:
    page = new_page(viewport=(1920, 1080))
    pair_display(page, live_server)
    audit(page, "display idle")
    counter = live_server.open_counter(1)
    live_server.issue("character")
    token, _ = call_next(live_server, 1, counter)
    page.wait_for_function("n => document.getElementById('hero-number').textContent === n", arg=token["number"])
    audit(page, "display calling")


@pytest.mark.parametrize("lang", LANGS)
def test_console_login_and_work(live_server: Any, new_page: Any, lang: str) -> None:
    page = new_page(viewport=(1366, 768))
    clerk = Clerk(page, live_server, "clerk1")
    page.goto(f"{live_server.url}/counter?lang={lang}")
    audit(page, f"console login {lang}")
    clerk.login(lang)
    audit(page, f"console picker {lang}")
    clerk.pick(1)
    audit(page, f"console at work {lang}")


@pytest.mark.parametrize("lang", LANGS)
def test_dashboard(live_server: Any, new_page: Any, lang: str) -> None:
    page = new_page(viewport=(1440, 900))
    page.goto(f"{live_server.url}/manage/login?lang={lang}")
    audit(page, f"manager login {lang}")
    manager_login(page, live_server, "manager")
    page.goto(f"{live_server.url}/manage?lang={lang}")
    page.wait_for_load_state("networkidle")
    audit(page, f"dashboard {lang}")


@pytest.mark.parametrize("lang", LANGS)
def test_tracking_page(live_server: Any, new_page: Any, lang: str) -> None:
    token = live_server.issue("character")
    page = new_page(viewport=(390, 844))
    page.goto(token["tracking_url"] + f"?lang={lang}")
    page.wait_for_function("document.documentElement.dataset.feed === 'live'", timeout=15_000)
    audit(page, f"tracking waiting {lang}")
    page.goto(f"{live_server.url}/t/NoSuchCode0000000000000?lang={lang}")
    audit(page, f"tracking unknown code {lang}")
