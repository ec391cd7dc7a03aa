"""Administration through the JSON API: a second centre set up from nothing and working,
who may do what, field-named refusals that change nothing, audited before/after events,
live pickup by the screens, and the safe-change previews."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from queue_server.audit import verify_chain
from queue_server.auth import authenticate_password
from queue_server.models import CatalogueService, Centre, Event, Service
from queue_server.publish import Message, add_sink, remove_sink
from queue_server.seed import SeedResult
from tests.conftest import bearer


@pytest.fixture
def sent() -> Iterator[list[Message]]:
    box: list[Message] = []
    add_sink(box.append)
    yield box
    remove_sink(box.append)


def api(client: FlaskClient, key: str, method: str, url: str, body: Any = None) -> tuple[int, Any]:
    response = client.open(f"/api/v1{url}", method=method, headers=bearer(key), json=body)
    return response.status_code, response.get_json(silent=True)


def events(session: Session) -> int:
    session.expire_all()
    count = session.scalar(select(func.count(Event.id))) or 0
    session.rollback()
    return count


def new_centre(client: FlaskClient, admin: str, code: str = "east") -> None:
    status, data = api(
        client, admin, "POST", "/centres", {"code": code, "name_en": "East", "name_ur": "مشرق"}
    )
    assert status == 201, data
    for service in ("character", "tenant", "vehicle"):
        status, data = api(client, admin, "POST", f"/centres/{code}/services", {"service": service})
        assert status == 201, data


def test_an_admin_sets_up_a_working_centre_through_the_api(
    client: FlaskClient, keys: dict[str, str], session: Session, demo: SeedResult
) -> None:
    admin = keys["admin"]
    new_centre(client, admin)
    status, data = api(
        client,
        admin,
        "POST",
        "/centres/east/services",
        {"service": "fir_copy", "overrides": {"target_wait_minutes": 45}},
    )
    assert (
        status == 201
        and data["target_wait_minutes"] == 45
        and data["overrides"] == {"target_wait_minutes": 45}
    )
    for number, profile in ((1, {"character": 3}), (2, {"tenant": 2, "vehicle": 1}), (3, {"fir_copy": 9})):
        status, data = api(
            client, admin, "POST", "/centres/east/counters", {"number": number, "profile": profile}
        )
        assert status == 201 and data["profile"] == profile
    status, clerk = api(
        client, admin, "POST", "/centres/east/staff", {"username": "east.clerk1", "full_name": "A"}
    )
    assert status == 201 and len(clerk["password"]) >= 10
    status, key = api(client, admin, "POST", f"/staff/{clerk['id']}/api-keys", {"label": "console"})
    assert status == 201
    status, kiosk = api(client, admin, "POST", "/centres/east/devices", {"name": "Kiosk", "kind": "kiosk"})
    assert status == 201 and kiosk["key"].startswith("kq_dev_") and "#pair=" in kiosk["pairing_url"]
    assert kiosk["printer"] == {"kind": "none"}

    status, token = api(client, kiosk["key"], "POST", "/centres/east/tokens", {"service": "character"})
    assert status == 201 and token["number"] == "A001"
    status, counters = api(client, key["secret"], "GET", "/centres/east/counters")
    first = next(c for c in counters["counters"] if c["number"] == 1)
    assert api(client, key["secret"], "POST", f"/counters/{first['id']}/open")[0] == 200
    status, called = api(client, key["secret"], "POST", f"/counters/{first['id']}/call-next")
    assert status == 200 and called["number"] == "A001"

    east = session.scalar(select(Centre).where(Centre.code == "east"))
    assert east is not None and verify_chain(session, east.id).ok
    kinds = list(session.scalars(select(Event.kind).where(Event.centre_id == east.id).order_by(Event.seq)))
    assert kinds[:5] == ["admin.centre_created"] + ["admin.service_enabled"] * 4
    created = session.scalar(
        select(Event).where(Event.kind == "admin.counter_created", Event.centre_id == east.id)
    )
    assert created is not None and created.data["before"] is None and created.data["after"]["number"] == 1
    assert created.actor.startswith("staff:")


def test_a_catalogue_change_reaches_every_centre_but_their_overrides(
    client: FlaskClient, keys: dict[str, str], session: Session, demo: SeedResult
) -> None:
    admin = keys["admin"]
    new_centre(client, admin)
    api(
        client, admin, "PATCH", "/centres/east/services/character", {"overrides": {"target_wait_minutes": 50}}
    )
    status, data = api(
        client, admin, "PATCH", "/catalogue/character", {"fee": 2000, "target_wait_minutes": 30}
    )
    assert status == 200 and data["fee"] == 2000
    session.expire_all()
    rows = session.execute(
        select(Centre.code, Service.fee, Service.target_wait_minutes)
        .join(Service, Service.centre_id == Centre.id)
        .where(Service.code == "character")
    ).all()
    assert sorted(rows) == [("demo", 2000, 30), ("east", 2000, 50)]
    changed = session.scalars(select(Event).where(Event.kind == "admin.catalogue_changed")).all()
    assert len(changed) == 2 and {e.data["before"]["fee"] for e in changed} == {1500}


def test_who_may_administer_what(
    client: FlaskClient, keys: dict[str, str], session: Session, demo: SeedResult
) -> None:
    admin, manager, clerk = keys["admin"], keys["manager"], keys["clerk1"]
    new_centre(client, admin)
    before = events(session)
    refused = [
        (manager, "POST", "/catalogue", {"code": "x1", "name_en": "X", "name_ur": "X", "prefix": "X"}),
        (manager, "PATCH", "/catalogue/character", {"fee": 1}),
        (manager, "POST", "/centres", {"code": "west", "name_en": "W", "name_ur": "W"}),
        (manager, "POST", "/centres/demo/services", {"service": "fir_copy"}),
        (manager, "PATCH", "/centres/demo", {"name_en": "Renamed"}),
        (manager, "POST", "/centres/east/counters", {"number": 9}),
        (manager, "PATCH", "/centres/east", {"notice_en": "hello"}),
        (manager, "POST", "/centres/east/devices", {"name": "K", "kind": "kiosk"}),
        (manager, "POST", "/centres/east/staff", {"username": "sneaky"}),
        (manager, "GET", "/centres/east/setup", None),
        (clerk, "POST", "/centres/demo/counters", {"number": 9}),
        (clerk, "GET", "/centres/demo/setup", None),
        (clerk, "PATCH", "/centres/demo", {"notice_en": "hello"}),
        (clerk, "POST", "/staff/2/password", {}),
        (keys["kiosk"], "POST", "/centres/demo/devices", {"name": "K2", "kind": "kiosk"}),
    ]
    for key, method, url, body in refused:
        status, data = api(client, key, method, url, body)
        assert status == 403, (method, url, status, data)
    assert events(session) == before
    # what a manager may do in their own centre
    assert api(client, manager, "PATCH", "/centres/demo", {"notice_en": "Closed Friday 12-14"})[0] == 200
    assert (
        api(client, manager, "POST", "/centres/demo/counters", {"number": 9, "profile": {"bank": 2}})[0]
        == 201
    )
    assert (
        api(client, manager, "POST", "/centres/demo/devices", {"name": "Kiosk 2", "kind": "kiosk"})[0] == 201
    )
    status, data = api(client, manager, "POST", "/centres/demo/staff", {"username": "clerk9"})
    assert status == 201
    assert api(client, manager, "PATCH", f"/staff/{data['id']}", {"role": "manager"})[0] == 200
    assert api(client, manager, "POST", "/staff/10/password", {})[0] == 403  # staff 10: the province admin


@pytest.mark.parametrize(
    ("method", "url", "body", "field"),
    [
        ("POST", "/centres", {"code": "demo", "name_en": "D", "name_ur": "D"}, "code"),
        ("POST", "/centres", {"code": "Bad Code", "name_en": "D", "name_ur": "D"}, "code"),
        (
            "POST",
            "/centres",
            {"code": "west", "name_en": "W", "name_ur": "W", "timezone": "Mars/Base"},
            "timezone",
        ),
        ("PATCH", "/centres/demo", {"day_starts_at": "25:00"}, "day_starts_at"),
        ("PATCH", "/centres/demo", {"hours": {"mon": "09:00-09:00"}}, "hours.mon"),
        ("PATCH", "/centres/demo", {"hours": {"tue": "9 to 5"}}, "hours.tue"),
        ("PATCH", "/centres/demo", {"holidays": [{"day": "2026-13-01"}]}, "holidays.0"),
        ("POST", "/catalogue", {"code": "character", "name_en": "C", "name_ur": "C", "prefix": "Z"}, "code"),
        ("POST", "/catalogue", {"code": "newone", "name_en": "C", "name_ur": "C", "prefix": "z9"}, "prefix"),
        ("PATCH", "/catalogue/tenant", {"prefix": "A"}, "prefix"),  # A is character's at demo
        ("PATCH", "/centres/demo/services/tenant", {"overrides": {"prefix": "B"}}, "prefix"),
        ("POST", "/centres/demo/counters", {"number": 1}, "number"),
        ("POST", "/centres/demo/counters", {"number": 20, "profile": {"character": 10}}, "profile.character"),
        ("POST", "/centres/demo/counters", {"number": 20, "profile": {"character": 0}}, "profile.character"),
        ("PATCH", "/centres/demo/counters/1", {"profile": {"nope": 2}}, "profile.nope"),
        ("POST", "/centres/demo/staff", {"username": "clerk1"}, "username"),
        ("POST", "/centres/demo/staff", {"username": "x y"}, "username"),
        ("POST", "/centres/demo/staff", {"username": "clerk9", "password": "short"}, "password"),
        ("POST", "/centres/demo/devices", {"name": "Kiosk 1", "kind": "kiosk"}, "name"),
        (
            "POST",
            "/centres/demo/devices",
            {"name": "K9", "kind": "kiosk", "printer": {"kind": "laser"}},
            "printer.kind",
        ),
    ],
)
def test_bad_values_are_refused_naming_the_field_and_change_nothing(
    client: FlaskClient,
    keys: dict[str, str],
    session: Session,
    demo: SeedResult,
    method: str,
    url: str,
    body: dict[str, Any],
    field: str,
) -> None:
    before = events(session), session.scalar(select(func.count(CatalogueService.id)))
    status, data = api(client, keys["admin"], method, url, body)
    # a code, username or device name another row holds is a conflict (409), not a bad value
    taken = body.get("code") in TAKEN or body.get("username") in TAKEN or body.get("name") in TAKEN
    expected = (409, "taken") if taken else (400, "bad_value")
    assert (status, data["error"]) == expected and data["field"] == field, data
    assert data["message"]
    assert (events(session), session.scalar(select(func.count(CatalogueService.id)))) == before


TAKEN = {"demo", "character", "clerk1", "Kiosk 1"}  # held by the demo centre's rows


def test_refusals_come_in_urdu_too(client: FlaskClient, keys: dict[str, str], demo: SeedResult) -> None:
    response = client.post(
        "/api/v1/centres/demo/counters",
        json={"number": 1},
        headers={**bearer(keys["admin"]), "Accept-Language": "ur"},
    )
    assert response.status_code == 400
    message = response.get_json()["message"]
    assert any("\u0600" <= ch <= "\u06ff" for ch in message), message


def test_every_change_is_picked_up_live_after_commit(
    client: FlaskClient, keys: dict[str, str], demo: SeedResult, sent: list[Message]
) -> None:
    api(client, keys["manager"], "PATCH", "/centres/demo", {"notice_en": "Water is free"})
    api(client, keys["manager"], "PATCH", "/centres/demo/counters/2", {"profile": {"character": 5}})
    refreshes = [m for m in sent if m.event == "refresh"]
    assert len(refreshes) == 2 and all("centre:1:display" in m.rooms for m in refreshes)
    assert any(m.event == "counter_changed" and m.payload["counter"]["number"] == 2 for m in sent)
    sent.clear()
    api(client, keys["manager"], "PATCH", "/centres/demo/counters/2", {"profile": {"character": 0}})
    assert sent == []  # refused: nothing announced


def test_previews_name_the_waiting_tokens_and_their_fate(
    app: Flask, client: FlaskClient, keys: dict[str, str], session: Session, demo: SeedResult
) -> None:
    kiosk = keys["kiosk"]
    for service in ("overseas", "overseas", "character"):
        assert api(client, kiosk, "POST", "/centres/demo/tokens", {"service": service})[0] == 201
    # counter 2 serves character (also at 1 and 8) and overseas (only there)
    status, data = api(
        client, keys["manager"], "POST", "/centres/demo/counters/2/impact", {"profile": {"character": 1}}
    )
    assert status == 200
    assert data["affected"] == [
        {
            "service": "overseas",
            "name_en": "Overseas Pakistanis (status verification)",
            "name_ur": "سمندر پار پاکستانی",
            "waiting": 2,
            "numbers": ["T001", "T002"],
            "fate": "no_counter",
            "counters": [],
        }
    ]
    status, data = api(client, keys["manager"], "POST", "/centres/demo/counters/2/impact", {})
    assert {a["service"]: (a["fate"], a["counters"]) for a in data["affected"]} == {
        "character": ("other_counters", [1, 8]),
        "overseas": ("no_counter", []),
    }
    status, data = api(client, keys["manager"], "GET", "/centres/demo/services/character/impact")
    assert data["affected"][0]["fate"] == "kiosk_stops" and data["affected"][0]["counters"] == [1, 2, 8]
    # disabling: the kiosk stops offering it, the waiting one is still called
    assert (
        api(client, keys["admin"], "PATCH", "/centres/demo/services/character", {"is_active": False})[0]
        == 200
    )
    status, data = api(client, kiosk, "POST", "/centres/demo/tokens", {"service": "character"})
    assert status in (404, 409), data
    status, counters = api(client, keys["clerk1"], "GET", "/centres/demo/counters")
    first = next(c for c in counters["counters"] if c["number"] == 1)
    api(client, keys["clerk1"], "POST", f"/counters/{first['id']}/open")
    status, called = api(client, keys["clerk1"], "POST", f"/counters/{first['id']}/call-next")
    assert status == 200 and called["number"] == "A001"


def test_devices_rotate_and_revoke(client: FlaskClient, keys: dict[str, str], demo: SeedResult) -> None:
    manager = keys["manager"]
    status, device = api(
        client, manager, "POST", "/centres/demo/devices", {"name": "Hall 2", "kind": "display"}
    )
    assert status == 201 and device["printer"] == {}
    assert api(client, device["key"], "GET", "/centres/demo/snapshot")[0] == 200
    status, rotated = api(client, manager, "POST", f"/devices/{device['id']}/rotate-key")
    assert status == 200 and rotated["key"] != device["key"]
    assert api(client, device["key"], "GET", "/centres/demo/snapshot")[0] == 401
    assert api(client, rotated["key"], "GET", "/centres/demo/snapshot")[0] == 200
    assert api(client, manager, "POST", f"/devices/{device['id']}/revoke")[0] == 200
    assert api(client, rotated["key"], "GET", "/centres/demo/snapshot")[0] == 401
    status, kiosk = api(
        client, manager, "PATCH", "/devices/1", {"printer": {"kind": "network", "host": "10.0.0.5"}}
    )
    assert (
        status == 200 and kiosk["printer"] == {"kind": "network", "host": "10.0.0.5"} and kiosk["key"] is None
    )


def test_staff_keys_passwords_and_deactivation(
    client: FlaskClient, keys: dict[str, str], session: Session, demo: SeedResult
) -> None:
    manager = keys["manager"]
    status, clerk = api(
        client, manager, "POST", "/centres/demo/staff", {"username": "clerk9", "password": "a-long-password"}
    )
    assert status == 201 and clerk["password"] is None
    status, key = api(client, manager, "POST", f"/staff/{clerk['id']}/api-keys", {})
    assert api(client, key["secret"], "GET", "/me")[0] == 200
    assert api(client, manager, "DELETE", f"/staff/{clerk['id']}/api-keys/{key['id']}")[0] == 204
    assert api(client, key["secret"], "GET", "/me")[0] == 401
    status, key = api(client, manager, "POST", f"/staff/{clerk['id']}/api-keys", {})
    status, secret = api(client, manager, "POST", f"/staff/{clerk['id']}/password", {})
    assert status == 200 and len(secret["secret"]) >= 10
    assert authenticate_password(session, "clerk9", secret["secret"]).username == "clerk9"
    session.rollback()
    assert api(client, manager, "PATCH", f"/staff/{clerk['id']}", {"is_active": False})[0] == 200
    assert api(client, key["secret"], "GET", "/me")[0] == 401


def test_a_manager_sets_hours_and_holidays_and_sees_who_closing_now_touches(
    client: FlaskClient, keys: dict[str, str], session: Session, demo: SeedResult
) -> None:
    manager = keys["manager"]
    week = {
        "mon": "08:00-16:00",
        "tue": "08:00-16:00",
        "wed": "24h",
        "thu": "20:00-04:00",
        "fri": "08:00-12:30",
    }
    status, data = api(
        client,
        manager,
        "PATCH",
        "/centres/demo",
        {"hours": week, "holidays": [{"day": "2026-12-25", "name_en": "Quaid Day", "name_ur": "یوم قائد"}]},
    )
    assert status == 200, data
    assert data["hours"] == {**week, "sat": "closed", "sun": "closed"}
    assert data["holidays"] == [{"day": "2026-12-25", "name_en": "Quaid Day", "name_ur": "یوم قائد"}]
    changed = session.scalars(select(Event).where(Event.kind == "admin.centre_changed")).one()
    assert (
        changed.data["before"]["hours"]["sat"] == "08:00-16:00"
        and changed.data["after"]["hours"]["sat"] == "closed"
    )
    # open round the clock, two waiting: hours that close it now touch them, hours that keep it open do not
    api(
        client,
        manager,
        "PATCH",
        "/centres/demo",
        {"hours": dict.fromkeys(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), "24h")},
    )
    for _ in range(2):
        assert api(client, keys["kiosk"], "POST", "/centres/demo/tokens", {"service": "tenant"})[0] == 201
    status, data = api(client, manager, "POST", "/centres/demo/hours/impact", {"hours": {}})
    assert status == 200
    assert [(a["service"], a["waiting"], a["fate"], a["counters"]) for a in data["affected"]] == [
        ("tenant", 2, "kiosk_stops", [3])
    ]
    status, data = api(
        client,
        manager,
        "POST",
        "/centres/demo/hours/impact",
        {"hours": {"mon": "24h"} | dict.fromkeys(("tue", "wed", "thu", "fri", "sat", "sun"), "24h")},
    )
    assert status == 200 and data["affected"] == []
