"""A node's morning, seen from the province: the tokens, requests and feedback a node
served offline travel with its events, so the province's report of that centre and day
is the node's own report (issue 13: "the province's reports show that morning exactly").
Two real ``khidmat serve`` processes, as in test_node_sync."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.queue_server.test_node_sync import Pair, khidmat, rows, serve_morning
from tests.queue_server.test_node_sync import pair as pair  # noqa: F401  (the fixture: node and province)
from tests.support.live import LiveServer

pytestmark = [pytest.mark.slow]

# Figures that depend on the database's own ids or on when the report is read.
VOLATILE = {"key", "generated_at", "sources", "now", "centre"}


def comparable(value: Any) -> Any:
    """The report without the ids of each database (services, counters and clerks are
    compared by their code, number and name) and without the centre's own settings."""
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [comparable(v) for v in value]
    return value


def province_admin_key(pair: Pair) -> str:
    made = khidmat(pair.province, "create-staff", "provadmin", "--role", "admin", "--api-key")
    assert made.returncode == 0, made.stdout + made.stderr
    return str(json.loads(made.stdout)["api_key"])


def test_the_province_reports_a_node_morning_exactly(pair: Pair) -> None:
    node = pair.node
    serve_morning(node, 5)
    # A citizen rates the visit from the tracking page.
    codes = [r[0] for r in rows(node.database_url, "SELECT public_code FROM tokens WHERE state = 'done'")]
    assert len(codes) == 4
    rated = node.api("POST", f"/api/v1/track/{codes[0]}/feedback", None, json={"rating": 4, "comment": "ok"})
    assert rated.status_code == 201, rated.text

    pair.province.start(timeout=60)
    pushed = pair.push(KHIDMAT_SYNC_BATCH_SIZE="4")
    assert pushed.returncode == 0, pushed.stderr

    node_report = node.api("GET", "/api/v1/centres/demo/report", node.keys["admin"])
    assert node_report.status_code == 200, node_report.text
    totals = node_report.json()["totals"]
    assert (totals["arrivals"], totals["served"], totals["feedback_count"]) == (5, 4, 1), totals
    province_report = pair.province.api("GET", "/api/v1/centres/demo/report", province_admin_key(pair))
    assert province_report.status_code == 200, province_report.text
    assert comparable(province_report.json()) == comparable(node_report.json())

    # Pushed again (nothing new), the rows are not doubled.
    again = pair.push()
    assert again.returncode == 0, again.stderr
    count = rows(
        pair.province.database_url,
        "SELECT count(*) FROM tokens t JOIN centres c ON c.id = t.centre_id WHERE c.code = 'demo'",
    )[0][0]
    assert count == 5


def test_a_serving_node_pushes_by_itself_once_the_province_is_back(pair: Pair) -> None:
    """The background loop of ``khidmat serve`` (not an operator's push) brings the morning
    over once the link is back, with no restart of the node."""
    pair.node.stop()
    node = LiveServer(
        pair.node.database_url,
        pair.node.instance,
        env={**pair.node_env, "KHIDMAT_SYNC_INTERVAL_SECONDS": "1"},
    )
    node.keys, node.passwords = pair.node.keys, pair.node.passwords
    node.start(timeout=60)
    try:
        serve_morning(node, 3)  # the province is down: the loop fails quietly, the node serves
        assert pair.province_chain() == []
        pair.province.start(timeout=60)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and pair.province_chain() != pair.node_chain():
            time.sleep(0.5)
        assert pair.province_chain() == pair.node_chain()
        held = rows(
            pair.province.database_url,
            "SELECT count(*) FROM tokens t JOIN centres c ON c.id = t.centre_id"
            " WHERE c.code = 'demo' AND t.state = 'done'",
        )[0][0]
        assert held == 2
    finally:
        node.stop()
