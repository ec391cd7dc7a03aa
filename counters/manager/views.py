"""The manager's pages under ``/manage``: the live centre view, reports with charts and
CSV exports, the printable daily report, alert thresholds, and the province view.

Managers see their own centre; a province administrator sees every centre (the province
view) and any one of them (``?centre=<code>``). Anyone else logged in is refused; a
browser that is not logged in is sent to the staff login and back.

Size: the manager's pages (login, live view, reports, alerts, daily report) share the
session, the centre choice and the report arguments; the setup pages are in setup_views.py.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.blueprints import BlueprintSetupState
from flask_babel import format_date, get_locale, gettext
from markupsafe import Markup
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from counters.manager import events
from counters.manager.tables import TABLE_NAMES, report_tables
from queue_server import alerts
from queue_server.actors import Actor
from queue_server.api.reports import report_range, report_service
from queue_server.audit_verify import canonical, fingerprint, key_id
from queue_server.auth import authenticate_password, current_caller, login_session, logout_session
from queue_server.checkpoints import day_checkpoint
from queue_server.errors import N_, DomainError, Forbidden, NotFound, ValidationFailed
from queue_server.http_errors import translate
from queue_server.models import Centre
from queue_server.operations import alerts as alert_changes
from queue_server.operations import deliveries
from queue_server.operations.lookup import centre_for
from queue_server.ratelimit import enforce
from queue_server.read import statistics
from queue_server.redirects import safe_next
from queue_server.unit_of_work import current_session, run_in_transaction

bp = Blueprint(
    "manager",
    __name__,
    url_prefix="/manage",
    template_folder="templates",
    static_folder="static/manager",
    static_url_path="/static/manager",
)


@bp.record_once
def _bind(state: BlueprintSetupState) -> None:
    assert isinstance(state.app, Flask)
    events.init_app(state.app)


# Who is asking ----------------------------------------------------------------------------


class LoginNeeded(Exception):
    pass


def _safe_next(target: str | None) -> str:
    return safe_next(target) or url_for("manager.live")


def login_url(next_path: str) -> str:
    """The console's staff login when it exists, else this package's own."""
    has_console_login = any(
        rule.rule == "/counter/login" and "GET" in (rule.methods or ())
        for rule in current_app.url_map.iter_rules()
    )
    base = "/counter/login" if has_console_login else url_for("manager.login")
    return f"{base}?{urlencode({'next': next_path})}"


def manager() -> Actor:
    """The manager or administrator asking; LoginNeeded for anonymous browsers."""
    actor, _ = current_caller()
    if actor is None:
        raise LoginNeeded()
    if actor.kind != "staff" or not actor.is_manager:
        raise Forbidden(N_("This page is for centre managers and administrators."), code="managers_only")
    return actor


def chosen_centre(actor: Actor) -> Centre | None:
    """The centre a page is about: ``?centre=`` for an administrator, else the manager's own."""
    s = current_session()
    code = (request.args.get("centre") or "").strip()
    if code:
        return centre_for(s, actor, code[:40])
    if actor.centre_id is not None:
        centre = s.get(Centre, actor.centre_id)
        if centre is None:
            raise NotFound(N_("No centre %(centre)s."), centre=str(actor.centre_id))
        return centre
    return None


@bp.errorhandler(LoginNeeded)
def _to_login(_exc: LoginNeeded) -> BaseResponse:
    return redirect(login_url(request.full_path.rstrip("?")))


@bp.errorhandler(DomainError)
def _domain_error(exc: DomainError) -> tuple[str, int]:
    return render_template("manager/refused.html", status=exc.status, message=translate(exc)), exc.status


def alert_templates() -> dict[str, str]:
    """The alert sentences, with their placeholders, for the live view's script."""
    return {
        alerts.WAIT_OVER_TARGET: gettext("%(service)s: the longest wait is over %(threshold)s min"),
        alerts.QUEUE_TOO_LONG: gettext("%(service)s: more than %(threshold)s people are waiting"),
        alerts.COUNTER_IDLE: gettext(
            "Counter %(number)s has called nobody for %(minutes)s min while people wait"
        ),
        alerts.PRINTER_FAULT: gettext("%(name)s: the ticket printer has a fault (%(status)s)"),
    }


