"""The dashboard in headless Chromium against a real server: the live view follows the
floor without a reload; last Tuesday's waits for one service, per hour, in two clicks,
equal to a computation from the raw event log; CSV downloads equal the tables; a clerk is
refused. Screenshots in English and Urdu go to artifacts/."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from queue_server.app import create_app
from queue_server.clock import local_day
from queue_server.extensions import db
from queue_server.models import Centre
from tests.counters.manager.simulate import TZ, expected_from_events, simulate_day

ARTIFACTS = Path(__file__).resolve().parents[3] / "artifacts"
pytestmark = pytest.mark.browser


def login(page: Any, server: Any, username: str, target: str = "/manage") -> None:
    page.goto(server.url + target)
    if "/manage/login" not in page.url:  # another login page (the console's): use ours
        page.goto(f"{server.url}/manage/login?next={target}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", server.passwords[username])
    page.click("form button[type=submit]")
    page.wait_for_load_state()


def shoot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def cell(page: Any, service: str, column: str) -> Any:
    return page.locator(f'#services-table tr[data-service="{service}"] td[data-col="{column}"]')


def test_live_view_follows_issue_and_call_without_reload(live_server: Any, new_page: Any) -> None:
    s = live_server
    page = new_page(viewport=(1366, 900))
    login(page, s, "manager")
    assert page.url.endswith("/manage")
    page.wait_for_function("document.documentElement.dataset.link === 'up'")
    page.evaluate("window.__noReload = 'still here'")
    assert cell(page, "character", "waiting").inner_text() == "0"

    issued = s.api("POST", "/api/v1/centres/demo/tokens", s.keys["kiosk"], json={"service": "character"})
    assert issued.status_code == 201, issued.text
    page.wait_for_function(
        "document.querySelector('#services-table tr[data-service=character] td[data-col=waiting]').innerText === '1'"
    )
    assert page.locator("#kpi-waiting").inner_text() == "1"

    counters = s.api("GET", "/api/v1/centres/demo/counters", s.keys["clerk1"]).json()["counters"]
    first = next(c for c in counters if c["number"] == 1)
    assert s.api("POST", f"/api/v1/counters/{first['id']}/open", s.keys["clerk1"]).status_code == 200
    page.wait_for_function(
        "document.querySelector('[data-counter=\"1\"] [data-field=state]').innerText !== ''"
    )
    assert s.api("POST", f"/api/v1/counters/{first['id']}/call-next", s.keys["clerk1"]).status_code == 200
    page.wait_for_function(
        "(document.querySelector('[data-counter=\"1\"] [data-field=current]') || {}).innerText?.includes('A001')"
    )
    assert cell(page, "character", "waiting").inner_text() == "0"
    assert "Clerk 1" in page.locator('[data-counter="1"] [data-field=clerk]').inner_text()
    assert page.evaluate("window.__noReload") == "still here", "updated live, not reloaded"


def test_a_busy_floor_with_alerts_in_both_languages(live_server: Any, new_page: Any, tmp_path: Path) -> None:
    s = live_server
    for code, n in (("character", 6), ("bank", 4), ("vehicle", 2), ("tenant", 1)):
        for _ in range(n):
            assert (
                s.api(
                    "POST", "/api/v1/centres/demo/tokens", s.keys["kiosk"], json={"service": code}
                ).status_code
                == 201
            )
    counters = {
        c["number"]: c["id"]
        for c in s.api("GET", "/api/v1/centres/demo/counters", s.keys["clerk1"]).json()["counters"]
    }
    for clerk, number in (("clerk1", 1), ("clerk8", 8), ("clerk3", 3)):
        assert s.api("POST", f"/api/v1/counters/{counters[number]}/open", s.keys[clerk]).status_code == 200
    called = s.api("POST", f"/api/v1/counters/{counters[1]}/call-next", s.keys["clerk1"]).json()
    s.api("POST", f"/api/v1/tokens/{called['id']}/start", s.keys["clerk1"], json={})
    s.api("POST", f"/api/v1/counters/{counters[8]}/call-next", s.keys["clerk8"])
    r = s.api("PUT", "/api/v1/centres/demo/alert-thresholds", s.keys["manager"], json={"queue_length": 3})
    assert r.status_code == 200
    app = create_app(
        {"DATABASE_URL": s.database_url, "SECRET_KEY": "seed", "INSTANCE_PATH": tmp_path, "TESTING": True}
    )
    with app.app_context():
        from queue_server.actors import SYSTEM
        from queue_server.models import Device, DeviceKind
        from queue_server.operations.printing import record_printer_status

        kiosk = db.session.query(Device).filter_by(kind=DeviceKind.KIOSK).one()
        record_printer_status(db.session(), kiosk, "paper_out", SYSTEM)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()

    for lang in ("en", "ur"):
        page = new_page(viewport=(1366, 900))
        login(page, s, "manager", f"/manage?lang={lang}")
        page.wait_for_function("document.documentElement.dataset.link === 'up'")
        # The printer's fault was written by another process: the dashboard worker raises its
        # alert when the dashboard joins, and the page shows it from that push.
        page.wait_for_function(
            "['queue_too_long', 'printer_fault'].every(k => document.querySelector(`#alert-list li[data-kind=${k}]`))",
            timeout=10_000,
        )
        assert page.locator("#device-list li.error").count() == 1
        assert page.locator('[data-counter="1"] [data-field=current] .token').inner_text().startswith("A")
        if lang == "ur":
            assert page.locator("html").get_attribute("dir") == "rtl"
            assert "کریکٹر سرٹیفکیٹ" in page.locator("#services-table").inner_text()
            assert "کاغذ ختم" in page.locator("#alert-list").inner_text()
        page.evaluate("document.fonts.ready")
        shoot(page, f"manager-live-{lang}.png")


def last_tuesday(today: date) -> date:
    back = (today.weekday() - 1) % 7 or 7
    return today - timedelta(days=back)


def minutes(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds / 60:.1f}"


def share(value: float | None) -> str:
    return "–" if value is None else f"{round(value * 100)}%"


def table_rows(page: Any, name: str) -> list[list[str]]:
    return page.evaluate(
        """(name) => Array.from(document.querySelectorAll(`section[data-table=${name}] tr`))
              .map(tr => Array.from(tr.children).map(c => c.innerText.trim()))""",
        name,
    )


def test_last_tuesday_per_hour_in_two_clicks_matches_the_event_log(
    live_server: Any, new_page: Any, tmp_path: Path
) -> None:
    s = live_server
    app = create_app(
        {"DATABASE_URL": s.database_url, "SECRET_KEY": "seed", "INSTANCE_PATH": tmp_path, "TESTING": True}
    )
    with app.app_context():
        centre = db.session.query(Centre).filter_by(code="demo").one()
        tuesday = last_tuesday(local_day(TZ))
        issued = simulate_day(db.session(), centre, tuesday)
        expected = expected_from_events(db.session(), centre, tuesday)
        db.session.remove()
        db.engine.dispose()
    assert issued == expected["total"]["all"]["arrivals"]

    page = new_page(viewport=(1400, 1000))
    login(page, s, "manager")
    # The table is drawn again when the socket's snapshot comes (its version 2): a click
    # on a link that redraw replaced goes nowhere (seen under a loaded machine's full run).
    page.wait_for_function("Number(document.body.dataset.version) >= 2")
    page.click('#services-table tr[data-service="character"] th a')  # click 1: the service
    page.wait_for_selector("#report-title")
    page.click(f'a.chip.day[data-from="{tuesday.isoformat()}"]')  # click 2: last Tuesday
    page.wait_for_selector("section[data-table=hour]")
    assert "Character certificate" in page.locator("#report-title").inner_text()
    assert tuesday.isoformat() in page.locator("#report-title").inner_text()

    rows = table_rows(page, "hour")
    head, body, total = rows[0], rows[1:-1], rows[-1]
    col = {name: i for i, name in enumerate(head)}
    # only character tokens: recompute per hour from the event log for that service
    with app.app_context():
        centre = db.session.query(Centre).filter_by(code="demo").one()
        per_hour = _per_hour_for(db.session(), centre, tuesday, "character")
        db.session.remove()
        db.engine.dispose()
    assert per_hour  # the day has hours
    shown = {r[0]: r for r in body}
    assert set(shown) == {f"{h:02d}:00–{h + 1:02d}:00" for h in per_hour}
    for hour, figures in per_hour.items():
        row = shown[f"{hour:02d}:00–{hour + 1:02d}:00"]
        assert row[col["Arrivals"]] == str(figures["arrivals"]), hour
        assert row[col["Served"]] == str(figures["served"]), hour
        assert row[col["Average wait (min)"]] == minutes(figures["avg_wait_seconds"]), hour
        assert row[col["90th percentile wait (min)"]] == minutes(figures["p90_wait_seconds"]), hour
        assert row[col["Called within target"]] == share(figures["within_target_share"]), hour
        assert row[col["Average service time (min)"]] == minutes(figures["avg_service_seconds"]), hour
    character = expected["service"]["character"]
    assert total[col["Arrivals"]] == str(character["arrivals"])
    assert total[col["Average wait (min)"]] == minutes(character["avg_wait_seconds"])
    assert page.locator('[data-total="p90_wait"]').inner_text() == minutes(character["p90_wait_seconds"])
    page.wait_for_function("document.body.dataset.charts === 'ready'")
    shoot(page, "manager-report-en.png")

    # every table's CSV download is the table on the page
    for name in ("service", "hour", "counter", "clerk", "waits"):
        with page.expect_download() as download:
            page.click(f'a[data-csv="{name}"]')
        data = Path(download.value.path()).read_bytes()
        assert data.startswith(b"\xef\xbb\xbf")
        exported = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
        on_page = [[("" if c == "–" else c) for c in row] for row in table_rows(page, name)]
        assert exported == on_page, name

    # the whole day, all services, in Urdu; and its printable daily report
    page.goto(f"{s.url}/manage/reports?from={tuesday}&to={tuesday}&lang=ur")
    page.wait_for_function("document.body.dataset.charts === 'ready'")
    assert page.locator('[data-total="arrivals"]').inner_text() == str(issued)
    page.evaluate("document.fonts.ready")
    shoot(page, "manager-report-ur.png")
    page.goto(f"{s.url}/manage/reports/daily?day={tuesday}&lang=en")
    page.wait_for_function("document.body.dataset.charts === 'ready'")
    page.emulate_media(media="print")
    shoot(page, "manager-daily-print-en.png")
    pdf = page.pdf(format="A4", landscape=True)
    assert pdf.startswith(b"%PDF")
    (ARTIFACTS / "manager-daily-en.pdf").write_bytes(pdf)


def _per_hour_for(session: Any, centre: Centre, day: date, code: str) -> dict[int, dict[str, Any]]:
    """The figures per hour of one service, from the raw events (simulate.expected_from_events
    restricted to the tokens issued for that service)."""
    from sqlalchemy import select

    from queue_server.models import Event, Service

    service = session.scalars(
        select(Service).where(Service.centre_id == centre.id, Service.code == code)
    ).one()
    mine = set(
        session.scalars(
            select(Event.token_id).where(Event.kind == "token_issued", Event.service_id == service.id)
        )
    )
    full = expected_from_events(session, centre, day, only=mine)
    return full["hour"]


def test_a_clerk_cannot_open_the_dashboard(live_server: Any, new_page: Any) -> None:
    page = new_page()
    login(page, live_server, "clerk1")
    assert page.url.endswith("/manage")
    assert page.locator("#refused").is_visible()
    assert "for centre managers" in page.locator("#refused").inner_text()
    assert page.locator("#live-data").count() == 0
    response = page.goto(live_server.url + "/manage/reports")
    assert response is not None and response.status == 403


def test_province_view_sorts_and_drills_down(live_server: Any, new_page: Any) -> None:
    s = live_server
    s.api("POST", "/api/v1/centres/demo/tokens", s.keys["kiosk"], json={"service": "bank"})
    page = new_page(viewport=(1366, 700))
    login(page, s, "admin", "/manage/province")
    assert page.url.endswith("/manage/province")
    page.wait_for_selector('#province-table tr[data-centre="demo"]')
    assert page.locator('#province-table tr[data-centre="demo"] td[data-col=waiting]').inner_text() == "1"
    page.click('#province-table th[data-key="waiting"] button')
    assert page.locator('#province-table th[data-key="waiting"]').get_attribute("aria-sort") == "descending"
    page.click('#province-table th[data-key="waiting"] button')
    assert page.locator('#province-table th[data-key="waiting"]').get_attribute("aria-sort") == "ascending"
    shoot(page, "manager-province-en.png")
    page.click('#province-table tr[data-centre="demo"] th a')
    page.wait_for_selector("#services-table")
    assert "centre=demo" in page.url
