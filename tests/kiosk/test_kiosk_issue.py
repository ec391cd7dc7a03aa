"""The kiosk's issue-and-print flow through the real HTTP routes, the real python-escpos
network path and the fake ESC/POS printer: every printer fault, reprints, duplicate taps,
rate limits and what a kiosk may not do."""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kiosk.printing import PrinterStatus, status_message
from queue_server.audit import verify_chain
from queue_server.credentials import key_hash, new_key
from queue_server.extensions import db
from queue_server.models import (
    Centre,
    Device,
    DeviceKind,
    Event,
    PrintState,
    Role,
    Service,
    Staff,
    StaffApiKey,
    Token,
    TokenState,
)
from queue_server.operations.printing import record_print_result
from queue_server.publish import Message, add_sink, remove_sink
from queue_server.realtime.presence import presence
from queue_server.seed import SeedResult
from tests.conftest import bearer
from tests.fakes.escpos_printer import FakeEscposPrinter

FAULTS = [
    ("paper_out", PrinterStatus.PAPER_OUT),
    ("offline", PrinterStatus.OFFLINE),
    ("cover_open", PrinterStatus.COVER_OPEN),
    ("silent", PrinterStatus.TIMEOUT),
    ("closed", PrinterStatus.OFFLINE),
]


class KioskBrowser:
    """A browser at the kiosk: the Flask test client, each request in its own app context
    (as on a real server: the suite's ``app`` fixture keeps one context open, whose ``g``
    would otherwise carry the CSRF token and the caller from one request to the next)."""

    def __init__(self, app: Flask, client: FlaskClient) -> None:
        self.app = app
        self.client = client
        self.csrf = ""

    def request(self, method: str, url: str, **kw: Any) -> Any:
        with self.app.app_context():
            return self.client.open(url, method=method, **kw)

    def pair(self, key: str, centre: str = "demo") -> Any:
        return self.request(
            "POST", "/api/v1/devices/pair", json={"key": key, "kind": "kiosk", "centre": centre}
        )

    def open(self, centre: str = "demo", lang: str | None = None) -> Any:
        response = self.request("GET", f"/kiosk/{centre}" + (f"?lang={lang}" if lang else ""))
        found = re.search(r'name="csrf-token" content="([^"]+)"', response.get_data(as_text=True))
        if found:
            self.csrf = found.group(1)
        return response

    def post(self, url: str, body: Any = None, **kw: Any) -> Any:
        headers = {"X-CSRFToken": self.csrf, **kw.pop("headers", {})}
        return self.request("POST", url, json={} if body is None else body, headers=headers, **kw)

    def issue(
        self,
        service: str = "character",
        priority: str = "normal",
        key: str | None = None,
        centre: str = "demo",
    ) -> Any:
        body: dict[str, Any] = {"service": service, "priority": priority}
        if key:
            body["idempotency_key"] = key
        return self.post(f"/kiosk/{centre}/issue", body)

    def reprint(self, token_id: int, centre: str = "demo") -> Any:
        return self.post(f"/kiosk/{centre}/tickets/{token_id}/reprint")


@pytest.fixture
def kiosk(app: Flask, client: FlaskClient, keys: dict[str, str]) -> KioskBrowser:
    browser = KioskBrowser(app, client)
    assert browser.pair(keys["kiosk"]).status_code == 200
    assert browser.open().status_code == 200
    return browser


@pytest.fixture
def alerts() -> Iterator[list[Message]]:
    box: list[Message] = []
    add_sink(box.append)
    yield box
    remove_sink(box.append)


def fresh(app: Flask, work: Callable[[Session], Any]) -> Any:
    """Read (or change and commit) in a session of its own, as another process would."""
    with app.app_context():
        try:
            result = work(db.session)
            db.session.commit()
            return result
        finally:
            db.session.remove()


def kiosk_device(s: Session, name: str = "Kiosk 1") -> Device:
    return s.scalars(select(Device).where(Device.kind == DeviceKind.KIOSK, Device.name == name)).one()


def use_printer(app: Flask, settings: dict[str, Any], name: str = "Kiosk 1") -> None:
    def work(s: Session) -> None:
        kiosk_device(s, name).printer = settings

    fresh(app, work)


def network(printer: FakeEscposPrinter, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "network",
        "host": "127.0.0.1",
        "port": printer.port,
        "timeout": 0.5,
        "width": 576,
        **extra,
    }


