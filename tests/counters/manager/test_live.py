"""The live centre view, its alerts and thresholds, the province view and who may see them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from counters.manager import events
from queue_server import alerts, operations
from queue_server.actors import Actor
from queue_server.clock import utcnow
from queue_server.models import Alert, Centre, Counter, Device, DeviceKind, Event
from queue_server.operations import alerts as alert_changes
from queue_server.operations.printing import record_printer_status
from queue_server.read import statistics
from queue_server.realtime.presence import presence
from tests.conftest import bearer
from tests.counters.manager.test_reports import login
from tests.support.factories import next_morning, socketio_client


def services_of(live: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["code"]: s for s in live["services"]}


def counters_of(live: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {c["number"]: c for c in live["counters"]}


# Who may look ----------------------------------------------------------------------------


def test_anonymous_browser_goes_to_the_login_and_back(client: FlaskClient, demo: Any) -> None:
    r = client.get("/manage")
    assert r.status_code == 302
    location = r.headers["Location"]
    assert location.startswith(("/counter/login?next=", "/manage/login?next="))
    assert "next=%2Fmanage" in location


def test_login_form(client: FlaskClient, passwords: dict[str, str]) -> None:
    page = client.get("/manage/login?next=/manage/reports")
    assert page.status_code == 200 and 'name="password"' in page.text
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    wrong = client.post(
        "/manage/login",
        data={"username": "manager", "password": "nope", "csrf_token": token, "next": "/manage"},
    )
    assert wrong.status_code == 401 and "Wrong username or password" in wrong.text
    no_csrf = client.post("/manage/login", data={"username": "manager", "password": passwords["manager"]})
    assert no_csrf.status_code == 400
    ok = client.post(
        "/manage/login",
        data={
            "username": "manager",
            "password": passwords["manager"],
            "csrf_token": token,
            "next": "//evil.example/x",
        },
    )
    assert ok.status_code == 302 and ok.headers["Location"] == "/manage"


def test_a_clerk_cannot_open_the_dashboard(client: FlaskClient, passwords: dict[str, str]) -> None:
    login(client, "clerk1", passwords["clerk1"])
    for path in (
        "/manage",
        "/manage/reports",
        "/manage/alerts",
        "/manage/province",
        "/manage/reports/export.csv?table=service",
    ):
        r = client.get(path)
        assert r.status_code == 403, path
        assert "for centre managers" in r.text
        assert "live-data" not in r.text


def test_manager_sees_the_live_view(client: FlaskClient, passwords: dict[str, str]) -> None:
    login(client, "manager", passwords["manager"])
    r = client.get("/manage")
    assert r.status_code == 200
    assert 'id="live-data"' in r.text and "Character certificate" in r.text
    urdu = client.get("/manage?lang=ur")
    assert 'lang="ur" dir="rtl"' in urdu.text
    assert client.get("/manage/province").status_code == 403
    assert client.get("/manage?centre=elsewhere").status_code == 404


def test_province_admin_sees_every_centre(
    client: FlaskClient, passwords: dict[str, str], keys: dict[str, str]
) -> None:
    login(client, "admin", passwords["admin"])
    r = client.get("/manage")
    assert r.status_code == 302 and r.headers["Location"].endswith("/manage/province")
    page = client.get("/manage/province")
    assert page.status_code == 200 and "province-data" in page.text and "Khidmat Markaz Demo" in page.text
    assert client.get("/manage?centre=demo").status_code == 200
    body = client.get("/api/v1/province", headers=bearer(keys["admin"])).get_json()
    assert [c["code"] for c in body["centres"]] == ["demo"]
    assert client.get("/api/v1/province", headers=bearer(keys["manager"])).status_code == 403


# Live figures ----------------------------------------------------------------------------


def test_live_figures_follow_the_floor(
    session: Session,
    centre: Centre,
    actor_of: Callable[[str], Actor],
    counter_no: Callable[[int], Counter],
    client: FlaskClient,
    keys: dict[str, str],
) -> None:
    clerk = actor_of("clerk1")
    start = next_morning(centre)
    with time_machine.travel(start, tick=False) as clock:
        a1 = operations.issue_token(session, centre, "character", clerk).token
        operations.issue_token(session, centre, "character", clerk)
        operations.issue_token(session, centre, "bank", clerk)
        operations.open_counter(session, counter_no(1).id, clerk)
        session.commit()
        clock.shift(timedelta(minutes=4))
        live = statistics.live_centre(session, centre)
        character = services_of(live)["character"]
        assert character["waiting"] == 2 and character["longest_wait_seconds"] == 240
        assert counters_of(live)[1]["state"] == "open" and counters_of(live)[1]["clerk"] == "Clerk 1"
        called = operations.call_next(session, counter_no(1).id, clerk)
        assert called is not None and called.id == a1.id
        clock.shift(timedelta(seconds=30))
        operations.start(session, a1.id, clerk)
        clock.shift(timedelta(minutes=5))
        operations.complete(session, a1.id, clerk)
        session.commit()
        body = client.get("/api/v1/centres/demo/dashboard", headers=bearer(keys["manager"])).get_json()
    character = services_of(body)["character"]
    assert character["waiting"] == 1 and character["served"] == 1
    assert character["avg_wait_seconds"] == 240.0 and character["within_target_share"] == 1.0
    assert counters_of(body)[1]["served"] == 1 and counters_of(body)[1]["avg_service_seconds"] == 300.0
    assert body["totals"]["waiting"] == 2 and body["totals"]["served"] == 1
    assert body["totals"]["counters_open"] == 1
    # The live error of the shown estimate beside the QL baseline's, from what was stored at issue.
    session.refresh(a1)
    assert a1.eta_minutes is not None and a1.eta_ql_minutes is not None
    assert body["totals"]["eta_scored"] == 1
    assert body["totals"]["eta_shown_mae_seconds"] == abs(240 - 60 * a1.eta_minutes)
    assert body["totals"]["eta_ql_mae_seconds"] == abs(240 - 60 * a1.eta_ql_minutes)


# Alerts ----------------------------------------------------------------------------------


def alert_kinds(session: Session, centre: Centre) -> set[tuple[str, str]]:
    return {(a.kind, a.subject) for a in statistics.open_alerts(session, [centre.id])}


def test_wait_over_target_is_raised_then_cleared_in_the_event_log(
    session: Session, centre: Centre, actor_of: Callable[[str], Actor], counter_no: Callable[[int], Counter]
) -> None:
    clerk = actor_of("clerk1")
    start = next_morning(centre)
    with time_machine.travel(start, tick=False) as clock:
        token = operations.issue_token(session, centre, "character", clerk).token
        session.commit()
        clock.shift(timedelta(minutes=19))
        assert not alert_changes.evaluate(session, centre).changed
        clock.shift(timedelta(minutes=2))  # target 20 min
        evaluation = alert_changes.evaluate(session, centre)
        session.commit()
        assert [(a.kind, a.subject) for a in evaluation.raised] == [
            ("wait_over_target", f"service:{token.service_id}")
        ]
        assert not alert_changes.evaluate(session, centre).changed, "raised once"
        operations.open_counter(session, counter_no(1).id, clerk)
        operations.call_next(session, counter_no(1).id, clerk)
        cleared = alert_changes.evaluate(session, centre)
        session.commit()
    assert [a.kind for a in cleared.cleared] == ["wait_over_target"]
    kinds = [
        e.data["kind"]
        for e in session.scalars(
            select(Event).where(Event.kind.in_(["alert_raised", "alert_cleared"])).order_by(Event.seq)
        )
    ]
    assert kinds == ["wait_over_target", "wait_over_target"]
    alert = session.scalars(select(Alert)).one()
    assert alert.cleared_at is not None and alert.open_key is None


def test_queue_length_idle_counter_and_printer_alerts(
    session: Session,
    centre: Centre,
    actor_of: Callable[[str], Actor],
    counter_no: Callable[[int], Counter],
) -> None:
    clerk = actor_of("clerk4")
    boss = actor_of("manager")
    alert_changes.update_thresholds(
        session, centre, boss, {"queue_length": 2, "idle_minutes": 3, "is_wait_enabled": False}
    )
    start = next_morning(centre)
    with time_machine.travel(start, tick=False) as clock:
        operations.open_counter(session, counter_no(4).id, clerk)  # vehicle, token tax
        for _ in range(3):
            operations.issue_token(session, centre, "vehicle", boss)
        session.commit()
        assert alert_kinds(session, centre) == set()
        alert_changes.evaluate(session, centre)
        vehicle = next(s for s in centre.services if s.code == "vehicle")
        assert alert_kinds(session, centre) == {("queue_too_long", f"service:{vehicle.id}")}
        clock.shift(timedelta(minutes=3, seconds=5))
        alert_changes.evaluate(session, centre)
        assert ("counter_idle", f"counter:{counter_no(4).id}") in alert_kinds(session, centre)
        kiosk = session.scalars(select(Device).where(Device.kind == DeviceKind.KIOSK)).one()
        record_printer_status(session, kiosk, "paper_out", boss)
        alert_changes.evaluate(session, centre)
        assert ("printer_fault", f"device:{kiosk.id}") in alert_kinds(session, centre)
        operations.call_next(session, counter_no(4).id, clerk)
        record_printer_status(session, kiosk, "ok", boss)
        evaluation = alert_changes.evaluate(session, centre)
        session.commit()
    assert {a.kind for a in evaluation.cleared} == {"counter_idle", "printer_fault", "queue_too_long"}
    assert alert_kinds(session, centre) == set()


def test_thresholds_through_the_api_and_the_form(
    client: FlaskClient, keys: dict[str, str], passwords: dict[str, str], session: Session
) -> None:
    url = "/api/v1/centres/demo/alert-thresholds"
    assert client.get(url, headers=bearer(keys["manager"])).get_json()["queue_length"] == 20
    r = client.put(url, json={"queue_length": 8, "idle_minutes": 0}, headers=bearer(keys["manager"]))
    assert r.status_code == 200 and r.get_json()["queue_length"] == 8 and r.get_json()["idle_minutes"] == 0
    for bad in (
        {"queue_length": -1},
        {"wait_target_percent": 10},
        {"idle_minutes": "soon"},
        {"colour": "red"},
    ):
        r = client.put(url, json=bad, headers=bearer(keys["manager"]))
        assert r.status_code == 400 and r.get_json()["message"], bad
    assert client.put(url, json={"queue_length": 5}, headers=bearer(keys["clerk1"])).status_code == 403
    assert client.get(url, headers=bearer(keys["manager"])).get_json()["queue_length"] == 8
    changed = session.scalars(select(Event).where(Event.kind == "alert_settings_changed")).all()
    assert len(changed) == 1 and changed[0].data["after"]["queue_length"] == 8

    login(client, "manager", passwords["manager"])
    page = client.get("/manage/alerts")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    form = {"csrf_token": token, "wait_target_percent": "150", "queue_length": "x", "idle_minutes": "4"}
    r = client.post("/manage/alerts", data=form)
    assert r.status_code == 400 and "whole number" in r.text
    form["queue_length"] = "12"
    r = client.post("/manage/alerts", data={**form, "is_wait_enabled": "on"})
    assert r.status_code == 200 and "Saved" in r.text
    saved = client.get(url, headers=bearer(keys["manager"])).get_json()
    assert saved == {
        "wait_target_percent": 150,
        "queue_length": 12,
        "idle_minutes": 4,
        "is_wait_enabled": True,
        "is_printer_enabled": False,
    }


def refresh_dashboards(centre: Centre) -> None:
    """One round of the dashboard worker, as the server runs it after a change."""
    hub = events.hub()
    assert hub is not None
    hub.refresh(centre.id)


@pytest.mark.parametrize("watching", ["nobody", "dashboard", "province"])
def test_a_refresh_reads_the_days_figures_and_sends_them_only_when_someone_watches(
    session: Session,
    centre: Centre,
    actor_of: Callable[[str], Actor],
    monkeypatch: pytest.MonkeyPatch,
    watching: str,
) -> None:
    """An unwatched centre's refresh raises its alerts from what is open (the queue, the
    counters, the printers), without reading every token of the day or sending anything;
    a dashboard or the province view watching gets the whole figures."""
    from queue_server.read.statistics import live as live_module

    boss = actor_of("manager")
    alert_changes.update_thresholds(session, centre, boss, {"queue_length": 1})
    for _ in range(2):
        operations.issue_token(session, centre, "bank", boss)
    session.commit()
    room = {"nobody": None, "dashboard": f"centre:{centre.id}:dashboard", "province": "province:dashboard"}[watching]
    monkeypatch.setattr(events, "watched", lambda r: r == room)
    read_days: list[int] = []
    facts = live_module.token_facts
    monkeypatch.setattr(
        live_module, "token_facts", lambda s, c, *a, **k: read_days.append(c.id) or facts(s, c, *a, **k)
    )
    sent: list[tuple[str, Any, str]] = []
    emit = events.socketio.emit

    def sending(event: str, data: Any, to: Any) -> None:
        if event in ("stats", "province_row"):  # (the alert itself is published as a change)
            sent.append((event, data, to))
        else:
            emit(event, data, to=to)

    monkeypatch.setattr(events.socketio, "emit", sending)

    refresh_dashboards(centre)
    refresh_dashboards(centre)  # (the alert is raised: this one changes nothing)

    (alert,) = statistics.open_alerts(session, [centre.id])
    assert alert.kind == "queue_too_long" and alert.value == 2
    if watching == "nobody":
        assert read_days == [] and sent == []
    elif watching == "dashboard":
        assert read_days and [(e, to) for e, _, to in sent] == [("stats", room)] * 2
        stats = sent[-1][1]
        assert stats["totals"]["arrivals"] == 2 and stats["trend"] and stats["alerts"]
    else:
        assert [(e, to) for e, _, to in sent] == [("province_row", room)] * 2
        assert sent[-1][1]["waiting"] == 2


def test_acknowledge_an_alert(
    client: FlaskClient,
    keys: dict[str, str],
    session: Session,
    centre: Centre,
    actor_of: Callable[[str], Actor],
) -> None:
    boss = actor_of("manager")
    alert_changes.update_thresholds(session, centre, boss, {"queue_length": 1})
    operations.issue_token(session, centre, "bank", boss)
    operations.issue_token(session, centre, "bank", boss)
    session.commit()
    looked = client.get("/api/v1/centres/demo/dashboard", headers=bearer(keys["manager"])).get_json()
    assert looked["alerts"] == [], "looking raises nothing: the dashboard worker does"
    refresh_dashboards(centre)
    live = client.get("/api/v1/centres/demo/dashboard", headers=bearer(keys["manager"])).get_json()
    (alert,) = live["alerts"]
    assert alert["kind"] == "queue_too_long" and not alert["acknowledged"]
    url = f"/api/v1/alerts/{alert['id']}/acknowledge"
    assert client.post(url, headers=bearer(keys["clerk1"])).status_code == 403
    r = client.post(url, headers=bearer(keys["manager"]))
    assert r.status_code == 200 and r.get_json()["acknowledged"]
    assert client.post("/api/v1/alerts/999/acknowledge", headers=bearer(keys["manager"])).status_code == 404
    listed = client.get("/api/v1/centres/demo/alerts", headers=bearer(keys["manager"])).get_json()
    assert listed["open"][0]["acknowledged"] and listed["thresholds"]["queue_length"] == 1


def test_alert_conditions_are_a_pure_rule() -> None:
    now = utcnow()
    live = {
        "services": [
            {
                "id": 1,
                "code": "a",
                "name_en": "A",
                "name_ur": "ا",
                "target_wait_minutes": 10,
                "waiting": 3,
                "longest_wait_seconds": 601,
            },
            {
                "id": 2,
                "code": "b",
                "name_en": "B",
                "name_ur": "ب",
                "target_wait_minutes": 10,
                "waiting": 0,
                "longest_wait_seconds": 0,
            },
        ],
        "counters": [
            {
                "id": 5,
                "number": 5,
                "clerk": "x",
                "state": "open",
                "current": None,
                "services": [1],
                "idle_since": (now - timedelta(minutes=6)).isoformat(),
            },
            {
                "id": 6,
                "number": 6,
                "clerk": "y",
                "state": "open",
                "current": None,
                "services": [2],
                "idle_since": (now - timedelta(minutes=60)).isoformat(),
            },
            {
                "id": 7,
                "number": 7,
                "clerk": "z",
                "state": "paused",
                "current": None,
                "services": [1],
                "idle_since": None,
            },
        ],
        "devices": {
            "printers": [{"id": 9, "name": "K", "status": "paper_low", "level": "warning"}],
            "screens": [],
        },
    }
    found = {(c.kind, c.subject) for c in alerts.conditions(live, alerts.Thresholds(queue_length=2), now)}
    assert found == {
        ("wait_over_target", "service:1"),
        ("queue_too_long", "service:1"),
        ("counter_idle", "counter:5"),
    }
    relaxed = alerts.Thresholds(wait_target_percent=150, queue_length=0, idle_minutes=0)
    assert alerts.conditions(live, relaxed, now) == []


# The dashboard screen over the socket ----------------------------------------------------------


def test_dashboard_screen_joins_with_the_live_snapshot(
    app: Flask, client: FlaskClient, keys: dict[str, str]
) -> None:
    manager = socketio_client(app, keys["manager"], client=client)
    clerk = socketio_client(app, keys["clerk1"], client=client)
    try:
        reply = manager.emit("join", {"screen": "dashboard", "centre": "demo"}, callback=True)
        assert reply["ok"]
        snapshot = next(m for m in manager.get_received() if m["name"] == "snapshot")["args"][0]
        assert {"services", "counters", "devices", "alerts", "totals"} <= set(snapshot)
        refused = clerk.emit("join", {"screen": "dashboard", "centre": "demo"}, callback=True)
        assert not refused["ok"] and refused["error"] == "forbidden"
        assert not manager.emit("join", {"screen": "province"}, callback=True)["ok"], (
            "managers see one centre"
        )
    finally:
        manager.disconnect()
        clerk.disconnect()


@pytest.mark.parametrize("values", [[], [60], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], list(range(100, 0, -1))])
def test_percentile_is_nearest_rank(values: list[int]) -> None:
    ordered = sorted(values)
    p90 = statistics.percentile(ordered, 90)
    if not values:
        assert p90 is None
        return
    assert p90 in values
    assert sum(v <= p90 for v in values) >= 0.9 * len(values)
    assert sum(v < p90 for v in values) < 0.9 * len(values)


def test_wait_distribution_buckets() -> None:
    buckets = statistics.wait_distribution([0, 299, 300, 3599, 3600, 7200, 99999])
    counts = {(b["from_minutes"], b["to_minutes"]): b["count"] for b in buckets}
    assert counts[(0, 5)] == 2 and counts[(5, 10)] == 1 and counts[(45, 60)] == 1
    assert counts[(60, 90)] == 1 and counts[(120, None)] == 2
    assert sum(counts.values()) == 7


def test_a_display_on_the_socket_is_not_listed_offline(
    app: Flask, client: FlaskClient, keys: dict[str, str], session: Session, centre: Centre
) -> None:
    centre_id = centre.id

    def offline_screens() -> set[str]:
        # The socket handlers end the thread's session: load the centre afresh each time.
        live = statistics.live_centre(session, session.get_one(Centre, centre_id))
        session.rollback()
        return {s["kind"] for s in live["devices"]["screens"]}

    assert "display" in offline_screens(), "a display never seen is offline"
    display = socketio_client(app, keys["display"], client=client)
    try:
        assert display.emit("join", {"screen": "display", "centre": "demo"}, callback=True)["ok"]
        presence(app).run_once()  # the join noted it in memory; the presence worker writes it
        assert "display" not in offline_screens()
        seen = session.scalar(select(Device.last_seen_at).where(Device.kind == DeviceKind.DISPLAY))
        session.rollback()
        assert seen is not None
        # Two minutes of silence later it is offline again; its next re-join brings it back.
        with time_machine.travel(utcnow() + timedelta(minutes=3)):
            assert "display" in offline_screens()
            assert display.emit("join", {"screen": "display", "centre": "demo"}, callback=True)["ok"]
            presence(app).run_once()
            assert "display" not in offline_screens()
    finally:
        display.disconnect()


def test_a_dashboard_hub_stops_once_another_app_took_over_the_process(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One hub per process: an earlier app's hub (the tests make many apps) stops at its
    next wake instead of sweeping a database that may belong to someone else by now."""
    import threading

    from counters.manager import events

    current = events.Hub(app)
    monkeypatch.setattr(events, "_hub", current)
    worker = threading.Thread(target=current.run, daemon=True)
    worker.start()
    current.wake()
    worker.join(timeout=1.0)
    assert worker.is_alive(), "the process's own hub keeps running"

    monkeypatch.setattr(events, "_hub", events.Hub(app))  # another app took over
    current.wake()
    worker.join(timeout=10)
    assert not worker.is_alive()


