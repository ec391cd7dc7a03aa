"""Reports: figures of a simulated day against an independent computation from the raw
event log; stored daily aggregates are reused while true and rebuilt when not; the JSON
endpoint, its refusals, the CSV export and the printable daily report."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

import pytest
import time_machine
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from queue_server.models import Centre, DailyStat, DailyStatDay, Event, Service, Token, TokenState
from queue_server.operations import settlement
from queue_server.read import statistics
from tests.conftest import bearer
from tests.counters.manager.simulate import TUESDAY, expected_from_events, local, simulate_day

DAY = TUESDAY
LATER = local(date(2025, 3, 14), 10, 0)
FIGURES = (
    "arrivals",
    "served",
    "no_shows",
    "called",
    "avg_wait_seconds",
    "p90_wait_seconds",
    "within_target_share",
    "avg_service_seconds",
    "eta_mae_seconds",
)


def pick(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in FIGURES}


def test_simulated_day_is_varied(session: Session, centre: Centre, tuesday: int) -> None:
    states = dict(
        session.execute(
            select(Token.state, func.count()).where(Token.business_day == DAY).group_by(Token.state)
        ).all()
    )
    assert tuesday > 50
    assert states[TokenState.DONE] > 30
    assert states.get(TokenState.NO_SHOW, 0) >= 1
    assert states.get(TokenState.CLOSED, 0) >= 1, "some were still waiting at the end of the day"
    assert states.get(TokenState.CANCELLED, 0) == 1
    kinds = set(session.scalars(select(Event.kind).where(Event.centre_id == centre.id)))
    assert {"token_transferred", "token_requeued", "counter_paused", "day_closed"} <= kinds


def test_report_matches_the_event_log(session: Session, centre: Centre, tuesday: int) -> None:
    expected = expected_from_events(session, centre, DAY)
    with time_machine.travel(LATER, tick=False):
        report = statistics.report(session, centre, DAY, DAY)
    assert pick(report["totals"]) == expected["total"]["all"]
    by_service = {r["code"]: pick(r) for r in report["by_service"]}
    assert by_service == expected["service"]
    by_hour = {r["hour"]: pick(r) for r in report["by_hour"]}
    assert by_hour == expected["hour"]
    by_counter = {r["number"]: pick(r) for r in report["by_counter"]}
    assert by_counter == expected["counter"]
    names = {"Clerk 1": "clerk1", "Clerk 3": "clerk3", "Clerk 4": "clerk4", "Clerk 8": "clerk8", "": None}
    by_clerk = {names[r["name"]]: pick(r) for r in report["by_clerk"]}
    assert by_clerk == expected["clerk"]
    assert sum(b["count"] for b in report["wait_distribution"]) == expected["total"]["all"]["called"]


def test_aggregates_are_stored_at_end_of_day_and_reused(
    session: Session, centre: Centre, tuesday: int
) -> None:
    marker = session.get(DailyStatDay, (centre.id, DAY))
    assert marker is not None, "end of day stored the day's aggregates"
    rows = session.scalar(select(func.count()).select_from(DailyStat).where(DailyStat.day == DAY))
    assert rows and rows < tuesday
    with time_machine.travel(LATER, tick=False):
        stored = statistics.report(session, centre, DAY, DAY)
        assert stored["sources"] == {"days": 1, "stored": 1, "computed": 0}
        session.query(DailyStat).filter_by(day=DAY).delete()
        session.query(DailyStatDay).filter_by(day=DAY).delete()
        fresh = statistics.report(session, centre, DAY, DAY)
    assert fresh["sources"] == {"days": 1, "stored": 0, "computed": 1}
    for name in ("totals", "by_service", "by_hour", "by_counter", "by_clerk", "wait_distribution"):
        assert stored[name] == fresh[name], name
    assert session.get(DailyStatDay, (centre.id, DAY)) is None, "a report reads only"
    assert settlement.settle_days(session, centre, [DAY]) == [DAY]
    assert session.get(DailyStatDay, (centre.id, DAY)) is not None, "settling stores it again"
    with time_machine.travel(LATER, tick=False):
        again = statistics.report(session, centre, DAY, DAY)
    assert again["sources"] == {"days": 1, "stored": 1, "computed": 0}
    assert again["totals"] == fresh["totals"]


def test_a_changed_day_is_rebuilt_not_trusted(session: Session, centre: Centre, tuesday: int) -> None:
    with time_machine.travel(LATER, tick=False):
        before = statistics.report(session, centre, DAY, DAY)
        token = session.scalars(
            select(Token).where(Token.business_day == DAY, Token.state == TokenState.DONE)
        ).first()
        assert token is not None
        token.state = TokenState.NO_SHOW  # (as a repair script might)
        session.flush()
        after = statistics.report(session, centre, DAY, DAY)
    assert after["sources"]["computed"] == 1
    assert after["totals"]["served"] == before["totals"]["served"] - 1
    assert after["totals"]["no_shows"] == before["totals"]["no_shows"] + 1


def test_today_is_live_and_not_stored_while_open(session: Session, centre: Centre) -> None:
    today = date(2025, 3, 12)
    simulate_day(session, centre, today, close=False, last_arrival=(9, 40))
    with time_machine.travel(local(today, 10, 40), tick=False):
        report = statistics.report(session, centre, today, today)
        assert report["sources"] == {"days": 1, "stored": 0, "computed": 1}
        assert session.get(DailyStatDay, (centre.id, today)) is None
        expected = expected_from_events(session, centre, today)
        assert pick(report["totals"]) == expected["total"]["all"]


def test_one_service_per_hour(session: Session, centre: Centre, tuesday: int) -> None:
    """'How long did people wait for character certificates last Tuesday, per hour?'"""
    expected = expected_from_events(session, centre, DAY)
    service = session.scalars(select(Service).where(Service.code == "character")).one()
    with time_machine.travel(LATER, tick=False):
        report = statistics.report(session, centre, DAY, DAY, service_id=service.id)
    assert report["service"]["code"] == "character"
    assert [r["code"] for r in report["by_service"]] == ["character"]
    assert pick(report["totals"]) == expected["service"]["character"]
    assert sum(r["arrivals"] for r in report["by_hour"]) == expected["service"]["character"]["arrivals"]


# The JSON endpoint -----------------------------------------------------------------------


def test_report_endpoint(client: FlaskClient, keys: dict[str, str], tuesday: int) -> None:
    with time_machine.travel(LATER, tick=False):
        r = client.get(
            "/api/v1/centres/demo/report?from=2025-03-11&to=2025-03-11", headers=bearer(keys["manager"])
        )
        assert r.status_code == 200, r.text
        body = r.get_json()
        assert body["totals"]["arrivals"] == tuesday
        assert body["from"] == body["to"] == "2025-03-11"
        r = client.get(
            "/api/v1/centres/demo/report?from=2025-03-01&to=2025-03-31&service=character",
            headers=bearer(keys["admin"]),
        )
        assert r.status_code == 200 and r.get_json()["service"]["code"] == "character"


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("from=2025-13-01", 400),
        ("from=yesterday", 400),
        ("from=2025-03-11&to=2025-03-01", 400),
        ("from=2020-01-01&to=2025-01-01", 400),
        ("from=2025-03-11&service=nope", 404),
    ],
)
def test_report_endpoint_refuses_bad_input(
    client: FlaskClient, keys: dict[str, str], query: str, status: int
) -> None:
    r = client.get(f"/api/v1/centres/demo/report?{query}", headers=bearer(keys["manager"]))
    assert r.status_code == status
    assert r.get_json()["message"]


def test_report_endpoint_is_for_managers(client: FlaskClient, keys: dict[str, str]) -> None:
    assert client.get("/api/v1/centres/demo/report").status_code == 401
    assert client.get("/api/v1/centres/demo/report", headers=bearer(keys["clerk1"])).status_code == 403
    assert client.get("/api/v1/centres/demo/report", headers=bearer(keys["display"])).status_code == 403
    assert client.get("/api/v1/centres/demo/dashboard", headers=bearer(keys["clerk1"])).status_code == 403


def test_report_endpoint_is_in_the_openapi_document(client: FlaskClient) -> None:
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert "/api/v1/centres/{code}/report" in paths
    assert "/api/v1/centres/{code}/dashboard" in paths
    assert "/api/v1/province" in paths
    assert "put" in paths["/api/v1/centres/{code}/alert-thresholds"]


# Pages: CSV and the printable daily report ------------------------------------------------


def login(client: FlaskClient, username: str, password: str) -> None:
    page = client.get("/manage/login")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    r = client.post(
        "/manage/login",
        data={"username": username, "password": password, "csrf_token": token, "next": "/manage"},
    )
    assert r.status_code == 302, r.text


def table_cells(html: str, name: str) -> list[list[str]]:
    """The cells of one report table, read back from the page."""
    from html.parser import HTMLParser

    class Cells(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.inside = False
            self.rows: list[list[str]] = []
            self.cell: list[str] | None = None

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag == "section" and ("data-table", name) in attrs:
                self.inside = True
            elif tag == "section":
                self.inside = False
            if not self.inside:
                return
            if tag == "tr":
                self.rows.append([])
            if tag in ("td", "th"):
                self.cell = []

        def handle_endtag(self, tag: str) -> None:
            if self.inside and tag in ("td", "th") and self.cell is not None:
                self.rows[-1].append("".join(self.cell).strip())
                self.cell = None

        def handle_data(self, data: str) -> None:
            if self.cell is not None:
                self.cell.append(data)

    parser = Cells()
    parser.feed(html)
    return parser.rows


@pytest.mark.parametrize("lang", ["en", "ur"])
def test_csv_export_is_the_table(
    client: FlaskClient, passwords: dict[str, str], session: Session, centre: Centre, tuesday: int, lang: str
) -> None:
    service = session.scalars(select(Service).where(Service.code == "character")).one()
    service.name_en = 'Character certificate, "urgent"'
    session.commit()
    with time_machine.travel(LATER, tick=False):  # (a session signed in the future is refused)
        login(client, "manager", passwords["manager"])
        page = client.get(f"/manage/reports?from=2025-03-11&to=2025-03-11&lang={lang}")
        assert page.status_code == 200
        for name in ("service", "hour", "counter", "clerk", "waits"):
            shown = [[("" if c == "–" else c) for c in row] for row in table_cells(page.text, name)]
            assert len(shown) > 2, name
            r = client.get(
                f"/manage/reports/export.csv?from=2025-03-11&to=2025-03-11&table={name}&lang={lang}"
            )
            assert r.status_code == 200 and r.mimetype == "text/csv"
            assert r.data.startswith(b"\xef\xbb\xbf"), "a byte-order mark, for Excel"
            assert "attachment" in r.headers["Content-Disposition"]
            rows = list(csv.reader(io.StringIO(r.data.decode("utf-8-sig"))))
            assert rows == shown, name
        text = client.get(
            "/manage/reports/export.csv?from=2025-03-11&to=2025-03-11&table=service&lang=en"
        ).data.decode("utf-8-sig")
        urdu = client.get(
            "/manage/reports/export.csv?from=2025-03-11&to=2025-03-11&table=service&lang=ur"
        ).data.decode("utf-8-sig")
    assert '"Character certificate, ""urgent"""' in text
    assert "ملازم کی رجسٹریشن" in urdu


