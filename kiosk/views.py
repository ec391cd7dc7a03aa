"""The kiosk: the touch page a citizen takes a token at, and its issue-and-print flow.

``GET  /kiosk/<centre>``                           the page (the pairing screen when unpaired)
``POST /kiosk/<centre>/issue``                     issue a token, then print its ticket
``POST /kiosk/<centre>/tickets/<id>/reprint``      print an unprinted ticket again
``GET  /kiosk/<centre>/tickets/<id>.png``          the ticket image, for the screen and support
``GET  /kiosk/<centre>/status``                    printer and server health for the page

Issuing never holds the database while the printer is talked to: the printer is checked
first, the token is committed in one transaction, the ticket printed outside any, and the
outcome recorded in a second short transaction. A printer fault therefore never loses a
token: the citizen gets it on screen with its QR code (see ``kiosk.issuing``).

Size: the kiosk's pages and its pairing, issue, print and check-in flows. Debt: pairing and
check-in should become blueprints of their own (issue 11).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template, request, url_for
from flask_babel import force_locale, get_locale, gettext
from pydantic import Field
from sqlalchemy.orm import Session

from kiosk import issuing
from kiosk.printing import PrinterStatus
from kiosk.ticket import TicketData, ticket_png
from queue_server import operations, ticket_printing
from queue_server.actors import Actor
from queue_server.api.registry import parse_body
from queue_server.api.schemas import IssueTokenIn, Strict
from queue_server.auth import current_caller, is_device, requires
from queue_server.clock import utcnow
from queue_server.errors import N_, Conflict, DomainError, Forbidden, NotAuthenticated, NotFound
from queue_server.extensions import csrf
from queue_server.http_errors import respond, translate
from queue_server.i18n import LANGUAGES, both
from queue_server.issued import issued_body, tracking_url
from queue_server.models import Centre, Device, DeviceKind, PrintState, Token, TokenState
from queue_server.operations import appointments, remote
from queue_server.operations.lookup import find_centre, find_service, issued_for_key
from queue_server.operations.printing import record_print_result, record_printer_status
from queue_server.pairing import paired_device, pairing_page
from queue_server.ratelimit import enforce
from queue_server.read import queue_state
from queue_server.realtime.presence import presence
from queue_server.unit_of_work import current_session, run_in_transaction

bp = Blueprint(
    "kiosk",
    __name__,
    template_folder="templates",
    static_folder="static/kiosk",
    static_url_path="/static/kiosk",
)
# Browser POSTs are checked by ``requires`` (CSRF for session callers); a kiosk that
# authenticates with its device key has no CSRF token to send.
csrf.exempt(bp)

IDLE_SECONDS = 20  # back to the start screen after this long without a touch
UNPRINTED_IDLE_SECONDS = 45  # longer when the citizen must photograph the screen
STATUS_POLL_SECONDS = 15
OFFLINE_AFTER_SECONDS = 4  # the link may blink; "out of service" only when it stays down
REPRINTS_PER_TOKEN = 3
REPRINT_WINDOW_SECONDS = 600

SCREEN_ONLY = N_("Please photograph this screen or scan the QR code with your phone.")

GROUPS: dict[str, str] = {
    "certificates": N_("Certificates and verification"),
    "registration": N_("Registration"),
    "licences": N_("Driving licences"),
    "vehicles": N_("Vehicles"),
    "reports": N_("Reports and FIR"),
    "payments": N_("Payments"),
    "assistance": N_("Help and assistance"),
    "general": N_("Other services"),
}

# Everything the page says, sent in both languages so one tap switches at once.
STRINGS: dict[str, str] = {
    "have_booking": N_("I have a booking"),
    "booking_prompt": N_("Scan the QR code of your booking, or type its code"),
    "check_in": N_("Check in"),
    "clear": N_("Clear"),
    "take_token": N_("Take a token"),
    "choose_service": N_("Choose your service"),
    "waiting_none": N_("No one waiting"),
    "none_short": N_("none"),
    "waiting_n": N_("{n} waiting"),
    "wait_about": N_("about {n}"),
    "wait_under": N_("less than a minute"),
    "wait_unknown": N_("wait not known"),
    "who_for": N_("Who is this token for?"),
    "priority_hint": N_("Senior citizens and persons with disability are called first."),
    "normal": N_("Regular token"),
    "normal_hint": N_("For everyone else"),
    "senior": N_("Senior citizen"),
    "senior_hint": N_("60 years or older"),
    "disabled": N_("Person with disability"),
    "disabled_hint": N_("Special person"),
    "back": N_("Back"),
    "issuing": N_("Getting your token…"),
    "your_number": N_("Your token number"),
    "your_token": N_("Your token"),
    "ahead": N_("People ahead of you"),
    "expected_wait": N_("Expected wait"),
    "minutes": N_("{n} min"),
    "hours": N_("{h} h"),
    "hours_minutes": N_("{h} h {m} min"),
    "printed": N_("Take your ticket from the printer below."),
    "screen_only": SCREEN_ONLY,
    "watch_screen": N_("Watch the hall screen for your number. It will also be announced."),
    "scan": N_("Scan the QR code to follow your turn on your phone."),
    "done": N_("Done"),
    "reprint": N_("Print again"),
    "reprinting": N_("Printing…"),
    "reprinted": N_("Printed. Take your ticket from the printer."),
    "back_in": N_("Back to the start in {n} seconds"),
    "oos_title": N_("Out of service"),
    "oos_server": N_(
        "This kiosk cannot reach the server. Please ask the staff for a token. The kiosk will start again by itself."
    ),
    "oos_printer": N_(
        "The ticket printer is not working. Please ask the staff for a token. The kiosk will start again by itself."
    ),
    "printer_down_banner": N_("The printer is not working: your token will be shown on the screen."),
    "no_answer": N_("No answer from the server. Please try again."),
    "try_again": N_("Something went wrong. Please try again."),
    "ok": N_("OK"),
    "closed_title": N_("Closed"),
    "closed_opens_today": N_("The centre is closed now. It opens today at {time}."),
    "closed_opens_on": N_("The centre is closed now. It opens on {day} at {time}."),
    "closed_no_opening": N_("The centre is closed now."),
    "unserved_short": N_("No counter open now"),
    "unserved_note": N_("No counter is serving this service at the moment. Your token will be called when one opens."),
    "unserved_refused": N_("No counter is serving this service at the moment. Please ask the staff."),
}


class PrinterUnavailable(DomainError):
    status = 503
    code = "printer_unavailable"

    def __init__(self, printer_status: str) -> None:
        super().__init__(
            N_(
                "The ticket printer is not working, so this kiosk cannot issue tokens now. "
                "Please ask the staff for a token."
            )
        )
        self.printer_status = printer_status

    def extra(self) -> dict[str, Any]:
        return {"printer": self.printer_status}


@bp.errorhandler(DomainError)
def _domain_error(error: DomainError) -> Any:
    """JSON answers carry the message in both languages: the page may have switched
    language since it was loaded."""
    if request.endpoint == "kiosk.page":
        return respond(error.status, error.code, translate(error), error.extra())
    body: dict[str, Any] = {"error": error.code, "message": translate(error), **error.extra()}
    for lang in LANGUAGES:
        with force_locale(lang):
            body[f"message_{lang}"] = translate(error)
    response = jsonify(body)
    response.status_code = error.status
    return response


# --- who is asking ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Kiosk:
    """The calling kiosk as plain values: usable after its transaction has ended."""

    device_id: int
    device_name: str
    centre_id: int
    centre_code: str
    actor: Actor
    printer: issuing.KioskPrinter
    printer_status: str


def calling_kiosk(centre_code: str) -> Kiosk:
    """The kiosk device making this request, which must belong to ``centre_code``."""
    actor, device = current_caller()
    if actor is None or not isinstance(device, Device):
        raise NotAuthenticated(N_("This kiosk is not paired: reload the page."), code="unpaired")
    if not is_device(actor, DeviceKind.KIOSK):
        raise Forbidden(N_("Only a kiosk can do this."))
    centre = centre_or_404(centre_code)
    if device.centre_id != centre.id:
        raise Forbidden(N_("This kiosk belongs to another centre."), code="wrong_centre")
    return Kiosk(
        device.id,
        device.name,
        centre.id,
        centre.code,
        actor,
        issuing.KioskPrinter.from_settings(device.printer),
        device.printer_status,
    )


def centre_or_404(code: str) -> Centre:
    # Not operations.lookup.centre_by_code: its ``code=`` message parameter collides with
    # DomainError's machine ``code`` (the message would show a raw "%(code)s").
    centre = find_centre(current_session(), code)
    if centre is None:
        raise NotFound(N_("There is no centre with this code."), code="unknown_centre")
    return centre


def unserved_policy(centre: Centre) -> str:
    """What the kiosk does with a service no counter serves now: ``ahead`` (the default:
    issue it, saying so on screen and on the ticket) or ``refuse`` (not offered until a
    counter opens for it); the centre's ``settings["unserved"]``."""
    return "refuse" if (centre.settings or {}).get("unserved") == "refuse" else "ahead"


