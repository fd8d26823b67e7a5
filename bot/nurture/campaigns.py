"""Nurture campaigns, the domain part: segments, step sequences, who gets which step when, why a
sequence stops (a reply, an opt-out, a bounce), opt-out and undo, tracking events and stats.

A lead joins a campaign when it matches the segment; each step is planned as one `campaign_sends`
row (UNIQUE per lead and step) when it falls due, and delivered by bot.nurture.send.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlmodel import Session

import storage.campaigns
import storage.leads
import storage.timeline
from bot.leads.views import LEAD_FIELDS
from bot.nurture.opens import BURST_SECONDS, HUMAN, SCANNER, open_verdict
from storage.engine import Store
from storage.models import Campaign, CampaignMember, Lead, Rep, TrackingEvent, utcnow

DELAY = re.compile(r"^(\d+)([smhdw]?)$")
UNITS = {"": 86400, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
# Statuses whose leads no campaign keeps mailing.
CLOSED_STATUSES = ("converted", "trashed")


class CampaignError(ValueError):
    """A campaign that cannot be made or used as asked (the message says why)."""


@dataclass
class Segment:
    """Which leads a campaign is for. Empty lists mean any; tags must all be in custom["tags"]."""

    status: list[str] = field(default_factory=lambda: ["nurturing"])
    grade: list[str] = field(default_factory=list)
    stage: list[str] = field(default_factory=list)
    source: list[str] = field(default_factory=list)
    score_min: float | None = None
    score_max: float | None = None
    tags: list[str] = field(default_factory=list)
    not_contacted_days: int | None = None
    # Only leads retention marked stale (bot/privacy/retention.py): a re-permission campaign.
    stale: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Segment:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def has_tags(self, lead: Lead) -> bool:
        raw = (lead.custom or {}).get("tags", [])
        tags = {t.strip().lower() for t in (raw.split(",") if isinstance(raw, str) else raw)}
        return all(tag.lower() in tags for tag in self.tags)

    def describe(self) -> str:
        parts = [
            f"{k}={','.join(v)}" for k, v in self.to_dict().items() if isinstance(v, list) and v
        ]
        if self.score_min is not None or self.score_max is not None:
            parts.append(f"score {self.score_min or 0:g}..{self.score_max or '∞'}")
        if self.not_contacted_days is not None:
            parts.append(f"no activity for {self.not_contacted_days}d")
        if self.stale:
            parts.append("stale (re-permission)")
        return " ".join(parts) or "all leads"


def parse_step(spec: str) -> tuple[str, int]:
    """`welcome:0`, `followup:3d`, `nudge:12h` → (template, delay in seconds); bare numbers are
    days."""
    template, _, delay = spec.partition(":")
    match = DELAY.match(delay.strip() or "0")
    if not template.strip() or not re.fullmatch(r"[A-Za-z0-9_\-]+", template.strip()) or not match:
        raise CampaignError(
            f"a step is TEMPLATE:DELAY with the delay's unit, m, h, d or w (welcome:0, "
            f"followup:3d, nudge:12h), not {spec!r}"
        )
    return template.strip(), int(match.group(1)) * UNITS[match.group(2)]


def format_delay(seconds: int) -> str:
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


# --- planning ----------------------------------------------------------------------------------


@dataclass
class PlanReport:
    enrolled: int = 0
    planned: int = 0
    stopped: dict[str, int] = field(default_factory=dict)
    # Members looked at; as many as `limit` means there may be more to plan.
    members: int = 0


def plan_due(
    session: Session, campaign_ids: list[int], now: datetime | None = None, limit: int = 500
) -> PlanReport:
    """Enroll new segment matches, then plan a send for every member whose next step is due (or
    stop the member, with the reason). Two workers planning at once skip each other's members
    (SKIP LOCKED) and the UNIQUE (lead, step) key refuses a second send."""
    now = now or utcnow()
    report = PlanReport()
    steps_by_campaign = {}
    for campaign_id in campaign_ids:
        campaign = storage.campaigns.by_id(session, campaign_id)
        steps = list(storage.campaigns.steps_of(session, campaign_id))
        if campaign is None or not steps:
            continue
        steps_by_campaign[campaign_id] = steps
        segment = Segment.from_dict(campaign.segment)
        leads = storage.campaigns.segment_candidate_tags(
            session, campaign_id, campaign.segment, now
        )
        matched = [lead.id for lead in leads if segment.has_tags(lead)]
        due = now + timedelta(seconds=steps[0].delay_seconds)
        report.enrolled += storage.campaigns.enroll(session, campaign_id, matched, due)
    if not steps_by_campaign:
        return report
    members = storage.campaigns.claim_due_members(session, list(steps_by_campaign), now, limit)
    report.members = len(members)
    # What the stop rules need, read for the whole batch at once.
    leads = storage.campaigns.mail_rows(session, {m.lead_id for m in members})
    statuses = storage.campaigns.statuses_by_address(session, {ld.email for ld in leads.values()})
    last_reply = storage.campaigns.last_reply_at(session, list(leads))
    planned: list[tuple[int, int, int, str]] = []
    for member in members:
        steps = steps_by_campaign[member.campaign_id]
        lead = leads.get(member.lead_id)
        reason = stop_reason(member, lead, statuses, last_reply)
        if reason is None and member.next_position >= len(steps):
            member.state = "done"
        elif reason is not None:
            stop(member, reason)
            report.stopped[reason] = report.stopped.get(reason, 0) + 1
        else:
            assert lead is not None and member.id is not None
            step = steps[member.next_position]
            assert step.id is not None
            planned.append((member.campaign_id, step.id, member.lead_id, lead.email))
            report.planned += 1
            member.next_position += 1
            if member.next_position >= len(steps):
                member.state = "done"
            else:
                delay = steps[member.next_position].delay_seconds
                member.next_due_at = now + timedelta(seconds=delay)
        session.add(member)
    storage.campaigns.plan_sends(session, planned, now)
    return report


def stop_reason(
    member: CampaignMember,
    lead: Lead | None,
    statuses: dict[str, str],
    last_reply: dict[int, datetime],
) -> str | None:
    """Why this member's sequence ends now: its address may not be mailed (checked by address,
    on every lead record that carries it), its lead replied since joining, or was closed."""
    if lead is None:
        return "lead gone"
    if lead.merged_into_id is not None:
        return "merged"  # its survivor is a member in its place (or already was)
    if (status := statuses.get(lead.email, "ok")) != "ok":
        return status
    replied = last_reply.get(member.lead_id)
    if replied is not None and replied >= member.joined_at:
        return "replied"
    if lead.status in CLOSED_STATUSES:
        return lead.status
    return None


def stop(member: CampaignMember, reason: str) -> None:
    member.state = "stopped"
    member.stopped_reason = reason


def lead_context(lead: Lead, owner: Rep | None, campaign: Campaign) -> dict[str, Any]:
    """What a template sees: `lead` (its fields, `name`, `custom`), `rep` (name, email,
    signature) and `campaign` (name)."""
    data: dict[str, Any] = {name: getattr(lead, name) for name in LEAD_FIELDS}
    data["id"] = lead.id
    data["custom"] = dict(lead.custom or {})
    data["name"] = f"{lead.first_name} {lead.last_name}".strip()
    rep = {"name": "", "email": "", "signature": ""}
    if owner is not None:
        rep = {
            "name": owner.name,
            "email": owner.email,
            "signature": owner.signature or f"{owner.name}\n{owner.email}",
        }
    return {"lead": data, "rep": rep, "campaign": {"name": campaign.name}}


# --- opt-out and undo --------------------------------------------------------------------------


def opt_out(store: Store, send_id: int, how: str) -> str | None:
    """Opt the address this send went to out of every campaign, on every lead record carrying
    it, and stop their sequences. Returns the address (None for an unknown send)."""
    with store.transaction() as session:
        send = storage.campaigns.send_by_id(session, send_id)
        if send is None:
            return None
        leads = storage.leads.all_by_email(session, send.address)
        changed = False
        for lead in leads:
            assert lead.id is not None
            if lead.email_status == "opted_out":
                continue
            changed = True
            if lead.email_status in ("ok", "confirmed", "unconfirmed"):
                lead.email_status = "opted_out"
            storage.leads.touch(session, lead)
            storage.timeline.append(
                session, lead.id, actor=f"email:{send.address}", kind="email.opt_out",
                summary=f"{send.address} opted out: {how}",
                data={"campaign_id": send.campaign_id, "send_id": send_id},
            )  # fmt: skip
        for member in storage.campaigns.members_of_lead(session, [ld.id for ld in leads if ld.id]):
            stop(member, "opted_out")
            session.add(member)
        if changed:
            storage.campaigns.add_events(session, [_event(send, "opt_out", how)])
        return send.address


def undo_opt_out(store: Store, send_id: int) -> str | None:
    """Mail this address again: the leads carrying it go back to `ok`, and the sequences the
    opt-out stopped carry on."""
    with store.transaction() as session:
        send = storage.campaigns.send_by_id(session, send_id)
        if send is None:
            return None
        leads = [
            lead
            for lead in storage.leads.all_by_email(session, send.address)
            if lead.email_status == "opted_out"
        ]
        for lead in leads:
            assert lead.id is not None
            lead.email_status = "ok"
            storage.leads.touch(session, lead)
            storage.timeline.append(
                session, lead.id, actor=f"email:{send.address}", kind="email.opt_in",
                summary=f"{send.address} undid the opt-out",
                data={"campaign_id": send.campaign_id, "send_id": send_id},
            )  # fmt: skip
        stopped = storage.campaigns.stopped_members(session, [ld.id for ld in leads if ld.id])
        for member in stopped:
            if member.stopped_reason == "opted_out":
                member.state, member.stopped_reason = "active", None
                session.add(member)
        if leads:
            storage.campaigns.add_events(session, [_event(send, "opt_in", "undo")])
        return send.address


def _event(send: Any, kind: str, reason: str) -> TrackingEvent:
    return TrackingEvent(
        send_id=send.id, campaign_id=send.campaign_id, lead_id=send.lead_id, kind=kind,
        verdict_reason=reason,
    )  # fmt: skip


# --- opens and clicks --------------------------------------------------------------------------


class Hit(NamedTuple):
    """One pixel hit or click as the HTTP server saw it (the IP is never kept, only whether it
    came from Apple's network). A tuple: the pixel makes thousands a second."""

    kind: str  # open | click
    send_id: int
    at: float  # epoch seconds
    user_agent: str = ""
    link_index: int | None = None
    apple_network: bool = False


def record_hits(session: Session, hits: Iterable[Hit], scanner_window: float) -> int:
    """Classify and store a batch of hits; a person's first open of an email and first click
    of each link go on the lead's timeline (email.opened / email.clicked), which scoring counts."""
    hits = sorted(hits, key=lambda h: h.at)
    if not hits:
        return 0
    sends = storage.campaigns.sends_by_ids(session, {h.send_id for h in hits})
    since = datetime.fromtimestamp(hits[0].at, UTC) - timedelta(seconds=10)
    # Each send's recent hits, oldest first, trimmed to the burst window as the batch goes on.
    earlier: dict[tuple[int, str], deque[float]] = {}
    for kind in ("open", "click"):
        times = storage.campaigns.recent_event_times(session, sends, kind, since)
        for send_id, ats in times.items():
            earlier[(send_id, kind)] = deque(sorted(at.timestamp() for at in ats))
    # Plain values per send: ORM attribute access costs more than the rest of a hit's work.
    facts = {
        i: (s.campaign_id, s.lead_id, len(s.links), s.sent_at.timestamp() if s.sent_at else None)
        for i, s in sends.items()
    }
    scored: set[tuple[int, str, int | None]] = set()
    # A person's earlier open (any link index) or click of the same link, from earlier batches.
    first_human: dict[tuple[int, str, int | None], datetime] = {}
    for (send_id, kind, index), first in storage.campaigns.first_events(
        session, facts, HUMAN
    ).items():
        key = (send_id, kind, None if kind == "open" else index)
        first_human[key] = min(first, first_human.get(key, first))
    rows: list[tuple[Any, ...]] = []
    for hit in hits:
        send_id = hit.send_id
        if send_id not in facts:
            continue
        campaign_id, lead_id, link_count, sent_at = facts[send_id]
        if hit.kind == "click" and not 0 <= (hit.link_index or 0) < link_count:
            continue
        seen = earlier.setdefault((send_id, hit.kind), deque())
        while seen and hit.at - seen[0] > BURST_SECONDS:
            seen.popleft()
        verdict = open_verdict(
            hit.user_agent, seconds_since_sent=None if sent_at is None else hit.at - sent_at,
            hits_in_burst=1 + len(seen), apple_network=hit.apple_network,
            scanner_window=scanner_window, kind=hit.kind,
        )  # fmt: skip
        seen.append(hit.at)
        at = datetime.fromtimestamp(hit.at, UTC)
        rows.append((send_id, campaign_id, lead_id, hit.kind, verdict.kind, verdict.reason,
                     hit.link_index, hit.user_agent[:300], at))  # fmt: skip
        scores = verdict.kind == HUMAN or (hit.kind == "click" and verdict.kind != SCANNER)
        key = (send_id, hit.kind, hit.link_index)
        if not scores or key in scored:
            continue
        scored.add(key)
        send = sends[send_id]
        assert send.id is not None
        first = first_human.get((send_id, hit.kind, None if hit.kind == "open" else hit.link_index))
        if first is not None and first < at:
            continue
        if hit.kind == "open":
            kind, summary, data = "email.opened", "opened a nurture email", {}
        else:
            url = send.links[hit.link_index or 0]
            kind, summary = "email.clicked", f"clicked {url}"
            data = {"url": url, "link_index": hit.link_index}
        entry = storage.timeline.append(
            session, send.lead_id, actor=f"email:{send.address}", kind=kind, summary=summary,
            data={"campaign_id": send.campaign_id, "send_id": send.id, **data},
        )  # fmt: skip
        entry.at = at
    storage.campaigns.insert_events(session, rows)
    return len(rows)


# --- stats -------------------------------------------------------------------------------------


def stats(session: Session, campaign: Campaign) -> dict[str, Any]:
    assert campaign.id is not None
    sends = storage.campaigns.sends_of(session, campaign.id)
    sent = [s for s in sends if s.state == "sent"]
    statuses = storage.campaigns.statuses_by_address(session, {s.address for s in sent})
    bounced = sum(1 for s in sent if statuses.get(s.address) == "bounced")
    events = storage.campaigns.events_of(session, campaign.id)

    def sends_with(kind: str, verdicts: tuple[str, ...]) -> int:
        return len({e.send_id for e in events if e.kind == kind and e.verdict in verdicts})

    first_sent: dict[int, datetime] = {}
    for s in sent:
        if s.sent_at and (s.lead_id not in first_sent or s.sent_at < first_sent[s.lead_id]):
            first_sent[s.lead_id] = s.sent_at
    by_state: dict[str, int] = {}
    for s in sends:
        by_state[s.state] = by_state.get(s.state, 0) + 1
    return {
        "campaign": campaign.name,
        "state": campaign.state,
        "planned": len(sends),
        "sent": len(sent),
        "delivered": len(sent) - bounced,
        "bounced": bounced,
        "failed": by_state.get("failed", 0),
        "pending": by_state.get("pending", 0) + by_state.get("sending", 0),
        "unknown": by_state.get("unknown", 0),
        "skipped": by_state.get("skipped", 0),
        "opened_human": sends_with("open", (HUMAN,)),
        "opened_machine": sends_with("open", ("proxy", SCANNER)),
        "clicked": sends_with("click", (HUMAN, "proxy")),
        "clicked_scanner": sends_with("click", (SCANNER,)),
        "replied": len(storage.campaigns.replied_lead_ids(session, first_sent)),
        "opted_out": len({s.address for s in sent if statuses.get(s.address) == "opted_out"}),
    }
