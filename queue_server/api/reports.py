"""JSON for the manager's dashboard, the province view, reports and alerts."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Literal

from flask import request
from pydantic import BaseModel, ConfigDict, Field

from queue_server import alerts
from queue_server.api import bp
from queue_server.api.registry import endpoint
from queue_server.api.schemas import Strict
from queue_server.auth import current_caller
from queue_server.clock import utcnow
from queue_server.errors import N_, Forbidden, ValidationFailed
from queue_server.models import Centre, Service
from queue_server.operations import alerts as alert_changes
from queue_server.operations.lookup import centre_for, service_by_code
from queue_server.read import statistics
from queue_server.unit_of_work import current_session

MAX_REPORT_DAYS = 1100  # three years in one report


class Loose(BaseModel):
    model_config = ConfigDict(extra="allow")


class Figures(Loose):
    arrivals: int
    called: int
    served: int
    no_shows: int
    cancelled: int
    unserved: int
    no_show_rate: float | None
    avg_wait_seconds: float | None
    p90_wait_seconds: int | None
    within_target_share: float | None
    avg_service_seconds: float | None
    eta_count: int
    eta_mae_seconds: float | None


class AlertOut(BaseModel):
    id: int
    centre_id: int
    kind: str
    subject: str
    value: int
    threshold: int
    data: dict[str, Any]
    raised_at: str | None
    cleared_at: str | None
    acknowledged: bool


class LiveOut(Loose):
    centre: dict[str, Any]
    server_time: str
    totals: dict[str, Any]
    services: list[dict[str, Any]]
    counters: list[dict[str, Any]]
    devices: dict[str, Any]
    alerts: list[AlertOut]


class OutOfOrderStep(BaseModel):
    at: str | None
    kind: Literal["call_specific", "transfer_to_counter", "recall_beyond_limit", "priority_mark"]
    number: str | None
    token_id: int | None
    counter: int | None
    to_counter: int | None
    reason: str


class OutOfOrderClerk(BaseModel):
    staff_id: int
    name: str
    count: int
    items: list[OutOfOrderStep]


class ReportOut(Loose):
    centre: dict[str, Any]
    from_: str = Field(alias="from")
    to: str
    service: dict[str, Any] | None
    totals: Figures
    by_service: list[dict[str, Any]]
    by_counter: list[dict[str, Any]]
    by_clerk: list[dict[str, Any]]
    out_of_order: list[OutOfOrderClerk]
    by_hour: list[dict[str, Any]]
    by_day: list[dict[str, Any]]
    wait_distribution: list[dict[str, Any]]
    feedback: dict[str, Any]


class ProvinceOut(BaseModel):
    server_time: str
    centres: list[dict[str, Any]]


class AlertList(BaseModel):
    open: list[AlertOut]
    recent: list[AlertOut]
    thresholds: dict[str, Any]


class ThresholdsIn(Strict):
    wait_target_percent: int | None = Field(default=None, ge=50, le=500)
    queue_length: int | None = Field(default=None, ge=0, le=500)
    idle_minutes: int | None = Field(default=None, ge=0, le=240)
    is_wait_enabled: bool | None = None
    is_printer_enabled: bool | None = None


class ThresholdsOut(BaseModel):
    wait_target_percent: int
    queue_length: int
    idle_minutes: int
    is_wait_enabled: bool
    is_printer_enabled: bool


def _actor():  # type: ignore[no-untyped-def]
    who, _ = current_caller()
    assert who is not None
    return who


def parse_day(value: str | None, default: date, name: str) -> date:
    if not value:
        return default
    try:
        return date.fromisoformat(value.strip())
    except ValueError as exc:
        raise ValidationFailed(N_("%(field)s is not a date (YYYY-MM-DD)."), field=name) from exc


def report_range(args: Any, centre: Centre) -> tuple[date, date]:
    """The (from, to) of a report from query arguments; today by default. Refuses a
    malformed date, an inverted range and one longer than three years."""
    today = centre.business_day()
    first = parse_day(args.get("from"), today, "from")
    last = parse_day(args.get("to"), first if args.get("from") else today, "to")
    if last < first:
        raise ValidationFailed(N_("The end of the range is before its start."))
    if (last - first).days + 1 > MAX_REPORT_DAYS:
        raise ValidationFailed(N_("A report covers at most %(days)s days."), days=MAX_REPORT_DAYS)
    return first, last


def report_service(args: Any, centre: Centre) -> Service | None:
    code = (args.get("service") or "").strip()
    return service_by_code(current_session(), centre, code) if code else None


def build_report(centre: Centre, args: Any) -> dict[str, Any]:
    first, last = report_range(args, centre)
    service = report_service(args, centre)
    return statistics.report(
        current_session(), centre, first, last, service_id=service.id if service else None
    )


def require_province(who: Any) -> None:
    if not who.is_province_admin:
        raise Forbidden(N_("Only a province administrator sees every centre."))


@endpoint(
    bp,
    "/centres/<code>/dashboard",
    "GET",
    summary="Live figures of a centre: per service, per counter, devices, open alerts",
    admits=("manager",),
    responses={200: LiveOut},
    errors=(404,),
    tag="reports",
)
def dashboard(code: str) -> Any:
    """Reads only: the open alerts are those the dashboard worker raised last (on every
    change, and every sweep for what time alone changes)."""
    centre = centre_for(current_session(), _actor(), code)
    return statistics.live_centre(current_session(), centre)


@endpoint(
    bp,
    "/centres/<code>/report",
    "GET",
    summary="Report of a date range (?from=YYYY-MM-DD&to=YYYY-MM-DD&service=<code>)",
    admits=("manager",),
    responses={200: ReportOut},
    errors=(400, 404),
    tag="reports",
)
def centre_report(code: str) -> Any:
    centre = centre_for(current_session(), _actor(), code)
    return build_report(centre, request.args)


@endpoint(
    bp,
    "/province",
    "GET",
    summary="Every centre with its live figures and open alerts (province administrators)",
    admits=("admin",),
    responses={200: ProvinceOut},
    tag="reports",
)
def province() -> Any:
    require_province(_actor())
    return {"server_time": utcnow().isoformat(), "centres": statistics.province(current_session())}


@endpoint(
    bp,
    "/centres/<code>/alerts",
    "GET",
    summary="Open alerts, today's alerts and the thresholds",
    admits=("manager",),
    responses={200: AlertList},
    errors=(404,),
    tag="reports",
)
def list_alerts(code: str) -> Any:
    s = current_session()
    centre = centre_for(s, _actor(), code)
    start, _ = statistics.day_bounds(centre, centre.business_day() - timedelta(days=1), centre.business_day())
    return {
        "open": [statistics.alert_public(a) for a in statistics.open_alerts(s, [centre.id])],
        "recent": [statistics.alert_public(a) for a in alerts.recent(s, centre, start)],
        "thresholds": alerts.thresholds_for(s, centre).as_dict(),
    }


@endpoint(
    bp,
    "/centres/<code>/alert-thresholds",
    "GET",
    summary="The centre's alert thresholds",
    admits=("manager",),
    responses={200: ThresholdsOut},
    errors=(404,),
    tag="reports",
)
def get_thresholds(code: str) -> Any:
    centre = centre_for(current_session(), _actor(), code)
    return alerts.thresholds_for(current_session(), centre).as_dict()


@endpoint(
    bp,
    "/centres/<code>/alert-thresholds",
    "PUT",
    summary="Set the centre's alert thresholds (managers)",
    admits=("manager",),
    body=ThresholdsIn,
    responses={200: ThresholdsOut},
    errors=(404,),
    tag="reports",
)
def put_thresholds(code: str, body: ThresholdsIn) -> Any:
    centre = centre_for(current_session(), _actor(), code)
    values = body.model_dump(exclude_none=True)
    return alert_changes.update_thresholds(current_session(), centre, _actor(), values).as_dict()


@endpoint(
    bp,
    "/alerts/<int:alert_id>/acknowledge",
    "POST",
    summary="Mark an open alert as seen",
    admits=("manager",),
    responses={200: AlertOut},
    errors=(404,),
    tag="reports",
)
def acknowledge_alert(alert_id: int) -> Any:
    return statistics.alert_public(alert_changes.acknowledge(current_session(), alert_id, _actor()))
