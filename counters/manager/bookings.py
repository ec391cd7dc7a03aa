"""The bookings page: a day's bookings per slot and service, and how many of the day's
tokens came by booking against walk-ins (``operations.appointments.day_report``, the same
figures as ``GET /api/v1/centres/<c>/appointments``). Reads only; no name or number."""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, url_for

from counters.manager.views import bp, chosen_centre, manager, page_context
from queue_server.errors import DomainError
from queue_server.http_errors import translate
from queue_server.operations.appointments import day_report, parse_day
from queue_server.states import AppointmentState
from queue_server.unit_of_work import current_session

STATES = tuple(state.value for state in AppointmentState)


@bp.get("/bookings")
def bookings() -> Any:
    actor = manager()
    centre = chosen_centre(actor)
    if centre is None:
        return redirect(url_for("manager.province_view"))
    raw = (request.args.get("date") or "").strip()
    error = ""
    day = centre.business_day()
    if raw:
        try:
            day = parse_day(raw)
        except DomainError as exc:
            error = translate(exc)
    report = day_report(current_session(), centre, day)
    context = page_context(actor, centre, "bookings")
    names = {sv.code: sv.name_ur if context["lang"] == "ur" else sv.name_en for sv in centre.services}
    totals = {state: sum(int(s.get(state, 0)) for s in report["slots"]) for state in STATES}
    return render_template(
        "manager/bookings.html",
        day=day.isoformat(),
        report=report,
        states=STATES,
        totals=totals,
        service_names=names,
        error=error,
        **context,
    ), (400 if error else 200)
