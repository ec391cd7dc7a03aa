"""Appointments: a citizen books a slot of a service from the phone (name and mobile
only, verified by a one-time SMS code), may cancel or move it, and checks in at the kiosk,
which issues a token placed by the appointment time.

Placement: a checked-in token is queued as of its slot's start. Arriving early, it waits
as if it came at the slot time (so walk-ins who came before the slot are not overtaken);
arriving late within the window, it keeps the slot time's place. Outside the window the
kiosk refuses the booking and says why (too early: when to come back; too late: take a
walk-in token). A booking not checked in by the end of its window is a no-show at end of
day, and its place in the slot is free again as soon as the window ends (slots are only
offered in the future anyway).

Nothing here commits; every change appends an event (with the booking code, never the
name or the number) and queues its SMS in the outbox.

Size: the booking life cycle (slots, booking, code, move, cancel, check-in, expiry) is one
state machine over one table.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from queue_server import centre_days, notify, ratelimit, slots
from queue_server.actors import Actor
from queue_server.audit import append_event
from queue_server.clock import utcnow
from queue_server.errors import N_, Conflict, FieldInvalid, Forbidden, NotFound, ValidationFailed
from queue_server.formats import mask_phone, normalise_phone
from queue_server.models import (
    Appointment,
    AppointmentState,
    Centre,
    Counter,
    Device,
    Service,
    Token,
    WorkProfileEntry,
)
from queue_server.operations.lookup import service_by_code
from queue_server.operations.tokens import IssuedToken, issue_token
from queue_server.read import queue_state

CITIZEN = Actor("citizen", name="citizen")
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"  # no 0/O, 1/I/L, U: read out and typed
CODE_LENGTH = 8
OTP_MINUTES = 10
OTP_TRIES = 5
OTP_TEXT_MAX = 12
SERVICE_CODE_MAX = 32
PER_CLIENT = 20
PER_CLIENT_WINDOW = 600
RETENTION_DAYS = 30  # names and numbers of past bookings are erased after this
NAME_MAX = 80
LANGUAGES = ("ur", "en")
HOLDING = (AppointmentState.BOOKED, AppointmentState.CHECKED_IN)
_CODE_PATTERN = re.compile(rf"^[{CODE_ALPHABET}]{{{CODE_LENGTH}}}$")
_CONTROL = re.compile(r"[\u0000-\u001f\u007f\u202a-\u202e\u2066-\u2069]")
BOOKING_OTP = "booking_otp"
BOOKING_CONFIRMED = "booking_confirmed"


def policy_of(centre: Centre) -> slots.Policy:
    return slots.Policy.of(centre.settings)


def _bookable(session: Session, centre: Centre, service_code: Any) -> tuple[slots.Policy, Service]:
    policy = policy_of(centre)
    if not policy.enabled:
        raise Conflict(N_("This centre does not take appointments."), code="appointments_off")
    if not isinstance(service_code, str) or not 0 < len(service_code) <= SERVICE_CODE_MAX:
        raise FieldInvalid("service", N_("Choose a service."), code="invalid_service")
    service = service_by_code(session, centre, service_code)
    if not service.is_active:
        raise Conflict(N_("This service is not available now."), code="service_inactive")
    return policy, service


def slot_capacity(session: Session, centre: Centre, service: Service, policy: slots.Policy) -> int:
    """Bookings one slot of ``service`` takes (see ``slots.capacity``)."""
    rows = session.execute(
        select(WorkProfileEntry.counter_id, WorkProfileEntry.service_id, WorkProfileEntry.weight)
        .join(Counter, Counter.id == WorkProfileEntry.counter_id)
        .where(Counter.centre_id == centre.id)
    ).all()
    totals: dict[int, int] = {}
    for counter_id, _service_id, weight in rows:
        totals[counter_id] = totals.get(counter_id, 0) + weight
    shares = [w / totals[c] for c, s, w in rows if s == service.id and totals[c] > 0]
    return slots.capacity(policy, service.default_service_minutes, shares)


def _holding(now: datetime) -> Any:
    """Bookings that hold a place: booked or checked in, or waiting for their SMS code."""
    return or_(
        Appointment.state.in_(HOLDING),
        (Appointment.state == AppointmentState.UNVERIFIED) & (Appointment.otp_expires_at > now),
    )


def _slots_of_day(centre: Centre, policy: slots.Policy, day: date) -> list[datetime]:
    span = centre_days.open_span(centre.calendar(), day)
    return slots.slot_starts(span[0], span[1], policy.slot_minutes) if span else []


def _check_day(centre: Centre, policy: slots.Policy, day: date, now: datetime) -> None:
    today = centre.business_day(now)
    if not today <= day <= today + timedelta(days=policy.days_ahead):
        raise FieldInvalid(
            "date", N_("Choose a day from today up to %(days)s days ahead."),
            code="invalid_date",
            days=policy.days_ahead,
        )


def available_slots(
    session: Session, centre: Centre, service_code: Any, day: date, now: datetime | None = None
) -> dict[str, Any]:
    """The future slots of ``day`` with how many places each has left. Reads only."""
    now = now or utcnow()
    policy, service = _bookable(session, centre, service_code)
    _check_day(centre, policy, day, now)
    starts = [s for s in _slots_of_day(centre, policy, day) if s > now]
    room = slot_capacity(session, centre, service, policy)
    taken: dict[datetime, int] = {}
    if starts:
        rows = session.execute(
            select(Appointment.slot_start, func.count(Appointment.id))
            .where(
                Appointment.service_id == service.id,
                Appointment.slot_start.in_(starts),
                _holding(now),
            )
            .group_by(Appointment.slot_start)
        ).all()
        taken = {_utc(start): count for start, count in rows}
    tz = centre.tz
    return {
        "centre": centre.code,
        "service": service.code,
        "date": day.isoformat(),
        "slot_minutes": policy.slot_minutes,
        "slots": [
            {
                "start": start.isoformat(),
                "local": start.astimezone(tz).strftime("%H:%M"),
                "capacity": room,
                "free": max(room - taken.get(start, 0), 0),
            }
            for start in starts
        ],
    }


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def _parse_slot(value: Any) -> datetime:
    """An ISO 8601 instant with its offset, as the slots list gives it."""
    parsed = None
    if isinstance(value, str) and len(value) <= 40:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise FieldInvalid("slot", N_("Choose one of the offered times."), code="invalid_slot")
    return parsed.astimezone(UTC)


def _check_slot(
    session: Session, centre: Centre, service: Service, policy: slots.Policy, value: Any, now: datetime
) -> datetime:
    slot = _parse_slot(value)
    day = centre.business_day(slot)
    _check_day(centre, policy, day, now)
    if slot <= now or slot not in _slots_of_day(centre, policy, day):
        raise FieldInvalid("slot", N_("Choose one of the offered times."), code="invalid_slot")
    taken = session.scalar(
        select(func.count(Appointment.id)).where(
            Appointment.service_id == service.id, Appointment.slot_start == slot, _holding(now)
        )
    )
    if int(taken or 0) >= slot_capacity(session, centre, service, policy):
        raise Conflict(N_("That time is fully booked: choose another."), code="slot_full")
    return slot


def clean_name(value: Any) -> str:
    if not isinstance(value, str):
        raise FieldInvalid("name", N_("Write your name."), code="invalid_name")
    text = unicodedata.normalize("NFC", _CONTROL.sub("", value)).strip()
    text = re.sub(r"\s+", " ", text)
    if not text:
        raise FieldInvalid("name", N_("Write your name."), code="invalid_name")
    if len(text) > NAME_MAX:
        raise FieldInvalid(
            "name", N_("Keep the name to %(max)s characters or fewer."), code="invalid_name", max=NAME_MAX
        )
    return text


def _otp_hash(code: str, otp: str) -> str:
    secret = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(secret, f"{code}:{otp}".encode(), hashlib.sha256).hexdigest()


def _new_code(session: Session) -> str:
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        if session.scalar(select(Appointment.id).where(Appointment.code == code)) is None:
            return code


def book(
    session: Session,
    centre: Centre,
    *,
    service: Any,
    slot: Any,
    name: Any,
    phone: Any,
    language: Any,
    client: str,
    now: datetime | None = None,
) -> Appointment:
    """Hold a place in a slot and send a one-time code to the mobile number. Refuses,
    changing nothing: a client past its volume (429), a centre without appointments, a
    full slot, a number holding its share of bookings already (409), a bad service, time,
    name or number (400, naming the field)."""
    now = now or utcnow()
    ratelimit.enforce(f"booking:{client}", PER_CLIENT, PER_CLIENT_WINDOW)
    policy, found = _bookable(session, centre, service)
    name_text = clean_name(name)
    number = normalise_phone(phone if isinstance(phone, str) else "")
    start = _check_slot(session, centre, found, policy, slot, now)
    held = session.scalar(
        select(func.count(Appointment.id)).where(
            Appointment.centre_id == centre.id,
            Appointment.phone == number,
            Appointment.slot_start > now,
            _holding(now),
        )
    )
    if int(held or 0) >= policy.per_phone:
        raise Conflict(
            N_("This mobile number already holds %(count)s bookings here: cancel one first."),
            code="too_many_bookings",
            count=policy.per_phone,
        )
    code = _new_code(session)
    otp = f"{secrets.randbelow(10**6):06d}"
    booking = Appointment(
        centre_id=centre.id,
        service_id=found.id,
        slot_start=start,
        code=code,
        name=name_text,
        phone=number,
        language=language if language in LANGUAGES else "ur",
        state=AppointmentState.UNVERIFIED,
        otp_hash=_otp_hash(code, otp),
        otp_expires_at=now + timedelta(minutes=OTP_MINUTES),
        created_at=now,
        updated_at=now,
    )
    session.add(booking)
    session.flush()
    append_event(
        session, centre.id, "appointment_booked", CITIZEN, service_id=found.id,
        data={"code": code, "slot": start.isoformat()},
    )
    notify.enqueue(
        session, centre_id=centre.id, token_id=None, appointment_id=booking.id, kind=BOOKING_OTP,
        payload={"otp": otp, "centre": centre.code, "minutes": OTP_MINUTES},
    )
    return booking


def find_booking(session: Session, code: Any, client: str) -> Appointment:
    """The booking behind a code; unknown codes count against the client (guessing)."""
    text = code.strip().upper().replace("-", "") if isinstance(code, str) else ""
    booking = (
        session.scalar(select(Appointment).where(Appointment.code == text)) if _CODE_PATTERN.match(text) else None
    )
    if booking is None:
        ratelimit.enforce(f"booking-miss:{client}", PER_CLIENT, PER_CLIENT_WINDOW)
        raise NotFound(N_("No booking with that code."), code="no_booking")
    return booking


def verify(session: Session, code: Any, otp: Any, client: str, now: datetime | None = None) -> Appointment:
    """Confirm a booking with the code the SMS brought, then SMS the booking code. Five
    wrong codes and the booking must be made again."""
    now = now or utcnow()
    if not isinstance(otp, str) or len(otp) > OTP_TEXT_MAX:
        raise FieldInvalid("otp", N_("That code is not right: check the SMS."), code="invalid_otp")
    booking = find_booking(session, code, client)
    if booking.state == AppointmentState.BOOKED:
        return booking  # confirmed already: a second tap changes nothing
    if booking.state != AppointmentState.UNVERIFIED or (
        booking.otp_expires_at is not None and booking.otp_expires_at <= now
    ):
        raise Conflict(N_("This booking has expired: book again."), code="booking_expired")
    if not ratelimit.hit(f"otp:{booking.code}", OTP_TRIES, OTP_MINUTES * 60):
        raise Conflict(N_("Too many wrong codes: book again."), code="booking_expired")
    given = otp.strip()
    if not hmac.compare_digest(booking.otp_hash, _otp_hash(booking.code, given)):
        raise FieldInvalid("otp", N_("That code is not right: check the SMS."), code="invalid_otp")
    booking.state = AppointmentState.BOOKED
    booking.otp_hash = ""
    booking.updated_at = now
    append_event(session, booking.centre_id, "appointment_confirmed", CITIZEN, data={"code": booking.code})
    _tell_booked(session, booking)
    return booking


def _tell_booked(session: Session, booking: Appointment) -> None:
    local = booking.slot_start.astimezone(booking.centre.tz)
    notify.enqueue(
        session, centre_id=booking.centre_id, token_id=None, appointment_id=booking.id,
        kind=BOOKING_CONFIRMED,
        payload={
            "code": booking.code,
            "when": local.strftime("%d-%m-%Y %H:%M"),
            "centre_en": booking.centre.name_en,
            "centre_ur": booking.centre.name_ur,
            "service_en": booking.service.name_en,
            "service_ur": booking.service.name_ur,
        },
    )


def cancel(session: Session, code: Any, client: str, now: datetime | None = None) -> Appointment:
    """Give the place back. Refuses a booking already used, cancelled or past (409)."""
    now = now or utcnow()
    booking = find_booking(session, code, client)
    if booking.state not in (AppointmentState.BOOKED, AppointmentState.UNVERIFIED):
        raise Conflict(N_("This booking can no longer be changed."), code="booking_closed")
    booking.state = AppointmentState.CANCELLED
    booking.updated_at = now
    append_event(session, booking.centre_id, "appointment_cancelled", CITIZEN, data={"code": booking.code})
    return booking


def move(session: Session, code: Any, slot: Any, client: str, now: datetime | None = None) -> Appointment:
    """Move a confirmed booking to another free slot of the same service."""
    now = now or utcnow()
    _parse_slot(slot)  # a malformed body is refused before anything is looked up
    booking = find_booking(session, code, client)
    if booking.state != AppointmentState.BOOKED or booking.slot_start <= now:
        raise Conflict(N_("This booking can no longer be changed."), code="booking_closed")
    policy, service = _bookable(session, booking.centre, booking.service.code)
    start = _check_slot(session, booking.centre, service, policy, slot, now)
    was = booking.slot_start
    booking.slot_start = start
    booking.updated_at = now
    append_event(
        session, booking.centre_id, "appointment_moved", CITIZEN,
        data={"code": booking.code, "from": was.isoformat(), "to": start.isoformat()},
    )
    _tell_booked(session, booking)
    return booking


def check_in(
    session: Session,
    centre: Centre,
    code: Any,
    actor: Actor,
    *,
    device: Device | None = None,
    client: str = "?",
    now: datetime | None = None,
) -> IssuedToken:
    """The citizen arrived: issue the booking's token, queued as of the slot's start.
    Refuses a booking of another centre or day, one already used, cancelled or expired, and
    an arrival outside the window (too early: says when; too late: take a walk-in token)."""
    now = now or utcnow()
    if not actor.may_act_in(centre.id):
        raise Forbidden(N_("You may not act for this centre."))
    booking = find_booking(session, code, client)
    if booking.centre_id != centre.id:
        raise NotFound(N_("No booking with that code."), code="no_booking")
    if booking.state == AppointmentState.CHECKED_IN:
        raise Conflict(N_("This booking was checked in already."), code="checked_in")
    if booking.state != AppointmentState.BOOKED:
        raise Conflict(N_("This booking is not valid: take a token for the queue."), code="booking_closed")
    policy = policy_of(centre)
    opens, closes = slots.arrival_window(policy, booking.slot_start)
    if now < opens:
        raise Conflict(
            N_("Too early for this booking: please check in from %(time)s."),
            code="too_early",
            time=opens.astimezone(centre.tz).strftime("%H:%M"),
        )
    if now > closes:
        raise Conflict(
            N_("The time for this booking has passed: please take a token for the queue."), code="too_late"
        )
    issued = issue_token(session, centre, booking.service.code, actor, device=device)
    token = issued.token
    token.queued_at = booking.slot_start
    booking.state = AppointmentState.CHECKED_IN
    booking.token_id = token.id
    booking.updated_at = now
    session.flush()
    append_event(
        session, centre.id, "appointment_checked_in", actor, token_id=token.id, service_id=token.service_id,
        data={"code": booking.code, "number": token.number, "slot": booking.slot_start.isoformat()},
    )
    ahead = queue_state.tokens_ahead(session, token)
    return IssuedToken(token, ahead, queue_state.eta_for(session, centre, token.service_id, ahead))


def settle(session: Session, centre: Centre, now: datetime | None = None) -> dict[str, int]:
    """End of day: bookings whose window passed unused are no-shows; unconfirmed ones whose
    SMS code lapsed (or whose slot passed) expired, and their name and number — never
    confirmed by the citizen — are erased at once; names and numbers of every other booking
    are erased RETENTION_DAYS after its slot. The booking row (code, slot, state) stays for
    the figures."""
    now = now or utcnow()
    late = timedelta(minutes=policy_of(centre).late_minutes)
    counts = {"no_show": 0, "expired": 0, "erased": 0}
    for booking in session.scalars(
        select(Appointment).where(
            Appointment.centre_id == centre.id,
            Appointment.state.in_((AppointmentState.BOOKED, AppointmentState.UNVERIFIED)),
            or_(
                Appointment.slot_start < now,
                (Appointment.state == AppointmentState.UNVERIFIED) & (Appointment.otp_expires_at <= now),
            ),
        )
    ):
        if booking.state == AppointmentState.BOOKED and booking.slot_start + late < now:
            booking.state, counts["no_show"] = AppointmentState.NO_SHOW, counts["no_show"] + 1
        elif booking.state == AppointmentState.UNVERIFIED:
            booking.state, counts["expired"] = AppointmentState.EXPIRED, counts["expired"] + 1
    for booking in session.scalars(
        select(Appointment).where(
            Appointment.centre_id == centre.id,
            or_(
                Appointment.slot_start < now - timedelta(days=RETENTION_DAYS),
                Appointment.state == AppointmentState.EXPIRED,
            ),
            or_(Appointment.phone != "", Appointment.name != ""),
        )
    ):
        booking.name, booking.phone = "", ""
        counts["erased"] += 1
    session.flush()
    if any(counts.values()):
        append_event(session, centre.id, "appointments_settled", CITIZEN, data=counts)
    return counts


def public_view(booking: Appointment) -> dict[str, Any]:
    """What the citizen's phone shows of a booking: nothing but the mobile, masked."""
    local = booking.slot_start.astimezone(booking.centre.tz)
    return {
        "code": booking.code,
        "state": booking.state.value,
        "centre": booking.centre.code,
        "centre_en": booking.centre.name_en,
        "centre_ur": booking.centre.name_ur,
        "service": booking.service.code,
        "service_en": booking.service.name_en,
        "service_ur": booking.service.name_ur,
        "slot": booking.slot_start.isoformat(),
        "date": local.date().isoformat(),
        "time": local.strftime("%H:%M"),
        "phone": mask_phone(booking.phone),
        "token_number": None,
    }


