"""The manager's report counts documents sent to the door: set aside, out with the courier,
delivered and returned (with why), in English and Urdu, and never shows an address."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from tests.counters.manager.test_reports import login
from tests.counters.test_deliveries import ADDRESS, ready
from tests.support.api import Api

__all__ = ["ready"]  # the fixture, used by name


def figure(html: str, name: str) -> str:
    return html.split(f'data-figure="{name}">', 1)[1].split("<", 1)[0]


def test_the_report_counts_deliveries_and_returns(
    api: Api, ready: dict[str, Any], serve: Any, client: FlaskClient, passwords: dict[str, str]
) -> None:
    rid = ready["id"]
    api.ok("POST", f"/requests/{rid}/delivery", "clerk1", {"address": ADDRESS, "courier": "TCS"})
    api.ok("POST", f"/requests/{rid}/delivery/dispatch", "clerk1", {"consignment": "TCS-1"})
    api.ok("POST", f"/requests/{rid}/delivery/returned", "clerk1", {"reason": "not_home"})
    login(client, "manager", passwords["manager"])
    html = client.get("/manage/reports?lang=en").text
    assert 'id="deliveries"' in html
    assert figure(html, "total") == "1" and figure(html, "returned") == "1" and figure(html, "delivered") == "0"
    assert "Nobody at home" in html and 'data-reason="not_home">1<' in html
    assert "Model Town" not in html, "never the address"
    urdu = client.get("/manage/reports?lang=ur").text
    assert "دستاویزات گھر تک" in urdu and "گھر پر کوئی نہیں تھا" in urdu


def test_no_deliveries_no_section(client: FlaskClient, demo: Any, passwords: dict[str, str]) -> None:
    login(client, "manager", passwords["manager"])
    html = client.get("/manage/reports?lang=en").text
    assert client.get("/manage/reports").status_code == 200 and 'id="deliveries"' not in html
