"""Recording what a kiosk's ticket printer did: the token's print state, the device's
printer status, an event for the audit trail, and an alert for staff and the dashboard.

The kiosk prints only after the token is committed (a printer fault never loses a token);
these operations record the outcome in a second, short transaction. Statuses are the
values of ``queue_server.states.PrinterStatus`` (the kiosk reads its printer into the same
enum), or "none" for a device without a printer. Alerts go to the centre's dashboard and
counters rooms as the realtime event ``alert`` with the text in English and Urdu, since
they are sent outside any request.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from queue_server import rooms
from queue_server.actors import Actor
from queue_server.audit import append_event
from queue_server.clock import utcnow
from queue_server.errors import N_
from queue_server.i18n import both
from queue_server.models import Device, PrintState, Token
from queue_server.publish import Message, publish
from queue_server.states import NO_PRINTER, PRINTER_FAULTS, PrinterStatus

OK, PAPER_LOW, UNKNOWN, NONE = PrinterStatus.OK, PrinterStatus.PAPER_LOW, PrinterStatus.UNKNOWN, NO_PRINTER
FAULTS = PRINTER_FAULTS
STATUSES: frozenset[str] = frozenset(PrinterStatus) | {NONE}

# What staff read on the dashboard and counter consoles: "<kiosk>: <what is wrong>."
_PROBLEMS: dict[str, str] = {
    "paper_out": N_("%(kiosk)s: the ticket printer is out of paper."),
    "paper_low": N_("%(kiosk)s: the ticket printer is running low on paper."),
    "offline": N_("%(kiosk)s: the ticket printer is offline or unreachable."),
    "cover_open": N_("%(kiosk)s: the ticket printer's cover is open."),
    "timeout": N_("%(kiosk)s: the ticket printer does not respond."),
    "unknown": N_("%(kiosk)s: a ticket could not be printed."),
    "ok": N_("%(kiosk)s: the ticket printer is working again."),
}
_NOT_PRINTED = N_("Token %(number)s was not printed; the citizen has it on the kiosk screen.")


def _level(status: str, printed: bool | None) -> str:
    if printed is False or status in FAULTS:
        return "error"
    if status == PAPER_LOW:
        return "warning"
    return "ok"


def _alert(
    session: Session,
    device: Device,
    status: str,
    *,
    token: Token | None = None,
    printed: bool | None = None,
) -> None:
    message_en, message_ur = both(_PROBLEMS.get(status, _PROBLEMS[UNKNOWN]), kiosk=device.name)
    if token is not None and printed is False:
        more_en, more_ur = both(_NOT_PRINTED, number=token.number)
        message_en, message_ur = f"{message_en} {more_en}", f"{message_ur} {more_ur}"
    payload: dict[str, Any] = {
        "kind": "printer",
        "level": _level(status, printed),
        "status": status,
        "device": {"id": device.id, "name": device.name},
        "token": {"id": token.id, "number": token.number} if token is not None else None,
        "message_en": message_en,
        "message_ur": message_ur,
        "at": utcnow().isoformat(),
    }
    targets = (rooms.dashboard(device.centre_id), rooms.counters(device.centre_id))
    publish(session, Message("alert", targets, payload, centre_id=device.centre_id))


def record_printer_status(session: Session, device: Device, status: str, actor: Actor) -> bool:
    """Remember the printer status a kiosk observed (before issuing, or when it polls).

    Only a change is an event (``printer_fault`` into a fault, ``printer_warning`` into low
    paper, ``printer_recovered`` back to ok) with an alert; "unknown" (a printer that cannot tell)
    changes nothing. Returns whether the status changed. Refuses an unknown status string.
    """
    if status not in STATUSES:
        raise ValueError(f"unknown printer status {status!r}")
    if status == UNKNOWN:
        return False
    previous = device.printer_status
    device.printer_status = status
    device.printer_status_at = utcnow()
    if status == previous:
        return False
    if status in FAULTS:
        kind = "printer_fault"
    elif status == PAPER_LOW:
        kind = "printer_warning"
    elif status == OK and (previous in FAULTS or previous == PAPER_LOW):
        kind = "printer_recovered"
    else:
        return True  # e.g. "unknown" -> "ok" when a kiosk starts: nothing to tell anyone
    append_event(
        session,
        device.centre_id,
        kind,
        actor,
        data={"device": device.id, "status": status, "previous": previous},
    )
    _alert(session, device, status)
    return True


def record_print_result(
    session: Session,
    token: Token,
    device: Device,
    status: str,
    *,
    printed: bool,
    actor: Actor,
    detail: str = "",
    reprint: bool = False,
) -> None:
    """Record the outcome of printing ``token``'s ticket on ``device``'s printer.

    Printed: the token becomes ``printed`` and a ``ticket_printed`` event is appended (a
    printer back from a fault, or newly low on paper, also alerts). Not printed: the token
    becomes ``failed`` (unprinted: the citizen has it on screen and the kiosk may reprint),
    a ``printer_fault`` event names the token and the status, and staff get an alert.
    Refuses a token of another centre than the device's.
    """
    if status not in STATUSES:
        raise ValueError(f"unknown printer status {status!r}")
    if token.centre_id != device.centre_id:
        raise ValueError("the token and the kiosk belong to different centres")
    if printed and status == UNKNOWN:
        status = OK  # a printer that cannot report its state has just printed: it works
    previous = device.printer_status
    device.printer_status = status
    device.printer_status_at = utcnow()
    data: dict[str, Any] = {"device": device.id, "status": status, "reprint": reprint}
    if printed:
        token.print_state = PrintState.PRINTED
        append_event(
            session,
            token.centre_id,
            "ticket_printed",
            actor,
            token_id=token.id,
            service_id=token.service_id,
            data=data,
        )
        if status != previous and (status == PAPER_LOW or previous in FAULTS or previous == PAPER_LOW):
            _alert(session, device, status)
        return
    token.print_state = PrintState.FAILED
    append_event(
        session,
        token.centre_id,
        "printer_fault",
        actor,
        token_id=token.id,
        service_id=token.service_id,
        data={**data, "previous": previous, "detail": detail[:300]},
    )
    _alert(session, device, status, token=token, printed=False)
