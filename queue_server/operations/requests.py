"""Requests: opened when service of a token starts, processed and closed the same day.

Life cycle: ``open → in_process → ready → delivered``, or ``rejected`` / ``withdrawn`` with
a reason from any unfinished state. A request is recorded (``open → in_process``) only with
an applicant name, a CNIC and a Pakistani mobile number that pass the format checks. Only the
clerk who handles a request and the centre's managers may open or change it. CNIC and phone
never leave this module unmasked except in ``request_detail`` for those people.

Every operation here checks, refuses with a DomainError (nothing changed), appends an event
(never with the CNIC or phone in it), flushes and queues what to announce; none commits.

Size: the request life cycle (open, fill, documents, fee, ready, collection, close, carry-
over) is one state machine over one table.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from queue_server import centre_days, rooms
from queue_server.actors import Actor
from queue_server.audit import append_event
from queue_server.clock import utcnow
from queue_server.errors import N_, Conflict, FieldInvalid, Forbidden, NotFound, ValidationFailed
from queue_server.formats import (
    CNIC_PATTERN,
    MOBILE_PATTERN,
    normalise_cnic,
    normalise_phone,
)
from queue_server.models import (
    Centre,
    Counter,
    RequestState,
    Service,
    ServiceRequest,
    Token,
    TokenState,
    Turnaround,
)
from queue_server.models.token import OPEN_STATES
from queue_server.operations import announce
from queue_server.operations.numbering import next_value
from queue_server.publish import Message, publish
from queue_server.read import queue_state
from queue_server.read.requests import (
    NEXT_STATE,
    UNFINISHED,
    is_untouched,
    may_open,
)

S = RequestState
EDITABLE = (S.OPEN, S.IN_PROCESS)

MAX_NAME = 120
MAX_NOTES = 2000
MAX_REASON = 500
MAX_FEE = 1_000_000
FIELDS = ("applicant_name", "cnic", "phone", "documents", "fee_received", "notes")


def make_reference(centre: Centre, day: date, seq: int) -> str:
    """Centre, date, sequence: DEMO-20260312-0042."""
    return f"{centre.code.upper()}-{day:%Y%m%d}-{seq:04d}"


def due_time(centre: Centre, service: Service, day: date) -> datetime:
    """Same day and on the spot: the centre's closing time that business day (or of the next
    day it opens, when that day is closed; the end of the business day round the clock).
    Otherwise closing time after the service's working days (Sundays do not count)."""
    due_day = day
    if service.turnaround == Turnaround.DAYS:
        left = max(service.turnaround_days, 1)
        while left:
            due_day += timedelta(days=1)
            if due_day.weekday() != 6:
                left -= 1
    return centre_days.deadline(centre.calendar(), due_day)


# Loading and permissions --------------------------------------------------------------


def request_for(
    session: Session, request_id: int, actor: Actor, *, for_update: bool = False
) -> ServiceRequest:
    """A request the actor may open; NotFound outside their centre, Forbidden otherwise."""
    query = select(ServiceRequest).where(ServiceRequest.id == request_id)
    if for_update:
        query = query.with_for_update()
    req = session.scalar(query)
    if req is None or actor.kind not in ("staff", "system") or not actor.may_act_in(req.centre_id):
        raise NotFound(N_("No request %(id)s."), id=request_id)
    if not may_open(req, actor):
        raise Forbidden(
            N_("Only the clerk who handles request %(reference)s and managers may open it."),
            code="not_handler",
            reference=req.reference,
        )
    return req


def _require_expected(req: ServiceRequest, expect: str | None) -> None:
    """A console that shows an old state must not act on the new one."""
    if expect is not None and expect != req.state.value:
        raise Conflict(
            N_("Request %(reference)s was changed elsewhere: it is now %(state)s."),
            code="stale",
            reference=req.reference,
            state=req.state.value,
        )


def _record(session: Session, req: ServiceRequest, actor: Actor, kind: str, **data: object) -> None:
    append_event(
        session,
        req.centre_id,
        kind,
        actor,
        token_id=req.token_id,
        counter_id=req.counter_id,
        service_id=req.service_id,
        data={"reference": req.reference, "state": req.state.value, **data},
    )


def _changed(session: Session, req: ServiceRequest) -> None:
    """Tell the handling clerk's console (its counter room) to redraw its requests, and the
    citizen's tracking page its request state. Only the id and state travel to the console
    room; nothing personal goes to any room."""
    if req.counter_id:
        payload = {"request": {"id": req.id, "state": req.state.value, "reference": req.reference}}
        publish(session, Message("request_changed", (rooms.counter(req.counter_id),), payload, centre_id=req.centre_id))
    announce.request_changed(session, req)


