"""SQLModel tables of nurture campaigns: campaigns, their steps, who is in them, every send and
every tracking event (opens, clicks, opt-outs). Imported by storage.models, so Alembic sees them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class Campaign(SQLModel, table=True):
    __tablename__ = "campaigns"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    # Where the step templates are: "" = bot/templates/email/nurture/<template_set>/, else a folder.
    template_set: str
    template_dir: str = ""
    # The segment as saved by `campaign create` (status, grade, stage, source, score, tags, …).
    segment: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # From address; "" = LEADBOT_OUTBOUND_FROM.
    sender: str = ""
    # draft (preview only), active (the scheduler sends due steps), paused.
    state: str = "draft"
    created_at: datetime = Field(default_factory=utcnow)


class CampaignStep(SQLModel, table=True):
    __tablename__ = "campaign_steps"
    __table_args__ = (UniqueConstraint("campaign_id", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaigns.id", index=True)
    # 0, 1, 2, … in sending order.
    position: int
    # Template name: <template>.subject.j2, <template>.txt.j2, <template>.html.j2.
    template: str
    # Seconds after the previous step (after joining, for the first step).
    delay_seconds: int = 0


class CampaignMember(SQLModel, table=True):
    """A lead in a campaign: which step comes next and when, or why the sequence stopped."""

    __tablename__ = "campaign_members"
    __table_args__ = (
        UniqueConstraint("campaign_id", "lead_id"),
        Index("ix_campaign_members_due", "state", "next_due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaigns.id")
    lead_id: int = Field(foreign_key="leads.id", index=True)
    # active, done (every step planned), stopped (replied, opted out, bounced, …).
    state: str = "active"
    next_position: int = 0
    next_due_at: datetime = Field(default_factory=utcnow)
    stopped_reason: str | None = None
    joined_at: datetime = Field(default_factory=utcnow)


class CampaignSend(SQLModel, table=True):
    """One email of one step to one lead: at most one row, so at most one email, per (lead, step).

    pending → sending (claimed, Message-ID fixed, links recorded) → sent | failed; a `sending`
    row whose worker died is marked `unknown` and never sent again (at most once)."""

    __tablename__ = "campaign_sends"
    __table_args__ = (
        UniqueConstraint("lead_id", "step_id"),
        Index("ix_campaign_sends_state_due", "state", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaigns.id", index=True)
    step_id: int = Field(foreign_key="campaign_steps.id")
    lead_id: int = Field(foreign_key="leads.id", index=True)
    # The address it goes to, as it was when the send was planned.
    address: str = Field(index=True)
    # pending, sending, sent, failed, unknown
    state: str = "pending"
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow)
    claimed_at: datetime | None = None
    sent_at: datetime | None = None
    message_id: str | None = None
    # The last SMTP reply (or connection error) for this send.
    smtp_reply: str | None = Field(default=None, sa_column=Column(Text))
    # The URLs that were in the email, in order: a click token names an index into this list.
    links: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class TrackingEvent(SQLModel, table=True):
    """An open, click, opt-out or undo on one send. The verdict is kept, the visitor's IP never."""

    __tablename__ = "tracking_events"
    __table_args__ = (Index("ix_tracking_events_send_kind", "send_id", "kind"),)

    id: int | None = Field(default=None, primary_key=True)
    send_id: int = Field(foreign_key="campaign_sends.id")
    campaign_id: int = Field(foreign_key="campaigns.id", index=True)
    lead_id: int = Field(foreign_key="leads.id")
    # open, click, opt_out, opt_in (undo)
    kind: str
    # human, proxy, scanner (opens and clicks); None for opt-outs.
    verdict: str | None = None
    verdict_reason: str = ""
    link_index: int | None = None
    user_agent: str = ""
    at: datetime = Field(default_factory=utcnow)


class TrackingSpoolOffset(SQLModel, table=True):
    """How far the tracking writer has written one segment of the hit spool (bot/nurture/
    hit_spool.py) into tracking_events: moved in the transaction that writes those events, so
    a hit is written once, however often the writer stops and starts again."""

    __tablename__ = "tracking_spool_offsets"

    segment: str = Field(primary_key=True)
    offset: int = Field(sa_type=BigInteger)
    updated_at: datetime = Field(default_factory=utcnow)