def token_row(app: Flask, token_id: int) -> dict[str, Any]:
    def work(s: Session) -> dict[str, Any]:
        t = s.get(Token, token_id)
        assert t is not None
        return {
            "print_state": t.print_state,
            "state": t.state,
            "number": t.number,
            "public_code": t.public_code,
        }

    return fresh(app, work)


def printer_status(app: Flask) -> str:
    return fresh(app, lambda s: kiosk_device(s).printer_status)


def events_of(app: Flask, kind: str) -> list[dict[str, Any]]:
    def work(s: Session) -> list[dict[str, Any]]:
        rows = s.scalars(select(Event).where(Event.kind == kind).order_by(Event.seq)).all()
        return [{"token_id": e.token_id, "data": e.data, "actor": e.actor} for e in rows]

    return fresh(app, work)


def token_count(app: Flask) -> int:
    return fresh(app, lambda s: s.scalar(select(func.count()).select_from(Token)))


def alerts_in(box: list[Message]) -> list[dict[str, Any]]:
    return [m.payload for m in box if m.event == "alert"]


def is_urdu(text: str) -> bool:
    return bool(re.search(r"[\u0600-\u06ff]{3}", text)) and not re.search(r"[A-Za-z]{4}", text)


def raster_jobs(printer: FakeEscposPrinter) -> list[bytes]:
    return [job for job in printer.printed if b"\x1dv0" in job]


# --- the page ------------------------------------------------------------------------------


def test_kiosk_page_shows_pairing_until_paired_then_the_services(
    app: Flask, client: FlaskClient, keys: dict[str, str]
) -> None:
    browser = KioskBrowser(app, client)
    unpaired = browser.open()
    assert unpaired.status_code == 401
    html = unpaired.get_data(as_text=True)
    assert "pair-form" in html and "Character certificate" not in html
    assert browser.issue().status_code == 401, "an unpaired browser issues nothing"
    assert browser.pair(keys["kiosk"]).status_code == 200

    page = browser.open(lang="ur")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<html lang="ur" dir="rtl">' in html
    config = re.search(r'<script type="application/json" id="kiosk-config">(.*?)</script>', html, re.S)
    assert config is not None
    import json

    data = json.loads(config.group(1))
    assert len(data["services"]) == 19
    assert data["home_lang"] == "ur"
    assert data["strings"]["ur"]["choose_service"] == "اپنی سروس منتخب کریں"
    assert data["strings"]["en"]["choose_service"] == "Choose your service"
    assert set(data["strings"]["en"]) == set(data["strings"]["ur"])
    untranslated = [
        k for k, v in data["strings"]["ur"].items() if v == data["strings"]["en"][k] and k != "ok"
    ]
    assert untranslated == [], "every kiosk string has an Urdu translation"
    names = {g["code"]: g["name_ur"] for g in data["groups"]}
    assert names["licences"] == "ڈرائیونگ لائسنس" and len(names) == 7
    for asset in ("/static/kiosk/kiosk.js", "/static/kiosk/kiosk.css", "/fonts/NotoNastaliqUrdu-Regular.ttf"):
        served = browser.request("GET", asset)
        served.close()  # a file response: close it, or its file handle is left open
        assert served.status_code == 200, asset


def test_an_answer_overlapping_the_pairing_cannot_drop_the_pages_csrf_token(
    app: Flask, client: FlaskClient, keys: dict[str, str]
) -> None:
    """Each answer refreshes the signed session cookie, so a page's overlapping requests
    leave the browser whichever version answered last. From the pairing answer on, every
    version holds the CSRF token: the pairing's cookie, put back after the kiosk page's,
    still lets the kiosk issue (it was refused for a missing token, now and then, in the
    browser test that pairs a new centre's kiosk)."""
    browser = KioskBrowser(app, client)
    assert browser.open().status_code == 401  # the pairing screen
    assert browser.pair(keys["kiosk"]).status_code == 200
    paired = client.get_cookie("session")
    assert paired is not None
    assert browser.open().status_code == 200  # the kiosk page, with its CSRF token
    client.set_cookie("session", paired.value)  # an overlapping answer puts the pairing's back
    answer = browser.issue("character", key="tap-overlap-01")
    assert answer.status_code == 201, answer.get_json()


def test_kiosk_unknown_centre_is_a_clear_404(kiosk: KioskBrowser) -> None:
    page = kiosk.open(centre="nowhere")
    assert page.status_code == 404
    assert "There is no centre with this code." in page.get_data(as_text=True)