# A token's unfinished requests (built once: every start and complete reads them)
_UNFINISHED = (
    select(ServiceRequest)
    .where(ServiceRequest.token_id == bindparam("token_id"), ServiceRequest.state.in_(UNFINISHED))
    .order_by(ServiceRequest.id)
)
_UNFINISHED_LOCKED = _UNFINISHED.with_for_update()


# Operations ---------------------------------------------------------------------------


def open_request(session: Session, token: Token, counter: Counter, actor: Actor) -> ServiceRequest:
    """Open the request for the token's service when its service starts (called by
    ``operations.tokens.start``). A token that comes back to the same service (unparked,
    transferred to one counter) keeps its unfinished request, handed to the new clerk; a
    request of another service left unrecorded when the token was transferred is withdrawn."""
    handler_id = counter.staff_id or (actor.id if actor.kind == "staff" else None)
    now = utcnow()
    existing = session.scalars(_UNFINISHED_LOCKED, {"token_id": token.id}).all()
    for req in existing:
        if req.service_id != token.service_id and req.state == S.OPEN:
            req.state = S.WITHDRAWN
            req.reason = "Transferred to another service before it was recorded."
            req.closed_at = now
            _record(session, req, actor, "request_withdrawn", automatic=True)
    same = [r for r in existing if r.service_id == token.service_id]
    if same:
        req = same[-1]
        if req.staff_id != handler_id or req.counter_id != counter.id:
            req.staff_id = handler_id
            req.counter_id = counter.id
            session.flush()
            _record(session, req, actor, "request_reassigned", counter=counter.number)
        return req
    centre = token.centre
    day = centre.business_day(now)
    seq = next_value(session, centre.id, "request", day)
    req = ServiceRequest(
        centre_id=centre.id,
        token_id=token.id,
        service_id=token.service_id,
        staff_id=handler_id,
        counter_id=counter.id,
        reference=make_reference(centre, day, seq),
        business_day=day,
        state=S.OPEN,
        applicant_name="",
        cnic="",
        phone="",
        documents_checked=[],
        fee_received=0,
        notes="",
        reason="",
        opened_at=now,
        due_at=due_time(centre, token.service, day),
        extra={},
    )
    session.add(req)
    session.flush()
    _record(session, req, actor, "request_opened", number=token.number, service=token.service.code)
    _changed(session, req)
    return req


def _clean_fields(req: ServiceRequest, fields: dict[str, Any]) -> dict[str, Any]:
    """Validate every given field before anything is assigned: one bad field changes nothing."""
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise ValidationFailed(N_("Unknown field %(field)s."), field=unknown[0][:40])
    clean: dict[str, Any] = {}
    if "applicant_name" in fields:
        name = " ".join(str(fields["applicant_name"] or "").split())
        if len(name) < 2 or len(name) > MAX_NAME or any(ch.isdigit() for ch in name):
            raise FieldInvalid(
                "applicant_name", N_("Give the applicant's name (2 to 120 letters, no digits)."),
                code="invalid_name",
            )
        clean["applicant_name"] = name
    if "cnic" in fields:
        clean["cnic"] = normalise_cnic(str(fields["cnic"] or ""))
    if "phone" in fields:
        clean["phone"] = normalise_phone(str(fields["phone"] or ""))
    if "documents" in fields:
        documents = fields["documents"]
        known = [d.get("en", "") for d in (req.service.documents or [])]
        if not isinstance(documents, list) or any(d not in known for d in documents):
            raise FieldInvalid(
                "documents", N_("Tick only documents from this service's checklist."),
                code="invalid_documents",
            )
        clean["documents_checked"] = [d for d in known if d in documents]
    if "fee_received" in fields:
        fee = fields["fee_received"]
        if isinstance(fee, str) and fee.strip().isdigit():
            fee = int(fee.strip())
        if isinstance(fee, bool) or not isinstance(fee, int) or not 0 <= fee <= MAX_FEE:
            raise FieldInvalid(
                "fee_received", N_("The fee received must be a whole number of rupees from 0 to 1,000,000."),
                code="invalid_fee",
            )
        clean["fee_received"] = fee
    if "notes" in fields:
        notes = str(fields["notes"] or "").strip()
        if len(notes) > MAX_NOTES:
            raise FieldInvalid(
                "notes", N_("Notes may be at most 2,000 characters."), code="invalid_notes"
            )
        clean["notes"] = notes
    return clean