def require_service(centre_id: int, code: str) -> None:
    """Refuse an unknown or inactive service before anything else happens, and one that no
    counter serves now where the centre does not issue ahead."""
    service = find_service(current_session(), centre_id, code)
    if service is None:
        raise NotFound(N_("This service is not offered at this centre."), code="unknown_service")
    if not service.is_active:
        raise Conflict(N_("This service is not available now."), code="service_inactive")
    centre = service.centre
    if unserved_policy(centre) == "refuse" and service.id not in queue_state.served_now(current_session(), centre):
        raise Conflict(
            N_("No counter is serving this service at the moment. Please ask the staff."), code="not_served_now"
        )


def release_database() -> None:
    """End the request's transaction before talking to the printer or issuing in a unit of
    work of its own (on SQLite every transaction holds the write lock), keeping what the
    checks before it wrote: the record of the kiosk's key used from a new address
    (``auth.requires``). Called only past every check of the call. (Rolled back here, that
    record was lost on every call, so every call wrote it again, with its audit event.)"""
    run_in_transaction(lambda _session: None)


# --- the page ------------------------------------------------------------------------------


def group_list(services: list[dict[str, Any]]) -> list[dict[str, str]]:
    seen: list[str] = []
    for service in services:
        if service["group"] not in seen:
            seen.append(service["group"])
    out = []
    for code in seen:
        label = GROUPS.get(code)
        en, ur = both(label) if label else (code.replace("_", " ").capitalize(),) * 2
        out.append({"code": code, "name_en": en, "name_ur": ur})
    return out


