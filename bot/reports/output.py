"""A report as CSV, and its cells as people read them (seconds as "2h 05m", ratios as %)."""

from __future__ import annotations

import csv
import io
from typing import Any

from bot.reports.figures import Report


def csv_text(report: Report) -> str:
    """The rows as CSV with a header line; values as JSON gives them (seconds, fractions).
    A cell starting with = + - @ is prefixed with ' so a spreadsheet never runs it."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(report.columns)
    for row in report.rows:
        writer.writerow([_safe(row[column]) for column in report.columns])
    return buffer.getvalue()


def _safe(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


def cell(column: str, value: Any) -> str:
    if value is None:
        return "-"
    if "seconds" in column and isinstance(value, int | float):
        return duration(float(value))
    if "ratio" in column or column.endswith(("_to_mql", "_to_sql", "_to_opportunity")):
        return f"{value * 100:.1f}%"
    if column == "amount":
        return f"{value:,.2f}"
    return str(value)


def duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m"
