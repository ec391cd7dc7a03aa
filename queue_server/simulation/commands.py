"""``khidmat simulate`` and ``khidmat seed-history`` (registered by queue_server.cli)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from queue_server.clock import local_day


def _centre(code: str) -> Any:
    from queue_server.models import Centre
    from queue_server.unit_of_work import current_session

    centre = current_session().scalar(select(Centre).where(Centre.code == code))
    if centre is None:
        raise click.ClickException(f"no centre {code!r}")
    return centre


@click.command("seed-history")
@click.option("--centre", "code", default="demo", show_default=True)
@click.option("--days", default=21, show_default=True, type=click.IntRange(1, 366), help="Past days to play.")
@click.option("--scale", "scale_by", default=1.0, show_default=True, type=click.FloatRange(0.01, 10))
@click.option("--seed", default=1, show_default=True, type=int)
@with_appcontext
def seed_history(code: str, days: int, scale_by: float, seed: int) -> None:
    """Play past days of the demo centre through the real operations (clock moved to each
    step): tokens, calls, services, no-shows, transfers, lunch breaks, end of day.
    Days that already have tokens are skipped; Sundays are closed."""
    from queue_server.simulation.centre import NoHistory
    from queue_server.simulation.centre import seed_history as seed_days
    from queue_server.unit_of_work import current_session

    centre = _centre(code)
    try:
        done = seed_days(current_session(), centre, days, local_day(centre.tz), seed=seed, scale_by=scale_by)
    except NoHistory as exc:
        raise click.ClickException(str(exc)) from exc
    for day, issued in done:
        click.echo(f"{day.isoformat()}: {issued} tokens")
    click.echo(f"{code}: {len(done)} days played")


@click.command("simulate")
@click.option("--centre", "code", required=True)
@click.option("--date", "day", default=None, help="YYYY-MM-DD (default: today).")
@click.option("--plan", "plan_file", default=None, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--seed", default=1, show_default=True, type=int)
@click.option("--runs", default=5, show_default=True, type=click.IntRange(1, 100))
@click.option("--json", "as_json", is_flag=True, help="Print the whole comparison as JSON.")
@with_appcontext
def simulate(code: str, day: str | None, plan_file: Path | None, seed: int, runs: int, as_json: bool) -> None:
    """Simulate a day of a centre on its history (demand fitted from up to 28 recorded
    days): the day's plan against the plan in PLAN (YAML, docs/simulation.md)."""
    from queue_server.simulation.centre import NoHistory, what_if
    from queue_server.simulation.plan import PlanError, load_yaml
    from queue_server.unit_of_work import current_session, end_reading

    centre = _centre(code)
    try:
        when = date.fromisoformat(day) if day else local_day(centre.tz)
    except ValueError as exc:
        raise click.ClickException(f"--date {day!r}: write it as YYYY-MM-DD") from exc
    try:
        data = None
        if plan_file is not None:
            try:
                data = load_yaml(plan_file.read_text(encoding="utf-8"))
            except OSError as exc:
                raise click.ClickException(f"cannot read {plan_file}: {exc.strerror}") from exc
        result = what_if(current_session(), centre, when, data, seed=seed, runs=runs)
    except PlanError as exc:
        raise click.ClickException(f"plan: {exc}") from exc
    except NoHistory as exc:
        raise click.ClickException(
            f"{exc}: no recorded days to fit demand from (try: khidmat seed-history --centre {code})"
        ) from exc
    finally:
        end_reading()
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(_text(result))


def _text(result: dict[str, Any]) -> str:
    today, edited = result["today"], result["edited"]
    lines = [
        f"{result['centre']} {result['date']}: demand fitted from {len(result['history_days'])} recorded days; "
        f"today's plan {result['plan_source']}, {len(result['today_plan']['counters'])} counters; "
        f"edited plan {len(result['edited_plan']['counters'])} counters",
        "",
        f"{'':24}{'today':>43}   {'edited':>43}",
        f"{'service':24}{'n   avg   p90  in-target longest/target':>43}   {'n   avg   p90  in-target longest/target':>43}",
    ]
    rows = {s["code"]: s for s in today["services"]}
    other = {s["code"]: s for s in edited["services"]}

    def cell(s: dict[str, Any] | None) -> str:
        if s is None:
            return f"{'-':>43}"
        ratio = s["max_wait_minutes"] / s["target_minutes"] if s["target_minutes"] else 0
        return (
            f"{s['tokens']:>5}{s['avg_wait_minutes']:>6.1f}{s['p90_wait_minutes']:>6.1f}"
            f"{100 * s['within_target']:>8.0f}%{s['max_wait_minutes']:>7.0f}/{s['target_minutes']:<3.0f}({ratio:.1f}x)"
        )

    for code in sorted(set(rows) | set(other)):
        lines.append(f"{code:24}{cell(rows.get(code))}   {cell(other.get(code))}")
    for label, side in (("today", today), ("edited", edited)):
        runs = side["runs"]
        avg = sum(r["avg_wait_minutes"] for r in runs) / len(runs)
        late = sum(r["late_same_day"] for r in runs) / len(runs)
        within = sum(r["within_target"] for r in runs) / len(runs)
        lines.append(
            f"{label}: over {len(runs)} simulated days, average wait {avg:.1f} min, "
            f"{100 * within:.0f}% within target, {late:.1f} same-day requests late per day"
        )
    return "\n".join(lines)