@bp.get("/kiosk/<centre>")
def page(centre: str) -> Any:
    place = centre_or_404(centre)
    device = paired_device(DeviceKind.KIOSK, place.code)
    if device is None:
        return pairing_page(DeviceKind.KIOSK, place.code)
    services = queue_state.queue_summary(current_session(), place)
    strings = {}
    for lang in LANGUAGES:
        with force_locale(lang):
            strings[lang] = {key: gettext(text) for key, text in STRINGS.items()}
    config = {
        "centre": queue_state.centre_public(place),
        "device": {"id": device.id, "name": device.name},
        "home_lang": str(get_locale() or "en"),
        "strings": strings,
        "groups": group_list(services),
        "services": services,
        "urls": {
            "issue": url_for("kiosk.issue", centre=place.code),
            "check_in": url_for("kiosk.check_in", centre=place.code),
            "status": url_for("kiosk.status", centre=place.code),
            "ticket": url_for("kiosk.ticket_image", centre=place.code, token_id=0).replace(
                "/0.png", "/{id}.png"
            ),
            "reprint": url_for("kiosk.reprint", centre=place.code, token_id=0).replace("/0/", "/{id}/"),
        },
        "appointments": appointments.policy_of(place).enabled,
        "opening": queue_state.opening_state(place),
        "unserved": unserved_policy(place),
        "idle_seconds": IDLE_SECONDS,
        "unprinted_idle_seconds": UNPRINTED_IDLE_SECONDS,
        "status_poll_seconds": STATUS_POLL_SECONDS,
        "offline_after_seconds": OFFLINE_AFTER_SECONDS,
    }
    return render_template("kiosk/kiosk.html", config=config, centre=place)