def test_kiosk_without_a_printer_issues_screen_only_tokens(kiosk: KioskBrowser, app: Flask) -> None:
    answer = kiosk.issue("character", "senior", key="tap-00000001")
    assert answer.status_code == 201, answer.get_json()
    body = answer.get_json()
    assert body["number"] == "A001" and body["priority"] == "senior" and body["ahead"] == 0
    assert body["print"] == {
        "state": "not_printed",
        "status": "none",
        "printed": False,
        "configured": False,
        "can_reprint": False,
        "level": "info",
        "message_en": "Please photograph this screen or scan the QR code with your phone.",
        "message_ur": "براہِ کرم اس اسکرین کی تصویر لے لیں یا اپنے فون سے QR کوڈ اسکین کریں۔",
    }
    assert body["tracking_url"].endswith("/t/" + body["public_code"])
    png = kiosk.request("GET", body["ticket_url"])
    assert png.status_code == 200 and png.mimetype == "image/png"
    assert Image.open(io.BytesIO(png.data)).size[0] == 576
    assert token_row(app, body["id"])["print_state"] == PrintState.NOT_PRINTED
    assert events_of(app, "printer_fault") == [], "no printer is not a fault"


# --- printing through the fake printer -----------------------------------------------------


def test_kiosk_prints_the_ticket_after_issuing(
    kiosk: KioskBrowser, app: Flask, fake_printer: FakeEscposPrinter, alerts: list[Message]
) -> None:
    use_printer(app, network(fake_printer))
    answer = kiosk.issue("bank", key="tap-ok-0001")
    assert answer.status_code == 201
    body = answer.get_json()
    assert body["number"] == "R001"
    assert body["print"]["printed"] is True and body["print"]["state"] == "printed"
    assert body["print"]["level"] == "ok" and body["print"]["can_reprint"] is False
    assert "message_en" not in body["print"]
    jobs = raster_jobs(fake_printer)
    assert len(jobs) == 1, "one ticket, as one raster image"
    job = jobs[0]
    start = job.index(b"\x1dv0")
    assert int.from_bytes(job[start + 4 : start + 6], "little") == 576 // 8, "the printer's full width"
    assert job.rstrip().endswith(b"\x1dVA\x00") or b"\x1dV" in job[-8:], "cut after the image"
    assert "GS v 0" in fake_printer.commands and "GS V" in fake_printer.commands
    assert fake_printer.status_queries[:3] == [1, 2, 4], "the printer was asked before the token was issued"
    assert token_row(app, body["id"])["print_state"] == PrintState.PRINTED
    assert printer_status(app) == "ok"
    printed = events_of(app, "ticket_printed")
    assert [e["token_id"] for e in printed] == [body["id"]] and printed[0]["actor"].startswith("device:")
    assert alerts_in(alerts) == [], "a healthy printer bothers nobody"
    assert fresh(app, lambda s: verify_chain(s, kiosk_device(s).centre_id).ok)


def test_kiosk_paper_low_prints_and_warns_staff(
    kiosk: KioskBrowser, app: Flask, fake_printer: FakeEscposPrinter, alerts: list[Message]
) -> None:
    use_printer(app, network(fake_printer))
    fake_printer.mode = "paper_low"
    body = kiosk.issue("character").get_json()
    assert body["print"]["printed"] is True and body["print"]["level"] == "warning"
    assert (body["print"]["message_en"], body["print"]["message_ur"]) == status_message(PrinterStatus.PAPER_LOW)
    assert len(raster_jobs(fake_printer)) == 1
    assert printer_status(app) == "paper_low"
    warned = alerts_in(alerts)
    assert len(warned) == 1 and warned[0]["level"] == "warning" and warned[0]["status"] == "paper_low"
    assert "low on paper" in warned[0]["message_en"] and "کاغذ کم" in warned[0]["message_ur"]
    kiosk.issue("character")
    assert len(alerts_in(alerts)) == 1, "one warning, not one per ticket"