def update_request(
    session: Session,
    request_id: int,
    actor: Actor,
    fields: dict[str, Any],
    *,
    expect: str | None = None,
) -> ServiceRequest:
    """Fill in or correct a request while it is open or in process. Refused afterwards,
    for anyone but its clerk and managers, and for any invalid field (nothing changes)."""
    req = request_for(session, request_id, actor, for_update=True)
    _require_expected(req, expect)
    if req.state not in EDITABLE:
        raise Conflict(
            N_("Request %(reference)s is %(state)s: it can no longer be changed."),
            code="request_locked",
            reference=req.reference,
            state=req.state.value,
        )
    clean = _clean_fields(req, fields)
    changed = sorted(k for k, v in clean.items() if getattr(req, k) != v)
    for key, value in clean.items():
        setattr(req, key, value)
    if changed:
        session.flush()
        _record(session, req, actor, "request_updated", fields=changed)
        _changed(session, req)
    return req


def _require_recorded(req: ServiceRequest) -> None:
    missing = [
        label
        for label, ok in (
            ("applicant_name", bool(req.applicant_name)),
            ("cnic", bool(CNIC_PATTERN.match(req.cnic or ""))),
            ("phone", bool(MOBILE_PATTERN.match(req.phone or ""))),
        )
        if not ok
    ]
    if missing:
        raise Conflict(
            N_("Request %(reference)s needs the applicant's name, CNIC and mobile number first."),
            code="request_incomplete",
            reference=req.reference,
            missing=",".join(missing),
        )


def advance_request(
    session: Session,
    request_id: int,
    actor: Actor,
    *,
    to: str | None = None,
    expect: str | None = None,
    fields: dict[str, Any] | None = None,
) -> ServiceRequest:
    """Move a request one step along ``open → in_process → ready → delivered``. ``to``,
    when given, must be that next step. ``fields`` are saved first, in the same step
    (the console's "record"). Recording needs name, CNIC and mobile."""
    if fields:
        update_request(session, request_id, actor, fields, expect=expect)
        expect = None
    req = request_for(session, request_id, actor, for_update=True)
    _require_expected(req, expect)
    target = NEXT_STATE.get(req.state)
    if target is None or (to is not None and to != target.value):
        raise Conflict(
            N_("Request %(reference)s is %(state)s: it cannot become %(target)s."),
            code="illegal_request_transition",
            reference=req.reference,
            state=req.state.value,
            target=str(to or "-")[:20],
        )
    if target == S.IN_PROCESS:
        _require_recorded(req)
    now = utcnow()
    req.state = target
    if target == S.READY:
        req.ready_at = now
    if target == S.DELIVERED:
        req.closed_at = now
    session.flush()
    _record(session, req, actor, f"request_{target.value}")
    _changed(session, req)
    return req


def close_request(
    session: Session,
    request_id: int,
    actor: Actor,
    outcome: str,
    reason: str,
    *,
    expect: str | None = None,
) -> ServiceRequest:
    """Reject or withdraw an unfinished request; a reason is required."""
    if outcome not in (S.REJECTED.value, S.WITHDRAWN.value):
        raise ValidationFailed(N_("Unknown outcome %(outcome)s."), outcome=str(outcome)[:32])
    req = request_for(session, request_id, actor, for_update=True)
    _require_expected(req, expect)
    text = " ".join(str(reason or "").split())
    if not text:
        raise FieldInvalid("reason", N_("Give a reason."), code="reason_required")
    if len(text) > MAX_REASON:
        raise FieldInvalid("reason", N_("The reason may be at most 500 characters."))
    if req.state not in UNFINISHED:
        raise Conflict(
            N_("Request %(reference)s is %(state)s: it cannot become %(target)s."),
            code="illegal_request_transition",
            reference=req.reference,
            state=req.state.value,
            target=outcome,
        )
    req.state = S(outcome)
    req.reason = text
    req.closed_at = utcnow()
    session.flush()
    _record(session, req, actor, f"request_{outcome}")
    _changed(session, req)
    return req


