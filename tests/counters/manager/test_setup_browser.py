"""Administration in headless Chromium against a real server: an administrator sets up a
second centre entirely from the pages (services, three counters with profiles, two
clerks, a kiosk and a display paired through their links), a citizen takes a token at
the new kiosk and a new clerk calls it; the open kiosk drops a service the moment it is
disabled, without a reload; a manager cannot reach another centre. Screenshots of the
pages in English and Urdu go to artifacts/."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

ARTIFACTS = Path(__file__).resolve().parents[3] / "artifacts"
pytestmark = pytest.mark.browser
expect.set_options(timeout=20_000)
CLERK_PASSWORD = "east-clerk-password"


def login(page: Any, server: Any, username: str, password: str, target: str) -> None:
    page.goto(f"{server.url}/manage/login?next={target}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form button[type=submit]")
    page.wait_for_load_state()


def shoot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def secret_of(page: Any) -> tuple[str, str]:
    key = page.locator("#secret-value").input_value()
    link = page.locator("#pairing-link").inner_text()
    return key, link


def test_an_admin_sets_up_a_second_centre_from_the_pages_and_it_works(
    live_server: Any, new_page: Any
) -> None:
    s = live_server
    page = new_page(viewport=(1280, 900))
    login(page, s, "admin", s.passwords["admin"], "/manage/setup")
    expect(page.locator("#centre-list")).to_contain_text("demo")
    # the centre, by keyboard: labels focus their fields
    page.get_by_label("Code", exact=True).fill("east")
    page.get_by_label("Name in English").fill("Khidmat Markaz East")
    page.get_by_label("Name in Urdu").fill("خدمت مرکز مشرق")
    page.get_by_label("District").fill("Lahore")
    page.get_by_label("District").press("Enter")
    expect(page).to_have_url(re.compile(r"/manage/setup/east$"))
    # hours: this centre runs round the clock, so the kiosk below is open whenever the
    # test runs (a new centre opens 08:00-16:00 by default)
    for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"):
        page.fill(f"#hours_{day}", "24h")
    page.click("#hours button[type=submit]")
    expect(page.locator(".mgr-ok")).to_be_visible()
    # services: three from the catalogue, one with a local target wait
    for code in ("character", "tenant", "vehicle"):
        page.check(f"#enabled_{code}")
    page.fill("input[name=target_tenant]", "30")
    page.click("#services button[type=submit]")
    expect(page.locator(".mgr-ok")).to_be_visible()
    # three counters with profiles
    for number, weights in ((1, {"character": 3, "tenant": 1}), (2, {"tenant": 2}), (3, {"vehicle": 9})):
        page.fill("#counter_number", str(number))
        page.fill("#counter_name", f"Desk {number}")
        for code, weight in weights.items():
            page.fill(f"#new_weight_{code}", str(weight))
        page.click("#new-counter button[type=submit]")
        expect(page.locator(f'#counter-list tr[data-number="{number}"]')).to_be_visible()
    # a weight out of range is refused beside its field, nothing saved
    page.fill("#counter_number", "4")
    page.fill("#new_weight_vehicle", "12")
    page.evaluate("document.getElementById('new_weight_vehicle').removeAttribute('max')")
    page.click("#new-counter button[type=submit]")
    expect(page.locator("#form-error")).to_contain_text("between 1 and 9")
    expect(page.locator("#new_weight_vehicle")).to_have_attribute("aria-invalid", "true")
    expect(page.locator('#counter-list tr[data-number="4"]')).to_have_count(0)
    # two clerks
    for username in ("east.clerk1", "east.clerk2"):
        page.goto(f"{s.url}/manage/setup/east#staff")
        page.fill("#staff_username", username)
        page.fill("#staff_full_name", username.title())
        page.fill("#staff_password", CLERK_PASSWORD)
        page.click("#new-staff button[type=submit]")
        expect(page.locator("#secret")).to_contain_text(username)
    # a kiosk and a display: key, link and QR shown once
    devices = {}
    for name, kind in (("Kiosk East", "kiosk"), ("Hall East", "display")):
        page.goto(f"{s.url}/manage/setup/east#devices")
        page.fill("#device_name", name)
        page.select_option("#device_kind", kind)
        page.click("#new-device button[type=submit]")
        expect(page.locator(".pair-qr svg")).to_be_visible()
        devices[kind] = secret_of(page)
        if kind == "kiosk":
            shoot(page, "setup-device-en.png")
    page.goto(f"{s.url}/manage/setup/east")
    shoot(page, "setup-centre-en.png")
    page.goto(f"{s.url}/manage/setup/east?lang=ur")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    shoot(page, "setup-centre-ur.png")
    page.goto(f"{s.url}/manage/setup?lang=ur")
    shoot(page, "setup-index-ur.png")
    page.goto(f"{s.url}/manage/setup?lang=en")

    # the kiosk pairs through its link and a citizen takes a token
    kiosk = new_page(viewport=(1080, 1920))
    kiosk.goto(devices["kiosk"][1])
    kiosk.wait_for_selector("#screen-services:not([hidden])", timeout=30000)
    assert "#pair=" not in kiosk.url, "the key leaves the address bar"
    expect(kiosk.locator('[data-service="tenant"]')).to_be_visible()
    expect(kiosk.locator('[data-service="fir_copy"]')).to_have_count(0)
    kiosk.click('[data-service="tenant"]')
    kiosk.wait_for_selector("#screen-priority:not([hidden])")
    kiosk.click('[data-priority="normal"]')
    kiosk.wait_for_selector("#screen-done:not([hidden])", timeout=45000)
    number = kiosk.evaluate("window.KhidmatKiosk.state.token.number")
    assert number == "E001"
    display = new_page(viewport=(1280, 720))
    display.goto(devices["display"][1])
    display.wait_for_function("document.documentElement.dataset.link === 'up'", timeout=30000)

    # a new clerk opens counter 2 and calls it
    console = new_page(viewport=(1280, 800))
    console.goto(f"{s.url}/counter")
    console.keyboard.type("east.clerk1")
    console.keyboard.press("Tab")
    console.keyboard.type(CLERK_PASSWORD)
    console.keyboard.press("Enter")
    expect(console.locator(".pick")).to_be_visible()
    expect(console.locator("body")).to_have_attribute("data-ready", "1")
    console.keyboard.press("2")
    expect(console.locator("#console")).to_have_attribute("aria-busy", "false")
    console.keyboard.press("n")
    expect(console.locator("#current-number")).to_have_text("E001")
    expect(display.locator("body")).to_contain_text("E001")

    # disabling a service reaches the open kiosk live, with no reload
    kiosk.evaluate("window.__noReload = 'still here'")
    page.goto(f"{s.url}/manage/setup/east#services")
    page.uncheck("#enabled_vehicle")
    page.click("#services button[type=submit]")
    expect(page.locator(".mgr-ok")).to_be_visible()
    kiosk.wait_for_function(
        "!window.KhidmatKiosk.state.services.some(s => s.code === 'vehicle')", timeout=20000
    )
    assert kiosk.evaluate("window.__noReload") == "still here"


def test_a_manager_cannot_reach_another_centre(live_server: Any, new_page: Any) -> None:
    s = live_server
    created = s.api(
        "POST",
        "/api/v1/centres",
        s.keys["admin"],
        json={"code": "east", "name_en": "East", "name_ur": "مشرق"},
    )
    assert created.status_code == 201, created.text
    page = new_page()
    login(page, s, "manager", s.passwords["manager"], "/manage/setup")
    expect(page).to_have_url(re.compile(r"/manage/setup/demo$"))
    expect(page.locator("#name_en")).to_be_disabled()
    response = page.goto(f"{s.url}/manage/setup/east")
    assert response is not None and response.status == 403
    response = page.goto(f"{s.url}/manage/setup/catalogue")
    assert response is not None and response.status == 403
    shoot(page, "setup-refused-en.png")
