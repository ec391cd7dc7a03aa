"""The counter console at /counter: staff login (a real form with CSRF), the counter
picker, and the console page. The console then talks over the socket (counters.events)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext

from counters import console, events
from queue_server import operations
from queue_server.actors import Actor
from queue_server.auth import authenticate_password, current_caller, login_session, logout_session
from queue_server.errors import N_, DomainError, NotAuthenticated, ValidationFailed
from queue_server.http_errors import translate
from queue_server.models import Centre
from queue_server.operations.counters import claim_console
from queue_server.ratelimit import enforce
from queue_server.read import console as read_console
from queue_server.redirects import safe_next
from queue_server.unit_of_work import current_session, run_in_transaction

bp = Blueprint(
    "counters",
    __name__,
    template_folder="templates",
    static_folder="static/counters",  # files in counters/static/counters/, served at /static/counters/
    static_url_path="/static/counters",
)


@bp.record_once
def _bind_socket_events(state: Any) -> None:
    app: Flask = state.app
    events.register(app)


def _staff() -> Actor | None:
    who, _ = current_caller()
    return who if who is not None and who.kind == "staff" else None


def _login_page(error: str = "", status: int = 200, username: str = "", next_path: str = "") -> ResponseReturnValue:
    return render_template("counters/login.html", error=error, username=username, next=next_path), status


@bp.get("/counter/login")
def login_form() -> ResponseReturnValue:
    """The login form, remembering where to go afterwards (a path on this site only)."""
    target = safe_next(request.args.get("next")) or ""
    if _staff() is not None:
        return redirect(target or url_for("counters.index"), code=303)
    return _login_page(next_path=target)


@bp.get("/counter")
def index() -> ResponseReturnValue:
    """Not logged in: the login form. A clerk with a counter: its console. A clerk
    without one: the picker. A manager: where to go instead."""
    who = _staff()
    if who is None:
        return _login_page()
    s = current_session()
    if not who.is_staff or who.is_manager:
        centre = s.get(Centre, who.centre_id) if who.centre_id else None
        return render_template("counters/not_clerk.html", who=who, centre=centre), 403
    held = console.held_counter(s, who)
    centre = s.get(Centre, who.centre_id) if who.centre_id else None
    if held is None:
        return render_template(
            "counters/pick.html", who=who, centre=centre, counters=read_console.counter_list(s, who), error=""
        )
    return render_template("counters/console.html", who=who, centre=centre, counter=held, strings=strings())


@bp.post("/counter/login")
def login() -> ResponseReturnValue:
    username = (request.form.get("username") or "").strip()[:64]
    password = request.form.get("password") or ""
    target = safe_next(request.form.get("next")) or ""
    address = request.remote_addr or "?"
    try:
        enforce(f"login:ip:{request.remote_addr}", 30, 60)
        if not username or not password:
            raise ValidationFailed(N_("Type your username and password."))

        found = run_in_transaction(lambda s: authenticate_password(s, username, password[:256], address))
    except DomainError as exc:
        return _login_page(translate(exc), exc.status, username, target)
    run_in_transaction(lambda _s: login_session(found))
    return redirect(target or url_for("counters.index"), code=303)


@bp.post("/counter/logout")
def logout() -> ResponseReturnValue:
    run_in_transaction(lambda _s: logout_session())
    return redirect(url_for("counters.index"), code=303)


@bp.post("/counter/open")
def open_counter() -> ResponseReturnValue:
    """The picker's form: take a counter for this console (a browser tab)."""
    who = _staff()
    if who is None:
        return redirect(url_for("counters.index"), code=303)
    console_id = request.form.get("console", "")
    try:
        if not console.valid_console_id(console_id):
            raise ValidationFailed(N_("This page needs JavaScript: reload it."))
        try:
            counter_id = int(request.form.get("counter", ""))
        except ValueError:
            raise ValidationFailed(N_("Choose a counter.")) from None
        if not console.valid_id(counter_id):
            raise ValidationFailed(N_("Choose a counter."))
        console.require_clerk(who)
        run_in_transaction(lambda s: operations.open_counter(s, counter_id, who, session_id=console_id))
    except DomainError as exc:
        s = current_session()
        centre = s.get(Centre, who.centre_id) if who.centre_id else None
        page = render_template(
            "counters/pick.html",
            who=who,
            centre=centre,
            counters=read_console.counter_list(s, who),
            error=events.message_of(exc),
        )
        return page, exc.status
    return redirect(url_for("counters.index"), code=303)