def test_csv_refuses_an_unknown_table(client: FlaskClient, passwords: dict[str, str]) -> None:
    login(client, "manager", passwords["manager"])
    r = client.get("/manage/reports/export.csv?table=secrets")
    assert r.status_code == 400
    r = client.get("/manage/reports?from=2025-02-30")
    assert r.status_code == 400 and "date" in r.text


def test_daily_report_is_printable(client: FlaskClient, passwords: dict[str, str], tuesday: int) -> None:
    with time_machine.travel(LATER, tick=False):
        login(client, "manager", passwords["manager"])
        page = client.get("/manage/reports/daily?day=2025-03-11&lang=ur")
    assert page.status_code == 200
    assert 'lang="ur" dir="rtl"' in page.text
    assert 'id="print-button"' in page.text and "manager/print.js" in page.text
    assert 'data-table="service"' in page.text and 'data-table="hour"' in page.text
    with client.get("/manage/static/manager/manager.css") as response:
        css = response.text
    assert "@media print" in css and "@page" in css


def test_csv_quotes_what_a_spreadsheet_would_run(
    client: FlaskClient, passwords: dict[str, str], session: Session, tuesday: int
) -> None:
    service = session.scalars(select(Service).where(Service.code == "character")).one()
    service.name_en = '=HYPERLINK("http://example.invalid")'
    session.commit()
    with time_machine.travel(LATER, tick=False):
        login(client, "manager", passwords["manager"])
        r = client.get("/manage/reports/export.csv?from=2025-03-11&to=2025-03-11&table=service")
    rows = list(csv.reader(io.StringIO(r.data.decode("utf-8-sig"))))
    assert rows[1][0] == '\'=HYPERLINK("http://example.invalid")'
    assert 'filename="khidmat-demo-service-2025-03-11-2025-03-11.csv"' in r.headers["Content-Disposition"]


