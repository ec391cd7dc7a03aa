"""The printing port of the core: printing a committed token's ticket on a printer that is
not a kiosk's (a counter's). The kiosk package, which owns rendering and the printer
adapters, registers the implementation when its blueprint is registered; without it
(a server without the kiosk package) nothing is printed and the console shows the token.

Tickets are printed only after the token is committed (a printer fault never loses a
token); the outcome is recorded in a second short transaction."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from flask import Flask, current_app
from sqlalchemy.orm import Session

from queue_server.actors import Actor
from queue_server.issued import issued_body
from queue_server.models import Counter, Priority, Token
from queue_server.operations.counter_issue import issue_at_counter, record_counter_print
from queue_server.unit_of_work import run_in_transaction

EXTENSION = "khidmat.ticket_printing"


@dataclass(frozen=True)
class PrintResult:
    attempted: bool  # False: no printer is configured, nothing was tried
    printed: bool
    status: str  # a queue_server.states.PrinterStatus value, or "none"
    detail: str = ""


class TicketPrinting(Protocol):
    def print_token(self, printer: Mapping[str, Any] | None, token_id: int) -> PrintResult:
        """Render the committed token's ticket and print it on ``printer`` (printer
        settings; None: no printer). Never raises for a printer problem."""

    def ticket_url(self, centre_code: str, token_id: int) -> str:
        """The URL of the ticket image (with its QR code), for staff to show on screen."""


def register(app: Flask, port: TicketPrinting) -> None:
    app.extensions[EXTENSION] = port


def port() -> TicketPrinting | None:
    return current_app.extensions.get(EXTENSION)  # type: ignore[no-any-return]


def issue_and_print(counter_id: int, actor: Actor, service_code: str, priority: Priority) -> dict[str, Any]:
    """A clerk issues a token at the counter: issue and commit it (``issue_at_counter``),
    then print its ticket on the counter's printer, if it has one, and record the outcome.
    The answer is the API's issued token plus ``ticket_url`` and ``print`` (``configured``,
    ``printed``, ``status``): when nothing was printed the console shows the number, the
    QR code and the tracking link to read out."""

    def issue(s: Session) -> tuple[dict[str, Any], dict[str, Any] | None, str, int]:
        issued = issue_at_counter(s, counter_id, service_code, actor, priority=priority)
        s.flush()
        counter = s.get(Counter, counter_id)
        assert counter is not None
        printer = dict(counter.printer) if counter.printer else None
        return issued_body(issued), printer, counter.centre.code, issued.token.id

    answer, printer, centre_code, token_id = run_in_transaction(issue)
    printing = port()
    result = PrintResult(attempted=False, printed=False, status="none")
    if printer is not None and printing is not None:
        result = printing.print_token(printer, token_id)
    if result.attempted:

        def record(s: Session) -> str:
            token, counter = s.get(Token, token_id), s.get(Counter, counter_id)
            assert token is not None and counter is not None
            record_counter_print(
                s, token, counter, result.status, printed=result.printed, actor=actor, detail=result.detail
            )
            return token.print_state.value

        answer["print_state"] = run_in_transaction(record)
    answer["ticket_url"] = printing.ticket_url(centre_code, token_id) if printing is not None else None
    answer["print"] = {
        "configured": result.attempted,
        "printed": result.printed,
        "status": result.status,
        "detail": result.detail,
    }
    return answer