@bp.post("/counter/claim")
def claim() -> ResponseReturnValue:
    """{"counter", "console"}: the console page makes itself the one of its counter before
    it joins; refused (409) while another console of the counter is connected."""
    who = _staff()
    try:
        if who is None:
            raise NotAuthenticated(N_("Log in or give a key."))
        clerk = console.require_clerk(who)
        data = request.get_json(silent=True)
        if not isinstance(data, dict) or not console.valid_id(data.get("counter")):
            raise ValidationFailed(N_("Choose a counter."))
        if not console.valid_console_id(data.get("console")):
            raise ValidationFailed(N_("This page needs JavaScript: reload it."))
        counter = run_in_transaction(
            lambda s: claim_console(s, data["counter"], clerk, data["console"], events.is_live)
        )
        return {"ok": True, "counter": counter.id}
    except DomainError as exc:
        return events.error_reply(exc), exc.status


def strings() -> dict[str, str]:
    """What the console's script shows, in the page's language."""
    return {key: gettext(text) for key, text in STRINGS.items()}


STRINGS = {
    "nobody": N_("Nobody is waiting for your services."),
    "called": N_("Called"),
    "serving": N_("Serving"),
    "idle": N_("No token at the counter. Press N to call the next citizen."),
    "paused": N_("On a break. Press B to resume."),
    "recalls": N_("Recalls"),
    "saved": N_("Saved."),
    "recorded": N_("Request recorded."),
    "no_request": N_("No request selected."),
    "waiting": N_("waiting"),
    "longest": N_("longest"),
    "late": N_("late"),
    "overdue": N_("overdue"),
    "refused": N_("Refused"),
    "offline": N_("No answer from the server."),
    "confirm_close": N_("Close counter %(number)s? Enter to close, Esc to stay."),
    "confirm_complete": N_(
        "Nothing was recorded for this request. Complete anyway? It will be withdrawn. Choose the outcome:"
    ),
    "transfer_title": N_("Transfer %(number)s"),
    "transfer_help": N_(
        "Press a service letter, or type a counter number and Enter. Esc cancels. The citizen keeps their place."
    ),
    "transfer_confirm": N_("Transfer %(number)s to %(target)s? Enter to confirm, Esc to cancel."),
    "to_counter": N_("counter %(number)s (to the front of its list)"),
    "reason_reject": N_("Reason for rejecting %(reference)s (Enter to confirm, Esc to cancel)"),
    "reason_withdraw": N_("Reason for withdrawing %(reference)s (Enter to confirm, Esc to cancel)"),
    "pick_parked": N_("Which parked token? Press its number. Esc cancels."),
    "pick_no_show": N_("Which no-show came back? Press its number to requeue it. Esc cancels."),
    "none_parked": N_("No parked token."),
    "none_no_show": N_("No no-show today."),
    "requeued": N_("%(number)s is waiting again, in its original place."),
    "transferred": N_("%(number)s transferred."),
    "collection_called": N_("%(number)s called back to collect %(reference)s."),
    "refresh": N_("The console was refreshed from the server."),
    "next_in_process": N_("Record"),
    "next_ready": N_("Mark ready"),
    "next_delivered": N_("Deliver"),
    "outcome_served": N_("served"),
    "outcome_referred": N_("referred"),
    "outcome_documents_missing": N_("documents missing"),
    "outcome_not_eligible": N_("not eligible"),
    "outcome_other": N_("other"),
    "state_open": N_("opened"),
    "state_in_process": N_("in process"),
    "state_ready": N_("ready"),
    "state_delivered": N_("delivered"),
    "state_rejected": N_("rejected"),
    "state_withdrawn": N_("withdrawn"),
    "state_waiting": N_("waiting"),
    "state_called": N_("called"),
    "state_serving": N_("serving"),
    "state_parked": N_("parked"),
    "state_no_show": N_("no-show"),
    "state_done": N_("done"),
    "counter_open": N_("Open"),
    "counter_paused": N_("On a break"),
    "counter_closed": N_("Closed"),
    "invalid_cnic": N_("CNIC must be 13 digits in the form 35202-1234567-1."),
    "invalid_phone": N_("Mobile number must be a Pakistani mobile such as 0300-1234567 or +923001234567."),
    "retry": N_("Press Enter to try again."),
    "to_picker": N_("Press Enter to go to the list of counters."),
    "direct": N_("sent to this counter"),
    "pause": N_("Break"),
    "resume": N_("Resume"),
    "advance": N_("Next step"),
    "due": N_("Due"),
    "fee_due": N_("due: Rs %(fee)s"),
    "priority": N_("Priority"),
    "outcome_title": N_("Complete %(number)s"),
    "reject_title": N_("Reject request"),
    "withdraw_title": N_("Withdraw request"),
    "close_title": N_("Close counter"),
    "dialog_ok": N_("OK (Enter)"),
    "dialog_cancel": N_("Cancel (Esc)"),
    "fee_short_title": N_("Fee below the amount due"),
    "confirm_fee_short": N_("Rs %(received)s received, Rs %(fee)s due. Press Enter to record it anyway, Esc to correct the fee."),
    "parked_title": N_("Unpark"),
    "no_show_title": N_("Requeue a no-show"),
    "services": N_("Services"),
    "counters": N_("Counters"),
    "taken_by": N_("at counter %(number)s"),
    "save_first": N_("Save the request first: Enter in the form, or Esc to drop the changes."),
    "nothing_selected": N_("No request selected: press 1 to 9 to choose one, or start a token."),
    "busy": N_("Wait: the last action is still running."),
    "needs_called": N_("Only a called token can do that."),
    "needs_serving": N_("Only a token being served can do that."),
    "needs_token": N_("There is no token at the counter."),
    "closing": N_("Closing time"),
    "opened": N_("Opened"),
    "direct_count": N_("%(count)s sent to this counter"),
    "days_hours": N_("%(days)sd %(hours)sh"),
    "hours_minutes": N_("%(hours)sh %(minutes)sm"),
    "time_left": N_("%(time)s left"),
    "esc_cancel": N_("cancel"),
    "more": N_("%(count)s more: finish the ones above first"),
    "issue_title": N_("Issue a token at this counter"),
    "issue_help": N_(
        "Press a service letter, and 1, 2 or 3 for the priority; Enter issues the token. Esc cancels."
    ),
    "issue_confirm": N_("Issue a token for %(service)s (%(priority)s)? Enter to issue, Esc to cancel."),
    "priority_normal": N_("normal"),
    "priority_senior": N_("senior citizen"),
    "priority_disabled": N_("person with disability"),
    "issued_title": N_("Token %(number)s issued"),
    "issued_ahead": N_("%(count)s ahead"),
    "issued_printed": N_("The ticket was printed at this counter."),
    "issued_not_printed": N_(
        "The ticket could not be printed (%(status)s): read the number out, and let the citizen "
        "scan the code or note the tracking link."
    ),
    "issued_no_printer": N_(
        "No printer at this counter: read the number out, and let the citizen scan the code or "
        "note the tracking link."
    ),
    "tracking": N_("Tracking link"),
    "issued_close": N_("Enter or Esc closes."),
    "close_other": N_("Close the console in the other window, then press Enter here to try again."),
}
