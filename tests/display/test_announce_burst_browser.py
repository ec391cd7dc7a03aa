"""Sound and screen in step under a burst (issue 14, item 2): eight counters call at once; the
display draws every call large as it comes, and its announcements follow the burst policy of
display.js: in order, no two at once, and none heard more than 15 s behind its call (calls
that cannot be said within the bound are not said; the newest always is).
bench/bench_announce_burst.py replays the same policy on the real announcement lengths."""

from __future__ import annotations

from typing import Any

import pytest

from tests.display.test_display_browser import TV, call_next, pair, report
from tests.support.live import wait_true

pytestmark = pytest.mark.browser

FIRST_SERVICE = {1: "character", 2: "overseas", 3: "employee", 4: "vehicle", 5: "learner", 6: "lost_document",
                 7: "women_desk", 8: "bank"}  # fmt: skip
BOUND_MS = 15000


def test_an_eight_call_burst_is_heard_in_order_within_the_bound(
    live_server: Any, new_page: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    s = live_server
    page = new_page(viewport=TV)
    pair(page, s)
    counters = {n: s.open_counter(n) for n in range(1, 9)}
    tokens = {n: s.issue(FIRST_SERVICE[n]) for n in range(1, 9)}
    called = []
    for n in range(1, 9):
        token, sent = call_next(s, n, counters[n])
        assert token["number"] == tokens[n]["number"]
        called.append((token["number"], sent * 1000))
    numbers = [n for n, _ in called]

    # Every call was drawn large as it came, in the order made.
    wait_true(page, "window.KhidmatDisplay.applied.length >= 8", timeout=15000)
    applied = page.evaluate("window.KhidmatDisplay.applied")
    assert [a["number"] for a in applied] == numbers
    assert page.locator("#hero-number").text_content() == numbers[-1]

    # The newest is always said; wait for it to end.
    wait_true(
        page,
        f"window.KhidmatDisplay.played.some(p => p.number === {numbers[-1]!r} && p.end)",
        timeout=60000,
    )
    played = page.evaluate("window.KhidmatDisplay.played")
    skipped = page.evaluate("window.KhidmatDisplay.skipped")
    said = [p["number"] for p in played]
    assert said == [n for n in numbers if n in said], f"said out of order: {said}"
    assert said[0] == numbers[0] and said[-1] == numbers[-1]
    assert sorted(said + [k["number"] for k in skipped]) == sorted(numbers), (played, skipped)
    assert all(k["why"] in ("late", "backlog") for k in skipped), skipped
    assert all(p["ok"] and not p["fallback"] for p in played), played
    for before, after in zip(played, played[1:], strict=False):
        assert after["start"] >= before["end"], f"announcements overlapped: {played}"
    made = dict(called)
    for p in played:
        late = p["start"] - made[p["number"]]
        report(capsys, f"burst of 8: {p['number']} heard {late / 1000:.1f} s after its call")
        assert late <= BOUND_MS, f"{p['number']} heard {late:.0f} ms after its call"
    for k in skipped:
        report(capsys, f"burst of 8: {k['number']} not said (late), shown large when called")
