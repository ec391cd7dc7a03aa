"""The kiosk's side of "no lost tokens": ask the printer, print after the commit, describe
the outcome to the citizen.

The order is fixed by the views: check the printer (where the connection can tell), issue
and commit the token, then render and print outside any transaction, then record the
outcome (``queue_server.operations.printing``). Nothing here touches the database.

A kiosk's printer settings live in ``Device.printer`` (admin data): the
``kiosk.printing.PrinterConfig`` keys, plus one kiosk key, ``when_down``:

- ``"screen"`` (default): when the printer is down the kiosk still issues the token and
  shows it on screen with its QR code (to photograph or scan), marked unprinted. A citizen
  who walked in expects a place in the queue, not to be turned away by a paper roll.
- ``"refuse"``: the kiosk shows "out of service" and issues nothing until the printer is
  back (for centres where the paper ticket is checked at the counter).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kiosk.printing import (
    PrinterConfig,
    PrintError,
    PrinterStatus,
    can_print,
    open_printer,
    status_message,
)
from kiosk.ticket import TicketData, render_ticket

log = logging.getLogger(__name__)

WHEN_DOWN = ("screen", "refuse")
DEFAULT_WIDTH = 576


@dataclass(frozen=True)
class KioskPrinter:
    """A kiosk's printer settings; ``config`` is None when the stored settings are invalid
    (the kiosk then behaves as if the printer were offline, and says why in the event)."""

    config: PrinterConfig | None
    when_down: str = "screen"
    error: str = ""

    @classmethod
    def from_settings(cls, raw: Mapping[str, Any] | None) -> KioskPrinter:
        settings = dict(raw or {})
        when_down = settings.pop("when_down", "screen")
        if when_down not in WHEN_DOWN:
            return cls(None, "screen", f"printer setting when_down must be one of {WHEN_DOWN}")
        try:
            return cls(PrinterConfig.from_dict(settings), when_down)
        except ValueError as exc:
            return cls(None, when_down, f"invalid printer settings: {exc}")

    @property
    def configured(self) -> bool:
        """A printer is meant to be there (broken settings count: someone must fix them)."""
        return self.config is None or self.config.kind != "none"

    @property
    def width(self) -> int:
        return self.config.width if self.config is not None else DEFAULT_WIDTH

    @property
    def qr_native(self) -> bool:
        return bool(self.config and self.config.qr_native)


@dataclass(frozen=True)
class PrintOutcome:
    attempted: bool  # False: no printer is configured, the token is on screen only
    printed: bool
    status: str  # a PrinterStatus value, or "none"
    detail: str = ""


def check_printer(printer: KioskPrinter) -> PrinterStatus | None:
    """The printer's state now (UNKNOWN where the connection cannot tell); None when the
    kiosk has no printer. Never raises for a printer problem."""
    if not printer.configured:
        return None
    if printer.config is None:
        return PrinterStatus.OFFLINE
    return open_printer(printer.config).check()


def is_down(status: PrinterStatus | None) -> bool:
    return status is not None and not can_print(status)


def print_ticket(printer: KioskPrinter, data: TicketData, checked: PrinterStatus | None) -> PrintOutcome:
    """Render and print a committed token's ticket. A printer that was down when checked is
    not tried again (the citizen would wait a second timeout for nothing)."""
    if not printer.configured:
        return PrintOutcome(attempted=False, printed=False, status="none")
    if printer.config is None:
        return PrintOutcome(True, False, PrinterStatus.OFFLINE.value, printer.error)
    if checked is not None and not can_print(checked):
        return PrintOutcome(True, False, checked.value, f"printer was {checked.value} before issuing")
    try:
        image = render_ticket(data, printer.width, include_qr=not printer.qr_native)
    except (RuntimeError, OSError, ValueError) as exc:  # no raqm, a missing font, a bad width
        log.exception("ticket %s could not be rendered", data.number)
        return PrintOutcome(True, False, PrinterStatus.UNKNOWN.value, f"rendering failed: {exc}")
    try:
        open_printer(printer.config).print_ticket(image, data.tracking_url if printer.qr_native else None)
    except PrintError as exc:
        log.warning("ticket %s not printed: %s", data.number, exc)
        return PrintOutcome(True, False, exc.status.value, exc.detail or str(exc))
    except ValueError as exc:
        log.warning("ticket %s not printed: %s", data.number, exc)
        return PrintOutcome(True, False, PrinterStatus.UNKNOWN.value, str(exc))
    status = checked.value if checked is not None else PrinterStatus.UNKNOWN.value
    return PrintOutcome(True, True, status)


def printer_state(printer: KioskPrinter, status: PrinterStatus | None) -> dict[str, Any]:
    """What the kiosk page needs to know about its printer (GET /kiosk/<c>/status)."""
    if status is None:
        return {"configured": False, "status": "none", "can_print": False, "when_down": printer.when_down}
    body: dict[str, Any] = {
        "configured": True,
        "status": status.value,
        "can_print": can_print(status),
        "when_down": printer.when_down,
    }
    if status not in (PrinterStatus.OK, PrinterStatus.UNKNOWN):
        body["message_en"], body["message_ur"] = status_message(status)
    return body


def print_block(
    outcome: PrintOutcome, *, state: str, can_reprint: bool, screen_only: tuple[str, str]
) -> dict[str, Any]:
    """The ``print`` part of an issue or reprint answer: what happened and what to tell
    the citizen, in both languages (the kiosk switches language without a round trip)."""
    body: dict[str, Any] = {
        "state": state,
        "status": outcome.status,
        "printed": outcome.printed,
        "configured": outcome.attempted,
        "can_reprint": can_reprint,
        "level": "ok",
    }
    if not outcome.attempted:
        body["level"] = "info"
        body["message_en"], body["message_ur"] = screen_only
    elif not outcome.printed:
        body["level"] = "error"
        status = PrinterStatus(outcome.status)
        body["message_en"], body["message_ur"] = status_message(status)
    elif outcome.status == PrinterStatus.PAPER_LOW.value:
        body["level"] = "warning"
        body["message_en"], body["message_ur"] = status_message(PrinterStatus.PAPER_LOW)
    return body
