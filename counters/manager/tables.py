"""The report's tables, built once from the report figures and shown three ways: as HTML,
as CSV and on the printed daily report. A cell is the same text in all three, so an export
says exactly what the manager saw."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask_babel import format_date, lazy_gettext

BLANK = "–"

# figure key, column heading, format
FIGURES: list[tuple[str, Any, str]] = [
    ("arrivals", lazy_gettext("Arrivals"), "int"),
    ("served", lazy_gettext("Served"), "int"),
    ("no_shows", lazy_gettext("No-shows"), "int"),
    ("no_show_rate", lazy_gettext("No-show rate"), "share"),
    ("avg_wait_seconds", lazy_gettext("Average wait (min)"), "minutes"),
    ("p90_wait_seconds", lazy_gettext("90th percentile wait (min)"), "minutes"),
    ("within_target_share", lazy_gettext("Called within target"), "share"),
    ("avg_service_seconds", lazy_gettext("Average service time (min)"), "minutes"),
    ("requests_in_time", lazy_gettext("Requests closed within turnaround"), "int"),
    ("requests_late", lazy_gettext("Late requests"), "int"),
    ("eta_mae_seconds", lazy_gettext("Wait estimate error (min)"), "minutes"),
    ("feedback_average", lazy_gettext("Feedback score (1–5)"), "score"),
]


def fmt(value: Any, kind: str) -> str:
    if value is None:
        return BLANK
    if kind == "minutes":
        return f"{value / 60:.1f}"
    if kind == "share":
        return f"{round(value * 100)}%"
    if kind == "score":
        return f"{value:.2f}"
    return str(value)


@dataclass
class Table:
    name: str
    title: str
    headings: list[str]
    rows: list[list[str]] = field(default_factory=list)
    total: list[str] | None = None
    numeric_from: int = 1  # columns from here on are figures (aligned as numbers)
    label_is_number: bool = False  # the row labels are times or numbers (kept left to right)

    def csv(self) -> str:
        """UTF-8 with a byte-order mark, so Excel opens Urdu text correctly."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(self.headings)
        for row in [*self.rows, *([self.total] if self.total else [])]:
            writer.writerow(
                [_safe(cell) if i < self.numeric_from else _blank(cell) for i, cell in enumerate(row)]
            )
        return "\ufeff" + out.getvalue()


def _blank(cell: str) -> str:
    return "" if cell == BLANK else cell


def _safe(cell: str) -> str:
    """A text cell that a spreadsheet would run as a formula is quoted (CSV injection)."""
    cell = _blank(cell)
    return "'" + cell if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell


def _figures(row: dict[str, Any]) -> list[str]:
    return [fmt(row.get(key), kind) for key, _, kind in FIGURES]


def _dimension_table(
    name: str,
    title: Any,
    first: list[Any],
    rows: list[dict[str, Any]],
    label: Callable[[dict[str, Any]], list[str]],
    totals: dict[str, Any],
) -> Table:
    table = Table(name, str(title), [str(h) for h in first] + [str(h) for _, h, _ in FIGURES])
    table.numeric_from = len(first)
    table.rows = [label(r) + _figures(r) for r in rows]
    if rows:
        total_label = [str(lazy_gettext("All"))] + [""] * (len(first) - 1)
        table.total = total_label + _figures(totals)
    return table


def report_tables(report: dict[str, Any], lang: str) -> list[Table]:
    """Every table of a report, headings and names in the page's language."""
    totals = report["totals"]

    def service_label(r: dict[str, Any]) -> list[str]:
        return [r["name_ur"] if lang == "ur" else r["name_en"], fmt(r["target_wait_minutes"], "int")]

    def counter_label(r: dict[str, Any]) -> list[str]:
        if not r["key"]:
            return [str(lazy_gettext("Never at a counter"))]
        return [str(r["number"] if r["number"] is not None else r["key"])]

    def clerk_label(r: dict[str, Any]) -> list[str]:
        return [r["name"] or str(lazy_gettext("Nobody (never called)"))]

    def day_label(r: dict[str, Any]) -> list[str]:
        from datetime import date

        return [format_date(date.fromisoformat(r["day"]), "EEE d MMM y")]

    tables = [
        _dimension_table(
            "service",
            lazy_gettext("Per service"),
            [lazy_gettext("Service"), lazy_gettext("Target wait (min)")],
            report["by_service"],
            service_label,
            totals,
        ),
        _dimension_table(
            "hour",
            lazy_gettext("Per hour of arrival"),
            [lazy_gettext("Hour")],
            report["by_hour"],
            lambda r: [r["label"]],
            totals,
        ),
        _dimension_table(
            "counter",
            lazy_gettext("Per counter"),
            [lazy_gettext("Counter")],
            report["by_counter"],
            counter_label,
            totals,
        ),
        _dimension_table(
            "clerk",
            lazy_gettext("Per clerk"),
            [lazy_gettext("Clerk")],
            report["by_clerk"],
            clerk_label,
            totals,
        ),
        _dimension_table(
            "day", lazy_gettext("Per day"), [lazy_gettext("Day")], report["by_day"], day_label, totals
        ),
    ]
    for table in tables:
        table.label_is_number = table.name in ("hour", "counter")
    waits = report["wait_distribution"]
    called = sum(b["count"] for b in waits)
    distribution = Table(
        "waits",
        str(lazy_gettext("Wait distribution")),
        [str(lazy_gettext("Wait (min)")), str(lazy_gettext("Citizens called")), str(lazy_gettext("Share"))],
        label_is_number=True,
    )
    for b in waits:
        span = (
            f"{b['from_minutes']}–{b['to_minutes']}"
            if b["to_minutes"] is not None
            else f"{b['from_minutes']}+"
        )
        distribution.rows.append(
            [span, str(b["count"]), fmt(b["count"] / called if called else None, "share")]
        )
    if called:
        distribution.total = [str(lazy_gettext("All")), str(called), "100%"]
    tables.append(distribution)
    return tables


TABLE_NAMES = ("service", "hour", "counter", "clerk", "day", "waits")
