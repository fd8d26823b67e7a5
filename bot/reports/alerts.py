"""Hot-lead alerts: when a person opens one email for the second time (human opens only), clicks
a tracked link, visits a page the rules list, or replies, the lead's owner gets a Slack DM with
the lead's card ("Jane Doe of Acme opened 'pricing' 3 times in the last hour — call now?").

`scan` follows two append-only logs with cursors of its own (tracking events, for every open;
the timeline, for replies and page visits), asks the `[alerts]` rules whether each is hot, and
writes an outbox row (`lead.hot`, to the owner) in the same transaction. At most one alert per
lead per `quiet_minutes`: the lead's row in `lead_alerts` is taken with a conditional update,
so two workers scanning at once cannot both alert. A lead nobody owns raises no alert.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

import storage.assignment
import storage.leads
import storage.outbox
import storage.reports
from bot.leads.refs import lead_label
from bot.rules.alerts import AlertRules
from storage.models import Lead, utcnow

TRACKING_CURSOR = "alerts.tracking"
TIMELINE_CURSOR = "alerts.timeline"
BATCH = 1000
KIND = "lead.hot"


@dataclass(frozen=True)
class Hot:
    lead_id: int
    why: str  # "opened 'pricing' 3 times in the last hour"


def who(lead: Lead) -> str:
    name = f"{lead.first_name} {lead.last_name}".strip() or lead.email
    return f"{name} of {lead.company}" if lead.company else name


def pending(session: Session) -> bool:
    """Whether anything arrived past the scan's cursors: a read, so an idle tick of serve's
    loop takes no write lock (on SQLite every write transaction takes the one lock)."""
    tracked = storage.assignment.cursor_position(session, TRACKING_CURSOR)
    if storage.reports.last_tracking_id(session) > tracked:
        return True
    read = storage.assignment.cursor_position(session, TIMELINE_CURSOR)
    return storage.reports.last_timeline_id(session) > read


def scan(session: Session, rules: AlertRules, now: datetime | None = None) -> int:
    """Look at what happened since the last scan; how many events were looked at."""
    now = now or utcnow()
    seen = 0
    hot: list[Hot] = []
    cursor = storage.assignment.cursor_for_update(session, TRACKING_CURSOR)
    rows, last = storage.reports.person_tracking_after(session, cursor.position, BATCH)
    seen += last - cursor.position
    cursor.position = last
    session.add(cursor)
    for _, send_id, lead_id, kind, link_index, at, campaign, template in rows:
        title = template or campaign
        if kind == "open" and rules.opens:
            times = [t for t in storage.reports.human_open_times(session, send_id) if t <= at]
            if len(times) >= rules.opens:
                recent = [t for t in times if t > at - timedelta(hours=1)]
                when = " in the last hour" if len(recent) == len(times) else ""
                hot.append(Hot(lead_id, f"opened '{title}' {len(times)} times{when}"))
        elif kind == "click" and rules.click:
            url = storage.reports.send_link(session, send_id, link_index)
            hot.append(Hot(lead_id, f"clicked {url or 'a link'} in '{title}'"))
    cursor = storage.assignment.cursor_for_update(session, TIMELINE_CURSOR)
    kinds = [k for k, on in (("email.reply", rules.reply), ("page.visit", bool(rules.pages))) if on]
    entries, last = storage.reports.alert_entries_after(session, cursor.position, kinds, BATCH)
    seen += last - cursor.position
    cursor.position = last
    session.add(cursor)
    for entry in entries:
        if entry.kind == "email.reply":
            hot.append(Hot(entry.lead_id, f"replied ({entry.summary})"))
        else:
            detail = str((entry.data or {}).get("detail", ""))
            if any(page in detail for page in rules.pages):
                hot.append(Hot(entry.lead_id, f"visited {detail}"))
    for item in hot:
        alert(session, item, rules, now)
    return seen


def alert(session: Session, hot: Hot, rules: AlertRules, now: datetime) -> bool:
    """DM the owner (through the outbox) unless the lead had an alert within the quiet time."""
    lead = storage.leads.by_id(session, hot.lead_id)
    while lead is not None and lead.merged_into_id is not None:
        lead = storage.leads.by_id(session, lead.merged_into_id)
    if lead is None or lead.id is None or lead.owner_id is None:
        return False
    if not storage.reports.claim_alert(session, lead.id, now, now - rules.quiet):
        return False
    text = f"{who(lead)} {hot.why} — call now?"
    storage.outbox.put(session, KIND, lead_id=lead.id, rep_id=lead.owner_id,
                       payload={"lead": lead_label(lead.id), "alert": text})  # fmt: skip
    return True
