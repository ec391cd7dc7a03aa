"""The live trend of waiting and served today: a pure figure, no app."""

from __future__ import annotations

import random
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


def test_each_point_counts_as_the_definition_says_whatever_the_order_of_the_instants() -> None:
    """Waiting at a moment: issued by then and not gone by then; served: done by then. Checked
    against that definition, token by token, for passages in any order, with ties on the
    points and a few whose recorded departure precedes their issue (a clock set back)."""
    rng = random.Random(15)
    m = timedelta(minutes=1)
    for _ in range(50):
        passages = []
        for _ in range(rng.randint(1, 60)):
            issued = T0 + rng.randint(0, 300) * m
            left = None if rng.random() < 0.3 else issued + rng.randint(-20, 90) * m
            served = None if left is None or rng.random() < 0.4 else left + rng.randint(0, 30) * m
            passages.append(Passage(issued, left, served))
        now = T0 + rng.randint(0, 400) * m
        for point, moment in zip(trend(passages, now, TZ), moments_of(passages, now), strict=True):
            assert point["waiting"] == sum(
                1 for p in passages if p.issued_at <= moment and (p.left_queue_at is None or p.left_queue_at > moment)
            )
            assert point["served"] == sum(1 for p in passages if p.served_at is not None and p.served_at <= moment)


def moments_of(passages: list[Passage], now: datetime) -> list[datetime]:
    """The trend's points: every quarter hour (local) from the first issue's, then now."""
    first = min(p.issued_at for p in passages).astimezone(TZ)
    at = first.replace(minute=first.minute - first.minute % 15, second=0, microsecond=0)
    points = []
    while at < now:
        points.append(at)
        at += timedelta(minutes=15)
    return [*points, now]