def day_report(session: Session, centre: Centre, day: date) -> dict[str, Any]:
    """Bookings per slot and service, and the day's booked against walk-in tokens."""
    start, end = centre.day_span(day)
    rows = session.execute(
        select(Appointment.slot_start, Service.code, Appointment.state, func.count(Appointment.id))
        .join(Service, Service.id == Appointment.service_id)
        .where(Appointment.centre_id == centre.id, Appointment.slot_start >= start, Appointment.slot_start < end)
        .group_by(Appointment.slot_start, Service.code, Appointment.state)
        .order_by(Appointment.slot_start, Service.code)
    ).all()
    per_slot: dict[tuple[str, str], dict[str, Any]] = {}
    for slot_start, service_code, state, count in rows:
        local = _utc(slot_start).astimezone(centre.tz).strftime("%H:%M")
        entry = per_slot.setdefault((local, service_code), {"time": local, "service": service_code})
        entry[AppointmentState(state).value] = count
    tokens = int(
        session.scalar(
            select(func.count(Token.id)).where(Token.centre_id == centre.id, Token.business_day == day)
        )
        or 0
    )
    booked = int(
        session.scalar(
            select(func.count(Appointment.id)).where(
                Appointment.centre_id == centre.id,
                Appointment.slot_start >= start,
                Appointment.slot_start < end,
                Appointment.state == AppointmentState.CHECKED_IN,
            )
        )
        or 0
    )
    return {
        "centre": centre.code,
        "date": day.isoformat(),
        "slots": list(per_slot.values()),
        "tokens": tokens,
        "booked_tokens": booked,
        "walk_in_tokens": tokens - booked,
        "booked_share": round(booked / tokens, 3) if tokens else None,
    }


def parse_day(value: Any) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValidationFailed(N_("Give the date as YYYY-MM-DD."), code="invalid_date") from None
