"""The /reports dashboard's content: four charts (the funnel, new leads by source per week,
speed to lead by rep, aging), each with the report behind it, which its CSV download gives."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlmodel import Session

from bot.reports import figures
from bot.reports.charts import Chart, bar_chart, line_chart
from bot.reports.figures import Report, Window

HOUR = 3600.0


@dataclass
class Panel:
    chart: Chart
    report: Report


def funnel_panel(session: Session, window: Window) -> Panel:
    report = figures.funnel(session, window)
    total = report.rows[-1]
    stages = [("leads", "Leads"), ("mql", "MQL"), ("sql", "SQL"), ("opportunity", "Won")]
    groups = [(label, [("leads", float(total[key]))]) for key, label in stages]
    return Panel(bar_chart("funnel", "Funnel", groups), report)


def sources_panel(session: Session, window: Window) -> Panel:
    report = figures.leads_by_source(session, window)
    periods = sorted({row["period"] for row in report.rows})
    series: dict[str, list[float]] = {}
    for row in report.rows:
        points = series.setdefault(row["source"] or "(none)", [0.0] * len(periods))
        points[periods.index(row["period"])] += row["leads"]
    chart = line_chart("sources", f"New leads by source per {window.by}", periods, series)
    return Panel(chart, report)


def speed_panel(session: Session, window: Window) -> Panel:
    report = figures.reps(session, window)
    groups = [
        (row["rep"], [("p50 wall", (row["speed_p50_seconds"] or 0) / HOUR),
                      ("p50 working hours", (row["speed_p50_work_seconds"] or 0) / HOUR)])
        for row in report.rows
        if row["speed_leads"]
    ]  # fmt: skip
    return Panel(bar_chart("speed", "Speed to lead by rep (hours, median)", groups, " h"), report)


def aging_panel(session: Session, window: Window) -> Panel:
    report = figures.aging(session, window)
    groups = [(row["age"], [("open", float(row["open"])), ("untouched", float(row["untouched"]))])
              for row in report.rows]  # fmt: skip
    return Panel(bar_chart("aging", "Open leads by age", groups), report)


PANELS: dict[str, Callable[[Session, Window], Panel]] = {
    "funnel": funnel_panel,
    "sources": sources_panel,
    "speed": speed_panel,
    "aging": aging_panel,
}
