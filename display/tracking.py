"""The citizen's tracking page, opened from the QR on the ticket: ``/t/<public code>``.

No login, phone-first, Urdu and English. It shows the token, its place and expected wait,
live over the socket (screen ``track``) with polling of ``/api/v1/track/<code>`` when
websockets are blocked; the call ("go to counter 3 now") with a chime and vibration; the
request's state after service; and the feedback form once the token is done. It shows
nothing personal: the page and its data come from ``queue_server.read.tracking.track_view``.
An unknown or expired code gets a friendly page in both languages, never an error.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, make_response, render_template, request
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _

from queue_server.errors import NotFound, RateLimited
from queue_server.read.tracking import TRACKING_DAYS, track_view
from queue_server.unit_of_work import current_session

bp = Blueprint(
    "tracking",
    __name__,
    template_folder="templates",
    static_folder="static/tracking",
    static_url_path="/static/tracking",
)

LANGUAGES = ("en", "ur")


def page_strings() -> dict[str, Any]:
    """Every text the page's script draws, in the page's language."""
    return {
        "token": _("Token"),
        "ahead": _("People ahead of you"),
        "eta": _("Expected wait"),
        "eta_minutes": _("about {n} min"),
        "eta_soon": _("any moment now"),
        "eta_unknown": _("not known yet"),
        "waiting_hint": _("You may wait outside in the shade. This page updates by itself: keep it open."),
        "almost": _("Almost your turn: please come inside now."),
        "next": _("You are next: please be near the counters."),
        "called": _("Go to counter {counter} now"),
        "recalled": _("Called again: please hurry to counter {counter}"),
        "collection": _("Your documents are ready: collect them at counter {counter} now"),
        "serving": _("Being served at counter {counter}"),
        "parked": _("Set aside at counter {counter}: please stay nearby, you will be called back."),
        "done": _("Your visit is complete. Thank you."),
        "no_show": _(
            "You were called but did not come to the counter. Ask at the reception to be put back in the queue."
        ),
        "cancelled": _("This token was cancelled."),
        "closed": _("This token was closed at the end of the day."),
        "request_title": _("Your request"),
        "req_open": _("Being recorded"),
        "req_in_process": _("In process"),
        "req_ready": _("Ready for collection"),
        "req_delivered": _("Delivered"),
        "req_rejected": _("Not approved: ask at the counter for the reason"),
        "req_withdrawn": _("Withdrawn"),
        "due": _("Expected ready by {date}"),
        "collect_at_counter": _("Collect it at counter {counter}, {centre}, between {opens} and {closes}."),
        "collect_at_centre": _("Collect it at {centre}, between {opens} and {closes}."),
        "bring_ticket": _("Bring this ticket with you."),
        "check_in_at_kiosk": _("When you arrive, check in at the kiosk with this code: until then the counters pass you over."),
        "delivery_to_dispatch": _("Your documents will be sent to your address."),
        "delivery_dispatched": _("Sent to your address with {courier}, consignment {consignment}."),
        "delivery_delivered": _("Delivered to your address."),
        "delivery_returned": _("The courier brought your documents back: collect them at the centre."),
        "feedback_title": _("How was the service?"),
        "ratings": [_("Very poor"), _("Poor"), _("Fair"), _("Good"), _("Excellent")],
        "comment": _("Comment (optional)"),
        "comment_hint": _(
            "Urdu or English, up to 500 characters. Please do not write your name, CNIC or phone number."
        ),
        "send": _("Send feedback"),
        "sending": _("Sending…"),
        "pick_rating": _("Tap a star to rate the service."),
        "thanks": _("Thank you: you rated the service {rating} out of 5."),
        "send_failed": _("Could not send: check your connection and try again."),
        "sound_on": _("Turn on sound and vibration"),
        "sound_ready": _("Sound and vibration are on"),
        "live": _("Live"),
        "polling": _("Live link unavailable: refreshing every {n} seconds"),
        "offline": _("No connection: showing the last known state"),
        "updated": _("Updated {time}"),
        "expired": _("This code is unknown or has expired."),
        "title": _("Token {number}"),
    }


def _not_found_texts() -> list[dict[str, str]]:
    """The unknown-code page says it in both languages, the page's language first."""
    current = str(get_locale() or "en")
    order = [current] + [lang for lang in LANGUAGES if lang != current]
    texts = []
    for lang in order:
        with force_locale(lang):
            texts.append(
                {
                    "lang": lang,
                    "dir": "rtl" if lang == "ur" else "ltr",
                    "title": _("We could not find this token"),
                    "body": _(
                        "The code is unknown or has expired: a tracking link works for %(days)s days "
                        "after the visit. Check the link on your ticket, or ask at the reception.",
                        days=TRACKING_DAYS,
                    ),
                    "busy_title": _("Too many tries"),
                    "busy_body": _("Please wait a minute, then scan your ticket again."),
                }
            )
    return texts


def _private(response: Response) -> Response:
    """The code in the address is the citizen's key: never cached, indexed or leaked."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


@bp.get("/t/<code>")
def track_page(code: str) -> Response:
    try:
        view = track_view(current_session(), code, request.remote_addr or "?")
    except (NotFound, RateLimited) as exc:
        busy = isinstance(exc, RateLimited)
        html = render_template("tracking/not_found.html", texts=_not_found_texts(), busy=busy)
        return _private(make_response(html, exc.status))
    config = {
        "code": code,
        "view": view,
        "lang": str(get_locale() or "en"),
        "poll_seconds": current_app.config["TRACKING_POLL_SECONDS"],
        "strings": page_strings(),
    }
    html = render_template("tracking/page.html", view=view, config=config)
    return _private(make_response(html))
