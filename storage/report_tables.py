"""SQLModel tables of the reports: one roll-up row per live lead (what every report counts), the
revocable dashboard links, and when each lead last raised a hot-lead alert. Imported by
storage.models, so Alembic sees them.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def speed_bucket(seconds: float) -> int:
    """The histogram bucket of a span: quarter octaves (each bucket ~19 % wider than the last),
    so one bucket holds a few per cent of a group's leads. Migration 0019 copies this formula."""
    return 0 if seconds <= 0 else int(4 * math.log2(1 + seconds))


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
        # A percentile reads one speed bucket of one group within the window (migration 0019).
        Index("ix_report_facts_touch_all", "touch_bucket", "touch_seconds", "arrived_at"),
        Index("ix_report_facts_touch_rep", "owner_id", "touch_bucket", "touch_seconds",
              "arrived_at"),
        Index("ix_report_facts_touch_source", "source", "touch_bucket", "touch_seconds",
              "arrived_at"),
        Index("ix_report_facts_work_all", "work_bucket", "touch_work_seconds", "arrived_at"),
        Index("ix_report_facts_work_rep", "owner_id", "work_bucket", "touch_work_seconds",
              "arrived_at"),
        Index("ix_report_facts_work_source", "source", "work_bucket", "touch_work_seconds",
              "arrived_at"),
        # The medians of time to convert read only converted leads.
        Index("ix_report_facts_converted", "converted", "arrived_at", "convert_seconds", "source",
              "utm_source", "utm_campaign"),
    )  # fmt: skip

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
    # speed_bucket() of the two spans: the histogram bucket each falls in.
    touch_bucket: int | None = None
    work_bucket: int | None = None


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


# --- the summaries the reports read (migration 0019) -------------------------------------------
#
# Database triggers on report_lead_facts keep them (storage/migrations/versions/0019_…): every
# insert, update or delete of a fact row adds or takes away its counts in the same statement,
# whichever code wrote it (the roll-up, a rebuild, an import's revert, an erase). A count that
# falls to zero deletes its row. The reports add whole periods from these and the partial
# periods at a window's edges from the facts themselves, so a figure is the same as a scan.


class _Counts:
    """The counters every summary row holds (sums over the fact rows of its key)."""

    leads: int = 0
    mqls: int = 0
    sqls: int = 0
    converted: int = 0
    convert_seconds: float = 0.0
    amount: float = 0.0
    worked: int = 0
    sla_misses: int = 0
    open: int = 0
    open_untouched: int = 0


class ReportDayCounts(_Counts, SQLModel, table=True):
    """Per arrival day (UTC), channel and UTM source: the funnel and leads per day or week."""

    __tablename__ = "report_day_counts"

    day: date = Field(primary_key=True)
    source: str = Field(default="", primary_key=True)
    utm_source: str = Field(default="", primary_key=True)
    week: date


class ReportMonthCounts(_Counts, SQLModel, table=True):
    """Per arrival month, channel, UTM source and owner (0 = none): sources, reps, aging."""

    __tablename__ = "report_month_counts"

    month: date = Field(primary_key=True)
    source: str = Field(default="", primary_key=True)
    utm_source: str = Field(default="", primary_key=True)
    owner: int = Field(default=0, primary_key=True)


class ReportCampaignCounts(_Counts, SQLModel, table=True):
    """Per arrival month, channel, UTM source and UTM campaign: the sources report's campaigns."""

    __tablename__ = "report_campaign_counts"

    month: date = Field(primary_key=True)
    source: str = Field(default="", primary_key=True)
    utm_source: str = Field(default="", primary_key=True)
    utm_campaign: str = Field(default="", primary_key=True)


class ReportTouchHistogram(SQLModel, table=True):
    """How many touched leads of an arrival month fall in each speed bucket, for everyone
    (dim "all"), per owner ("rep", key = owner id or "") and per channel ("source"); metric
    "wall" or "work". A percentile finds its bucket here and reads only that bucket's facts.
    Keyed group first, month last (and clustered on SQLite): a group's buckets over a span of
    months are read in key order, without sorting."""

    __tablename__ = "report_touch_histogram"
    __table_args__ = ({"sqlite_with_rowid": False},)

    metric: str = Field(primary_key=True)
    dim: str = Field(primary_key=True)
    key: str = Field(default="", primary_key=True)
    bucket: int = Field(primary_key=True)
    month: date = Field(primary_key=True)
    n: int = 0
