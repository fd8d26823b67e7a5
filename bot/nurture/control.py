"""What a marketer does to a campaign after creating it: pause, resume, stop, delete, retry what
failed, see every member with its last SMTP reply, and a dry run of what a send would do.

The states: draft (preview only) → active (the scheduler sends) ⇄ paused; active or paused →
stopped (final: members stopped, pending sends skipped). A draft, or a stopped campaign, can be
deleted; one that mailed people is kept out of sight under another name instead, so that the
opt-out and tracking links in those emails keep working, and its name is free again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session

import storage.campaigns
from bot.leads.refs import lead_label
from bot.nurture.campaigns import CampaignError, PlanReport, Segment, plan_due
from storage.engine import Store
from storage.models import Campaign, utcnow

# state → the states it may move to, and by which command.
MOVES: dict[str, dict[str, str]] = {
    "pause": {"active": "paused"},
    "resume": {"paused": "active"},
    "stop": {"active": "stopped", "paused": "stopped", "draft": "stopped"},
}
DELETABLE = ("draft", "stopped")
MEMBER_STATES = ("active", "done", "stopped")
SEND_STATES = ("pending", "sending", "sent", "failed", "skipped", "unknown")


def find(session: Session, name: str) -> Campaign:
    campaign = storage.campaigns.by_name(session, name)
    if campaign is None or campaign.state == "deleted":
        names = [c.name for c in storage.campaigns.listing(session) if c.state != "deleted"]
        known = f"campaigns: {', '.join(names)}" if names else "there are no campaigns"
        raise CampaignError(f"no campaign named {name!r}; {known}")
    return campaign


def move(session: Session, name: str, verb: str) -> tuple[Campaign, str]:
    """pause / resume / stop; returns the campaign and what changed, in words."""
    campaign = find(session, name)
    target = MOVES[verb].get(campaign.state)
    if target is None:
        allowed = ", ".join(sorted(MOVES[verb]))
        raise CampaignError(f"cannot {verb} {name}: it is {campaign.state} (only from {allowed})")
    assert campaign.id is not None
    campaign.state = target
    session.add(campaign)
    said = f"{name} is {target}"
    if target == "stopped":
        members, sends = storage.campaigns.stop_all(session, campaign.id, "campaign stopped")
        said += f": {members} members stopped, {sends} planned emails not sent"
    return campaign, said


def delete(session: Session, name: str) -> str:
    campaign = find(session, name)
    if campaign.state not in DELETABLE:
        raise CampaignError(
            f"cannot delete {name}: it is {campaign.state}; stop it first "
            f"(leadbot campaign stop {name})"
        )
    assert campaign.id is not None
    if storage.campaigns.has_mailed(session, campaign.id):
        campaign.name = f"{name}~deleted-{campaign.id}"
        campaign.state = "deleted"
        session.add(campaign)
        return (
            f"{name} deleted; its sent emails' opt-out and tracking links keep working, "
            "and the name is free"
        )
    storage.campaigns.delete(session, campaign.id)
    return f"{name} deleted"


def prepare_retry(session: Session, name: str, *, failed: bool) -> tuple[Campaign, int]:
    """Make the campaign's retries (and with `failed`, its failed sends) due now, and activate
    it; the caller then sends as `campaign send` does. Returns the campaign and the count."""
    campaign = find(session, name)
    if campaign.state in ("stopped", "paused"):
        hint = "resume it first" if campaign.state == "paused" else "it is final"
        raise CampaignError(f"cannot retry {name}: it is {campaign.state} ({hint})")
    assert campaign.id is not None
    count = storage.campaigns.requeue(session, campaign.id, utcnow(), failed=failed)
    campaign.state = "active"
    session.add(campaign)
    return campaign, count


def members(session: Session, name: str, state: str | None = None) -> list[dict[str, Any]]:
    """Every member with its last email: the member's state (active, done, stopped and why)
    and the send's (pending … sent, failed) with the SMTP reply. `state` filters on either."""
    if state is not None and state not in (*MEMBER_STATES, *SEND_STATES):
        known = ", ".join((*MEMBER_STATES, *SEND_STATES))
        raise CampaignError(f"no state {state!r}; states: {known}")
    campaign = find(session, name)
    assert campaign.id is not None
    steps = {s.id: s for s in storage.campaigns.steps_of(session, campaign.id)}
    rows, latest, leads = storage.campaigns.members_and_sends(session, campaign.id)
    listed = []
    for member in rows:
        send = latest.get(member.lead_id)
        lead = leads.get(member.lead_id)
        send_state = send.state if send else None
        if state is not None and state not in (member.state, send_state):
            continue
        step = steps.get(send.step_id) if send else None
        listed.append(
            {
                "lead": lead_label(member.lead_id),
                "email": lead.email if lead else None,
                "state": member.state,
                "stopped_reason": member.stopped_reason,
                "step": step.position + 1 if step else None,
                "template": step.template if step else None,
                "send_state": send_state,
                "attempts": send.attempts if send else 0,
                "smtp_reply": send.smtp_reply if send else None,
                "sent_at": send.sent_at.isoformat() if send and send.sent_at else None,
                "joined_at": member.joined_at.isoformat(),
            }
        )
    return listed


@dataclass
class DryRun:
    """What `campaign send` would do now, computed by planning in a transaction rolled back."""

    segment: str
    matches: int
    members: int
    report: PlanReport = field(default_factory=PlanReport)

    def to_dict(self) -> dict[str, Any]:
        return {
            "segment": self.segment,
            "matches": self.matches,
            "members": self.members,
            "would_enrol": self.report.enrolled,
            "would_send": self.report.planned,
            "would_stop": dict(self.report.stopped),
        }


class _RollBack(Exception):
    pass


def dry_run(store: Store, name: str) -> DryRun:
    """The segment's size now, and what a send would enrol, mail and stop, writing nothing: the
    real planning runs in a transaction that is then rolled back, so the figures are exact."""
    result: DryRun | None = None
    try:
        with store.transaction() as session:
            campaign = find(session, name)
            if campaign.state in ("stopped", "paused"):
                raise CampaignError(f"{name} is {campaign.state}: a send would do nothing")
            assert campaign.id is not None
            segment = Segment.from_dict(campaign.segment)
            candidates = storage.campaigns.segment_candidates(
                session, campaign.id, campaign.segment, utcnow()
            )
            before, _, _ = storage.campaigns.members_and_sends(session, campaign.id)
            matches = sum(1 for lead in candidates if segment.has_tags(lead))
            result = DryRun(segment.describe(), matches + len(before), len(before))
            result.report = plan_due(session, [campaign.id])
            raise _RollBack
    except _RollBack:
        pass
    assert result is not None
    return result


def segment_size(session: Session, campaign: Campaign) -> int:
    """How many leads the campaign's segment matches now (members or not)."""
    assert campaign.id is not None
    segment = Segment.from_dict(campaign.segment)
    candidates = storage.campaigns.segment_candidates(
        session, campaign.id, campaign.segment, utcnow()
    )
    rows, _, _ = storage.campaigns.members_and_sends(session, campaign.id)
    return sum(1 for lead in candidates if segment.has_tags(lead)) + len(rows)