def test_requests_and_feedback_figures(session: Session, centre: Centre, tuesday: int) -> None:
    from queue_server.models import Feedback, ServiceRequest

    done = session.scalars(
        select(Token).where(Token.business_day == DAY, Token.state == TokenState.DONE).order_by(Token.id)
    ).all()
    for i, token in enumerate(done[:10]):
        session.add(
            Feedback(
                token_id=token.id,
                centre_id=centre.id,
                service_id=token.service_id,
                counter_id=token.counter_id,
                rating=1 + i % 5,
                created_at=local(DAY, 17, 0),
            )
        )
    late = session.scalars(select(ServiceRequest).order_by(ServiceRequest.id)).first()
    assert late is not None
    late.is_late = True
    session.commit()
    requests = session.scalars(
        select(ServiceRequest)
        .join(Token, Token.id == ServiceRequest.token_id)
        .where(Token.business_day == DAY)
    ).all()
    with time_machine.travel(LATER, tick=False):
        report = statistics.report(session, centre, DAY, DAY)
    totals = report["totals"]
    assert totals["requests"] == len(requests) > 0
    assert totals["requests_late"] == sum(
        1 for r in requests if r.is_late or (r.due_at and (r.closed_at or LATER) > r.due_at)
    )
    assert totals["requests_in_time"] == sum(
        1 for r in requests if r.closed_at and not r.is_late and not (r.due_at and r.closed_at > r.due_at)
    )
    assert totals["feedback_count"] == 10 and totals["feedback_average"] == 3.0
    assert report["feedback"]["distribution"] == {"1": 2, "2": 2, "3": 2, "4": 2, "5": 2}
    assert sum(r["feedback_count"] for r in report["by_service"]) == 10
    assert sum(r["feedback_count"] for r in report["by_clerk"]) == 10
    assert sum(r["requests"] for r in report["by_hour"]) == len(requests)