# --- issuing -------------------------------------------------------------------------------


def ticket_data(session: Session, token: Token, *, reprint: bool = False) -> TicketData:
    """What the ticket shows, as at issue time (the same image on paper, screen and support)."""
    centre = session.get(Centre, token.centre_id)
    assert centre is not None
    return TicketData(
        centre_name_en=centre.name_en,
        centre_name_ur=centre.name_ur,
        service_name_en=token.service.name_en,
        service_name_ur=token.service.name_ur,
        number=token.number,
        issued_at=token.issued_at.astimezone(centre.tz),
        people_ahead=max(0, token.ahead_at_issue or 0),
        eta_minutes=token.eta_minutes if token.eta_minutes is None else max(0, token.eta_minutes),
        tracking_url=tracking_url(token.public_code),
        priority=token.priority.value,
        is_reprint=reprint,
        not_served_now=token.state == TokenState.WAITING
        and token.service_id not in queue_state.served_now(session, centre),
    )


def may_reprint(token: Token, kiosk: Kiosk, hall_from: Any) -> bool:
    """``hall_from``: the first business day whose tokens are still in the hall (a 24/7
    centre keeps yesterday's across its boundary)."""
    return (
        kiosk.printer.configured
        and token.print_state != PrintState.PRINTED
        and token.business_day >= hall_from
        and token.state in (TokenState.WAITING, TokenState.CALLED)
    )


def token_answer(session: Session, token: Token, kiosk: Kiosk) -> dict[str, Any]:
    """The token part of an answer, with its current position and the ticket image's URL."""
    ahead = queue_state.tokens_ahead(session, token)
    centre = session.get(Centre, token.centre_id)
    assert centre is not None
    return {
        **queue_state.token_staff(token),
        "position": ahead + 1,
        "ahead": ahead,
        "eta_minutes": token.eta_minutes,
        "tracking_url": tracking_url(token.public_code),
        "ticket_url": url_for("kiosk.ticket_image", centre=kiosk.centre_code, token_id=token.id),
        "can_reprint": may_reprint(token, kiosk, queue_state.hall_days(centre)[0]),
    }


def stored_print_block(token_body: dict[str, Any], kiosk: Kiosk) -> dict[str, Any]:
    """The print part for a token issued earlier (a repeated tap): what is recorded."""
    state = token_body["print_state"]
    if not kiosk.printer.configured:
        outcome = issuing.PrintOutcome(attempted=False, printed=False, status="none")
    elif state == PrintState.PRINTED.value:
        outcome = issuing.PrintOutcome(attempted=True, printed=True, status=PrinterStatus.OK.value)
    else:
        known = {s.value for s in PrinterStatus} - {PrinterStatus.OK.value, PrinterStatus.PAPER_LOW.value}
        fault = kiosk.printer_status if kiosk.printer_status in known else PrinterStatus.UNKNOWN.value
        outcome = issuing.PrintOutcome(attempted=True, printed=False, status=fault)
    return issuing.print_block(
        outcome, state=state, can_reprint=token_body["can_reprint"], screen_only=both(SCREEN_ONLY)
    )