def test_a_centre_nobody_watches_is_refreshed_at_most_every_few_seconds(
    app: Flask, centre: Centre, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Changes at an unwatched centre: the first is refreshed at once (its alerts), the
    next waits for ``UNWATCHED_SECONDS`` to pass (one refresh for them all); a centre
    whose dashboard someone watches is refreshed on every change."""
    from types import SimpleNamespace

    clock = [1000.0]
    monkeypatch.setattr(events, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    someone = [False]
    monkeypatch.setattr(events, "watched", lambda room: someone[0])
    hub = events.Hub(app)
    monkeypatch.setattr(events, "_hub", hub)
    refreshed: list[int] = []
    monkeypatch.setattr(hub, "refresh", refreshed.append)

    def change_then_round(after: float) -> None:
        hub.mark(centre.id)
        clock[0] += after
        hub.run_once()

    change_then_round(0.1)
    assert refreshed == [centre.id]
    change_then_round(1.0)
    change_then_round(1.0)
    assert refreshed == [centre.id], "held back: refreshed 2 s ago"
    assert hub.next_wait() == pytest.approx(events.UNWATCHED_SECONDS - 2.0)
    clock[0] += events.UNWATCHED_SECONDS
    hub.run_once()
    assert refreshed == [centre.id] * 2, "both changes in one refresh"
    someone[0] = True
    change_then_round(0.1)
    change_then_round(0.1)
    assert refreshed == [centre.id] * 4


def test_a_watched_centre_s_refreshes_take_at_most_their_share_of_the_hub(
    app: Flask, centre: Centre, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A watched centre whose refresh takes 50 ms is refreshed again no sooner than 450 ms
    after it ended (a tenth of the hub's time), however often it changes meanwhile; one
    whose refresh costs nothing is refreshed on every change."""
    from types import SimpleNamespace

    clock = [1000.0]
    monkeypatch.setattr(events, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    monkeypatch.setattr(events, "watched", lambda room: True)
    hub = events.Hub(app)
    monkeypatch.setattr(events, "_hub", hub)
    refreshed: list[float] = []

    def refresh(_centre_id: int) -> None:
        refreshed.append(clock[0])
        clock[0] += 0.05  # the figures take 50 ms

    monkeypatch.setattr(hub, "refresh", refresh)
    hub.mark(centre.id)
    hub.run_once()
    assert refreshed == [1000.0]
    for _ in range(3):  # changes every 100 ms
        clock[0] += 0.1
        hub.mark(centre.id)
        hub.run_once()
    assert refreshed == [1000.0], "resting: its budget is spent until 1000.5"
    assert hub.next_wait() == pytest.approx(1000.5 - clock[0])
    clock[0] = 1000.5
    hub.run_once()
    assert refreshed == [1000.0, 1000.5], "the three changes in one refresh"
    app.config["DASHBOARD_SHARE"] = 1.0  # all of the hub's time: every change
    hub = events.Hub(app)
    monkeypatch.setattr(events, "_hub", hub)
    monkeypatch.setattr(hub, "refresh", refresh)
    for _ in range(2):
        hub.mark(centre.id)
        hub.run_once()
    assert len(refreshed) == 4


def test_new_alert_thresholds_are_evaluated_at_once_even_unwatched(
    app: Flask, centre: Centre, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A manager who changes the thresholds expects the alerts they raise now, not in a
    few seconds: ``alerts_changed`` is refreshed in the next round whatever the time."""
    from types import SimpleNamespace

    from queue_server.publish import Message

    monkeypatch.setattr(events, "time", SimpleNamespace(monotonic=lambda: 1000.0))
    monkeypatch.setattr(events, "watched", lambda room: False)
    hub = events.Hub(app)
    monkeypatch.setattr(events, "_hub", hub)
    refreshed: list[int] = []
    monkeypatch.setattr(hub, "refresh", refreshed.append)
    for event in ("token_changed", "token_changed", "alerts_changed", "token_changed"):
        events.on_message(Message(event, ("r",), centre_id=centre.id))
        hub.run_once()
    assert refreshed == [centre.id, centre.id], "the first change, then the thresholds"
