"""The what-if page: today's staffing plan against an edited one, simulated side by side on
the real dispatch rule with demand fitted from the centre's history
(queue_server.simulation). Reads only: nothing is written."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from flask import redirect, render_template, request, url_for
from flask_babel import gettext

from counters.manager.views import bp, chosen_centre, manager, page_context
from queue_server.clock import local_day
from queue_server.errors import N_, DomainError, ValidationFailed
from queue_server.http_errors import translate
from queue_server.simulation.centre import NoHistory, day_plan, shape_of, what_if
from queue_server.simulation.plan import describe
from queue_server.unit_of_work import current_session, end_reading

MAX_ROWS = 60
WEIGHT = re.compile(r"^\s*([a-z0-9_]+)\s*[:=]\s*(\d+)\s*$")


def _rows_from_form() -> list[dict[str, Any]]:
    """The counters as typed: number, shifts "08:00-12:30, 13:00-16:00", services
    "character:3, bank:1" (empty: the counter's own profile). Empty rows are skipped."""
    rows = []
    for i in range(MAX_ROWS):
        number = (request.form.get(f"number_{i}") or "").strip()
        shifts = (request.form.get(f"shifts_{i}") or "").strip()
        services = (request.form.get(f"services_{i}") or "").strip()
        if not number and not shifts and not services:
            continue
        if not number.isdigit():
            raise ValidationFailed(
                N_("Counter number %(number)s: a whole number from 1."), number=repr(number)
            )
        row: dict[str, Any] = {
            "number": int(number),
            "shifts": [s for s in re.split(r"[,;]", shifts) if s.strip()],
        }
        if services:
            weights = {}
            for part in re.split(r"[,;]", services):
                if not part.strip():
                    continue
                match = WEIGHT.match(part)
                if not match:
                    raise ValidationFailed(
                        N_("Counter %(number)s: write services as code:weight, e.g. bank:2."), number=number
                    )
                weights[match.group(1)] = int(match.group(2))
            row["services"] = weights
        rows.append(row)
    return rows


def _number(name: str, *, allow_empty: bool) -> float | None:
    raw = (request.form.get(name) or "").strip()
    if not raw and allow_empty:
        return None
    try:
        return float(raw)
    except ValueError:
        raise ValidationFailed(N_("%(field)s must be a number."), field=name) from None


def _form_rows(plan: dict[str, Any], profiles: dict[int, dict[str, int]]) -> list[dict[str, str]]:
    out = []
    for c in plan["counters"]:
        own = profiles.get(c["number"])
        services = "" if own == c["services"] else ", ".join(f"{k}:{v}" for k, v in c["services"].items())
        out.append({"number": str(c["number"]), "shifts": ", ".join(c["shifts"]), "services": services})
    return out


@bp.route("/whatif", methods=["GET", "POST"])
def whatif() -> Any:
    actor = manager()
    centre = chosen_centre(actor)
    if centre is None:
        return redirect(url_for("manager.province_view"))
    s = current_session()
    error = ""
    result = None
    raw_day = (request.values.get("date") or "").strip()
    try:
        day = date.fromisoformat(raw_day) if raw_day else local_day(centre.tz)
    except ValueError:
        day, error = local_day(centre.tz), gettext("Give the date as YYYY-MM-DD.")
    shape = shape_of(s, centre)
    codes = {sid: code for code, sid in shape.service_ids.items()}
    profiles = {n: {codes[sid]: w for sid, w in sorted(p.items())} for n, p in shape.profiles.items()}
    current, source = day_plan(s, centre, day)
    rows = _form_rows(describe(current, codes), profiles)
    fairness: float | None = current.fairness_k
    scale: float | None = 1.0
    if request.method == "POST" and not error:
        try:
            rows = [
                {
                    "number": (request.form.get(f"number_{i}") or "").strip(),
                    "shifts": (request.form.get(f"shifts_{i}") or "").strip(),
                    "services": (request.form.get(f"services_{i}") or "").strip(),
                }
                for i in range(MAX_ROWS)
                if any((request.form.get(f"{k}_{i}") or "").strip() for k in ("number", "shifts", "services"))
            ]
            fairness = _number("fairness_k", allow_empty=True)
            scale = _number("demand_scale", allow_empty=False)
            data = {"counters": _rows_from_form(), "fairness_k": fairness, "demand_scale": scale}
            result = what_if(s, centre, day, data)
        except NoHistory:
            error = gettext(
                "There are no recorded days to fit the demand from yet (khidmat seed-history makes some)."
            )
        except DomainError as exc:
            error = translate(exc)
    end_reading(s)
    context = page_context(actor, centre, "whatif")
    service_names = {sv.code: sv.name_ur if context["lang"] == "ur" else sv.name_en for sv in centre.services}
    return render_template(
        "manager/whatif.html",
        day=day.isoformat(),
        plan_source=source,
        rows=[*rows, *({"number": "", "shifts": "", "services": ""} for _ in range(2))],
        fairness_k="" if fairness is None else f"{fairness:g}",
        demand_scale=f"{scale if scale is not None else 1.0:g}",
        services=sorted(shape.service_ids),
        result=result,
        service_names=service_names,
        error=error,
        **context,
    ), (400 if error else 200)
