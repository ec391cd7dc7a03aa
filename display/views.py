"""The public display: ``/display/<centre>`` for a hall TV, and its spoken announcements.

The page is served only to a paired display of that centre (or to staff of the centre, so
a clerk can watch it beside the counter console); any other browser gets the pairing
screen and none of the hall's data. The page joins the ``display`` screen over Socket.IO,
redraws from every snapshot and applies ``token_called`` and the other events.

Audio: ``GET /display/<centre>/announce/<token id>.wav?kind=call|recall|collection&counter=N``
is the chime followed by the call in Urdu and English (:mod:`display.announce`), rendered once and
cached under ``<instance>/announcements``. A publish sink renders it as soon as a call is
committed, in a background worker (one at a time, at most PRERENDER_QUEUE waiting; never
by itself in testing), so the screen's request (sent the moment the event
arrives) finds the file made or being made, never waits for a second rendering. A centre
may replace espeak-ng with a recorded human voice: one WAV per word in
``<instance>/voice/<lang>/`` (or the folder named by ``DISPLAY_VOICE_DIR``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, current_app, has_app_context, render_template, request, send_file
from flask.blueprints import BlueprintSetupState
from flask_babel import force_locale, gettext
from sqlalchemy import select
from werkzeug.wrappers import Response

from display.announce import (
    Announcement,
    AnnouncementError,
    AnnouncementKind,
    Announcer,
    AnnouncerUnavailableError,
)
from queue_server.auth import admits, current_caller
from queue_server.errors import N_, DomainError, Forbidden, NotAuthenticated, NotFound, ValidationFailed
from queue_server.models import Centre, Counter, Token
from queue_server.operations.lookup import centre_by_code
from queue_server.pairing import paired_device, pairing_page
from queue_server.publish import Message, add_sink, observes_only
from queue_server.realtime.workers import Worker
from queue_server.states import DeviceKind
from queue_server.unit_of_work import current_session, end_reading

log = logging.getLogger(__name__)

bp = Blueprint(
    "display",
    __name__,
    template_folder="templates",
    static_folder="static/display",  # files in display/static/display/, served at /static/display/
    static_url_path="/static/display",
)

ANNOUNCER_KEY = "display.announcer"
PRERENDERER_KEY = "display.prerenderer"
PRERENDER_QUEUE = 32  # calls waiting for their audio; beyond, the oldest is left to the screen's request
CACHE_MAX_AGE_S = 2 * 86400  # announcements older than two days are pruned
PRUNE_EVERY_S = 3600
MAX_ZONE_COUNTERS = 64

# Labels shown in both languages at once; English source, Urdu from the catalogue.
LABELS: dict[str, str] = {
    "now_calling": N_("Now calling"),
    "counter": N_("Counter"),
    "at_counters": N_("At the counters"),
    "recent": N_("Recent calls"),
    "waiting": N_("Waiting"),
    "nobody_waiting": N_("Nobody is waiting"),
    "recall": N_("Called again"),
    "collection": N_("Collect your documents"),
    "closed": N_("Closed"),
    "paused": N_("Break"),
    "free": N_("Free"),
    "welcome": N_("Please take a token and wait for your number"),
    "sound": N_("Tap to turn on the sound"),
    "next_up": N_("Next up"),
    "eta": N_("about {n} min"),
    "eta_under": N_("under a minute"),
    "open_today": N_("Open today {opens} – {closes}"),
    "open_always": N_("Open round the clock"),
    # the kiosk's words for the same thing (one translation for both screens)
    "closed_opens_today": N_("The centre is closed now. It opens today at {time}."),
    "closed_opens_on": N_("The centre is closed now. It opens on {day} at {time}."),
    "closed_no_opening": N_("The centre is closed now."),
}


class SpeechUnavailable(DomainError):
    status = 503
    code = "speech_unavailable"


# --- announcer wiring ------------------------------------------------------------------------

_prune_lock = threading.Lock()
_last_prune: dict[str, float] = {}


@bp.record_once
def _setup(state: BlueprintSetupState) -> None:
    app = state.app
    assert isinstance(app, Flask)
    app.extensions[ANNOUNCER_KEY] = _make_announcer(app)
    app.extensions[PRERENDERER_KEY] = Prerenderer(app)
    add_sink(pregenerate, watching=observes_only)


def _make_announcer(app: Flask) -> Announcer:
    instance = Path(app.instance_path)
    voice = app.config.get("DISPLAY_VOICE_DIR") or instance / "voice"
    return Announcer(cache_dir=instance / "announcements", voice_dir=Path(voice))


def announcer() -> Announcer:
    found = current_app.extensions.get(ANNOUNCER_KEY)
    if not isinstance(found, Announcer):  # an app built without this blueprint's setup
        found = current_app.extensions[ANNOUNCER_KEY] = _make_announcer(current_app)
    return found


def announcement_of(payload: dict[str, Any]) -> Announcement | None:
    """The announcement for a ``token_called`` payload, or None when it cannot be spoken."""
    token = payload.get("token") if isinstance(payload, dict) else None
    if not isinstance(token, dict) or token.get("counter") is None:
        return None
    try:
        return Announcement(str(token.get("number")), str(token["counter"]), payload.get("kind", "call"))
    except ValueError:
        return None


class Prerenderer(Worker):
    """The calls whose audio is still to be made, and the worker that makes it, one call
    at a time (rendering is bounded: one espeak-ng at a time per process, at most
    PRERENDER_QUEUE calls waiting). A call left out is rendered by the screen's own request."""

    def __init__(self, app: Flask) -> None:
        super().__init__(app, "announcement audio", interval_key=None, default_interval=1.0, until_idle=True)
        self.queue: deque[tuple[Announcer, Announcement]] = deque(maxlen=PRERENDER_QUEUE)
        self.queue_lock = threading.Lock()

    def submit(self, speaker: Announcer, a: Announcement) -> None:
        with self.queue_lock:
            self.queue.append((speaker, a))
        self.wake()

    def round(self) -> bool:
        """Render what waits; False: nothing is left."""
        while True:
            with self.queue_lock:
                if not self.queue:
                    return False
                speaker, a = self.queue.popleft()
            _render_quietly(speaker, a)