def replayed(kiosk: Kiosk, key: str) -> dict[str, Any] | None:
    session = current_session()
    token = issued_for_key(session, kiosk.device_id, key)
    if token is None:
        return None
    body = token_answer(session, token, kiosk)
    return {**body, "replay": True, "print": stored_print_block(body, kiosk)}


@bp.post("/kiosk/<centre>/issue")
@requires("kiosk")
def issue(centre: str) -> Any:
    """Issue a token ({service, priority, idempotency_key}), then print its ticket.

    A repeated idempotency key answers 200 with the token already issued (nothing new, no
    second ticket). Refused: another centre's kiosk (403), an unknown (404) or inactive
    (409) service, too many tokens from this kiosk (429), and, only for a kiosk set to
    ``when_down: refuse``, a printer that is down (503). Otherwise 201, printed or not:
    ``print`` says which, and why, in both languages.
    """
    body = parse_body(IssueTokenIn)
    assert isinstance(body, IssueTokenIn)
    kiosk = calling_kiosk(centre)
    if body.idempotency_key:
        earlier = replayed(kiosk, body.idempotency_key)
        if earlier is not None:
            return earlier, 200
    require_service(kiosk.centre_id, body.service)
    enforce(
        f"issue:device:{kiosk.device_id}",
        current_app.config["ISSUE_RATE_LIMIT"],
        current_app.config["ISSUE_RATE_WINDOW_SECONDS"],
    )
    release_database()

    def issue_work(s: Session, device: Device) -> operations.IssuedToken:
        place = s.get(Centre, kiosk.centre_id)
        assert place is not None
        return operations.issue_token(
            s,
            place,
            body.service,
            kiosk.actor,
            priority=body.priority,
            device=device,
            idempotency_key=body.idempotency_key,
        )

    return issue_and_print(kiosk, issue_work)


def issue_and_print(kiosk: Kiosk, issue_work: Callable[[Session, Device], operations.IssuedToken]) -> Any:
    """Check the printer, issue (``issue_work``, one transaction), then print outside it and
    record the outcome: the order that loses no token to a printer fault."""
    checked = issuing.check_printer(kiosk.printer)
    if issuing.is_down(checked) and kiosk.printer.when_down == "refuse":
        assert checked is not None

        def note_down(s: Session) -> None:
            device = s.get(Device, kiosk.device_id)
            assert device is not None
            record_printer_status(s, device, checked.value, kiosk.actor)

        run_in_transaction(note_down)
        raise PrinterUnavailable(checked.value)

    def work(s: Session) -> tuple[dict[str, Any], TicketData, int, bool]:
        device = s.get(Device, kiosk.device_id)
        assert device is not None
        issued = issue_work(s, device)
        s.flush()
        answer = issued_body(issued)
        answer["ticket_url"] = url_for(
            "kiosk.ticket_image", centre=kiosk.centre_code, token_id=issued.token.id
        )
        answer["can_reprint"] = may_reprint(issued.token, kiosk, issued.token.business_day)
        return answer, ticket_data(s, issued.token), issued.token.id, issued.is_replay

    answer, data, token_id, is_replay = run_in_transaction(work)
    if is_replay:  # the same tap arrived twice at once; the first one prints
        return {**answer, "print": stored_print_block(answer, kiosk)}, 200

    outcome = issuing.print_ticket(kiosk.printer, data, checked)
    state = PrintState.NOT_PRINTED.value
    if outcome.attempted:
        record_outcome(kiosk, token_id, outcome, reprint=False)
        state = PrintState.PRINTED.value if outcome.printed else PrintState.FAILED.value
    answer["print_state"] = state
    answer["can_reprint"] = answer["can_reprint"] and not outcome.printed
    answer["print"] = issuing.print_block(
        outcome, state=state, can_reprint=answer["can_reprint"], screen_only=both(SCREEN_ONLY)
    )
    return answer, 201


class CheckInIn(Strict):
    code: str = Field(min_length=1, max_length=40)


