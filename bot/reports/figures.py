"""The six reports, each a function of the roll-up (bot/reports/rollup.py) and a `Window`:
funnel, sources, reps, speed, aging and campaigns. Each returns a `Report`: named columns and
rows of plain values, which the CLI prints as a table, JSON or CSV and the dashboard draws.

Times to convert and speeds are in seconds; ratios are fractions (0.25), None when nothing was
there to divide by. Percentiles are nearest-rank: the p90 of ten speeds is the ninth fastest.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

import storage.reports

PERIODS = ("day", "week", "month")
# With no --since: the last 90 days.
DEFAULT_DAYS = 90
AGE_BANDS = ("0-1d", "1-7d", "7-30d", "30d+")


@dataclass(frozen=True)
class Window:
    """What a report covers: leads that arrived in [since, until), grouped by `by`, of one
    source (a channel or a UTM source) or one rep when those are given."""

    since: datetime
    until: datetime
    by: str = "week"
    source: str | None = None
    rep_id: int | None = None
    # When "now" is, for ages (tests pass a fixed clock).
    now: datetime | None = None

    @classmethod
    def default(cls, now: datetime, **kwargs: Any) -> Window:
        return cls(since=now - timedelta(days=DEFAULT_DAYS), until=now, now=now, **kwargs)

    def args(self) -> tuple[Any, ...]:
        return self.since, self.until, self.source, self.rep_id


@dataclass
class Report:
    name: str
    columns: tuple[str, ...]
    rows: list[dict[str, Any]] = field(default_factory=list)
    window: Window | None = None

    def as_data(self) -> dict[str, Any]:
        window = self.window
        return {
            "report": self.name,
            "since": window.since.isoformat() if window else None,
            "until": window.until.isoformat() if window else None,
            "by": window.by if window else None,
            "source": window.source if window else None,
            "rep_id": window.rep_id if window else None,
            "columns": list(self.columns),
            "rows": self.rows,
        }


def ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile of `values`; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def funnel(session: Session, window: Window) -> Report:
    """Leads per period and the stage each reached, with the ratio from each stage to the next."""
    columns = ("period", "leads", "mql", "sql", "opportunity", "lead_to_mql", "mql_to_sql",
               "sql_to_opportunity")  # fmt: skip
    report = Report("funnel", columns, window=window)
    totals = [0, 0, 0, 0]
    for period, leads, mql, sql, won in storage.reports.funnel_counts(
        session, window.by, *window.args()
    ):
        counts = [int(leads), int(mql or 0), int(sql or 0), int(won or 0)]
        totals = [a + b for a, b in zip(totals, counts, strict=True)]
        report.rows.append(_funnel_row(str(period), counts))
    report.rows.append(_funnel_row("total", totals))
    return report


def _funnel_row(period: str, counts: list[int]) -> dict[str, Any]:
    leads, mql, sql, won = counts
    return {"period": period, "leads": leads, "mql": mql, "sql": sql, "opportunity": won,
            "lead_to_mql": ratio(mql, leads), "mql_to_sql": ratio(sql, mql),
            "sql_to_opportunity": ratio(won, sql)}  # fmt: skip


def sources(session: Session, window: Window) -> Report:
    """Per source (the channel, then UTM source and campaign where leads carry them): leads,
    MQLs, conversions and their ratio, average and median time to convert, amount."""
    columns = ("by", "source", "leads", "mqls", "conversions", "conversion_ratio",
               "avg_seconds_to_convert", "median_seconds_to_convert", "amount")  # fmt: skip
    report = Report("sources", columns, window=window)
    # the times to convert by channel, UTM source and UTM campaign, in one pass
    keys = ("source", "utm_source", "utm_campaign")
    by_key: list[dict[str, list[float]]] = [{} for _ in keys]
    for channel, utm_source, utm_campaign, seconds in storage.reports.convert_times_all(
        session, *window.args()
    ):
        for times, value in zip(by_key, (channel, utm_source, utm_campaign), strict=True):
            times.setdefault(value, []).append(float(seconds))
    for key, times in zip(keys, by_key, strict=True):
        for row in sorted(storage.reports.counts_by(session, key, *window.args()),
                          key=lambda r: (-int(r[1]), str(r[0]))):  # fmt: skip
            value, leads, mqls, _, won, seconds, amount = row[:7]
            if key != "source" and not value:
                continue  # leads without UTM tags: already counted under their channel
            won = int(won or 0)
            report.rows.append({
                "by": key, "source": value, "leads": int(leads), "mqls": int(mqls or 0),
                "conversions": won, "conversion_ratio": ratio(won, int(leads)),
                "avg_seconds_to_convert": round(seconds / won, 1) if won and seconds else None,
                "median_seconds_to_convert": statistics.median(times[value])
                if times.get(value) else None,
                "amount": round(float(amount), 2) if amount is not None else 0.0,
            })  # fmt: skip
    return report


def reps(session: Session, window: Window) -> Report:
    """Per rep: leads assigned, worked, converted and the ratio, average time to convert, SLA
    misses, and their speed to lead (p50/p90, wall clock and working hours)."""
    columns = ("rep_id", "rep", "assigned", "worked", "converted", "conversion_ratio",
               "avg_seconds_to_convert", "sla_misses", "speed_leads", "speed_p50_seconds",
               "speed_p90_seconds", "speed_p50_work_seconds", "speed_p90_work_seconds")  # fmt: skip
    report = Report("reps", columns, window=window)
    names = storage.reports.reps_by_id(session)
    speeds = _speeds(session, window)
    for row in sorted(storage.reports.counts_by(session, "owner_id", *window.args()),
                      key=lambda r: (r[0] is None, r[0] or 0)):  # fmt: skip
        owner_id, leads, _, _, won, seconds, _, worked, misses = row
        if owner_id is None:
            continue
        won = int(won or 0)
        pace = speeds.get(("rep", owner_id), Speeds())
        rep = names.get(owner_id)
        report.rows.append({
            "rep_id": owner_id, "rep": rep.name if rep else f"R-{owner_id}",
            "assigned": int(leads), "worked": int(worked or 0), "converted": won,
            "conversion_ratio": ratio(won, int(leads)),
            "avg_seconds_to_convert": round(seconds / won, 1) if won and seconds else None,
            "sla_misses": int(misses or 0), "speed_leads": pace.leads,
            "speed_p50_seconds": pace.p50, "speed_p90_seconds": pace.p90,
            "speed_p50_work_seconds": pace.p50_work, "speed_p90_work_seconds": pace.p90_work,
        })  # fmt: skip
    return report


@dataclass(frozen=True)
class Speeds:
    """The speed figures of one group: how many touched leads, p50/p90 on the wall clock and
    in working hours."""

    leads: int = 0
    p50: float | None = None
    p90: float | None = None
    p50_work: float | None = None
    p90_work: float | None = None


def _speeds(session: Session, window: Window) -> dict[tuple[str, Any], Speeds]:
    """Speed figures per group ("all", ""), ("rep", owner id or None), ("source", channel).
    Over the whole store the histograms kept by the store find the bucket each percentile
    falls in and only that bucket is read; a window filtered by source or rep reads its leads."""
    if window.source is None and window.rep_id is None:
        return _speeds_from_histograms(session, window)
    return _speeds_from_facts(session, window)


def _speeds_from_facts(session: Session, window: Window) -> dict[tuple[str, Any], Speeds]:
    """The same figures from every touched lead of the window (a filtered window's few)."""
    groups: dict[tuple[str, Any], tuple[list, list]] = {}
    for owner_id, source, wall, work in storage.reports.touch_times(session, *window.args()):
        for key in (("all", ""), ("rep", owner_id), ("source", source)):
            walls, works = groups.setdefault(key, ([], []))
            walls.append(float(wall))
            works.append(float(work if work is not None else wall))
    return {
        key: Speeds(len(wall), percentile(wall, 50), percentile(wall, 90),
                    percentile(work, 50), percentile(work, 90))
        for key, (wall, work) in groups.items()
    }  # fmt: skip


def rank_index(p: float, n: int) -> int:
    """The 0-based position of the nearest-rank p-th percentile among n sorted values."""
    return max(0, math.ceil(p / 100 * n) - 1)


def _speeds_from_histograms(session: Session, window: Window) -> dict[tuple[str, Any], Speeds]:
    histograms = storage.reports.touch_histograms(session, window.since, window.until)
    groups = sorted({(dim, key) for _, dim, key in histograms})
    lookups: list[tuple[str, str, str, int, int]] = []
    wanted: list[tuple[tuple[str, str], str, int]] = []
    for dim, key in groups:
        for metric in ("wall", "work"):
            buckets = histograms.get((metric, dim, key), {})
            for p in (50, 90):
                found = _bucket_of(buckets, rank_index(p, sum(buckets.values())))
                if found is not None:
                    lookups.append((metric, dim, key, *found))
                    wanted.append(((dim, key), metric, p))
    values = storage.reports.nth_touches(session, lookups, window.since, window.until)
    figures: dict[tuple[tuple[str, str], str, int], float | None] = dict(
        zip(wanted, values, strict=True)
    )
    out: dict[tuple[str, Any], Speeds] = {}
    for dim, key in groups:
        leads = sum(histograms.get(("wall", dim, key), {}).values())
        group = (dim, None if key == "" else int(key)) if dim == "rep" else (dim, key)
        out[group] = Speeds(leads, *(figures.get(((dim, key), metric, p))
                                     for metric in ("wall", "work") for p in (50, 90)))  # fmt: skip
    return out


def _bucket_of(buckets: dict[int, int], index: int) -> tuple[int, int] | None:
    """The bucket holding the index-th smallest span of a group, and its offset in there."""
    below = 0
    for bucket in sorted(buckets):
        if index < below + buckets[bucket]:
            return bucket, index - below
        below += buckets[bucket]
    return None


def speed(session: Session, window: Window) -> Report:
    """Time from arrival (or reopening) to the first human touch, p50/p90 per rep and per
    source, on the wall clock and in the owner's working hours, with the leads behind each."""
    columns = ("by", "key", "leads", "p50_seconds", "p90_seconds", "p50_work_seconds",
               "p90_work_seconds")  # fmt: skip
    report = Report("speed", columns, window=window)
    names = storage.reports.reps_by_id(session)
    groups = _speeds(session, window)
    order = {"all": 0, "rep": 1, "source": 2}
    for (by, key), pace in sorted(
        groups.items(), key=lambda item: (order[item[0][0]], str(item[0][1]))
    ):
        if by == "rep":
            rep = names.get(key) if key is not None else None
            label = rep.name if rep else ("unassigned" if key is None else f"R-{key}")
        else:
            label = key or ("all" if by == "all" else "")
        report.rows.append({
            "by": by, "key": label, "leads": pace.leads,
            "p50_seconds": pace.p50, "p90_seconds": pace.p90,
            "p50_work_seconds": pace.p50_work, "p90_work_seconds": pace.p90_work,
        })  # fmt: skip
    return report


def aging(session: Session, window: Window) -> Report:
    """Open leads by age (whenever they arrived), and those nobody has touched yet."""
    now = window.now or window.until
    edges = [now - timedelta(days=days) for days in (1, 7, 30)]
    report = Report("aging", ("age", "open", "untouched"), window=window)
    counts = storage.reports.aging_counts(session, edges, window.source, window.rep_id)
    for band, (open_count, untouched) in zip(AGE_BANDS, counts, strict=True):
        report.rows.append({"age": band, "open": open_count, "untouched": untouched})
    return report


def campaigns(session: Session, window: Window) -> Report:
    """Per campaign and step (emails sent in the window): sent, delivered, bounced, human
    opens, clicks, replies, opt-outs, each counted in emails."""
    columns = ("campaign", "step", "template", "sent", "delivered", "bounced", "human_opens",
               "clicks", "replies", "opt_outs")  # fmt: skip
    report = Report("campaigns", columns, window=window)
    for row in storage.reports.campaign_step_counts(session, window.since, window.until):
        name, position, template, sent, bounced, opens, clicks, replies, opt_outs = row
        sent, bounced = int(sent or 0), int(bounced or 0)
        report.rows.append({
            "campaign": name, "step": int(position) + 1, "template": template, "sent": sent,
            "delivered": sent - bounced, "bounced": bounced, "human_opens": int(opens or 0),
            "clicks": int(clicks or 0), "replies": int(replies or 0),
            "opt_outs": int(opt_outs or 0),
        })  # fmt: skip
    return report


REPORTS: dict[str, Callable[[Session, Window], Report]] = {
    "funnel": funnel,
    "sources": sources,
    "reps": reps,
    "speed": speed,
    "aging": aging,
    "campaigns": campaigns,
}


def leads_by_source(session: Session, window: Window) -> Report:
    """New leads per period and source (the dashboard's lines)."""
    report = Report("leads_by_source", ("period", "source", "leads"), window=window)
    for period, source, leads in storage.reports.leads_by_period_and_source(
        session, window.by, *window.args()
    ):
        report.rows.append({"period": str(period), "source": source, "leads": int(leads)})
    return report