def prerenderer() -> Prerenderer:
    found = current_app.extensions.get(PRERENDERER_KEY)
    if not isinstance(found, Prerenderer):  # an app built without this blueprint's setup
        found = current_app.extensions[PRERENDERER_KEY] = Prerenderer(current_app._get_current_object())  # type: ignore[attr-defined]
    return found


def pregenerate(message: Message) -> None:
    """Publish sink: render a call's audio right after the commit, off the request thread."""
    if message.event != "token_called" or not has_app_context():
        return
    found = announcement_of(message.payload)
    if found is None:
        return
    prerenderer().submit(announcer(), found)


def _render_quietly(speaker: Announcer, a: Announcement) -> None:
    try:
        speaker.audio_for(a)
    except AnnouncementError as exc:  # the screen will ask again and get a clear answer
        log.warning("could not pre-render %s: %s", a, exc)
    _maybe_prune(speaker)


def _maybe_prune(speaker: Announcer) -> None:
    key = str(speaker.cache_dir)
    now = time.monotonic()
    with _prune_lock:
        if now - _last_prune.get(key, -PRUNE_EVERY_S) < PRUNE_EVERY_S:
            return
        _last_prune[key] = now
    try:
        speaker.prune_cache(CACHE_MAX_AGE_S)
    except OSError as exc:
        log.warning("could not prune %s: %s", key, exc)


# --- who may see the hall -------------------------------------------------------------------


def may_view(centre_code: str) -> bool:
    """A paired display of this centre, or staff of it; not anyone else."""
    try:
        if paired_device(DeviceKind.DISPLAY, centre_code) is not None:
            return True
        actor, _ = current_caller()
    except DomainError:  # e.g. a malformed Authorization header: treat as a stranger
        return False
    if actor is None or actor.kind != "staff":
        return False
    centre = current_session().query(Centre).filter_by(code=centre_code).one_or_none()
    return centre is not None and actor.may_act_in(centre.id)


def parse_zone(raw: str | None) -> list[int] | None:
    """``"1,2,3"`` -> [1, 2, 3]; None or blank -> None (the whole hall)."""
    if raw is None or not raw.strip():
        return None
    numbers: list[int] = []
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isascii() or not part.isdigit() or len(part) > 4:
            raise ValidationFailed(N_("Counters must be numbers separated by commas, e.g. 1,2,3."))
        if int(part) not in numbers:
            numbers.append(int(part))
    if not numbers or len(numbers) > MAX_ZONE_COUNTERS:
        raise ValidationFailed(N_("Counters must be numbers separated by commas, e.g. 1,2,3."))
    return numbers