@bp.post("/kiosk/<centre>/check-in")
@requires("kiosk")
def check_in(centre: str) -> Any:
    """Check a booking or a token taken from the phone in ({code}, typed or read by the
    scanner) and print its token: a booking's placed by its appointment time, a phone
    token in the place it has held since it was taken. Refused with the reason in both languages: an unknown
    code (404), a booking used, cancelled, too early or too late (409)."""
    body = parse_body(CheckInIn)
    assert isinstance(body, CheckInIn)
    kiosk = calling_kiosk(centre)
    enforce(
        f"issue:device:{kiosk.device_id}",
        current_app.config["ISSUE_RATE_LIMIT"],
        current_app.config["ISSUE_RATE_WINDOW_SECONDS"],
    )
    release_database()

    def check_in_work(s: Session, device: Device) -> operations.IssuedToken:
        place = s.get(Centre, kiosk.centre_id)
        assert place is not None
        return remote.arrive(s, place, body.code, kiosk.actor, device=device, client=request.remote_addr or "?")

    return issue_and_print(kiosk, check_in_work)


def record_outcome(kiosk: Kiosk, token_id: int, outcome: issuing.PrintOutcome, *, reprint: bool) -> None:
    def work(s: Session) -> None:
        token = s.get(Token, token_id)
        device = s.get(Device, kiosk.device_id)
        assert token is not None and device is not None
        record_print_result(
            s,
            token,
            device,
            outcome.status,
            printed=outcome.printed,
            actor=kiosk.actor,
            detail=outcome.detail,
            reprint=reprint,
        )

    run_in_transaction(work)


# --- tickets -------------------------------------------------------------------------------


def own_token(session: Session, kiosk: Kiosk, token_id: int) -> Token:
    token = session.get(Token, token_id)
    if token is None or token.centre_id != kiosk.centre_id:
        raise NotFound(N_("No token %(id)s."), id=token_id)
    if token.device_id != kiosk.device_id:
        raise Forbidden(N_("Only the kiosk that issued this token can do that."), code="other_kiosk")
    return token


@bp.post("/kiosk/<centre>/tickets/<int:token_id>/reprint")
@requires("kiosk")
def reprint(centre: str, token_id: int) -> Any:
    """Print an unprinted ticket again, marked REPRINT: only on the kiosk that issued it,
    only today, only while the token still waits (or is being called), a few times at most."""
    kiosk = calling_kiosk(centre)
    session = current_session()
    token = own_token(session, kiosk, token_id)
    if token.print_state == PrintState.PRINTED:
        raise Conflict(N_("This ticket was already printed."), code="already_printed")
    if not kiosk.printer.configured:
        raise Conflict(N_("This kiosk has no ticket printer."), code="no_printer")
    centre_row = session.get(Centre, token.centre_id)
    assert centre_row is not None
    if token.business_day < queue_state.hall_days(centre_row)[0]:
        raise Conflict(N_("Only today's tokens can be printed again."), code="not_today")
    if token.state not in (TokenState.WAITING, TokenState.CALLED):
        raise Conflict(N_("This token is no longer waiting."), code="not_waiting")
    enforce(f"reprint:{kiosk.device_id}:{token.id}", REPRINTS_PER_TOKEN, REPRINT_WINDOW_SECONDS)
    data = ticket_data(session, token, reprint=True)
    release_database()

    checked = issuing.check_printer(kiosk.printer)
    outcome = issuing.print_ticket(kiosk.printer, data, checked)
    record_outcome(kiosk, token_id, outcome, reprint=True)
    token = own_token(session, kiosk, token_id)
    answer = token_answer(session, token, kiosk)
    answer["print"] = issuing.print_block(
        outcome,
        state=answer["print_state"],
        can_reprint=answer["can_reprint"],
        screen_only=both(SCREEN_ONLY),
    )
    return answer