def alert_label(alert: dict[str, Any]) -> str:
    """An alert in the page's language (the live view's script says the same)."""
    data = alert.get("data") or {}
    ur = str(get_locale() or "en") == "ur"
    service = data.get("name_ur" if ur else "name_en", "")
    statuses = {
        "paper_out": gettext("out of paper"),
        "offline": gettext("offline"),
        "cover_open": gettext("cover open"),
        "timeout": gettext("not responding"),
    }
    kind = alert["kind"]
    sentence = alert_templates()
    if kind == alerts.WAIT_OVER_TARGET:
        return sentence[kind] % {
            "service": service,
            "threshold": round(alert["threshold"] / 60),
        }
    if kind == alerts.QUEUE_TOO_LONG:
        return sentence[kind] % {
            "service": service,
            "threshold": alert["threshold"],
        }
    if kind == alerts.COUNTER_IDLE:
        return sentence[kind] % {
            "number": data.get("number", ""),
            "minutes": round(alert["value"] / 60),
        }
    if kind == alerts.PRINTER_FAULT:
        return sentence[kind] % {
            "name": data.get("name", ""),
            "status": statuses.get(data.get("status", ""), data.get("status", "")),
        }
    return str(kind)


def local_time(iso: str | None, timezone: str) -> str:
    """An instant ("…T…+00:00") as the centre's clock showed it: "YYYY-MM-DD HH:MM"."""
    if not iso:
        return ""
    return datetime.fromisoformat(iso).astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M")


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"alert_label": alert_label, "local_time": local_time}


def page_context(actor: Actor, centre: Centre | None, active: str) -> dict[str, Any]:
    lang = str(get_locale() or "en")
    return {
        "actor": actor,
        "centre": centre,
        "active": active,
        "is_province_admin": actor.is_province_admin,
        "lang": lang,
        "centre_name": (centre.name_ur if lang == "ur" else centre.name_en) if centre else "",
        "other_lang": "en" if lang == "ur" else "ur",
        "lang_url": _with_args(lang="en" if lang == "ur" else "ur"),
    }


def _with_args(**changes: Any) -> str:
    args = {k: v for k, v in request.args.items() if k not in changes}
    args.update({k: v for k, v in changes.items() if v is not None})
    return f"{request.path}?{urlencode(args)}" if args else request.path


# Login ----------------------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """A minimal staff login for the dashboard (the counter console has its own)."""
    target = _safe_next(request.values.get("next"))
    error = ""
    if request.method == "POST":
        enforce(f"login:ip:{request.remote_addr}", 30, 60)
        username = (request.form.get("username") or "").strip()[:64]
        password = (request.form.get("password") or "")[:256]

        address = request.remote_addr or "?"
        if not username or not password:
            error = gettext("Type your username and password.")
        else:
            try:
                staff = run_in_transaction(lambda s: authenticate_password(s, username, password, address))
            except DomainError as exc:
                error = translate(exc)
            else:
                run_in_transaction(lambda _s: login_session(staff))
                return redirect(target)
    return render_template(
        "manager/login.html", next=target, error=error, username=request.form.get("username", "")
    ), (401 if error else 200)


@bp.post("/logout")
def logout() -> BaseResponse:
    run_in_transaction(lambda _s: logout_session())
    return redirect(url_for("manager.login"))


# The live centre view --------------------------------------------------------------------


@bp.get("/")
@bp.get("")
def live() -> Any:
    actor = manager()
    centre = chosen_centre(actor)
    if centre is None:
        return redirect(url_for("manager.province_view"))
    # Reads only: the alerts are those the dashboard worker raised (the page's socket join
    # starts it, and every change and sweep brings the figures up to date).
    live = statistics.live_centre(current_session(), centre)
    thresholds = alerts.thresholds_for(current_session(), centre)
    return render_template(
        "manager/live.html",
        live=live,
        thresholds=thresholds.as_dict(),
        report_from=(centre.business_day() - timedelta(days=6)).isoformat(),
        alert_templates=alert_templates(),
        **page_context(actor, centre, "live"),
    )


@bp.get("/province")
def province_view() -> Any:
    actor = manager()
    if not actor.is_province_admin:
        raise Forbidden(N_("Only a province administrator sees every centre."))
    centres = statistics.province(current_session())
    from queue_server.sync.province import nodes_overview

    return render_template(
        "manager/province.html",
        centres=centres,
        nodes=nodes_overview(current_session()),
        alert_templates=alert_templates(),
        **page_context(actor, None, "province"),
    )


