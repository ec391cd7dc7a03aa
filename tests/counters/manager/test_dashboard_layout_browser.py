"""The manager's live view at 1440x900 (issue 14.7), in headless Chromium against a real
server, in English and Urdu, from a browser whose own clock is in another time zone: alert
times are the centre's (Asia/Karachi), alerts are collapsed so the figures stay above the
fold, "mark all as seen" acknowledges them all, and today's trend chart of waiting and served
runs from right to left in Urdu."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.counters.manager.test_browser import ARTIFACTS, login
from tests.support.live import wait_true

pytestmark = pytest.mark.browser
SIZE = (1440, 900)
CENTRE_TZ = ZoneInfo("Asia/Karachi")
BROWSER_TZ = "America/New_York"  # the manager's laptop set to the wrong zone: times must not follow it
SERVICES = ("character", "bank", "vehicle", "tenant", "fir_copy", "learner")


def local_hm(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(CENTRE_TZ).strftime("%H:%M")


def busy_floor(s: Any) -> None:
    for code in SERVICES:
        for _ in range(2):
            r = s.api("POST", "/api/v1/centres/demo/tokens", s.keys["kiosk"], json={"service": code})
            assert r.status_code == 201, r.text
    r = s.api("PUT", "/api/v1/centres/demo/alert-thresholds", s.keys["manager"], json={"queue_length": 1})
    assert r.status_code == 200, r.text


def test_alerts_collapse_in_local_time_mark_all_seen_and_the_trend_chart(live_server: Any, new_page: Any) -> None:
    s = live_server
    busy_floor(s)
    ARTIFACTS.mkdir(exist_ok=True)
    for lang in ("en", "ur"):
        page = new_page(viewport=SIZE, timezone_id=BROWSER_TZ)
        errors: list[str] = []
        page.on("console", lambda m, errors=errors: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
        login(page, s, "manager", f"/manage?lang={lang}")
        wait_true(page, "document.documentElement.dataset.link === 'up'")
        live = json.loads(page.text_content("#live-data") or "{}")
        alerts = live["alerts"]
        assert len(alerts) == len(SERVICES), alerts

        # Collapsed: two alerts shown, the rest behind a button; the figures above the fold.
        items = page.locator("#alert-list li")
        assert items.count() == len(SERVICES)
        assert page.locator("#alert-list li:visible").count() == 2
        assert page.locator("#alerts-more").is_visible()
        assert str(len(SERVICES)) in (page.text_content("#alerts-more") or "")
        fold = page.evaluate(
            """() => ({kpis: document.querySelector('.kpis').getBoundingClientRect().bottom,
                       table: document.querySelector('#services-table tbody tr').getBoundingClientRect().bottom})"""
        )
        assert fold["kpis"] <= SIZE[1] and fold["table"] <= SIZE[1], fold

        # Alert times on the centre's clock, not the browser's.
        shown = page.locator("#alert-list li:visible .alert-time").first.text_content()
        first_visible = page.locator("#alert-list li:visible").first.get_attribute("data-subject")
        raised = next(a["raised_at"] for a in alerts if a["subject"] == first_visible)
        assert shown == local_hm(raised), (shown, raised)

        # The trend chart: waiting and served today, right to left in Urdu.
        wait_true(page, "document.body.dataset.trend === 'ready'")
        chart = page.evaluate(
            """() => { const c = document.getElementById('chart-trend').chart; const x = c.scales.x;
              const n = c.data.labels.length;
              return {labels: c.data.datasets.map(d => d.label), last: c.data.datasets[0].data[n - 1], n: n,
                      firstX: x.getPixelForValue(0), lastX: x.getPixelForValue(n - 1),
                      yPos: c.options.scales.y.position, rtl: c.options.plugins.legend.rtl}; }"""
        )
        assert chart["last"] == 2 * len(SERVICES), chart
        if lang == "ur":
            assert chart["labels"] == ["انتظار میں", "اب تک نمٹائے گئے"], chart
            assert chart["n"] < 2 or chart["firstX"] > chart["lastX"], "Urdu: time runs right to left"
            assert chart["yPos"] == "right" and chart["rtl"] is True
        else:
            assert chart["labels"] == ["Waiting", "Served so far"], chart
            assert chart["n"] < 2 or chart["firstX"] < chart["lastX"]
        page.evaluate("document.fonts.ready")
        page.screenshot(path=str(ARTIFACTS / f"dashboard-1440-{lang}.png"))
        page.screenshot(path=str(ARTIFACTS / f"dashboard-1440-full-{lang}.png"), full_page=True)

        page.click("#alerts-more")
        assert page.locator("#alert-list li:visible").count() == len(SERVICES)
        page.screenshot(path=str(ARTIFACTS / f"dashboard-1440-alerts-open-{lang}.png"))
        page.click("#alerts-more")
        assert page.locator("#alert-list li:visible").count() == 2

        if lang == "en":
            # Mark all as seen: every alert acknowledged on the server, at once.
            assert page.locator("#alerts-all-seen").is_visible()
            page.click("#alerts-all-seen")
            wait_true(page, f"document.querySelectorAll('#alert-list li.seen').length === {len(SERVICES)}")
            assert page.locator("#alerts-all-seen").is_hidden()
            assert page.locator("#alert-count").is_hidden()
            page.reload()
            wait_true(page, "document.documentElement.dataset.link === 'up'")
            assert page.locator("#alert-list li.seen").count() == len(SERVICES)

        # The alert history page: the centre's local time, no UTC.
        page.goto(f"{s.url}/manage/alerts?lang={lang}")
        row = page.locator("#alert-history tbody tr").first
        raised_cell = (row.locator("td").first.text_content() or "").strip()
        assert "UTC" not in raised_cell
        assert raised_cell[-5:] in {local_hm(a["raised_at"]) for a in alerts}, raised_cell
        assert "Asia/Karachi" in (page.text_content("#alert-history-zone") or "")
        assert errors == [], errors
