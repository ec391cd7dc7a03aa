"""Requests as the clerk, the manager and the API see them: lists with the CNIC and phone
masked, the full detail for the handling clerk and managers only, and the rules those
views share with the operations (who may open a request, which states are finished)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from queue_server.actors import Actor
from queue_server.clock import utcnow
from queue_server.errors import N_, Forbidden
from queue_server.formats import mask_cnic, mask_phone, phone_local
from queue_server.models import Centre, RequestState, ServiceRequest, Token
from queue_server.read import queue_state

S = RequestState
UNFINISHED = (S.OPEN, S.IN_PROCESS, S.READY)
FINISHED = (S.DELIVERED, S.REJECTED, S.WITHDRAWN)
# advance: the one next step of the main line
NEXT_STATE = {S.OPEN: S.IN_PROCESS, S.IN_PROCESS: S.READY, S.READY: S.DELIVERED}


def may_open(req: ServiceRequest, actor: Actor) -> bool:
    """The clerk who handles the request, or a manager of its centre."""
    if actor.kind == "system":
        return True
    if actor.kind != "staff" or not actor.may_act_in(req.centre_id):
        return False
    return actor.is_manager or req.staff_id == actor.id


def request_of_token(session: Session, token: Token) -> ServiceRequest | None:
    """The token's latest request (the one of its current service if there is one)."""
    rows = session.scalars(
        select(ServiceRequest).where(ServiceRequest.token_id == token.id).order_by(ServiceRequest.id.desc())
    ).all()
    for req in rows:
        if req.service_id == token.service_id:
            return req
    return rows[0] if rows else None


def is_untouched(req: ServiceRequest) -> bool:
    """Opened by the start of service, but nothing was ever filled in (an enquiry, a
    citizen sent elsewhere): there is no application to keep."""
    return req.state == S.OPEN and not (
        req.applicant_name or req.cnic or req.phone or req.documents_checked or req.fee_received or req.notes
    )


def seconds_left(req: ServiceRequest, now: datetime | None = None) -> int | None:
    if req.due_at is None or req.state in FINISHED:
        return None
    return int((req.due_at - (now or utcnow())).total_seconds())


def request_summary(req: ServiceRequest, now: datetime | None = None) -> dict[str, Any]:
    """For lists: the CNIC and phone masked."""
    token = req.token
    service = req.service
    return {
        "id": req.id,
        "reference": req.reference,
        "state": req.state.value,
        "token": {"id": token.id, "number": token.number, "state": token.state.value},
        "service": {
            "code": service.code,
            "name_en": service.name_en,
            "name_ur": service.name_ur,
            "turnaround": service.turnaround.value,
            "is_same_day": service.is_same_day,
        },
        "applicant_name": req.applicant_name,
        "cnic": mask_cnic(req.cnic),
        "phone": mask_phone(req.phone),
        "counter": req.counter.number if req.counter else None,
        "clerk": req.staff.full_name if req.staff else None,
        "business_day": req.business_day.isoformat(),
        "opened_at": queue_state.iso(req.opened_at),
        "due_at": queue_state.iso(req.due_at),
        "seconds_left": seconds_left(req, now),
        "ready_at": queue_state.iso(req.ready_at),
        "closed_at": queue_state.iso(req.closed_at),
        "collection_calls": req.collection_calls,
        "is_late": req.is_late,
        "carry_overs": req.carry_overs,
        "masked": True,
    }


def request_detail(req: ServiceRequest, actor: Actor) -> dict[str, Any]:
    """Everything, for the handling clerk and managers only (``request_for`` checked)."""
    if not may_open(req, actor):
        raise Forbidden(
            N_("Only the clerk who handles request %(reference)s and managers may open it."),
            code="not_handler",
            reference=req.reference,
        )
    data = request_summary(req)
    data.update(
        cnic=req.cnic,
        phone=phone_local(req.phone),
        documents=[
            {
                "en": d.get("en", ""),
                "ur": d.get("ur", ""),
                "checked": d.get("en", "") in req.documents_checked,
            }
            for d in (req.service.documents or [])
        ],
        fee=req.service.fee,
        fee_received=req.fee_received,
        notes=req.notes,
        reason=req.reason,
        masked=False,
        next_state=NEXT_STATE[req.state].value if req.state in NEXT_STATE else None,
    )
    return data


def open_requests_of(session: Session, actor: Actor, centre: Centre) -> list[ServiceRequest]:
    """Unfinished requests the actor handles (all of the centre's for a manager), those
    due first."""
    query = select(ServiceRequest).where(
        ServiceRequest.centre_id == centre.id, ServiceRequest.state.in_(UNFINISHED)
    )
    if not actor.is_manager:
        query = query.where(ServiceRequest.staff_id == actor.id)
    return list(session.scalars(query.order_by(ServiceRequest.due_at, ServiceRequest.id)).all())