# Reports -------------------------------------------------------------------------------


def _report(actor: Actor) -> tuple[Centre, dict[str, Any]]:
    centre = chosen_centre(actor)
    if centre is None:
        raise ValidationFailed(N_("Choose a centre."))
    args = dict(request.args)
    if "from" not in args and "to" not in args and args.get("service"):
        today = centre.business_day()
        args.update({"from": (today - timedelta(days=6)).isoformat(), "to": today.isoformat()})

    def work(s: Any) -> dict[str, Any]:
        first, last = report_range(args, centre)
        service = report_service(args, centre)
        return statistics.report(s, centre, first, last, service_id=service.id if service else None)

    return centre, work(current_session())  # (a GET: it reads only)


def quick_ranges(centre: Centre, service: str | None) -> list[dict[str, Any]]:
    """One-click ranges: today, yesterday, each of the last seven days, weeks and months."""
    today = centre.business_day()
    extra = {"service": service} if service else {}
    if request.args.get("centre"):
        extra["centre"] = request.args["centre"]

    def link(label: str, first: date, last: date, kind: str = "range") -> dict[str, Any]:
        query = urlencode({"from": first.isoformat(), "to": last.isoformat(), **extra})
        return {
            "label": label,
            "href": f"{url_for('manager.reports')}?{query}",
            "from": first.isoformat(),
            "to": last.isoformat(),
            "kind": kind,
        }

    month_start = today.replace(day=1)
    last_month_end = month_start - timedelta(days=1)
    ranges = [
        link(gettext("Today"), today, today),
        link(gettext("Last 7 days"), today - timedelta(days=6), today),
        link(gettext("This month"), month_start, today),
        link(gettext("Last month"), last_month_end.replace(day=1), last_month_end),
    ]
    days = [
        link(
            format_date(today - timedelta(days=n), "EEE d MMM"),
            today - timedelta(days=n),
            today - timedelta(days=n),
            "day",
        )
        for n in range(1, 8)
    ]
    return ranges + days


def return_reason_labels() -> dict[str, str]:
    return {
        "not_home": gettext("Nobody at home"),
        "wrong_address": gettext("Wrong address"),
        "refused": gettext("Refused"),
        "damaged": gettext("Damaged"),
        "other": gettext("Other"),
    }


@bp.get("/reports")
def reports() -> Any:
    actor = manager()
    centre, report = _report(actor)
    lang = str(get_locale() or "en")
    service = report["service"]["code"] if report["service"] else None
    args = {k: v for k, v in {"from": report["from"], "to": report["to"], "service": service}.items() if v}
    if request.args.get("centre"):
        args["centre"] = request.args["centre"]
    since = centre.day_span(date.fromisoformat(report["from"]))[0]
    until = centre.day_span(date.fromisoformat(report["to"]))[1]
    return render_template(
        "manager/report.html",
        report=report,
        deliveries=deliveries.report(current_session(), centre, since, until),
        return_reasons=return_reason_labels(),
        tables=report_tables(report, lang),
        quick=quick_ranges(centre, service),
        services=list(centre.services),
        args=args,
        export_base=url_for("manager.export_csv"),
        daily_url=f"{url_for('manager.daily')}?{urlencode({**args, 'day': report['from']})}",
        query=urlencode(args),
        **page_context(actor, centre, "reports"),
    )


