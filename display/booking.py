"""The citizen's booking pages: ``/book/<centre code>`` books a slot from the phone (name
and mobile only, confirmed by an SMS code) and ``/book/<centre code>/<booking code>``
shows a booking with its QR (what the kiosk reads at check-in) and lets the citizen cancel
it. Everything goes through the JSON API (``/api/v1/centres/<c>/slots``, ``/appointments``);
these views only draw the page in Urdu or English."""

from __future__ import annotations

import io
from typing import Any

import qrcode
import qrcode.image.svg
from flask import Blueprint, Response, abort, make_response, render_template, request
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import select

from queue_server.errors import NotFound, RateLimited
from queue_server.models import Centre, Service
from queue_server.operations import appointments, remote
from queue_server.unit_of_work import current_session

bp = Blueprint(
    "booking",
    __name__,
    template_folder="templates",
    static_folder="static/booking",
    static_url_path="/static/booking",
)


def page_strings() -> dict[str, Any]:
    return {
        "choose_service": _("Which service?"),
        "choose_day": _("Which day?"),
        "choose_time": _("Which time?"),
        "places_left": _("{n} left"),
        "full": _("Full"),
        "no_times": _("No times left on this day: choose another day."),
        "your_details": _("Your name and mobile number"),
        "name": _("Name"),
        "mobile": _("Mobile number"),
        "book": _("Book"),
        "booking": _("Booking…"),
        "code_sent": _("We sent a 6-digit code by SMS to {phone}. Type it here within 10 minutes."),
        "otp": _("Code from the SMS"),
        "confirm": _("Confirm"),
        "booked": _("Booked"),
        "show_at_kiosk": _("At the centre, show this QR code to the kiosk or type the booking code."),
        "arrive": _("Please arrive between {from} and {to}."),
        "cancel": _("Cancel the booking"),
        "cancelled": _("The booking is cancelled."),
        "failed": _("Could not send: check your connection and try again."),
        "closed_day": _("Closed"),
    }


def _centre(code: str) -> Centre:
    centre = current_session().scalar(select(Centre).where(Centre.code == code))
    if centre is None:
        abort(404)
    return centre


def _private(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


@bp.get("/book/<code>")
def book_page(code: str) -> Response:
    centre = _centre(code)
    policy = appointments.policy_of(centre)
    lang = str(get_locale() or "en")
    services = current_session().scalars(
        select(Service).where(Service.centre_id == centre.id, Service.is_active.is_(True)).order_by(Service.sort_order)
    ).all()
    today = centre.business_day()
    config = {
        "centre": centre.code,
        "lang": lang,
        "enabled": policy.enabled,
        "timezone": centre.timezone,
        "today": today.isoformat(),
        "days_ahead": policy.days_ahead,
        "services": [{"code": s.code, "name": s.name_ur if lang == "ur" else s.name_en} for s in services],
        "strings": page_strings(),
    }
    html = render_template(
        "booking/book.html", centre=centre, config=config, lang_name=lang, enabled=policy.enabled
    )
    return _private(make_response(html))


@bp.get("/join/<code>")
def join_page(code: str) -> Response:
    """Join the queue from the phone (where the centre allows it): a token now, checked in
    at the kiosk on arrival; the answer leads to the token's tracking page."""
    centre = _centre(code)
    lang = str(get_locale() or "en")
    services = current_session().scalars(
        select(Service).where(Service.centre_id == centre.id, Service.is_active.is_(True)).order_by(Service.sort_order)
    ).all()
    config = {
        "centre": centre.code,
        "lang": lang,
        "services": [{"code": s.code, "name": s.name_ur if lang == "ur" else s.name_en} for s in services],
        "strings": {"failed": _("Could not send: check your connection and try again.")},
    }
    html = render_template("booking/join.html", centre=centre, config=config, allowed=remote.allowed(centre))
    return _private(make_response(html))


def _booking_at(centre: Any, booking: str) -> Any:
    """The booking of this centre that the code names; 404 for any other answer (unknown,
    another centre's, or too many guesses from this address): a page reveals nothing."""
    try:
        found = appointments.find_booking(current_session(), booking, request.remote_addr or "?")
    except (NotFound, RateLimited):
        abort(404)
    if found.centre_id != centre.id:
        abort(404)
    return found


@bp.get("/book/<code>/<booking>")
def booking_page(code: str, booking: str) -> Response:
    centre = _centre(code)
    found = _booking_at(centre, booking)
    view = appointments.public_view(found)
    window = appointments.slots.arrival_window(appointments.policy_of(centre), found.slot_start)
    config = {
        "centre": centre.code,
        "lang": str(get_locale() or "en"),
        "booking": view,
        "arrive_from": window[0].astimezone(centre.tz).strftime("%H:%M"),
        "arrive_to": window[1].astimezone(centre.tz).strftime("%H:%M"),
        "strings": page_strings(),
    }
    html = render_template("booking/booking.html", centre=centre, config=config, view=view)
    return _private(make_response(html))


@bp.get("/book/<code>/<booking>/qr.svg")
def booking_qr(code: str, booking: str) -> Response:
    """The booking code as a QR (what a kiosk's scanner types), drawn by the server."""
    centre = _centre(code)
    found = _booking_at(centre, booking)
    image = qrcode.make(found.code, image_factory=qrcode.image.svg.SvgPathImage, box_size=12, border=2)
    out = io.BytesIO()
    image.save(out)
    return _private(Response(out.getvalue(), mimetype="image/svg+xml"))
