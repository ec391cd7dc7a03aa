"""The administration pages under /manage/setup, through the test client: forms with CSRF,
server-side validation naming the field, who may reach what, the check before a change
that touches waiting tokens, secrets shown once, both languages."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from queue_server.models import Centre, Counter, Device, Event, Service, Staff, Token, TokenState
from queue_server.seed import SeedResult
from tests.conftest import bearer


def csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "the form carries a CSRF token"
    return found.group(1)


def logged_in(app: Flask, passwords: dict[str, str], username: str) -> FlaskClient:
    client = app.test_client()
    page = client.get("/manage/login").get_data(as_text=True)
    response = client.post(
        "/manage/login",
        data={"username": username, "password": passwords[username], "csrf_token": csrf(page)},
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return client


def post(client: FlaskClient, page_url: str, url: str, data: dict[str, Any]) -> Any:
    token = csrf(client.get(page_url).get_data(as_text=True))
    return client.post(url, data={**data, "csrf_token": token})


def count(session: Session, model: Any, *where: Any) -> int:
    session.expire_all()
    n = session.scalar(select(func.count()).select_from(model).where(*where)) or 0
    session.rollback()
    return n


def test_an_admin_sets_up_a_centre_from_the_pages(
    app: Flask, session: Session, demo: SeedResult, passwords: dict[str, str]
) -> None:
    admin = logged_in(app, passwords, "admin")
    index = admin.get("/manage/setup")
    assert index.status_code == 200 and "demo" in index.get_data(as_text=True)
    created = post(
        admin, "/manage/setup", "/manage/setup", {"code": "east", "name_en": "East", "name_ur": "مشرق"}
    )
    assert created.status_code == 302 and created.headers["Location"].endswith("/manage/setup/east")
    page = "/manage/setup/east"
    form = {"enabled": ["character", "tenant", "vehicle"], "target_tenant": "30"}
    assert post(admin, page, f"{page}/services", form).status_code == 302
    east = session.scalar(select(Centre).where(Centre.code == "east"))
    assert east is not None
    session.rollback()
    assert count(session, Service, Service.centre_id == east.id, Service.is_active) == 3
    for number, weights in ((1, {"character": 3}), (2, {"tenant": 2, "vehicle": 1}), (3, {"vehicle": 9})):
        data = {
            "number": str(number),
            "name": f"Desk {number}",
            **{f"weight_{c}": str(w) for c, w in weights.items()},
        }
        assert post(admin, page, f"{page}/counters", data).status_code == 302
    assert count(session, Counter, Counter.centre_id == east.id) == 3
    made = post(
        admin, page, f"{page}/staff", {"username": "east.clerk1", "full_name": "Clerk", "role": "clerk"}
    )
    text = made.get_data(as_text=True)
    assert made.status_code == 200 and "Shown once" in text and 'id="secret-value"' in text
    kiosk = post(admin, page, f"{page}/devices", {"name": "Kiosk", "kind": "kiosk", "printer_kind": "none"})
    text = kiosk.get_data(as_text=True)
    key = re.search(r'id="secret-value" readonly size="60" value="([^"]+)"', text)
    assert key and "<svg" in text and f"/kiosk/east#pair={key.group(1)}" in text
    client = app.test_client()
    issued = client.post(
        "/api/v1/centres/east/tokens", json={"service": "tenant"}, headers=bearer(key.group(1))
    )
    assert issued.status_code == 201 and issued.get_json()["number"] == "E001"
    tenant = session.scalar(select(Service).where(Service.centre_id == east.id, Service.code == "tenant"))
    assert (
        tenant is not None
        and tenant.target_wait_minutes == 30
        and tenant.overrides == {"target_wait_minutes": 30}
    )
    session.rollback()


@pytest.mark.parametrize(
    ("url", "data", "field", "words"),
    [
        ("/manage/setup/demo/counters", {"number": "1"}, "number", "exists already"),
        (
            "/manage/setup/demo/counters",
            {"number": "20", "weight_bank": "12"},
            "profile.bank",
            "between 1 and 9",
        ),
        ("/manage/setup/demo/hours", {"hours_mon": "9-5"}, "hours.mon", "08:00-16:00"),
        ("/manage/setup/demo/staff", {"username": "clerk2"}, "username", "taken"),
        (
            "/manage/setup/demo/devices",
            {"name": "K", "kind": "kiosk", "printer_kind": "network"},
            "printer.host",
            "host",
        ),
    ],
)
def test_bad_input_is_refused_beside_its_field_and_changes_nothing(
    app: Flask,
    session: Session,
    demo: SeedResult,
    passwords: dict[str, str],
    url: str,
    data: dict[str, str],
    field: str,
    words: str,
) -> None:
    manager = logged_in(app, passwords, "manager")
    before = count(session, Event)
    response = post(manager, "/manage/setup/demo", url, data)
    text = response.get_data(as_text=True)
    assert response.status_code == 400
    assert f'data-field="{field}"' in text and words in text
    assert count(session, Event) == before


def test_a_manager_administers_only_their_own_centre_and_a_clerk_nothing(
    app: Flask, session: Session, demo: SeedResult, passwords: dict[str, str]
) -> None:
    admin = logged_in(app, passwords, "admin")
    post(admin, "/manage/setup", "/manage/setup", {"code": "east", "name_en": "East", "name_ur": "مشرق"})
    manager = logged_in(app, passwords, "manager")
    assert manager.get("/manage/setup").headers["Location"].endswith("/manage/setup/demo")
    assert manager.get("/manage/setup/east").status_code == 403
    assert manager.get("/manage/setup/catalogue").status_code == 403
    token = csrf(manager.get("/manage/setup/demo").get_data(as_text=True))
    before = count(session, Event)
    signed_in = count(session, Event, Event.kind == "staff_signed_in")
    for url, data in (
        ("/manage/setup/east/counters", {"number": "5"}),
        ("/manage/setup/east/staff", {"username": "sneaky"}),
        ("/manage/setup/demo/services", {"enabled": "character"}),
        ("/manage/setup/catalogue", {"code": "x", "name_en": "x", "name_ur": "x", "prefix": "X"}),
        ("/manage/setup", {"code": "west", "name_en": "W", "name_ur": "W"}),
        ("/manage/setup/staff/10", {"action": "password"}),  # the province admin's account
    ):
        assert manager.post(url, data={**data, "csrf_token": token}).status_code == 403, url
    page = manager.get("/manage/setup/demo").get_data(as_text=True)
    assert 'id="name_en" name="name_en" maxlength="120" value="Khidmat Markaz Demo" disabled' in page
    clerk = app.test_client()
    login_page = clerk.get("/manage/login").get_data(as_text=True)
    clerk.post(
        "/manage/login",
        data={"username": "clerk1", "password": passwords["clerk1"], "csrf_token": csrf(login_page)},
    )
    assert clerk.get("/manage/setup").status_code == 403
    assert clerk.get("/manage/setup/demo").status_code == 403
    assert clerk.post(
        "/manage/setup/demo/counters", data={"number": "9", "csrf_token": token}
    ).status_code in (400, 403)
    # without the form's CSRF token nothing is accepted
    assert manager.post("/manage/setup/demo/counters", data={"number": "9"}).status_code == 400
    # the clerk's sign-in is audited (issue 19); nothing the refusals tried is
    assert count(session, Event) == before + count(session, Event, Event.kind == "staff_signed_in") - signed_in
    assert count(session, Counter, Counter.number == 9) == 0


def test_a_profile_change_that_strands_waiting_tokens_is_shown_first(
    app: Flask,
    client: FlaskClient,
    session: Session,
    demo: SeedResult,
    keys: dict[str, str],
    passwords: dict[str, str],
) -> None:
    for _ in range(2):
        client.post(
            "/api/v1/centres/demo/tokens", json={"service": "overseas"}, headers=bearer(keys["kiosk"])
        )
    manager = logged_in(app, passwords, "manager")
    page = "/manage/setup/demo/counters/2"
    shown = post(manager, page, page, {"weight_character": "2", "weight_character_other": "1"})
    text = shown.get_data(as_text=True)
    assert shown.status_code == 200 and 'data-fate="no_counter"' in text and "T001" in text and "T002" in text
    assert count(session, Event, Event.kind == "admin.counter_changed") == 0
    confirm = dict(re.findall(r'<input type="hidden" name="(weight_\w+|name|zone)" value="([^"]*)">', text))
    saved = post(manager, page, page, {**confirm, "confirm": "1"})
    assert saved.status_code == 302
    assert count(session, Event, Event.kind == "admin.counter_changed") == 1
    assert count(session, Token, Token.state == TokenState.WAITING) == 2, "the tokens are still in the queue"


def test_pages_in_urdu(app: Flask, demo: SeedResult, passwords: dict[str, str]) -> None:
    manager = logged_in(app, passwords, "manager")
    text = manager.get("/manage/setup/demo?lang=ur").get_data(as_text=True)
    assert 'dir="rtl"' in text and "کاؤنٹر" in text and "عملہ" in text


def test_device_rotate_and_revoke_from_the_page(
    app: Flask, session: Session, demo: SeedResult, passwords: dict[str, str], keys: dict[str, str]
) -> None:
    manager = logged_in(app, passwords, "manager")
    device = session.scalar(select(Device).where(Device.name == "Hall display"))
    assert device is not None
    session.rollback()
    url = f"/manage/setup/devices/{device.id}"
    rotated = post(manager, "/manage/setup/demo", url, {"action": "rotate"})
    assert rotated.status_code == 200 and "<svg" in rotated.get_data(as_text=True)
    assert (
        app.test_client().get("/api/v1/centres/demo/snapshot", headers=bearer(keys["display"])).status_code
        == 401
    )
    assert post(manager, "/manage/setup/demo", url, {"action": "revoke"}).status_code == 302
    assert count(session, Device, Device.is_active.is_(False)) == 1
    assert count(session, Staff) == 10


def test_role_and_printer_changes_from_the_page(
    app: Flask, session: Session, demo: SeedResult, passwords: dict[str, str]
) -> None:
    manager = logged_in(app, passwords, "manager")
    clerk = session.scalar(select(Staff).where(Staff.username == "clerk3"))
    kiosk = session.scalar(select(Device).where(Device.name == "Kiosk 1"))
    assert clerk is not None and kiosk is not None
    clerk_id, kiosk_id = clerk.id, kiosk.id
    session.rollback()
    changed = post(
        manager,
        "/manage/setup/demo",
        f"/manage/setup/staff/{clerk_id}",
        {"action": "role", "role": "manager"},
    )
    assert changed.status_code == 302
    printer = {"action": "printer", "printer_kind": "network", "printer_host": "10.0.0.9"}
    assert (
        post(manager, "/manage/setup/demo", f"/manage/setup/devices/{kiosk_id}", printer).status_code == 302
    )
    session.expire_all()
    assert session.get(Staff, clerk_id).role.value == "manager"  # type: ignore[union-attr]
    assert session.get(Device, kiosk_id).printer == {"kind": "network", "host": "10.0.0.9"}  # type: ignore[union-attr]
    refused = post(
        manager, "/manage/setup/demo", f"/manage/setup/staff/{clerk_id}", {"action": "role", "role": "admin"}
    )
    assert refused.status_code == 403
