"""Out-of-order service made visible: every step that was not the dispatch rule's choice
(a token called by hand, a transfer to a counter, a recall past the limit, a priority mark
by staff) is listed per clerk, with the reason given, in the report and the daily report."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from queue_server import operations as ops
from queue_server.actors import SYSTEM, Actor
from queue_server.clock import local_day
from queue_server.errors import Conflict
from queue_server.models import Centre, Counter
from queue_server.read import statistics
from queue_server.states import Priority
from tests.conftest import bearer
from tests.counters.manager.test_reports import login


@pytest.fixture
def shuffled_day(
    session: Session, centre: Centre, actor_of: Callable[[str], Actor], counter_no: Callable[[int], Counter]
) -> dict[str, str]:
    clerk1, clerk2 = actor_of("clerk1"), actor_of("clerk2")
    ops.open_counter(session, counter_no(1).id, clerk1)
    ops.open_counter(session, counter_no(2).id, clerk2)
    first = ops.issue_token(session, centre, "character", SYSTEM).token
    second = ops.issue_token(session, centre, "character", SYSTEM).token
    marked = ops.issue_token(
        session, centre, "character", clerk2, priority=Priority.SENIOR, reason="walks with a stick"
    ).token
    ops.issue_token(
        session, centre, "character", SYSTEM, priority=Priority.SENIOR
    )  # the kiosk: the citizen's own choice
    session.commit()
    jumped = ops.call_specific(session, counter_no(1).id, second.id, clerk1, "brother of the SHO")
    session.commit()
    ops.start(session, jumped.id, clerk1)
    ops.transfer(session, jumped.id, clerk1, counter_id=counter_no(2).id, reason="needs the bank counter")
    session.commit()
    called = ops.call_next(session, counter_no(1).id, clerk1)  # the rule's choice: not listed
    assert called is not None
    limit = centre.max_recalls
    for _ in range(limit):
        ops.recall(session, called.id, clerk1)
    with pytest.raises(Conflict, match="give a reason"):
        ops.recall(session, called.id, clerk1)
    ops.recall(session, called.id, clerk1, reason="citizen was at the photocopier")
    session.commit()
    return {
        "first": first.number,
        "second": second.number,
        "marked": marked.number,
        "recalled": called.number,
    }


def test_out_of_order_steps_are_listed_per_clerk_with_reasons(
    session: Session, centre: Centre, shuffled_day: dict[str, str]
) -> None:
    today = local_day(centre.tz)
    rows = statistics.report(session, centre, today, today)["out_of_order"]
    assert len(rows) == 2 and all(row["name"] for row in rows)
    clerk1 = next(r for r in rows if r["count"] == 3)
    clerk2 = next(r for r in rows if r["count"] == 1)
    assert [(i["kind"], i["number"], i["reason"]) for i in clerk1["items"]] == [
        ("call_specific", shuffled_day["second"], "brother of the SHO"),
        ("transfer_to_counter", shuffled_day["second"], "needs the bank counter"),
        ("recall_beyond_limit", shuffled_day["recalled"], "citizen was at the photocopier"),
    ]
    assert clerk1["items"][1]["counter"] == 1 and clerk1["items"][1]["to_counter"] == 2
    assert [(i["kind"], i["number"], i["reason"]) for i in clerk2["items"]] == [
        ("priority_mark", shuffled_day["marked"], "walks with a stick")
    ]


def test_the_reports_show_them(
    client: FlaskClient, passwords: dict[str, str], centre: Centre, shuffled_day: dict[str, str]
) -> None:
    login(client, "manager", passwords["manager"])
    today = local_day(centre.tz).isoformat()
    for url in (
        f"/manage/reports?from={today}&to={today}&lang=en",
        f"/manage/reports/daily?day={today}&lang=en",
    ):
        page = client.get(url)
        assert page.status_code == 200
        assert "Out of order, per clerk" in page.text
        for reason in (
            "brother of the SHO",
            "needs the bank counter",
            "citizen was at the photocopier",
            "walks with a stick",
        ):
            assert reason in page.text, (url, reason)
        assert page.text.count('data-kind="') == 4
    urdu = client.get(f"/manage/reports/daily?day={today}&lang=ur")
    assert urdu.status_code == 200 and "brother of the SHO" in urdu.text


def test_reasons_through_the_api(
    client: FlaskClient,
    keys: dict[str, str],
    session: Session,
    centre: Centre,
    counter_no: Callable[[int], Counter],
) -> None:
    clerk = bearer(keys["clerk1"])
    assert client.post(f"/api/v1/counters/{counter_no(1).id}/open", headers=clerk).status_code == 200
    issued = client.post(
        "/api/v1/centres/demo/tokens",
        json={"service": "character", "priority": "senior", "reason": "pregnant"},
        headers=clerk,
    )
    assert issued.status_code == 201, issued.text
    token_id = issued.get_json()["id"]
    assert client.post(f"/api/v1/counters/{counter_no(1).id}/call-next", headers=clerk).status_code == 200
    for _ in range(centre.max_recalls):
        assert client.post(f"/api/v1/tokens/{token_id}/recall", headers=clerk).status_code == 200
    refused = client.post(f"/api/v1/tokens/{token_id}/recall", headers=clerk)
    assert refused.status_code == 409 and refused.get_json()["error"] == "recall_limit"
    too_long = client.post(f"/api/v1/tokens/{token_id}/recall", json={"reason": "x" * 201}, headers=clerk)
    assert too_long.status_code == 400
    ok = client.post(f"/api/v1/tokens/{token_id}/recall", json={"reason": "deaf citizen"}, headers=clerk)
    assert ok.status_code == 200, ok.text
    assert client.post(f"/api/v1/tokens/{token_id}/start", headers=clerk).status_code == 200
    moved = client.post(
        f"/api/v1/tokens/{token_id}/transfer",
        json={"counter": counter_no(2).id, "reason": "fee"},
        headers=clerk,
    )
    assert moved.status_code == 200, moved.text
    today = local_day(centre.tz).isoformat()
    report = client.get(
        f"/api/v1/centres/demo/report?from={today}&to={today}", headers=bearer(keys["manager"])
    )
    assert report.status_code == 200
    steps = [(i["kind"], i["reason"]) for r in report.get_json()["out_of_order"] for i in r["items"]]
    assert steps == [
        ("priority_mark", "pregnant"),
        ("recall_beyond_limit", "deaf citizen"),
        ("transfer_to_counter", "fee"),
    ]
