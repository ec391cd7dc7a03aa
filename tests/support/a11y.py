"""The accessibility gate of the browser tests: axe-core (from the npm lock, never
committed) runs in the page as it stands and any critical or serious violation fails the
test; moderate ones are listed in the test output. Injected through the DevTools protocol
(``page.evaluate``), so the page's Content-Security-Policy need not allow it."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
FAILING = ("critical", "serious")
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


@cache
def _axe_source() -> str:
    return AXE.read_text(encoding="utf-8")


def audit(page: Any, where: str) -> list[dict[str, Any]]:
    """Run axe on the page; assert no critical or serious violation; return the moderate
    and minor ones (printed with ``where``)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(_axe_source())
    result = page.evaluate(
        "tags => window.axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
        TAGS,
    )
    violations = result["violations"]
    bad = [v for v in violations if v.get("impact") in FAILING]
    lesser = [v for v in violations if v.get("impact") not in FAILING]
    for v in lesser:
        print(f"a11y {where}: {v['impact']} {v['id']}: {len(v['nodes'])} node(s)")
    assert not bad, f"{where}: " + "; ".join(
        f"{v['impact']} {v['id']} ({v['help']}): " + ", ".join(n["target"][0] for n in v["nodes"][:4]) for v in bad
    )
    return lesser
