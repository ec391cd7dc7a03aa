"""Browser-side safety (issues 16.4 and 19.7) in headless Chromium against a real server:
every page works under the Content-Security-Policy (no inline script or style, nothing
from another origin: Chromium reports any breach), pages cannot be framed, and hostile
text in staff names, service names and citizen feedback stays text on every page."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.display.test_display_browser import pair as pair_display
from tests.kiosk.test_kiosk_browser import pair as pair_kiosk

pytestmark = pytest.mark.browser

HOSTILE = "<script>window.__pwned='s'</script>\"><img src=x onerror=\"window.__pwned='i'\">\u202eevil 🧨"
WATCH = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
  e => window.__csp.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline') + ' ' + (e.sourceFile || '')));
"""


def sql(server: Any, statement: str, **params: Any) -> int:
    engine = create_engine(server.database_url)
    with engine.begin() as conn:
        changed = conn.execute(text(statement), params).rowcount
    engine.dispose()
    return changed


def watched(new_page: Any) -> tuple[Any, list[str]]:
    page = new_page(bypass_csp=False)  # the pages' own policy, as a browser applies it
    page.add_init_script(WATCH)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    return page, dialogs


def clean(page: Any, dialogs: list[str], where: str) -> None:
    page.wait_for_timeout(300)  # violations are reported asynchronously
    assert page.evaluate("window.__csp") == [], where
    assert page.evaluate("window.__pwned") is None, where
    assert dialogs == [], where
    assert page.locator("img[src=x], body script:not([src]):not([type='application/json'])").count() == 0, (
        where
    )


def test_every_page_runs_under_the_csp_and_hostile_text_stays_text(live_server: Any, new_page: Any) -> None:
    s = live_server
    sql(s, "UPDATE staff SET full_name = :n WHERE username IN ('clerk1', 'manager')", n=HOSTILE)
    sql(s, "UPDATE services SET name_en = :n WHERE code = 'character'", n=HOSTILE)
    token = s.api(
        "POST", "/api/v1/centres/demo/tokens", s.keys["kiosk"], json={"service": "character"}
    ).json()
    counters = {
        c["number"]: c["id"]
        for c in s.api("GET", "/api/v1/centres/demo/counters", s.keys["admin"]).json()["counters"]
    }
    cid, clerk = counters[2], s.keys["clerk2"]
    assert s.api("POST", f"/api/v1/counters/{cid}/open", clerk).status_code == 200
    for step, body in (
        ("call", {"token": token["id"], "reason": HOSTILE}),
        ("start", None),
        ("complete", {"outcome": "served"}),
    ):
        path = f"/api/v1/counters/{cid}/call" if step == "call" else f"/api/v1/tokens/{token['id']}/{step}"
        r = s.api("POST", path, clerk, json=body) if body else s.api("POST", path, clerk)
        assert r.status_code == 200, r.text
    r = s.api(
        "POST", f"/api/v1/track/{token['public_code']}/feedback", None, json={"rating": 1, "comment": HOSTILE}
    )
    assert r.status_code == 201, r.text

    # The request that service opened, and the centre's notice, carry hostile text too.
    assert (
        sql(
            s,
            "UPDATE requests SET applicant_name = :n, notes = :n, reason = :n WHERE token_id = :t",
            n=HOSTILE,
            t=token["id"],
        )
        == 1
    )
    sql(s, "UPDATE centres SET notice_en = :n, notice_ur = :n WHERE code = 'demo'", n=HOSTILE)

    # The pairing page, then the display and the kiosk it unlocks.
    page, dialogs = watched(new_page)
    pair_display(page, s)
    clean(page, dialogs, "display")
    page, dialogs = watched(new_page)
    pair_kiosk(page, s)
    clean(page, dialogs, "kiosk")
    assert "window.__pwned='i'" in page.locator("body").inner_text()  # shown, as text

    # The citizen's tracking page.
    page, dialogs = watched(new_page)
    page.goto(f"{s.url}/t/{token['public_code']}")
    page.wait_for_selector("body")
    clean(page, dialogs, "tracking")

    # The console: login, picker, console with the hostile clerk name and service.
    page, dialogs = watched(new_page)
    page.goto(f"{s.url}/counter")
    page.fill("#username", "clerk1")
    page.fill("#password", s.passwords["clerk1"])
    page.click("#login-form button[type=submit]")
    page.wait_for_selector(".pick")
    clean(page, dialogs, "picker")
    assert "window.__pwned='i'" in page.locator("body").inner_text()  # shown, as text
    page.wait_for_selector("body[data-ready='1']")
    page.keyboard.press("1")
    page.wait_for_selector("#console[aria-busy='false']")
    clean(page, dialogs, "console")

    # The manager's pages: live view, reports, the printable daily report.
    page, dialogs = watched(new_page)
    page.goto(f"{s.url}/manage/login?next=/manage")
    page.fill("input[name=username]", "manager")
    page.fill("input[name=password]", s.passwords["manager"])
    page.click("form button[type=submit]")
    page.wait_for_load_state()
    for path in ("/manage", "/manage/reports", "/manage/reports/daily", "/manage/setup/demo"):
        page.goto(s.url + path)
        page.wait_for_load_state("networkidle")
        clean(page, dialogs, path)

    # No page of the site can be framed by another.
    page, dialogs = watched(new_page)
    page.set_content(f'<iframe id="f" src="{s.url}/counter"></iframe>')
    page.wait_for_timeout(1000)
    frame = page.frame_locator("#f")
    assert frame.locator("#username").count() == 0
