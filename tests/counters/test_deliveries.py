"""Documents to the door through the JSON API: a ready request set aside for a courier,
dispatched (the citizen's SMS and tracking page follow, never the address), delivered or
returned; who may; bad input refused naming the field; the manager's counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from queue_server.actors import SYSTEM
from queue_server.models import Centre, Delivery, Event, Notification, RequestState, ServiceRequest
from queue_server.operations.day import end_of_day
from tests.support.api import Api, fill

ADDRESS = "House 12, Street 4, Model Town, Lahore"


@pytest.fixture
def ready(api: Api, serve: Any) -> dict[str, Any]:
    """A request of clerk 1, recorded and ready."""
    req = serve()
    fill(api, req)
    api.ok("POST", f"/requests/{req['id']}/advance", "clerk1", {"to": "in_process"})
    api.ok("POST", f"/requests/{req['id']}/advance", "clerk1", {"to": "ready"})
    return req


def track(api: Api, session: Session, req: dict[str, Any]) -> Any:
    code = session.scalar(select(ServiceRequest).where(ServiceRequest.id == req["id"])).token.public_code
    return api.client.get(f"/api/v1/track/{code}").get_json()


def test_a_ready_document_goes_to_the_door(api: Api, ready: dict[str, Any], session: Session) -> None:
    rid = ready["id"]
    marked = api.ok("POST", f"/requests/{rid}/delivery", "clerk1", {"address": ADDRESS, "courier": "Pakistan Post"})
    assert marked["state"] == "to_dispatch" and marked["address"] == ADDRESS
    sent = api.ok("POST", f"/requests/{rid}/delivery/dispatch", "clerk1", {"consignment": "PP-123456"})
    assert sent["state"] == "dispatched" and sent["dispatched_at"]
    view = track(api, session, ready)
    assert view["request"]["delivery"]["state"] == "dispatched"
    assert view["request"]["delivery"]["consignment"] == "PP-123456"
    assert "Model Town" not in str(view), "the address never reaches the tracking page"
    sms = session.scalars(select(Notification).where(Notification.kind == "delivery_dispatched")).all()
    assert len(sms) == 1 and "Model Town" not in str(sms[0].payload)
    done = api.ok("POST", f"/requests/{rid}/delivery/delivered", "clerk1")
    assert done["state"] == "delivered"
    session.expire_all()
    assert session.get(ServiceRequest, rid).state == RequestState.DELIVERED
    kinds = session.scalars(select(Event.kind).where(Event.kind.like("delivery_%")).order_by(Event.id)).all()
    assert kinds == ["delivery_marked", "delivery_dispatched", "delivery_delivered"]
    assert not any("Model Town" in str(e.data) for e in session.scalars(select(Event))), "no address in the chain"
    assert track(api, session, ready)["request"]["state"] == "delivered"


def test_a_returned_document_waits_at_the_centre_and_can_be_sent_again(
    api: Api, ready: dict[str, Any], session: Session
) -> None:
    rid = ready["id"]
    api.ok("POST", f"/requests/{rid}/delivery", "clerk1", {"address": ADDRESS, "courier": "TCS"})
    api.ok("POST", f"/requests/{rid}/delivery/dispatch", "clerk1", {"consignment": "TCS-9"})
    back = api.ok("POST", f"/requests/{rid}/delivery/returned", "clerk1", {"reason": "not_home"})
    assert back["state"] == "returned" and back["return_reason"] == "not_home"
    session.expire_all()
    assert session.get(ServiceRequest, rid).state == RequestState.READY, "collect it at the centre"
    again = api.ok("POST", f"/requests/{rid}/delivery", "clerk1", {"address": ADDRESS + " (gate 2)", "courier": "TCS"})
    assert again["state"] == "to_dispatch" and again["consignment"] == ""
    report = api.ok("GET", "/centres/demo/deliveries?days=1", "manager")
    assert report["total"] == 1 and report["by_state"]["to_dispatch"] == 1


@pytest.mark.parametrize(
    ("path", "body", "error", "field"),
    [
        ("", {"address": "short", "courier": "TCS"}, "invalid_address", "address"),
        ("", {"address": "x" * 301, "courier": "TCS"}, "invalid_address", "address"),
        ("", {"address": 42, "courier": "TCS"}, "invalid_address", "address"),
        ("", {"address": ADDRESS, "courier": ""}, "invalid_courier", "courier"),
        ("", {"address": ADDRESS}, "invalid_courier", "courier"),
    ],
)
def test_bad_delivery_input_names_the_field_and_changes_nothing(
    api: Api, ready: dict[str, Any], session: Session, path: str, body: Any, error: str, field: str
) -> None:
    r = api("POST", f"/requests/{ready['id']}/delivery{path}", "clerk1", body)
    assert r.status_code == 400 and r.get_json()["error"] == error and r.get_json()["field"] == field
    assert session.scalar(select(Delivery.id)) is None


def test_steps_out_of_order_and_other_people_are_refused(
    api: Api, ready: dict[str, Any], serve: Any, session: Session
) -> None:
    rid = ready["id"]
    skip = api("POST", f"/requests/{rid}/delivery/dispatch", "clerk1", {"consignment": "PP-1"})
    assert skip.status_code == 409 and skip.get_json()["error"] == "illegal_delivery_transition"
    bad = api("POST", f"/requests/{rid}/delivery/dispatch", "clerk1", {"consignment": "no spaces please"})
    assert bad.status_code == 400 and bad.get_json()["field"] == "consignment"
    other = api("POST", f"/requests/{rid}/delivery", "clerk2", {"address": ADDRESS, "courier": "TCS"})
    assert other.status_code == 403, "only the handling clerk or a manager"
    assert api("POST", f"/requests/{rid}/delivery", "kiosk", {"address": ADDRESS, "courier": "TCS"}).status_code == 403
    assert api.client.post(f"/api/v1/requests/{rid}/delivery", json={"address": ADDRESS, "courier": "TCS"}).status_code == 401
    not_ready = serve(2, "clerk2")
    r = api("POST", f"/requests/{not_ready['id']}/delivery", "clerk2", {"address": ADDRESS, "courier": "TCS"})
    assert r.status_code == 409 and r.get_json()["error"] == "not_ready"
    managed = api.ok("POST", f"/requests/{rid}/delivery", "manager", {"address": ADDRESS, "courier": "TCS"})
    assert managed["state"] == "to_dispatch"
    twice = api("POST", f"/requests/{rid}/delivery", "clerk1", {"address": ADDRESS, "courier": "TCS"})
    assert twice.status_code == 409 and twice.get_json()["error"] == "delivery_exists"
    assert api("GET", "/centres/demo/deliveries", "clerk1").status_code == 403
    assert api("GET", "/centres/demo/deliveries?days=0", "manager").status_code == 400


def test_the_dispatch_sms_reads_well(app: Flask, api: Api, ready: dict[str, Any], session: Session) -> None:
    from queue_server.notify import OutgoingNotification
    from queue_server.sms.notifier import message_text

    rid = ready["id"]
    api.ok("POST", f"/requests/{rid}/delivery", "clerk1", {"address": ADDRESS, "courier": "Pakistan Post"})
    api.ok("POST", f"/requests/{rid}/delivery/dispatch", "clerk1", {"consignment": "PP-77"})
    row = session.scalars(select(Notification).where(Notification.kind == "delivery_dispatched")).one()
    for language, word in (("en", "Pakistan Post"), ("ur", "Pakistan Post")):
        text = message_text(
            OutgoingNotification(row.id, row.centre_id, row.token_id, row.kind, "sms", row.payload, language=language)
        )
        assert word in text and "PP-77" in text and ready["reference"] in text


def test_end_of_day_erases_an_address_30_days_after_the_delivery_and_keeps_the_rest(
    api: Api, ready: dict[str, Any], session: Session
) -> None:
    rid = ready["id"]
    api.ok("POST", f"/requests/{rid}/delivery", "clerk1", {"address": ADDRESS, "courier": "TCS"})
    api.ok("POST", f"/requests/{rid}/delivery/dispatch", "clerk1", {"consignment": "TCS-77"})
    api.ok("POST", f"/requests/{rid}/delivery/delivered", "clerk1")
    centre = session.scalars(select(Centre).where(Centre.code == "demo")).one()
    now = datetime.now(UTC)
    for days, kept in ((29, True), (31, False)):
        with time_machine.travel(now + timedelta(days=days), tick=False):
            end_of_day(session, centre, SYSTEM)
            session.commit()
        session.expire_all()
        delivery = session.scalars(select(Delivery).where(Delivery.request_id == rid)).one()
        assert (delivery.address == ADDRESS) is kept, days
        assert delivery.consignment == "TCS-77" and delivery.state.value == "delivered", "the rest stays"