def collection_call(
    session: Session, request_id: int, actor: Actor, *, expect: str | None = None
) -> ServiceRequest:
    """The request is ready while the citizen waits in the hall: mark it ready and call
    the citizen back to the clerk's counter. Public screens get a ``token_called`` of kind
    "collection" with the token number and counter only. Limited like recalls."""
    req = request_for(session, request_id, actor, for_update=True)
    _require_expected(req, expect)
    if req.state not in (S.IN_PROCESS, S.READY):
        raise Conflict(
            N_("Request %(reference)s is %(state)s: only a request in process or ready can be collected."),
            code="not_collectable",
            reference=req.reference,
            state=req.state.value,
        )
    token = req.token
    centre = token.centre
    hall_from = queue_state.hall_days(centre)[0]  # a 24/7 centre's citizen may wait across the boundary
    if req.business_day < hall_from or token.business_day < hall_from:
        raise Conflict(
            N_("Request %(reference)s is from another day: the citizen is no longer waiting."),
            code="not_today",
            reference=req.reference,
        )
    if token.state in (TokenState.WAITING, TokenState.CALLED, TokenState.CANCELLED):
        raise Conflict(
            N_("Token %(number)s is %(state)s: it cannot be called for collection now."),
            code="token_busy",
            number=token.number,
            state=token.state.value,
        )
    limit = centre.max_recalls + 1
    if req.collection_calls >= limit:
        raise Conflict(
            N_("%(number)s was called for collection %(count)s times already."),
            code="collection_limit",
            number=token.number,
            count=req.collection_calls,
        )
    counter = None
    if actor.kind == "staff":
        counter = session.scalar(select(Counter).where(Counter.staff_id == actor.id))
    counter = counter or req.counter or token.counter
    now = utcnow()
    if counter is not None:
        req.counter = counter  # collected where the clerk is now
    if req.state == S.IN_PROCESS:
        req.state = S.READY
        req.ready_at = now
    req.collection_calls += 1
    req.collection_called_at = now
    session.flush()
    _record(
        session,
        req,
        actor,
        "request_collection_called",
        number=token.number,
        counter=counter.number if counter else None,
        calls=req.collection_calls,
    )
    public = queue_state.token_public(token)
    public["counter"] = counter.number if counter else public["counter"]
    public["called_at"] = now.isoformat()
    targets = (*rooms.centre_rooms(token.centre_id), rooms.token(token.public_code))
    if counter is not None:
        targets = (*targets, rooms.counter(counter.id))
    publish(session, Message("token_called", targets, {"token": public, "kind": "collection"}, centre_id=token.centre_id))
    _changed(session, req)
    return req


def require_closable(session: Session, token: Token, actor: Actor | None = None, outcome: str = "") -> None:
    """A token may be completed only when its requests are in a consistent state:
    recorded, not half filled in; and for an on-the-spot service finished, since the
    citizen leaves with the outcome. Same-day and longer requests may go on after the token
    (the citizen is called back for collection or collects later). A request left untouched
    is withdrawn with the token's outcome as the reason, so no empty request stays open."""
    unfinished = session.scalars(_UNFINISHED, {"token_id": token.id}).all()
    for req in unfinished:
        if is_untouched(req):
            continue
        if req.state == S.OPEN:
            raise Conflict(
                N_("Request %(reference)s is still open: record it before completing."),
                code="request_open",
                reference=req.reference,
            )
        if req.service.turnaround == Turnaround.ON_THE_SPOT:
            raise Conflict(
                N_("Request %(reference)s is on the spot: deliver, reject or withdraw it before completing."),
                code="request_unfinished",
                reference=req.reference,
            )
    for req in unfinished:
        if is_untouched(req):  # only open requests are untouched
            _withdraw_empty(
                session, req, actor, f"Token completed ({outcome or 'served'}); nothing was recorded."
            )


def _withdraw_empty(session: Session, req: ServiceRequest, actor: Actor | None, reason: str) -> None:
    from queue_server.actors import SYSTEM

    req.state = S.WITHDRAWN
    req.reason = reason
    req.closed_at = utcnow()
    session.flush()
    _record(session, req, actor or SYSTEM, "request_withdrawn", automatic=True)
    _changed(session, req)


def carry_over(session: Session, centre: Centre, actor: Actor) -> tuple[int, int]:
    """End of day: every unfinished request stays open for the next day and is recorded
    as carried over; one that was due by now is marked late. Returns (carried, late)."""
    now = utcnow()
    unfinished = session.scalars(
        select(ServiceRequest)
        .where(ServiceRequest.centre_id == centre.id, ServiceRequest.state.in_(UNFINISHED))
        .order_by(ServiceRequest.id)
        .with_for_update()
    ).all()
    late = 0
    carried = 0
    today = centre.business_day(now)
    for req in unfinished:
        if req.carried_over_at is not None and centre.business_day(req.carried_over_at) == today:
            continue  # the day was closed already once today
        # A citizen still at a counter across a 24/7 centre's boundary keeps the request.
        if is_untouched(req) and req.token.state not in OPEN_STATES:
            _withdraw_empty(session, req, actor, "Closed at the end of the day; nothing was recorded.")
            continue
        carried += 1
        due = req.due_at is not None and req.due_at <= now + timedelta(minutes=1)
        is_late_now = req.service.is_same_day or due
        req.carried_over_at = now
        req.carry_overs += 1
        if is_late_now:
            req.is_late = True
            late += 1
        _record(session, req, actor, "request_carried_over", late=req.is_late, carry_overs=req.carry_overs)
    session.flush()
    return carried, late


# For the operations that extend a request's life (deliveries): the same event and the
# same announcement as every request step.
record_event = _record
announce_change = _changed
