"""Requests (cases) through the JSON API: opened on start, filled in, advanced, rejected or
withdrawn, collected; privacy; the consistency rule for completing; end of day; and the
counter actions the console drives (recall limit, no-show and requeue, transfers, park)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from queue_server import centre_days
from queue_server.formats import mask_cnic, mask_phone, normalise_cnic, normalise_phone
from queue_server.models import Centre, Counter, Event, ServiceRequest, Token
from queue_server.publish import Message
from tests.support.api import CNIC, PHONE, Api, fill


def state_of(session: Session, request_id: int) -> ServiceRequest:
    session.expire_all()
    req = session.get(ServiceRequest, request_id)
    assert req is not None
    return req


# Formats ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("35202-1234567-1", "35202-1234567-1"),
        ("3520212345671", "35202-1234567-1"),
        (" 35202-1234567-1 ", CNIC),
    ],
)
def test_cnic_format(typed: str, stored: str) -> None:
    assert normalise_cnic(typed) == stored
    assert mask_cnic(stored) == "35202-*******-1"


@pytest.mark.parametrize(
    "bad", ["", "35202-123456-1", "35202-12345678-1", "3520A-1234567-1", "35202_1234567_1"]
)
def test_bad_cnic_is_refused(bad: str) -> None:
    from queue_server.errors import ValidationFailed

    with pytest.raises(ValidationFailed, match="CNIC"):
        normalise_cnic(bad)


@pytest.mark.parametrize(
    "typed",
    ["0300-1234567", "03001234567", "+923001234567", "+92 300 1234567", "923001234567", "00923001234567"],
)
def test_pakistani_mobile_is_normalised_to_one_form(typed: str) -> None:
    assert normalise_phone(typed) == "+923001234567"
    assert mask_phone("+923001234567") == "0300-*****67"


@pytest.mark.parametrize(
    "bad", ["", "0300-123456", "0423-1234567", "+913001234567", "03001234567890", "phone"]
)
def test_bad_mobile_is_refused(bad: str) -> None:
    from queue_server.errors import ValidationFailed

    with pytest.raises(ValidationFailed, match="Pakistani mobile"):
        normalise_phone(bad)


# Opening and recording ----------------------------------------------------------------


def test_start_opens_a_request_with_reference_due_time_and_checklist(
    api: Api, serve: Callable[..., dict[str, Any]], centre: Centre
) -> None:
    req = serve()
    assert req["state"] == "open" and req["next_state"] == "in_process"
    assert re.fullmatch(r"DEMO-\d{8}-0001", req["reference"])
    assert [d["en"] for d in req["documents"]] == ["Copy of CNIC", "Two photographs"]
    assert req["fee"] == 1500 and req["fee_received"] == 0
    # Due by the centre's closing time that day, or of the next day it opens (the demo
    # centre closes on Sundays).
    expected = centre_days.deadline(centre.calendar(), date.fromisoformat(req["business_day"]))
    assert datetime.fromisoformat(req["due_at"]) == expected
    api.ok("POST", f"/tokens/{req['token']['id']}/park", "clerk1", {})
    second = serve(1, "clerk1", "character_other")
    assert second["reference"].endswith("-0002")


def test_invalid_cnic_and_phone_get_clear_messages_and_change_nothing(
    api: Api, serve: Callable[..., dict[str, Any]], session: Session
) -> None:
    req = serve()
    before = session.scalar(select(Event.id).order_by(Event.id.desc()).limit(1))
    bad = api(
        "PATCH", f"/requests/{req['id']}", "clerk1", {"applicant_name": "Ali Khan", "cnic": "35202-123-1"}
    )
    assert bad.status_code == 400
    assert bad.get_json()["error"] == "invalid_cnic" and bad.get_json()["field"] == "cnic"
    assert "35202-1234567-1" in bad.get_json()["message"]
    bad = api(
        "PATCH", f"/requests/{req['id']}", "clerk1", {"applicant_name": "Ali Khan", "phone": "042-1234567"}
    )
    assert bad.status_code == 400 and bad.get_json()["error"] == "invalid_phone"
    assert bad.get_json()["field"] == "phone"
    row = state_of(session, req["id"])
    assert (row.applicant_name, row.cnic, row.phone) == ("", "", "")  # the good name was not kept either
    assert session.scalar(select(Event.id).order_by(Event.id.desc()).limit(1)) == before
    for body, code in (
        ({"applicant_name": "A1"}, "invalid_name"),
        ({"fee_received": -5}, "invalid_fee"),
        ({"fee_received": "lots"}, "invalid_fee"),
        ({"documents": ["A passport"]}, "invalid_documents"),
    ):
        r = api("PATCH", f"/requests/{req['id']}", "clerk1", body)
        assert r.status_code == 400 and r.get_json()["error"] == code, body
    r = api("PATCH", f"/requests/{req['id']}", "clerk1", {"surname": "x"})
    assert r.status_code == 400 and r.get_json()["error"] == "invalid"


def test_recording_needs_name_cnic_and_phone_then_the_states_follow(
    api: Api, serve: Callable[..., dict[str, Any]], session: Session
) -> None:
    req = serve()
    r = api("POST", f"/requests/{req['id']}/advance", "clerk1", {})
    assert r.status_code == 409 and r.get_json()["error"] == "request_incomplete"
    assert state_of(session, req["id"]).state.value == "open"
    detail = fill(api, req, documents=["Copy of CNIC"], fee_received="1500", notes="urgent")
    assert detail["cnic"] == CNIC and detail["phone"] == PHONE and detail["masked"] is False
    assert detail["fee_received"] == 1500
    assert [d["checked"] for d in detail["documents"]] == [True, False]
    assert (
        api.ok("POST", f"/requests/{req['id']}/advance", "clerk1", {"to": "in_process"})["state"]
        == "in_process"
    )
    skip = api("POST", f"/requests/{req['id']}/advance", "clerk1", {"to": "delivered"})
    assert skip.status_code == 409 and skip.get_json()["error"] == "illegal_request_transition"
    ready = api.ok("POST", f"/requests/{req['id']}/advance", "clerk1", {})
    assert ready["state"] == "ready" and ready["ready_at"]
    locked = api("PATCH", f"/requests/{req['id']}", "clerk1", {"notes": "late change"})
    assert locked.status_code == 409 and locked.get_json()["error"] == "request_locked"
    done = api.ok("POST", f"/requests/{req['id']}/advance", "clerk1", {"to": "delivered"})
    assert done["state"] == "delivered" and done["closed_at"] and done["next_state"] is None
    again = api("POST", f"/requests/{req['id']}/advance", "clerk1", {})
    assert again.status_code == 409
    kinds = list(session.scalars(select(Event.kind).where(Event.kind.like("request_%")).order_by(Event.seq)))
    assert kinds == [
        "request_opened",
        "request_updated",
        "request_in_process",
        "request_ready",
        "request_delivered",
    ]


@pytest.mark.parametrize("verb", ["reject", "withdraw"])
def test_reject_and_withdraw_need_a_reason(api: Api, serve: Callable[..., dict[str, Any]], verb: str) -> None:
    req = serve()
    fill(api, req)
    r = api("POST", f"/requests/{req['id']}/{verb}", "clerk1", {"reason": "   "})
    assert r.status_code == 400 and r.get_json()["error"] == "reason_required"
    closed = api.ok("POST", f"/requests/{req['id']}/{verb}", "clerk1", {"reason": "Documents are forged"})
    assert closed["state"] == {"reject": "rejected", "withdraw": "withdrawn"}[verb]
    assert closed["reason"] == "Documents are forged"
    r = api("POST", f"/requests/{req['id']}/withdraw", "clerk1", {"reason": "again"})
    assert r.status_code == 409


def test_a_stale_expectation_is_refused_and_changes_nothing(
    api: Api, serve: Callable[..., dict[str, Any]], session: Session
) -> None:
    req = serve()
    fill(api, req)
    api.ok("POST", f"/requests/{req['id']}/advance", "manager", {})
    r = api("POST", f"/requests/{req['id']}/advance", "clerk1", {"expect_state": "open"})
    assert r.status_code == 409 and r.get_json()["error"] == "stale"
    assert "in_process" in r.get_json()["message"]
    assert state_of(session, req["id"]).state.value == "in_process"


# Completing a token -------------------------------------------------------------------


def test_completing_needs_a_consistent_request(
    api: Api, serve: Callable[..., dict[str, Any]], session: Session
) -> None:
    req = serve()
    token = req["token"]["id"]
    api.ok("PATCH", f"/requests/{req['id']}", "clerk1", {"applicant_name": "Ali Khan"})
    r = api("POST", f"/tokens/{token}/complete", "clerk1", {})
    assert r.status_code == 409 and r.get_json()["error"] == "request_open"
    assert req["reference"] in r.get_json()["message"]
    assert session.get(Token, token).state.value == "serving"  # type: ignore[union-attr]
    fill(api, req)
    api.ok("POST", f"/requests/{req['id']}/advance", "clerk1", {})
    # A same-day request may go on after the citizen leaves the counter.
    assert api.ok("POST", f"/tokens/{token}/complete", "clerk1", {})["state"] == "done"


def test_an_on_the_spot_request_must_be_finished_before_completing(
    api: Api, serve: Callable[..., dict[str, Any]]
) -> None:
    req = serve(4, "clerk4", "vehicle")
    token = req["token"]["id"]
    fill(api, req, who="clerk4")
    api.ok("POST", f"/requests/{req['id']}/advance", "clerk4", {})
    r = api("POST", f"/tokens/{token}/complete", "clerk4", {})
    assert r.status_code == 409 and r.get_json()["error"] == "request_unfinished"
    api.ok("POST", f"/requests/{req['id']}/advance", "clerk4", {})
    api.ok("POST", f"/requests/{req['id']}/advance", "clerk4", {})
    assert api.ok("POST", f"/tokens/{token}/complete", "clerk4", {})["state"] == "done"


def test_an_untouched_request_is_withdrawn_with_the_outcome(
    api: Api, serve: Callable[..., dict[str, Any]], session: Session
) -> None:
    req = serve()
    api.ok("POST", f"/tokens/{req['token']['id']}/complete", "clerk1", {"outcome": "referred"})
    row = state_of(session, req["id"])
    assert row.state.value == "withdrawn" and "referred" in row.reason


# Privacy -------------------------------------------------------------------------------


def test_only_the_handling_clerk_and_managers_open_a_request(
    api: Api, serve: Callable[..., dict[str, Any]]
) -> None:
    req = serve()
    fill(api, req)
    assert api.ok("GET", f"/requests/{req['id']}", "clerk1")["cnic"] == CNIC
    assert api.ok("GET", f"/requests/{req['id']}", "manager")["phone"] == PHONE
    assert api.ok("GET", f"/requests/{req['id']}", "admin")["cnic"] == CNIC
    for path in (f"/requests/{req['id']}", f"/tokens/{req['token']['id']}/request"):
        r = api("GET", path, "clerk2")
        assert r.status_code == 403 and r.get_json()["error"] == "not_handler"
        assert CNIC not in r.get_data(as_text=True)
    r = api("PATCH", f"/requests/{req['id']}", "clerk2", {"notes": "meddling"})
    assert r.status_code == 403
    for who in ("kiosk", "display"):
        assert api("GET", f"/requests/{req['id']}", who).status_code == 403
        assert api("GET", "/centres/demo/requests", who).status_code == 403


def test_lists_mask_cnic_and_phone(api: Api, serve: Callable[..., dict[str, Any]]) -> None:
    req = serve()
    fill(api, req)
    mine = api.ok("GET", "/centres/demo/requests", "clerk1")["requests"]
    assert [r["reference"] for r in mine] == [req["reference"]]
    assert mine[0]["cnic"] == "35202-*******-1" and mine[0]["phone"] == "0300-*****67"
    assert mine[0]["masked"] is True and mine[0]["seconds_left"] is not None
    assert api.ok("GET", "/centres/demo/requests", "clerk2")["requests"] == []
    everyone = api.ok("GET", "/centres/demo/requests?scope=today", "manager")
    assert CNIC not in json.dumps(everyone) and "1234567" not in json.dumps(everyone)
    assert api("GET", "/centres/demo/requests?scope=everything", "manager").status_code == 400


def test_cnic_and_phone_never_reach_screens_tracking_or_the_audit_log(
    api: Api, serve: Callable[..., dict[str, Any]], session: Session, sent: list[Message]
) -> None:
    req = serve()
    fill(api, req)
    api.ok("POST", f"/requests/{req['id']}/advance", "clerk1", {})
    api.ok("POST", f"/requests/{req['id']}/collection-call", "clerk1", {})
    token = session.get(Token, req["token"]["id"])
    assert token is not None
    public = [
        api.ok("GET", "/centres/demo/snapshot", "display"),
        api.ok("GET", "/centres/demo/services", "kiosk"),
        api.client.get(f"/api/v1/track/{token.public_code}").get_json(),
        [m.payload for m in sent],
        [e.data for e in session.scalars(select(Event)).all()],
    ]
    text = json.dumps(public, ensure_ascii=False)
    for secret in ("1234567", "Ali Khan", "+92300"):
        assert secret not in text
    page = api.client.get(f"/t/{token.public_code}")
    assert "1234567" not in page.get_data(as_text=True)


# Same day: collection call and end of day --------------------------------------------------


def test_collection_call_calls_the_citizen_back_as_a_collection(
    api: Api, serve: Callable[..., dict[str, Any]], sent: list[Message], centre: Centre
) -> None:
    req = serve()
    fill(api, req)
    api.ok("POST", f"/requests/{req['id']}/advance", "clerk1", {})
    api.ok("POST", f"/tokens/{req['token']['id']}/complete", "clerk1", {})
    sent.clear()
    called = api.ok(
        "POST", f"/requests/{req['id']}/collection-call", "clerk1", {"expect_state": "in_process"}
    )
    assert called["state"] == "ready" and called["collection_calls"] == 1
    calls = [m for m in sent if m.event == "token_called"]
    assert len(calls) == 1
    assert calls[0].payload["kind"] == "collection"
    assert calls[0].payload["token"]["number"] == req["token"]["number"]
    assert calls[0].payload["token"]["counter"] == 1
    assert f"centre:{centre.id}:display" in calls[0].rooms
    for _ in range(centre.max_recalls):
        api.ok("POST", f"/requests/{req['id']}/collection-call", "clerk1", {})
    r = api("POST", f"/requests/{req['id']}/collection-call", "clerk1", {})
    assert r.status_code == 409 and r.get_json()["error"] == "collection_limit"


def test_collection_call_refuses_an_open_request_and_another_day(
    api: Api, serve: Callable[..., dict[str, Any]]
) -> None:
    req = serve()
    r = api("POST", f"/requests/{req['id']}/collection-call", "clerk1", {})
    assert r.status_code == 409 and r.get_json()["error"] == "not_collectable"
    fill(api, req)
    api.ok("POST", f"/requests/{req['id']}/advance", "clerk1", {})
    with time_machine.travel(datetime.now().astimezone() + timedelta(days=1), tick=False):
        r = api("POST", f"/requests/{req['id']}/collection-call", "clerk1", {})
    assert r.status_code == 409 and r.get_json()["error"] == "not_today"


def test_end_of_day_carries_unfinished_requests_over_and_records_them_late(
    api: Api, serve: Callable[..., dict[str, Any]], runner: Any, session: Session
) -> None:
    same_day = serve()
    fill(api, same_day)
    api.ok("POST", f"/requests/{same_day['id']}/advance", "clerk1", {})
    api.ok("POST", f"/tokens/{same_day['token']['id']}/complete", "clerk1", {})
    five_days = serve(3, "clerk3", "verification")
    fill(api, five_days, who="clerk3")
    api.ok("POST", f"/requests/{five_days['id']}/advance", "clerk3", {})
    api.ok("POST", f"/tokens/{five_days['token']['id']}/complete", "clerk3", {})
    empty = serve(1, "clerk1", "character_other")  # started, nothing recorded
    delivered = serve(3, "clerk3", "tenant")
    fill(api, delivered, who="clerk3")
    for _ in range(3):
        api.ok("POST", f"/requests/{delivered['id']}/advance", "clerk3", {})
    result = runner.invoke(args=["end-of-day", "--centre", "demo"])
    assert result.exit_code == 0, result.output
    assert "carried 2 unfinished requests over, 1 late" in result.output
    assert state_of(session, same_day["id"]).is_late is True
    assert state_of(session, same_day["id"]).carried_over_at is not None
    assert state_of(session, same_day["id"]).state.value == "in_process"
    assert state_of(session, five_days["id"]).is_late is False
    assert state_of(session, five_days["id"]).carry_overs == 1
    assert state_of(session, empty["id"]).state.value == "withdrawn"
    assert state_of(session, delivered["id"]).carry_overs == 0
    again = runner.invoke(args=["end-of-day", "--centre", "demo"])
    assert "carried 0 unfinished requests over" in again.output
    assert state_of(session, five_days["id"]).carry_overs == 1
    late = session.scalars(select(Event).where(Event.kind == "request_carried_over")).all()
    assert sorted(e.data["late"] for e in late) == [False, True]
    listed = api.ok("GET", "/centres/demo/requests", "manager")["requests"]
    assert {r["reference"] for r in listed} == {same_day["reference"], five_days["reference"]}


# Counter actions the console drives -------------------------------------------------------


def test_transfer_to_a_counter_keeps_the_place_and_the_request_follows(
    api: Api, serve: Callable[..., dict[str, Any]], counter_no: Callable[[int], Counter], session: Session
) -> None:
    first = serve()  # clerk1 serves A001
    fill(api, first)
    c2 = counter_no(2).id
    api.ok("POST", f"/counters/{c2}/open", "clerk2")
    waiting = api.ok("POST", "/centres/demo/tokens", "kiosk", {"service": "character"}, status=201)
    moved = api.ok("POST", f"/tokens/{first['token']['id']}/transfer", "clerk1", {"counter": c2})
    assert moved["state"] == "waiting" and moved["target_counter"] == 2
    token = session.get(Token, first["token"]["id"])
    assert token is not None and token.queued_at.isoformat() == moved["queued_at"]
    # Sent to counter 2 itself: first in its list, before the citizen who waited since.
    called = api.ok("POST", f"/counters/{c2}/call-next", "clerk2")
    assert called["id"] == first["token"]["id"] and waiting["id"] != called["id"]
    api.ok("POST", f"/tokens/{called['id']}/start", "clerk2", {})
    followed = api.ok("GET", f"/tokens/{called['id']}/request", "clerk2")
    assert followed["id"] == first["id"] and followed["clerk"] == "Clerk 2"
    assert followed["applicant_name"] == "Ali Khan"
    assert api("GET", f"/requests/{first['id']}", "clerk1").status_code == 403


def test_transfer_to_a_service_keeps_the_original_issue_time(
    api: Api, serve: Callable[..., dict[str, Any]], counter_no: Callable[[int], Counter], session: Session
) -> None:
    first = serve()
    later = api.ok("POST", "/centres/demo/tokens", "kiosk", {"service": "bank"}, status=201)
    moved = api.ok("POST", f"/tokens/{first['token']['id']}/transfer", "clerk1", {"service": "bank"})
    assert moved["service"]["code"] == "bank" and moved["number"] == first["token"]["number"]
    c8 = counter_no(8).id
    api.ok("POST", f"/counters/{c8}/open", "clerk8")
    called = api.ok("POST", f"/counters/{c8}/call-next", "clerk8")
    assert called["id"] == first["token"]["id"], "issued earlier, so first in the bank queue"
    assert called["id"] != later["id"]
    api.ok("POST", f"/tokens/{called['id']}/start", "clerk8", {})
    bank = api.ok("GET", f"/tokens/{called['id']}/request", "clerk8")
    assert bank["service"]["code"] == "bank" and bank["id"] != first["id"]
    assert state_of(session, first["id"]).state.value == "withdrawn"  # never recorded


def test_recall_limit_then_no_show_then_requeue(
    api: Api, counter_no: Callable[[int], Counter], centre: Centre, session: Session
) -> None:
    c1 = counter_no(1).id
    api.ok("POST", f"/counters/{c1}/open", "clerk1")
    issued = api.ok("POST", "/centres/demo/tokens", "kiosk", {"service": "character"}, status=201)
    api.ok("POST", f"/counters/{c1}/call-next", "clerk1")
    for _ in range(centre.max_recalls):
        api.ok("POST", f"/tokens/{issued['id']}/recall", "clerk1", {})
    r = api("POST", f"/tokens/{issued['id']}/recall", "clerk1", {})
    assert r.status_code == 409 and r.get_json()["error"] == "recall_limit"
    assert "no-show" in r.get_json()["message"]
    assert api.ok("POST", f"/tokens/{issued['id']}/no-show", "clerk1", {})["state"] == "no_show"
    back = api.ok("POST", f"/tokens/{issued['id']}/requeue", "clerk2", {})
    assert back["state"] == "waiting" and back["queued_at"] == issued["queued_at"]
    assert back["recalls"] == 0


def test_park_and_unpark_keep_the_request(api: Api, serve: Callable[..., dict[str, Any]]) -> None:
    req = serve()
    token = req["token"]["id"]
    fill(api, req)
    api.ok("POST", f"/tokens/{token}/park", "clerk1", {})
    c1_busy = api("POST", f"/tokens/{token}/complete", "clerk1", {})
    assert c1_busy.status_code == 409
    api.ok("POST", f"/tokens/{token}/unpark", "clerk1", {})
    assert api.ok("GET", f"/tokens/{token}/request", "clerk1")["id"] == req["id"]


def test_openapi_lists_the_request_endpoints(client: FlaskClient) -> None:
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in (
        "/api/v1/centres/{code}/requests",
        "/api/v1/requests/{request_id}",
        "/api/v1/requests/{request_id}/advance",
        "/api/v1/requests/{request_id}/reject",
        "/api/v1/requests/{request_id}/withdraw",
        "/api/v1/requests/{request_id}/collection-call",
        "/api/v1/tokens/{token_id}/request",
    ):
        assert path in paths
    assert set(paths["/api/v1/requests/{request_id}"]) == {"get", "patch"}


def test_the_urdu_catalogue_covers_the_console() -> None:
    from babel.messages.pofile import read_po

    from counters.console import WORDS
    from counters.views import STRINGS

    path = Path(__file__).resolve().parents[2] / "counters/translations/ur/LC_MESSAGES/messages.po"
    with path.open("rb") as fh:
        catalogue = read_po(fh)
    for text in [*STRINGS.values(), *WORDS.values()]:
        message = catalogue.get(text)
        assert message is not None and message.string, text
        placeholders = set(re.findall(r"%\(\w+\)s", text))
        assert set(re.findall(r"%\(\w+\)s", message.string)) == placeholders, text


def test_errors_reach_the_console_in_urdu(app: Any, session: Session, actor_of: Any, counter_no: Any) -> None:
    from flask_babel import refresh

    from counters.events import message_of
    from queue_server import operations
    from queue_server.errors import DomainError

    clerk = actor_of("clerk1")
    operations.open_counter(session, counter_no(1).id, clerk)
    operations.pause_counter(session, counter_no(1).id, clerk)
    with pytest.raises(DomainError) as raised:
        operations.call_next(session, counter_no(1).id, clerk)
    for query, text in (("?lang=ur", "کاؤنٹر 1 وقفے پر ہے۔"), ("?lang=en", "Counter 1 is paused.")):
        with app.test_request_context("/counter" + query):
            refresh()  # the test's app context outlives the request: forget the cached locale
            assert message_of(raised.value) == text
