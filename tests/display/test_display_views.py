"""The display page, its audio endpoint, the pre-rendering after a call, and the notice API,
through the Flask test client."""

from __future__ import annotations

import json
import re
import time
import wave
from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from display import views
from display.announce import Announcement, AnnouncementKind, Announcer
from queue_server.models import Centre, Counter, Event, Service
from queue_server.publish import Message, add_sink, remove_sink
from tests.conftest import bearer


def pair(client: FlaskClient, key: str, kind: str = "display") -> None:
    r = client.post("/api/v1/devices/pair", json={"key": key, "kind": kind, "centre": "demo"})
    assert r.status_code == 200, r.get_json()


def config_of(html: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="display-config">(.*?)</script>', html, re.S)
    assert found, "no display config on the page"
    return json.loads(found.group(1))  # type: ignore[no-any-return]


def login(client: FlaskClient, username: str, password: str) -> None:
    page = client.get("/display/demo")  # any page: for the CSRF cookie and token
    token = re.search(r'name="csrf-token" content="([^"]+)"', page.get_data(as_text=True))
    assert token
    r = client.post(
        "/api/v1/auth/login",
        json={"username": username, "password": password},
        headers={"X-CSRFToken": token.group(1)},
    )
    assert r.status_code == 200, r.get_json()


def called_token(client: FlaskClient, keys: dict[str, str], counter: Counter, service: str) -> dict[str, Any]:
    clerk = keys[f"clerk{counter.number}"]
    r = client.post("/api/v1/centres/demo/tokens", json={"service": service}, headers=bearer(keys["kiosk"]))
    assert r.status_code == 201, r.get_json()
    assert client.post(f"/api/v1/counters/{counter.id}/open", headers=bearer(clerk)).status_code == 200
    r = client.post(f"/api/v1/counters/{counter.id}/call-next", headers=bearer(clerk))
    assert r.status_code == 200, r.get_json()
    return r.get_json()  # type: ignore[no-any-return]


def fetch(client: FlaskClient, url: str, **kw: Any) -> Any:
    """GET a file response and close it (send_file keeps the file open until then)."""
    with client.get(url, **kw) as response:
        response.get_data()
        return response


def wait_until(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


# --- the page -----------------------------------------------------------------------------------


def test_an_unpaired_browser_sees_the_pairing_screen_and_none_of_the_hall(
    client: FlaskClient, demo: Any
) -> None:
    r = client.get("/display/demo")
    html = r.get_data(as_text=True)
    assert r.status_code == 401
    assert 'id="pair-form"' in html
    for secret in ("Khidmat Markaz Demo", "خدمت مرکز ڈیمو", "display-config", "Character certificate"):
        assert secret not in html


def test_a_kiosk_or_another_centres_display_is_not_this_display(
    client: FlaskClient, keys: dict[str, str]
) -> None:
    pair(client, keys["kiosk"], kind="kiosk")
    assert client.get("/display/demo").status_code == 401
    assert "pair-form" in client.get("/display/elsewhere").get_data(as_text=True)


def test_a_paired_display_gets_the_screen_with_both_languages(
    client: FlaskClient, keys: dict[str, str]
) -> None:
    pair(client, keys["display"])
    r = client.get("/display/demo?lang=ur")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert r.headers["Cache-Control"] == "no-store"
    assert '<html lang="ur" dir="rtl">' in html
    config = config_of(html)
    assert config["centre"] == "demo" and config["timezone"] == "Asia/Karachi" and config["zone"] is None
    assert config["labels"]["now_calling"] == {"en": "Now calling", "ur": "اب باری"}
    assert config["labels"]["recall"]["ur"] == "دوبارہ بلایا گیا"
    assert config["audio_base"] == "/display/demo/announce/"
    assert "Khidmat Markaz Demo" in html and "خدمت مرکز ڈیمو" in html
    for asset in ("/static/display/display.css", "/static/display/display.js"):
        assert asset in html
        assert fetch(client, asset).status_code == 200


def test_staff_of_the_centre_may_watch_the_screen(client: FlaskClient, passwords: dict[str, str]) -> None:
    login(client, "clerk1", passwords["clerk1"])
    r = client.get("/display/demo")
    assert r.status_code == 200 and "display-config" in r.get_data(as_text=True)


@pytest.mark.parametrize(("raw", "zone"), [("1,2,3", [1, 2, 3]), (" 4 , 4,5 ", [4, 5]), ("", None)])
def test_a_zone_of_counters(client: FlaskClient, keys: dict[str, str], raw: str, zone: Any) -> None:
    pair(client, keys["display"])
    r = client.get(f"/display/demo?counters={raw}")
    assert r.status_code == 200
    assert config_of(r.get_data(as_text=True))["zone"] == zone


@pytest.mark.parametrize("raw", ["1;2", "a,b", "-1", "1,,x", "१,२", "99999", ","])
def test_a_bad_zone_is_a_clear_message_not_a_500(client: FlaskClient, keys: dict[str, str], raw: str) -> None:
    pair(client, keys["display"])
    r = client.get("/display/demo", query_string={"counters": raw})
    assert r.status_code == 400
    assert "Counters must be numbers separated by commas" in r.get_data(as_text=True)
    ur = client.get("/display/demo", query_string={"counters": raw, "lang": "ur"})
    assert ur.status_code == 400 and "کاؤنٹر نمبر کوما لگا کر لکھیں" in ur.get_data(as_text=True)


def test_hostile_centre_names_are_escaped(
    client: FlaskClient, keys: dict[str, str], centre: Centre, session: Session
) -> None:
    centre.name_en = "</script><script>alert(1)</script>"
    centre.name_ur = "<img src=x onerror=alert(2)>"
    session.commit()
    pair(client, keys["display"])
    html = client.get("/display/demo").get_data(as_text=True)
    assert "<script>alert(1)" not in html and "<img src=x" not in html
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in html


# --- audio ---------------------------------------------------------------------------------------


def test_the_call_audio_for_a_paired_display(
    client: FlaskClient, keys: dict[str, str], counter_no: Callable[[int], Counter]
) -> None:
    token = called_token(client, keys, counter_no(1), "character")
    pair(client, keys["display"])
    url = f"/display/demo/announce/{token['id']}.wav"
    r = fetch(client, url + "?kind=call&counter=1")
    assert r.status_code == 200 and r.mimetype == "audio/wav"
    with wave.open(BytesIO(r.data)) as wav:
        assert wav.getnchannels() == 1 and wav.getframerate() == 22050
        seconds = wav.getnframes() / wav.getframerate()
    assert 2.0 < seconds < 20.0  # a chime and two short sentences
    recall = fetch(client, url + "?kind=recall")
    assert recall.status_code == 200 and recall.data != r.data
    collection = fetch(client, url + "?kind=collection")
    assert collection.status_code == 200 and collection.data not in (r.data, recall.data)
    again = fetch(client, url + "?kind=call&counter=1")
    assert again.data == r.data
    # A collection call names the clerk's counter now, which may not be the token's.
    elsewhere = fetch(client, url + "?kind=collection&counter=2")
    assert elsewhere.status_code == 200 and elsewhere.data != collection.data
    assert fetch(client, url + "?kind=call").data == r.data  # no counter: the token's own
    chime = fetch(client, "/display/demo/chime.wav")
    assert chime.status_code == 200 and chime.mimetype == "audio/wav" and len(chime.data) < len(r.data)


def test_audio_by_key_for_staff_and_displays_only(
    client: FlaskClient, keys: dict[str, str], counter_no: Callable[[int], Counter]
) -> None:
    token = called_token(client, keys, counter_no(2), "overseas")
    url = f"/display/demo/announce/{token['id']}.wav"
    assert client.get(url).status_code == 401
    assert client.get("/display/demo/chime.wav").status_code == 401
    assert client.get(url, headers=bearer(keys["kiosk"])).status_code == 403
    assert client.get(url, headers=bearer("kq_dev_not-a-key")).status_code == 401
    assert fetch(client, url, headers=bearer(keys["display"])).status_code == 200
    assert fetch(client, url, headers=bearer(keys["manager"])).status_code == 200


def test_audio_refuses_bad_requests_clearly(
    client: FlaskClient, keys: dict[str, str], counter_no: Callable[[int], Counter]
) -> None:
    token = called_token(client, keys, counter_no(3), "tenant")
    waiting = client.post(
        "/api/v1/centres/demo/tokens", json={"service": "tenant"}, headers=bearer(keys["kiosk"])
    ).get_json()
    pair(client, keys["display"])
    bad_kind = client.get(f"/display/demo/announce/{token['id']}.wav?kind=<script>")
    assert bad_kind.status_code == 400 and "Unknown announcement kind" in bad_kind.get_data(as_text=True)
    not_called = client.get(f"/display/demo/announce/{waiting['id']}.wav")
    assert not_called.status_code == 404
    assert f"Token {waiting['number']} has not been called" in not_called.get_data(as_text=True)
    bad_counter = client.get(f"/display/demo/announce/{token['id']}.wav?counter=1;2")
    assert bad_counter.status_code == 400 and "Unknown counter 1;2" in bad_counter.get_data(as_text=True)
    assert client.get(f"/display/demo/announce/{token['id']}.wav?counter=99").status_code == 404
    assert client.get("/display/demo/announce/999999.wav").status_code == 404
    assert client.get("/display/nowhere/announce/1.wav").status_code == 404
    assert client.get("/display/demo/announce/abc.wav").status_code == 404


def test_audio_without_any_voice_is_a_clear_503(
    app: Flask,
    client: FlaskClient,
    keys: dict[str, str],
    counter_no: Callable[[int], Counter],
    tmp_path: Path,
) -> None:
    token = called_token(client, keys, counter_no(4), "vehicle")
    app.extensions[views.ANNOUNCER_KEY] = Announcer(tmp_path / "cache", espeak="/nonexistent/espeak-ng")
    pair(client, keys["display"])
    r = client.get(f"/display/demo/announce/{token['id']}.wav?lang=ur")
    assert r.status_code == 503
    assert "اس سرور پر آواز میں اعلان دستیاب نہیں" in r.get_data(as_text=True)
    assert fetch(client, "/display/demo/chime.wav").status_code == 200  # the chime needs no voice


def test_a_call_is_rendered_right_after_the_commit(
    app: Flask,
    client: FlaskClient,
    keys: dict[str, str],
    counter_no: Callable[[int], Counter],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    speaker = views.announcer()
    token = called_token(client, keys, counter_no(5), "learner")
    expected = Announcement(token["number"], "5", AnnouncementKind.CALL)

    def rendered() -> bool:
        return any(p.name.startswith(f"call-{token['number']}-") for p in speaker.cache_dir.glob("*.wav"))

    views.prerenderer().run_once()  # the worker's round (it does not start by itself in testing)
    wait_until(rendered)
    # The screen's request now finds the file made: nothing is rendered a second time.
    monkeypatch.setattr(Announcer, "_render", lambda *_a: pytest.fail("rendered twice"))
    pair(client, keys["display"])
    r = fetch(client, f"/display/demo/announce/{token['id']}.wav?kind=call")
    assert r.status_code == 200
    assert speaker.audio_for(expected).read_bytes() == r.data


def test_a_rolled_back_call_renders_nothing(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    submitted: list[Any] = []
    monkeypatch.setattr(views.prerenderer(), "submit", lambda *a: submitted.append(a))
    views.pregenerate(
        Message("token_called", ("r",), {"token": {"number": "A001", "counter": 1}, "kind": "call"})
    )
    views.pregenerate(
        Message("token_called", ("r",), {"token": {"number": "<x>", "counter": 1}, "kind": "call"})
    )
    views.pregenerate(Message("token_called", ("r",), {"token": {"number": "A001", "counter": None}}))
    views.pregenerate(Message("queue_changed", ("r",), {"services": []}))
    assert [a[1] for a in submitted] == [Announcement("A001", "1")]


# --- the notice ----------------------------------------------------------------------------------


def test_the_manager_sets_the_notice_and_every_screen_redraws(
    client: FlaskClient, keys: dict[str, str], centre: Centre, session: Session
) -> None:
    seen: list[Message] = []
    add_sink(seen.append)
    try:
        r = client.put(
            "/api/v1/centres/demo/notice",
            json={"notice_en": "  Closing at\n4 pm  ", "notice_ur": "آج چار بجے بند"},
            headers=bearer(keys["manager"]),
        )
    finally:
        remove_sink(seen.append)
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == {"centre": "demo", "notice_en": "Closing at 4 pm", "notice_ur": "آج چار بجے بند"}
    session.expire_all()
    assert (centre.notice_en, centre.notice_ur) == ("Closing at 4 pm", "آج چار بجے بند")
    assert [m.event for m in seen] == ["refresh"]
    snap = client.get("/api/v1/centres/demo/snapshot", headers=bearer(keys["display"])).get_json()
    assert snap["centre"]["notice_en"] == "Closing at 4 pm"
    assert session.query(Event).filter_by(kind="notice_changed").count() == 1
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["paths"]["/api/v1/centres/{code}/notice"]["put"]["x-admits"] == ["manager"]


@pytest.mark.parametrize(
    ("who", "body", "status"),
    [
        ("clerk1", {"notice_en": "x"}, 403),
        ("display", {"notice_en": "x"}, 403),
        (None, {"notice_en": "x"}, 401),
        ("manager", {"notice_en": "x" * 501}, 400),
        ("manager", {"notice_en": 5}, 400),
        ("manager", {"other": "x"}, 400),
        ("manager", ["x"], 400),
    ],
)
def test_the_notice_refuses(
    client: FlaskClient,
    keys: dict[str, str],
    centre: Centre,
    session: Session,
    who: Any,
    body: Any,
    status: int,
) -> None:
    headers = bearer(keys[who]) if who else {}
    r = client.put("/api/v1/centres/demo/notice", json=body, headers=headers)
    assert r.status_code == status
    assert set(r.get_json()) >= {"error", "message"}
    session.expire_all()
    assert centre.notice_en == ""


def test_the_notice_from_a_browser_session_needs_the_csrf_header(
    client: FlaskClient, passwords: dict[str, str], centre: Centre, session: Session
) -> None:
    login(client, "manager", passwords["manager"])
    r = client.put("/api/v1/centres/demo/notice", json={"notice_en": "x"})
    assert r.status_code == 403 and r.get_json()["error"] == "csrf"
    page = client.get("/display/demo").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert token
    ok = client.put(
        "/api/v1/centres/demo/notice", json={"notice_en": "x"}, headers={"X-CSRFToken": token.group(1)}
    )
    assert ok.status_code == 200


def test_service_names_never_reach_the_page_as_html(
    client: FlaskClient, keys: dict[str, str], service_code: Callable[[str], Service], session: Session
) -> None:
    service_code("bank").name_en = "<script>alert(1)</script>"
    session.commit()
    pair(client, keys["display"])
    html = client.get("/display/demo").get_data(as_text=True)
    assert "<script>alert(1)" not in html  # names come over the socket and go in as text
    js = fetch(client, "/static/display/display.js").get_data(as_text=True)
    assert "innerHTML" not in js and "insertAdjacentHTML" not in js and "document.write" not in js