@pytest.mark.parametrize(("mode", "status"), FAULTS, ids=[m for m, _ in FAULTS])
def test_kiosk_printer_fault_still_gives_the_token_on_screen(
    kiosk: KioskBrowser,
    app: Flask,
    fake_printer: FakeEscposPrinter,
    alerts: list[Message],
    mode: str,
    status: PrinterStatus,
) -> None:
    use_printer(app, network(fake_printer))
    fake_printer.mode = mode
    answer = kiosk.issue("character", key=f"tap-{mode}-01")
    assert answer.status_code == 201, "the token is issued: a printer fault loses no token"
    body = answer.get_json()
    assert body["number"] == "A001" and body["state"] == "waiting"
    p = body["print"]
    assert p["printed"] is False and p["state"] == "failed" and p["status"] == status.value
    assert p["level"] == "error" and p["can_reprint"] is True
    assert (p["message_en"], p["message_ur"]) == status_message(status)
    assert "shown on the screen" in p["message_en"] and "اسکرین پر" in p["message_ur"]
    assert raster_jobs(fake_printer) == [], "nothing was sent to a printer that reported a fault"

    assert token_row(app, body["id"])["print_state"] == PrintState.FAILED
    assert printer_status(app) == status.value
    faults = events_of(app, "printer_fault")
    assert [e["token_id"] for e in faults] == [body["id"]] and faults[0]["data"]["status"] == status.value
    sent = [m for m in alerts if m.event == "alert"]
    assert len(sent) == 1
    centre_id = fresh(app, lambda s: kiosk_device(s).centre_id)
    assert (
        f"centre:{centre_id}:dashboard" in sent[0].rooms and f"centre:{centre_id}:counters" in sent[0].rooms
    )
    alert = sent[0].payload
    assert alert["level"] == "error" and alert["status"] == status.value
    assert alert["token"] == {"id": body["id"], "number": "A001"} and alert["device"]["name"] == "Kiosk 1"
    assert "A001" in alert["message_en"] and "A001 پرنٹ نہیں ہوا" in alert["message_ur"]

    # the citizen's screen: the ticket image with the QR, and the tracking page works
    assert kiosk.request("GET", body["ticket_url"]).status_code == 200
    track = kiosk.request("GET", f"/api/v1/track/{body['public_code']}")
    assert track.status_code == 200 and track.get_json()["number"] == "A001"
    # the same tap again (the answer was lost): the same token, no second one
    again = kiosk.issue("character", key=f"tap-{mode}-01")
    assert again.status_code == 200 and again.get_json()["id"] == body["id"]
    assert again.get_json()["print"]["status"] == status.value
    assert token_count(app) == 1


def test_kiosk_reprints_once_the_fault_is_cleared(
    kiosk: KioskBrowser, app: Flask, fake_printer: FakeEscposPrinter, alerts: list[Message]
) -> None:
    use_printer(app, network(fake_printer))
    fake_printer.mode = "paper_out"
    body = kiosk.issue("tenant").get_json()
    assert body["print"]["printed"] is False

    still_out = kiosk.reprint(body["id"])
    assert still_out.status_code == 200
    assert still_out.get_json()["print"]["printed"] is False
    assert still_out.get_json()["print"]["can_reprint"] is True
    assert raster_jobs(fake_printer) == []

    fake_printer.mode = "ok"
    again = kiosk.reprint(body["id"])
    assert again.status_code == 200
    p = again.get_json()["print"]
    assert p["printed"] is True and p["state"] == "printed" and p["can_reprint"] is False
    assert len(raster_jobs(fake_printer)) == 1
    assert token_row(app, body["id"])["print_state"] == PrintState.PRINTED
    assert printer_status(app) == "ok"
    reprinted = events_of(app, "ticket_printed")
    assert reprinted[-1]["data"]["reprint"] is True and reprinted[-1]["token_id"] == body["id"]
    assert alerts_in(alerts)[-1]["level"] == "ok", "staff see that the printer works again"

    twice = kiosk.reprint(body["id"])
    assert twice.status_code == 409 and twice.get_json()["error"] == "already_printed"
    assert twice.get_json()["message_ur"] == "یہ ٹکٹ پہلے ہی پرنٹ ہو چکا ہے۔"


