"""The live trend of waiting and served today: a pure figure, no app."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from queue_server.read.statistics.figures import Passage, trend

TZ = ZoneInfo("Asia/Karachi")
T0 = datetime(2026, 3, 2, 4, 7, tzinfo=UTC)  # 09:07 in Karachi


def test_no_tokens_no_trend() -> None:
    assert trend([], T0, TZ) == []


def test_waiting_and_served_at_each_quarter_hour_in_local_time() -> None:
    m = timedelta(minutes=1)
    passages = [
        Passage(T0, T0 + 10 * m, T0 + 20 * m),  # called 09:17, served 09:27
        Passage(T0 + 5 * m, T0 + 40 * m, None),  # called 09:47, not served yet
        Passage(T0 + 12 * m, None, None),  # still waiting
    ]
    now = T0 + 50 * m  # 09:57
    points = trend(passages, now, TZ)
    assert [p["at"] for p in points] == ["09:00", "09:15", "09:30", "09:45", "09:57"]
    assert [p["waiting"] for p in points] == [0, 2, 2, 2, 1]
    assert [p["served"] for p in points] == [0, 0, 1, 1, 1]
