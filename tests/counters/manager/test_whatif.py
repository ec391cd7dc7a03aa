"""The what-if page: today's plan against an edited one, on the demo centre's recorded
Tuesday; bad input refused in the user's language; managers only; and the page with its
charts in headless Chromium, in English and Urdu."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from queue_server.app import create_app
from queue_server.extensions import db
from queue_server.models import Centre
from tests.conftest import fresh_database_url
from tests.counters.manager.simulate import TUESDAY
from tests.counters.manager.test_reports import login

NEXT_TUESDAY = (TUESDAY + timedelta(days=7)).isoformat()


def csrf(client: FlaskClient, path: str) -> str:
    return client.get(path).text.split('name="csrf_token" value="')[1].split('"')[0]


def plan_form(token: str, rows: list[tuple[str, str, str]], **extra: str) -> dict[str, str]:
    data = {"csrf_token": token, "date": NEXT_TUESDAY, "fairness_k": "3", "demand_scale": "1"}
    for i, (number, shifts, services) in enumerate(rows):
        data.update({f"number_{i}": number, f"shifts_{i}": shifts, f"services_{i}": services})
    data.update(extra)
    return data


def test_today_against_an_edited_plan(client: FlaskClient, tuesday: Any, passwords: dict[str, str]) -> None:
    login(client, "manager", passwords["manager"])
    page = client.get(f"/manage/whatif?date={NEXT_TUESDAY}")
    assert page.status_code == 200
    assert 'name="shifts_7"' in page.text and "08:00-16:00" in page.text  # all 8 configured counters
    token = csrf(client, f"/manage/whatif?date={NEXT_TUESDAY}")
    rows = [("1", "08:00-16:00", ""), ("3", "08:00-16:00", ""), ("9", "08:00-16:00", "character:2, bank:3")]
    result = client.post("/manage/whatif", data=plan_form(token, rows))
    assert result.status_code == 200, result.text
    assert 'id="whatif-summary"' in result.text and 'id="whatif-data"' in result.text
    assert 'data-service="character"' in result.text and "chart-timeline" in result.text


def test_bad_plans_are_refused_in_the_users_language(
    client: FlaskClient, tuesday: Any, passwords: dict[str, str]
) -> None:
    login(client, "manager", passwords["manager"])
    token = csrf(client, "/manage/whatif")
    cases = [
        ([("1", "16:00-08:00", "")], "must end after it starts"),
        ([("1", "8am", "")], "HH:MM-HH:MM"),
        ([("x", "08:00-16:00", "")], "whole number"),
        ([("12", "08:00-16:00", "")], "not configured"),
        ([("1", "08:00-16:00", "nope:2")], "no service"),
        ([("1", "08:00-16:00", "bank")], "code:weight"),
        ([("1", "08:00-16:00", "bank:12")], "1-9"),
        ([], "non-empty list"),
    ]
    for rows, message in cases:
        r = client.post("/manage/whatif", data=plan_form(token, rows))
        assert r.status_code == 400 and message in r.text, (rows, r.text[-2000:])
    r = client.post("/manage/whatif", data=plan_form(token, [("1", "08:00-16:00", "")], demand_scale="many"))
    assert r.status_code == 400 and "must be a number" in r.text
    urdu = client.post("/manage/whatif?lang=ur", data=plan_form(token, [("1", "16:00-08:00", "")]))
    assert urdu.status_code == 400 and 'lang="ur"' in urdu.text and "must end after" not in urdu.text
    assert "شروع ہونے کے بعد ختم ہونی چاہیے" in urdu.text
    no_history = client.post(
        "/manage/whatif?lang=en", data=plan_form(token, [("1", "08:00-16:00", "")], date=TUESDAY.isoformat())
    )
    assert no_history.status_code == 400 and "no recorded days" in no_history.text


def test_managers_only(client: FlaskClient, demo: Any, passwords: dict[str, str]) -> None:
    anonymous = client.get("/manage/whatif")
    assert anonymous.status_code == 302 and "login" in anonymous.headers["Location"]
    login_clerk = client.get("/manage/login").text.split('name="csrf_token" value="')[1].split('"')[0]
    client.post(
        "/manage/login",
        data={
            "username": "clerk1",
            "password": passwords["clerk1"],
            "csrf_token": login_clerk,
            "next": "/manage",
        },
    )
    assert client.get("/manage/whatif").status_code == 403


@pytest.mark.browser
@pytest.mark.slow
def test_whatif_page_in_the_browser(database_template: str, tmp_path: Path, new_page: Any) -> None:
    from queue_server.clock import local_day
    from queue_server.simulation.centre import seed_history
    from tests.counters.manager.test_browser import login as browser_login
    from tests.counters.manager.test_browser import shoot
    from tests.support.live import LiveServer, seed

    url = fresh_database_url(database_template, tmp_path)
    instance = tmp_path / "live-instance"
    instance.mkdir()
    secrets_ = seed(url, instance)
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "live", "INSTANCE_PATH": instance, "TESTING": True})
    with app.app_context():
        centre = db.session.query(Centre).filter_by(code="demo").one()
        played = seed_history(db.session(), centre, 2, local_day(centre.tz), scale_by=0.05)
        assert played
        db.session.remove()
        db.engine.dispose()
    server = LiveServer(url, instance)
    server.keys, server.passwords = secrets_["keys"], secrets_["passwords"]
    server.start()
    try:
        page = new_page(viewport=(1366, 1000))
        browser_login(page, server, "manager", "/manage/whatif")
        assert "/manage/whatif" in page.url
        page.fill("input[name=shifts_1]", "")  # close counter 2 for the day
        page.fill("input[name=number_1]", "")
        page.fill("input[name=services_1]", "")
        page.fill("input[name=demand_scale]", "1.5")
        page.click("#whatif-run")
        page.wait_for_function("document.body && document.body.dataset.whatifCharts === 'ready'")
        assert page.locator("#whatif-summary td[data-side=today][data-figure=avg]").inner_text()
        assert page.evaluate("document.getElementById('chart-services').chart.data.datasets.length") == 2
        assert page.evaluate("document.getElementById('chart-timeline').chart.data.labels.length") > 10
        edited = page.evaluate("JSON.parse(document.getElementById('whatif-data').textContent).edited")
        assert 2 not in [c["number"] for c in edited["counters"]]
        shoot(page, "whatif-en.png")
        page.click(".mgr-lang")
        page.wait_for_load_state()
        assert page.locator("html").get_attribute("dir") == "rtl"
        page.click("#whatif-run")
        page.wait_for_function("document.body && document.body.dataset.whatifCharts === 'ready'")
        shoot(page, "whatif-ur.png")
    finally:
        server.stop()