def bilingual_labels() -> dict[str, dict[str, str]]:
    labels: dict[str, dict[str, str]] = {key: {"en": text} for key, text in LABELS.items()}
    with force_locale("ur"):
        for key, text in LABELS.items():
            labels[key]["ur"] = gettext(text)
    return labels


# --- views ------------------------------------------------------------------------------------


@bp.get("/display/<centre>")
def screen(centre: str) -> Any:
    """The hall screen, or the pairing screen for a browser that is not a paired display."""
    if not may_view(centre):
        return pairing_page(DeviceKind.DISPLAY, centre)
    found = centre_by_code(current_session(), centre)
    zone = parse_zone(request.args.get("counters"))
    config = {
        "centre": found.code,
        "timezone": found.timezone,
        "zone": zone,
        "labels": bilingual_labels(),
        "audio_base": f"/display/{found.code}/announce/",
        "chime": f"/display/{found.code}/chime.wav",
    }
    response = Response(
        render_template("display/screen.html", centre=found, zone=zone, config=config),
        mimetype="text/html",
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _audio_caller(centre_code: str) -> Centre:
    actor, _ = current_caller()
    if actor is None:
        raise NotAuthenticated(N_("Log in or give a key."))
    if not admits(actor, ("display", "staff")):
        raise Forbidden(N_("You are not allowed to do this."))
    found = centre_by_code(current_session(), centre_code)
    if not actor.may_act_in(found.id):
        raise Forbidden(N_("You may not act for this centre."))
    return found


@bp.get("/display/<centre>/announce/<int:token_id>.wav")
def announcement_audio(centre: str, token_id: int) -> Response:
    """The spoken call for a token at its counter: chime, Urdu, English (a WAV)."""
    found = _audio_caller(centre)
    try:
        kind = AnnouncementKind(request.args.get("kind", "call"))
    except ValueError:
        raise ValidationFailed(N_("Unknown announcement kind."), code="bad_kind") from None
    token = current_session().get(Token, token_id)
    if token is None or token.centre_id != found.id:
        raise NotFound(N_("No token %(id)s."), id=token_id)
    counter = _counter_asked(found, request.args.get("counter")) or token.counter
    if counter is None:
        raise NotFound(N_("Token %(number)s has not been called to a counter."), number=token.number)
    try:
        a = Announcement(token.number, str(counter.number), kind)
    except ValueError:
        raise NotFound(N_("Token %(number)s cannot be announced."), number=token.number) from None
    end_reading()  # before rendering: the read holds SQLite's lock
    try:
        path = announcer().audio_for(a)
    except AnnouncerUnavailableError as exc:
        log.error("no voice for announcements: %s", exc)
        raise SpeechUnavailable(N_("Spoken announcements are not available on this server.")) from exc
    except AnnouncementError as exc:
        log.error("announcement failed: %s", exc)
        raise SpeechUnavailable(N_("Spoken announcements are not available on this server.")) from exc
    return _wav(path)


def _counter_asked(centre: Centre, raw: str | None) -> Counter | None:
    """The counter named in the URL: the one the call was made to, as the screen saw it
    (a collection call names the clerk's counter now, which may not be the token's)."""
    if raw is None or raw == "":
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 6:
        raise ValidationFailed(N_("Unknown counter %(number)s."), number=raw[:12])
    counter = current_session().scalar(
        select(Counter).where(Counter.centre_id == centre.id, Counter.number == int(raw))
    )
    if counter is None:
        raise NotFound(N_("Unknown counter %(number)s."), number=raw)
    return counter


@bp.get("/display/<centre>/chime.wav")
def chime(centre: str) -> Response:
    """The chime alone: played when a call's speech cannot be had."""
    _audio_caller(centre)
    end_reading()
    return _wav(announcer().chime())


def _wav(path: Path) -> Response:
    response = send_file(path, mimetype="audio/wav", conditional=True, max_age=3600)
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


from display import notice  # noqa: E402  (registers the notice API on this blueprint)

bp.register_blueprint(notice.api)