def test_kiosk_reprint_is_limited_and_only_for_its_own_open_tokens_of_today(
    kiosk: KioskBrowser,
    app: Flask,
    fake_printer: FakeEscposPrinter,
    keys: dict[str, str],
    client: FlaskClient,
) -> None:
    use_printer(app, network(fake_printer))
    fake_printer.mode = "cover_open"
    first = kiosk.issue("vehicle").get_json()
    for _ in range(3):
        assert kiosk.reprint(first["id"]).status_code == 200
    limited = kiosk.reprint(first["id"])
    assert limited.status_code == 429 and limited.get_json()["message_ur"]

    second = kiosk.issue("vehicle").get_json()

    def yesterday(s: Session) -> None:
        token = s.get(Token, second["id"])
        assert token is not None
        token.business_day -= timedelta(days=1)

    fresh(app, yesterday)
    old = kiosk.reprint(second["id"])
    assert old.status_code == 409 and old.get_json()["error"] == "not_today"

    third = kiosk.issue("vehicle").get_json()

    def served(s: Session) -> None:
        token = s.get(Token, third["id"])
        assert token is not None
        token.state = TokenState.DONE

    fresh(app, served)
    assert kiosk.reprint(third["id"]).get_json()["error"] == "not_waiting"

    # another kiosk of the same centre may not reprint (or see) this kiosk's ticket
    other_key = new_key("dev")

    def second_kiosk(s: Session) -> None:
        centre_id = kiosk_device(s).centre_id
        s.add(
            Device(centre_id=centre_id, kind=DeviceKind.KIOSK, name="Kiosk 2", key_hash=key_hash(other_key))
        )

    fresh(app, second_kiosk)
    other = KioskBrowser(app, app.test_client())
    other.pair(other_key)
    other.open()
    refused = other.reprint(first["id"])
    assert refused.status_code == 403 and refused.get_json()["error"] == "other_kiosk"
    assert other.request("GET", first["ticket_url"]).status_code == 403
    assert kiosk.reprint(999999).status_code == 404

    use_printer(app, {"kind": "none"})
    no_printer = kiosk.reprint(third["id"])
    assert no_printer.status_code == 409


def test_kiosk_refuse_mode_turns_away_before_issuing(
    kiosk: KioskBrowser, app: Flask, fake_printer: FakeEscposPrinter, alerts: list[Message]
) -> None:
    use_printer(app, network(fake_printer, when_down="refuse"))
    fake_printer.mode = "paper_out"
    answer = kiosk.issue("character")
    assert answer.status_code == 503
    body = answer.get_json()
    assert body["error"] == "printer_unavailable" and body["printer"] == "paper_out"
    assert "ask the staff" in body["message_en"] and "عملے" in body["message_ur"]
    assert token_count(app) == 0, "nothing issued"
    assert printer_status(app) == "paper_out"
    assert [e["data"]["status"] for e in events_of(app, "printer_fault")] == ["paper_out"]
    assert alerts_in(alerts)[0]["level"] == "error" and alerts_in(alerts)[0]["token"] is None

    fake_printer.mode = "ok"
    ok = kiosk.issue("character")
    assert ok.status_code == 201 and ok.get_json()["print"]["printed"] is True
    assert events_of(app, "ticket_printed") and alerts_in(alerts)[-1]["level"] == "ok"


def test_kiosk_with_broken_printer_settings_still_issues(kiosk: KioskBrowser, app: Flask) -> None:
    use_printer(app, {"kind": "network", "port": "not a port"})
    body = kiosk.issue("fir_copy").get_json()
    assert body["number"] == "N001"
    assert body["print"]["printed"] is False and body["print"]["status"] == "offline"
    fault = events_of(app, "printer_fault")[0]
    assert "invalid printer settings" in fault["data"]["detail"]


def test_kiosk_status_reports_the_printer_and_records_changes(
    kiosk: KioskBrowser, app: Flask, fake_printer: FakeEscposPrinter, alerts: list[Message]
) -> None:
    none = kiosk.request("GET", "/kiosk/demo/status").get_json()
    assert none["ok"] is True and none["printer"] == {
        "configured": False,
        "status": "none",
        "can_print": False,
        "when_down": "screen",
    }
    use_printer(app, network(fake_printer))
    seen_before = fresh(app, lambda s: kiosk_device(s).last_seen_at)
    ok = kiosk.request("GET", "/kiosk/demo/status").get_json()
    assert ok["printer"]["status"] == "ok" and ok["printer"]["can_print"] is True
    assert fresh(app, lambda s: kiosk_device(s).last_seen_at) == seen_before, "looking writes nothing"
    assert fresh(app, lambda s: kiosk_device(s).id) in presence(app).pending()
    presence(app).run_once()
    assert fresh(app, lambda s: kiosk_device(s).last_seen_at) is not None, "the presence worker does"

    fake_printer.mode = "cover_open"
    down = kiosk.request("GET", "/kiosk/demo/status").get_json()["printer"]
    assert down["can_print"] is False and down["status"] == "cover_open"
    assert (down["message_en"], down["message_ur"]) == status_message(PrinterStatus.COVER_OPEN)
    kiosk.request("GET", "/kiosk/demo/status")
    assert len(events_of(app, "printer_fault")) == 1, "a change is recorded once"

    fake_printer.mode = "ok"
    kiosk.request("GET", "/kiosk/demo/status")
    assert len(events_of(app, "printer_recovered")) == 1
    assert [a["level"] for a in alerts_in(alerts)] == ["error", "ok"]
    assert kiosk.request("GET", "/kiosk/other/status").status_code in (403, 404)