@bp.get("/reports/export.csv")
def export_csv() -> Response:
    actor = manager()
    name = request.args.get("table", "")
    if name not in TABLE_NAMES:
        raise ValidationFailed(N_("Unknown table %(name)s."), name=name[:20])
    centre, report = _report(actor)
    table = next(t for t in report_tables(report, str(get_locale() or "en")) if t.name == name)
    service = f"-{report['service']['code']}" if report["service"] else ""
    filename = re.sub(
        r"[^A-Za-z0-9_.-]", "_", f"khidmat-{centre.code}-{name}{service}-{report['from']}-{report['to']}.csv"
    )
    return Response(
        table.csv().encode("utf-8"),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


@bp.get("/reports/daily")
def daily() -> Any:
    """The daily report, laid out for printing (or saving as PDF from the print dialog)."""
    actor = manager()
    centre = chosen_centre(actor)
    if centre is None:
        raise ValidationFailed(N_("Choose a centre."))
    day = request.args.get("day") or request.args.get("from") or centre.business_day().isoformat()
    args = {"from": day, "to": day}
    if request.args.get("service"):
        args["service"] = request.args["service"]

    def work(s: Any) -> dict[str, Any]:
        first, last = report_range(args, centre)
        service = report_service(args, centre)
        report = statistics.report(s, centre, first, last, service_id=service.id if service else None)
        report["checkpoint"] = day_checkpoint(s, centre, first)
        return report

    report = work(current_session())
    lang = str(get_locale() or "en")
    day_alerts = _alerts_of_day(centre, date.fromisoformat(report["from"]))
    return render_template(
        "manager/daily.html",
        report=report,
        tables=[t for t in report_tables(report, lang) if t.name != "day"],
        day_label=format_date(date.fromisoformat(report["from"]), "full"),
        day_alerts=day_alerts,
        checkpoint=_paper_checkpoint(report.pop("checkpoint")),
        **page_context(actor, centre, "reports"),
    )


def _paper_checkpoint(checkpoint: dict[str, Any] | None) -> dict[str, Any] | None:
    """The day's signed checkpoint for paper: a short fingerprint to read out and a QR code
    holding the whole signed head, so an inspector can later hold the chain against it."""
    if checkpoint is None:
        return None
    import qrcode
    import qrcode.image.svg

    content = canonical({"signed": checkpoint["signed"], "signature": checkpoint["signature"]}).decode()
    image = qrcode.make(content, image_factory=qrcode.image.svg.SvgPathImage, box_size=6)
    return {
        "fingerprint": fingerprint(checkpoint),
        "seq": checkpoint["signed"]["seq"],
        "at": checkpoint["signed"]["at"],
        "key_id": checkpoint.get("key_id") or key_id(checkpoint["public_key"]),
        # qrcode writes the SVG from the matrix alone: no text of ours reaches the markup
        "qr_svg": Markup(image.to_string(encoding="unicode")),  # noqa: S704
    }


def _alerts_of_day(centre: Centre, day: date) -> list[dict[str, Any]]:
    from queue_server.models import Alert

    start, end = statistics.day_bounds(centre, day, day)
    rows = current_session().scalars(
        select(Alert)
        .where(Alert.centre_id == centre.id, Alert.raised_at >= start, Alert.raised_at < end)
        .order_by(Alert.raised_at)
    )
    return [statistics.alert_public(a) for a in rows]


# Alert thresholds -----------------------------------------------------------------------


@bp.route("/alerts", methods=["GET", "POST"])
def alert_settings() -> Any:
    actor = manager()
    centre = chosen_centre(actor)
    if centre is None:
        return redirect(url_for("manager.province_view"))
    message = ""
    error = ""
    if request.method == "POST":
        values: dict[str, Any] = {}
        try:
            for name in ("wait_target_percent", "queue_length", "idle_minutes"):
                raw = (request.form.get(name) or "").strip()
                if not raw.isdigit():
                    raise ValidationFailed(N_("%(field)s must be a whole number."), field=_field_label(name))
                values[name] = int(raw)
            values["is_wait_enabled"] = request.form.get("is_wait_enabled") == "on"
            values["is_printer_enabled"] = request.form.get("is_printer_enabled") == "on"
            run_in_transaction(lambda s: alert_changes.update_thresholds(s, centre, actor, values))
            message = gettext("Saved. The new thresholds apply from now on.")
        except DomainError as exc:
            error = translate(exc)
    s = current_session()
    today = centre.business_day()
    start, _ = statistics.day_bounds(centre, today, today)
    history = [statistics.alert_public(a) for a in alerts.recent(s, centre, start - timedelta(days=6), 100)]
    return render_template(
        "manager/alerts.html",
        thresholds=alerts.thresholds_for(s, centre).as_dict(),
        limits=alerts.LIMITS,
        history=history,
        message=message,
        error=error,
        **page_context(actor, centre, "alerts"),
    ), (400 if error else 200)


def _field_label(name: str) -> str:
    return {
        "wait_target_percent": gettext("Longest wait, as a share of the target"),
        "queue_length": gettext("Queue length"),
        "idle_minutes": gettext("Idle counter, minutes"),
    }.get(name, name)

from counters.manager import bookings as _bookings  # noqa: E402,F401  (its routes join bp)
from counters.manager import setup_views  # noqa: E402,F401  (the administration pages, on this blueprint)
from counters.manager import whatif as _whatif  # noqa: E402,F401  (its routes join bp)