@bp.get("/kiosk/<centre>/tickets/<int:token_id>.png")
@requires("kiosk", "staff")
def ticket_image(centre: str, token_id: int) -> Response:
    """The ticket as the printer prints it (at the issuing kiosk's paper width, always with
    the QR code): for the kiosk screen and for support. The issuing kiosk or the centre's
    staff only."""
    session = current_session()
    actor, caller = current_caller()
    assert actor is not None
    place = centre_or_404(centre)
    token = session.get(Token, token_id)
    if token is None or token.centre_id != place.id or not actor.may_act_in(place.id):
        raise NotFound(N_("No token %(id)s."), id=token_id)
    if isinstance(caller, Device) and token.device_id != caller.id:
        raise Forbidden(N_("Only the kiosk that issued this token can do that."), code="other_kiosk")
    issuer = session.get(Device, token.device_id) if token.device_id else None
    width = issuing.KioskPrinter.from_settings(issuer.printer if issuer else None).width
    data = ticket_data(session, token)
    release_database()
    try:
        png = ticket_png(data, width)
    except (RuntimeError, OSError) as exc:
        current_app.logger.exception("ticket image for token %s failed", token_id)
        raise TicketUnavailable() from exc
    response = Response(png, mimetype="image/png")
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


class TicketUnavailable(DomainError):
    status = 503
    code = "ticket_unavailable"

    def __init__(self) -> None:
        super().__init__(N_("The ticket image cannot be drawn on this server."))


# --- health --------------------------------------------------------------------------------


@bp.get("/kiosk/<centre>/status", endpoint="status")
@requires("kiosk")
def status_view(centre: str) -> Any:
    """The kiosk's printer now and the server's answer itself: the page shows "out of
    service" when this fails or the printer is down (for a kiosk that refuses then), and
    recovers by itself. The kiosk is noted as seen (in memory: the presence worker writes
    it); only a printer status change is recorded here (event and staff alert), in a unit
    of work of its own."""
    kiosk = calling_kiosk(centre)
    release_database()
    checked = issuing.check_printer(kiosk.printer)
    observed = checked.value if checked is not None else "none"
    now = utcnow()
    presence().note(kiosk.device_id, now)
    if observed not in ("unknown", kiosk.printer_status):

        def note(s: Session) -> None:
            device = s.get(Device, kiosk.device_id)
            assert device is not None
            record_printer_status(s, device, observed, kiosk.actor)

        run_in_transaction(note)
    centre_row = current_session().get(Centre, kiosk.centre_id)
    assert centre_row is not None
    opening = queue_state.opening_state(centre_row)
    release_database()
    return {
        "ok": True,
        "server_time": now.isoformat(),
        "device": {"id": kiosk.device_id, "name": kiosk.device_name},
        "printer": issuing.printer_state(kiosk.printer, checked),
        "opening": opening,
    }


# --- the printing port for counters ---------------------------------------------------------


class CounterTicketPrinting:
    """Prints tickets for tokens a clerk issued at a counter (``queue_server.ticket_printing``):
    the kiosk's rendering and printer adapters, with the counter's printer settings."""

    def print_token(self, printer: Any, token_id: int) -> ticket_printing.PrintResult:
        settings = issuing.KioskPrinter.from_settings(printer)
        session = current_session()
        token = session.get(Token, token_id)
        if token is None:
            return ticket_printing.PrintResult(False, False, "none", "no such token")
        data = ticket_data(session, token)
        release_database()
        checked = issuing.check_printer(settings)
        outcome = issuing.print_ticket(settings, data, checked)
        return ticket_printing.PrintResult(outcome.attempted, outcome.printed, outcome.status, outcome.detail)

    def ticket_url(self, centre_code: str, token_id: int) -> str:
        return url_for("kiosk.ticket_image", centre=centre_code, token_id=token_id)


@bp.record_once
def _register_printing(state: Any) -> None:
    ticket_printing.register(state.app, CounterTicketPrinting())
