"""SQLModel tables of the reports: one roll-up row per live lead (what every report counts), the
revocable dashboard links, and when each lead last raised a hot-lead alert. Imported by
storage.models, so Alembic sees them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class LeadFact(SQLModel, table=True):
    """A live lead as the reports see it, derived from the lead and its timeline
    (bot/reports/rollup.py): kept up to date from the timeline as it grows, and rebuilt from it
    by `leadbot report rebuild`. A merged-away lead has no row (it counts once, in its survivor);
    an un-converted lead is not converted. Reports group these rows, never the timeline."""

    __tablename__ = "report_lead_facts"
    __table_args__ = (
        Index("ix_report_facts_arrived", "arrived_at"),
        Index("ix_report_facts_source_arrived", "source", "arrived_at"),
        Index("ix_report_facts_owner_arrived", "owner_id", "arrived_at"),
        Index("ix_report_facts_open_arrived", "is_open", "arrived_at"),
    )

    lead_id: int = Field(foreign_key="leads.id", primary_key=True)
    arrived_at: datetime
    # The period the lead arrived in (UTC), so grouping by day, week or month is plain SQL.
    day: date
    week: date  # the Monday
    month: date  # the first
    source: str = ""
    utm_source: str = ""
    utm_campaign: str = ""
    owner_id: int | None = None
    status: str = "new"
    stage: str = "lead"
    is_open: bool = True
    reached_mql: bool = False
    reached_sql: bool = False
    converted: bool = False
    converted_at: datetime | None = None
    convert_seconds: float | None = None
    amount: float | None = None
    # A rep changed its status (worked it).
    worked: bool = False
    sla_misses: int = 0
    # Speed to lead: from arrival (or the last reopening) to the first human touch after it.
    touch_from: datetime | None = None
    touched_at: datetime | None = None
    touch_seconds: float | None = None
    # The same span counted in the owner's working hours only.
    touch_work_seconds: float | None = None


class ReportLink(SQLModel, table=True):
    """A dashboard link handed out (`leadbot report link`, `/lead report`): the signed token
    names this row, so revoking the row closes the link before it expires."""

    __tablename__ = "report_links"

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    created_by: str = ""
    revoked_at: datetime | None = None
    revoked_by: str | None = None


class LeadAlert(SQLModel, table=True):
    """The last hot-lead alert of a lead: at most one an hour (a conditional update on this row
    decides, so two workers cannot both alert)."""

    __tablename__ = "lead_alerts"

    lead_id: int = Field(foreign_key="leads.id", primary_key=True)
    last_at: datetime
    alerts: int = 0
