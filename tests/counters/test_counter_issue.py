"""Tokens a clerk issues at the counter (no kiosk there): through the JSON API, with the
counter's printer (a fake ESC/POS printer on a real socket) or without one."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from queue_server.audit import verify_chain
from queue_server.models import Centre, Counter, Event, PrintState, Token
from tests.conftest import bearer
from tests.fakes.escpos_printer import FakeEscposPrinter


@pytest.fixture
def printer() -> Iterator[FakeEscposPrinter]:
    with FakeEscposPrinter() as fake:
        yield fake


@pytest.fixture
def post(client: FlaskClient, keys: dict[str, str]) -> Callable[..., Any]:
    def run(path: str, who: str, body: Any = None, lang: str = "en") -> Any:
        return client.post(f"/api/v1{path}?lang={lang}", headers=bearer(keys[who]), json=body)

    return run


@pytest.fixture
def desk(post: Callable[..., Any], counter_no: Callable[[int], Counter]) -> int:
    """Counter 1, opened by clerk1."""
    counter_id = counter_no(1).id
    assert post(f"/counters/{counter_id}/open", "clerk1").status_code == 200
    return counter_id


def set_printer(session: Session, counter_id: int, settings: dict[str, Any] | None) -> None:
    counter = session.get(Counter, counter_id)
    assert counter is not None
    counter.printer = settings
    session.commit()


def test_a_clerk_issues_a_token_at_the_counter_without_a_printer(
    post: Callable[..., Any], desk: int, session: Session, centre: Centre
) -> None:
    response = post(f"/counters/{desk}/issue", "clerk1", {"service": "character"})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["number"], body["state"], body["position"], body["ahead"]) == ("A001", "waiting", 1, 0)
    assert body["print"] == {"configured": False, "printed": False, "status": "none", "detail": ""}
    assert body["tracking_url"].endswith("/t/" + session.get(Token, body["id"]).public_code)  # type: ignore[union-attr]
    assert body["ticket_url"] == f"/kiosk/demo/tickets/{body['id']}.png"
    # The same operation as the kiosk: the next kiosk token of the service is A002.
    kiosk = post("/centres/demo/tokens", "kiosk", {"service": "character"}).get_json()
    assert kiosk["number"] == "A002" and kiosk["ahead"] == 1
    issued = session.scalar(select(Event).where(Event.kind == "token_issued", Event.token_id == body["id"]))
    assert issued is not None and issued.counter_id == desk and issued.actor.startswith("staff:")
    token = session.get(Token, body["id"])
    assert token is not None and token.device_id is None and token.print_state == PrintState.NOT_PRINTED
    assert verify_chain(session, centre.id).ok


def test_the_ticket_image_shows_on_the_console_for_staff(
    post: Callable[..., Any], desk: int, client: FlaskClient, keys: dict[str, str]
) -> None:
    body = post(
        f"/counters/{desk}/issue", "clerk1", {"service": "character", "priority": "senior"}
    ).get_json()
    assert body["priority"] == "senior"
    image = client.get(body["ticket_url"], headers=bearer(keys["clerk1"]))
    assert image.status_code == 200 and image.mimetype == "image/png" and len(image.data) > 1000


def test_the_counters_printer_prints_the_ticket_after_the_commit(
    post: Callable[..., Any], desk: int, session: Session, printer: FakeEscposPrinter
) -> None:
    set_printer(session, desk, {"kind": "network", "host": "127.0.0.1", "port": printer.port, "timeout": 0.5})
    body = post(f"/counters/{desk}/issue", "clerk1", {"service": "character"}).get_json()
    assert body["print"]["configured"] is True and body["print"]["printed"] is True, body
    assert body["print_state"] == "printed"
    assert [job for job in printer.printed if b"\x1dv0" in job], "no raster image reached the printer"
    session.expire_all()
    assert session.get(Token, body["id"]).print_state == PrintState.PRINTED  # type: ignore[union-attr]
    printed = session.scalar(
        select(Event).where(Event.kind == "ticket_printed", Event.token_id == body["id"])
    )
    assert printed is not None and printed.counter_id == desk


def test_a_printer_that_does_not_answer_leaves_the_token_issued_and_shown(
    post: Callable[..., Any], desk: int, session: Session, printer: FakeEscposPrinter
) -> None:
    port = printer.port
    printer.close()  # nothing listens there any more
    set_printer(session, desk, {"kind": "network", "host": "127.0.0.1", "port": port, "timeout": 0.5})
    body = post(f"/counters/{desk}/issue", "clerk1", {"service": "character"}).get_json()
    assert body["number"] == "A001" and body["state"] == "waiting"
    assert body["print"]["configured"] is True and body["print"]["printed"] is False
    assert body["print"]["status"] in ("offline", "timeout") and body["print_state"] == "failed"
    fault = session.scalar(select(Event).where(Event.kind == "printer_fault", Event.token_id == body["id"]))
    assert fault is not None and fault.counter_id == desk


@pytest.mark.parametrize(
    ("lang", "unknown", "not_yours"),
    [
        ("en", "No service", "Counter 1 is not yours"),
        ("ur", "سروس", "کاؤنٹر 1 آپ کا نہیں"),
    ],
)
def test_refusals_change_nothing_and_speak_the_callers_language(
    post: Callable[..., Any],
    desk: int,
    session: Session,
    counter_no: Callable[[int], Counter],
    lang: str,
    unknown: str,
    not_yours: str,
) -> None:
    bad = post(f"/counters/{desk}/issue", "clerk1", {"service": "nope"}, lang)
    assert bad.status_code == 404 and unknown in bad.get_json()["message"]
    other = post(f"/counters/{desk}/issue", "clerk2", {"service": "character"}, lang)
    assert other.status_code == 403 and not_yours in other.get_json()["message"]
    closed = post(f"/counters/{counter_no(2).id}/issue", "manager", {"service": "character"}, lang)
    assert closed.status_code == 409 and closed.get_json()["error"] == "counter_not_open"
    assert post(f"/counters/{desk}/issue", "kiosk", {"service": "character"}, lang).status_code == 403
    malformed = post(f"/counters/{desk}/issue", "clerk1", {"service": "character", "priority": "vip"}, lang)
    assert malformed.status_code == 400
    assert post("/counters/999999/issue", "clerk1", {"service": "character"}, lang).status_code == 404
    assert session.scalar(select(Token.id)) is None