# --- abuse ---------------------------------------------------------------------------------


def test_kiosk_duplicate_taps_issue_one_token(
    kiosk: KioskBrowser, app: Flask, fake_printer: FakeEscposPrinter, keys: dict[str, str]
) -> None:
    use_printer(app, network(fake_printer))
    first = kiosk.issue("learner", key="double-tap-1")
    second = kiosk.issue("learner", key="double-tap-1")
    assert first.status_code == 201 and second.status_code == 200
    assert second.get_json()["id"] == first.get_json()["id"] and second.get_json()["replay"] is True
    assert second.get_json()["print"]["printed"] is True
    assert token_count(app) == 1 and len(raster_jobs(fake_printer)) == 1, "one token, one ticket"

    # two taps arriving at the same instant (the device key, from two connections)
    answers: list[Any] = []

    def tap() -> None:
        with app.app_context():
            answers.append(
                app.test_client().post(
                    "/kiosk/demo/issue",
                    json={"service": "learner", "idempotency_key": "double-tap-2"},
                    headers=bearer(keys["kiosk"]),
                )
            )

    threads = [threading.Thread(target=tap) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(a.status_code for a in answers) == [200, 201]
    assert len({a.get_json()["id"] for a in answers}) == 1
    assert token_count(app) == 2 and len(raster_jobs(fake_printer)) == 2

    other = kiosk.issue("learner", key="double-tap-3")
    assert other.status_code == 201 and other.get_json()["number"] == "G003", "a new tap is a new token"


def test_kiosk_issuing_is_rate_limited_per_device(kiosk: KioskBrowser, app: Flask) -> None:
    app.config["ISSUE_RATE_LIMIT"] = 3
    for _ in range(3):
        assert kiosk.issue("bank").status_code == 201
    refused = kiosk.issue("bank")
    assert refused.status_code == 429
    body = refused.get_json()
    assert body["error"] == "rate_limited"
    assert body["message_en"] == "Too many requests: wait a moment and try again."
    assert is_urdu(body["message_ur"]), "translated (by whichever catalogue has the core's message)"
    assert token_count(app) == 3


def test_kiosk_refuses_inactive_and_unknown_services(
    kiosk: KioskBrowser, app: Flask, fake_printer: FakeEscposPrinter
) -> None:
    use_printer(app, network(fake_printer))

    def switch_off(s: Session) -> None:
        s.scalars(select(Service).where(Service.code == "legal")).one().is_active = False

    fresh(app, switch_off)
    inactive = kiosk.issue("legal")
    assert inactive.status_code == 409 and inactive.get_json()["error"] == "service_inactive"
    assert is_urdu(inactive.get_json()["message_ur"])
    unknown = kiosk.issue("no_such")
    assert unknown.status_code == 404 and unknown.get_json()["error"] == "unknown_service"
    assert unknown.get_json()["message_en"] == "This service is not offered at this centre."
    assert token_count(app) == 0 and fake_printer.jobs == [], "refused before the printer was asked"
    config = kiosk.open().get_data(as_text=True)
    assert '"code": "legal"' not in config and '"code": "bank"' in config


def test_kiosk_cannot_issue_for_another_centre(
    kiosk: KioskBrowser, app: Flask, client: FlaskClient, keys: dict[str, str], demo: SeedResult
) -> None:
    other_key = new_key("dev")
    staff_key = new_key("staff")

    def other_centre(s: Session) -> None:
        centre = Centre(code="other", name_en="Other", name_ur="دوسرا")
        s.add(centre)
        s.flush()
        s.add(Service(centre_id=centre.id, code="character", name_en="C", name_ur="ک", prefix="A"))
        s.add(
            Device(
                centre_id=centre.id, kind=DeviceKind.KIOSK, name="Other kiosk", key_hash=key_hash(other_key)
            )
        )
        clerk = Staff(username="otherclerk", role=Role.CLERK, centre_id=centre.id, password_hash="x")
        clerk.api_keys.append(StaffApiKey(key_hash=key_hash(staff_key)))
        s.add(clerk)

    fresh(app, other_centre)
    # the demo kiosk asks for the other centre, by session and by key
    assert kiosk.issue(centre="other").status_code == 403
    assert kiosk.issue(centre="other").get_json()["error"] == "wrong_centre"
    by_key = kiosk.request(
        "POST", "/kiosk/other/issue", json={"service": "character"}, headers=bearer(keys["kiosk"])
    )
    assert by_key.status_code == 403
    # the other centre's kiosk, paired, opens the demo kiosk page: the pairing screen, no data
    stranger = KioskBrowser(app, app.test_client())
    assert stranger.pair(other_key, centre="other").status_code == 200
    assert stranger.open("demo").status_code == 401
    stranger.open("other")
    assert stranger.issue(centre="demo").status_code == 403
    assert token_count(app) == 0

    # the ticket image: the issuing kiosk and the centre's staff, nobody else
    token = kiosk.issue().get_json()
    assert kiosk.request("GET", token["ticket_url"], headers=bearer(keys["clerk3"])).status_code == 200
    assert kiosk.request("GET", token["ticket_url"], headers=bearer(keys["admin"])).status_code == 200
    assert kiosk.request("GET", token["ticket_url"], headers=bearer(staff_key)).status_code == 404
    assert kiosk.request("GET", token["ticket_url"], headers=bearer(keys["display"])).status_code == 403
    assert KioskBrowser(app, app.test_client()).request("GET", token["ticket_url"]).status_code == 401


def test_kiosk_session_posts_need_the_csrf_header_and_bad_input_is_clear(
    kiosk: KioskBrowser, app: Flask
) -> None:
    no_csrf = kiosk.request("POST", "/kiosk/demo/issue", json={"service": "character"})
    assert no_csrf.status_code == 403 and no_csrf.get_json()["error"] == "csrf"
    for body in (
        [1, 2],
        {"service": "character", "priority": "vip"},
        {"service": "x", "idempotency_key": "s"},
    ):
        bad = kiosk.post("/kiosk/demo/issue", body)
        assert bad.status_code == 400, body
        assert bad.get_json()["message_en"] and bad.get_json()["message_ur"]
    garbage = kiosk.request(
        "POST",
        "/kiosk/demo/issue",
        data="{not json",
        headers={"X-CSRFToken": kiosk.csrf, "Content-Type": "application/json"},
    )
    assert garbage.status_code == 400
    assert token_count(app) == 0


def test_kiosk_ticket_image_is_at_the_printers_width(
    kiosk: KioskBrowser, app: Flask, fake_printer: FakeEscposPrinter
) -> None:
    use_printer(app, network(fake_printer, width=384))
    body = kiosk.issue("overseas", "disabled").get_json()
    assert body["print"]["printed"] is True
    image = Image.open(io.BytesIO(kiosk.request("GET", body["ticket_url"]).data))
    assert image.size[0] == 384 and image.mode == "1"
    job = raster_jobs(fake_printer)[0]
    start = job.index(b"\x1dv0")
    assert int.from_bytes(job[start + 4 : start + 6], "little") == 384 // 8
    assert kiosk.request("GET", "/kiosk/demo/tickets/424242.png").status_code == 404


def test_record_print_result_refuses_what_does_not_fit(app: Flask, session: Session, centre: Centre) -> None:
    from queue_server import operations
    from queue_server.actors import SYSTEM

    token = operations.issue_token(session, centre, "character", SYSTEM).token
    device = kiosk_device(session)
    with pytest.raises(ValueError, match="unknown printer status"):
        record_print_result(session, token, device, "on_fire", printed=False, actor=SYSTEM)
    other = Centre(code="far", name_en="Far", name_ur="دور")
    session.add(other)
    session.flush()
    stranger = Device(centre_id=other.id, kind=DeviceKind.KIOSK, name="Far kiosk", key_hash="f" * 64)
    session.add(stranger)
    session.flush()
    with pytest.raises(ValueError, match="different centres"):
        record_print_result(session, token, stranger, "ok", printed=True, actor=SYSTEM)
    session.rollback()
