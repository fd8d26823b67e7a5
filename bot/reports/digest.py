"""The weekly digest: last week's numbers against the week before (new leads, MQLs,
conversions, conversion ratio, median speed to lead), as text for a Slack channel
(LEADBOT_SLACK_DIGEST_CHANNEL). `due` queues it once a week: a cursor holds the Monday of the
last week sent, taken under a row lock, so two workers never send one week twice.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlmodel import Session

import storage.assignment
import storage.outbox
from bot.reports import figures
from bot.reports.output import duration

CURSOR = "reports.digest"
KIND = "report.digest"


def week_start(day: date) -> datetime:
    monday = day - timedelta(days=day.weekday())
    return datetime.combine(monday, time(0), UTC)


def numbers(session: Session, since: datetime, until: datetime) -> dict[str, Any]:
    window = figures.Window(since, until, now=until)
    total = figures.funnel(session, window).rows[-1]
    speed = figures.speed(session, window).rows
    overall = speed[0] if speed and speed[0]["by"] == "all" else None
    return {"leads": total["leads"], "mqls": total["mql"], "conversions": total["opportunity"],
            "conversion_ratio": total["leads"] and total["opportunity"] / total["leads"],
            "speed_p50_seconds": overall["p50_seconds"] if overall else None}  # fmt: skip


def text(session: Session, now: datetime) -> str:
    """The digest of the last whole week (Monday to Monday, UTC) against the week before."""
    this = week_start(now.date()) - timedelta(days=7)
    last = numbers(session, this, this + timedelta(days=7))
    before = numbers(session, this - timedelta(days=7), this)

    def line(label: str, key: str, show: Any = str) -> str:
        now_value, then = last[key], before[key]
        shown = show(now_value) if now_value is not None else "-"
        was = show(then) if then is not None else "-"
        return f"{label}: {shown} (week before: {was})"

    def pct(value: float) -> str:
        return f"{value * 100:.1f}%"

    return "\n".join([
        f"Leads, week of {this:%Y-%m-%d}",
        line("New leads", "leads"), line("MQLs", "mqls"), line("Conversions", "conversions"),
        line("Conversion ratio", "conversion_ratio", pct),
        line("Median speed to lead", "speed_p50_seconds", duration),
    ])  # fmt: skip


def due(session: Session, now: datetime) -> bool:
    """Queue the digest of the last week unless it went out already; whether it was queued."""
    this_monday = week_start(now.date())
    key = int(this_monday.strftime("%Y%m%d"))
    cursor = storage.assignment.cursor_for_update(session, CURSOR)
    if cursor.position >= key:
        return False
    cursor.position = key
    session.add(cursor)
    storage.outbox.put(session, KIND, payload={"text": text(session, now)})
    return True
