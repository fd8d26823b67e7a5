"""SQLModel tables: leads and their timeline, reps, the inbound-message queue, the intake
records (captures checked, held ones kept), the outbox, the assignment queue, and the CRM
objects conversion creates (accounts, contacts, opportunities).

Times are timezone-aware UTC (SQLModel's UTCDateTime), on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, LargeBinary, Text, text
from sqlalchemy.sql.expression import false as sa_false
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def _json_list() -> Column:  # type: ignore[type-arg]
    return Column(JSON, nullable=False, server_default=text("'[]'"))


class Rep(SQLModel, table=True):
    __tablename__ = "reps"

    id: int | None = Field(default=None, primary_key=True)
    name: str
    email: str = Field(index=True, unique=True)
    slack_user_id: str | None = Field(default=None, index=True)
    # rep, manager or admin: managers and admins may act on any lead.
    role: str = "rep"
    active: bool = True
    # Closing lines of nurture emails sent for this rep's leads ("" = name and email).
    signature: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    # Assignment (bot/assignment/): open leads at most, availability, routing fit.
    capacity: int = Field(default=50, sa_column_kwargs={"server_default": "50"})
    # IANA zone of the working hours and out-of-office dates.
    timezone: str = Field(default="UTC", sa_column_kwargs={"server_default": "UTC"})
    # "09:00-17:00" in the rep's zone; empty = any time of day.
    working_hours: str = Field(default="", sa_column_kwargs={"server_default": ""})
    # "mon,tue,wed,thu,fri"; empty = every day.
    working_days: str = Field(default="", sa_column_kwargs={"server_default": ""})
    # Dates or ranges in the rep's zone: "2026-12-24" or "2026-12-24..2027-01-02".
    out_of_office: list[str] = Field(default_factory=list, sa_column=_json_list())
    paused: bool = Field(default=False, sa_column_kwargs={"server_default": sa_false()})
    skills: list[str] = Field(default_factory=list, sa_column=_json_list())
    languages: list[str] = Field(default_factory=list, sa_column=_json_list())
    territories: list[str] = Field(default_factory=list, sa_column=_json_list())
    # Share of a weighted round robin (2 = twice as many leads as a rep of weight 1).
    weight: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    last_assigned_at: datetime | None = None
    assigned_count: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class Account(SQLModel, table=True):
    __tablename__ = "accounts"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True)
    domain: str | None = Field(default=None, index=True)
    # The name without legal form and punctuation ("Acme Inc." -> "acme"): what leads link on.
    name_key: str = Field(default="", index=True)
    owner_id: int | None = Field(default=None, foreign_key="reps.id")
    # The lead whose conversion created this account: un-converting it may remove the account.
    created_by_lead_id: int | None = Field(default=None, index=True)
    created_at: datetime = Field(default_factory=utcnow)


# The leads `ux_leads_live_email` holds unique: live (not merged away), with an address.
LIVE_ADDRESS = "merged_into_id IS NULL AND email LIKE '%@%'"


class Lead(SQLModel, table=True):
    __tablename__ = "leads"
    __table_args__ = (
        Index("ix_leads_status_owner", "status", "owner_id"),
        # A rep's open leads, longest-waiting first (`mine`, the App Home).
        Index("ix_leads_owner_status_activity", "owner_id", "status", "last_activity_at"),
        # One live lead per address, whatever the number of workers: a capture that loses the
        # race to create it updates the winner's lead (bot.leads.capture). Merged-away leads
        # keep their address as an alias, so only live ones count; a row with no address (an
        # old import's empty or junk column) is not matched by address, so it is not counted.
        Index(
            "ux_leads_live_email",
            "email",
            unique=True,
            sqlite_where=text(LIVE_ADDRESS),
            postgresql_where=text(LIVE_ADDRESS),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    # Lower-cased address: the key one sender's mails are matched on.
    email: str = Field(index=True)
    first_name: str = ""
    last_name: str = ""
    company: str = ""
    title: str = ""
    phone: str = ""
    website: str = ""
    street: str = ""
    city: str = ""
    state: str = ""
    postal_code: str = ""
    country: str = ""
    language: str = ""
    industry: str = ""
    company_size: str = ""
    source: str = "email"
    custom: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="new", index=True)
    stage: str = "lead"
    trash_reason: str | None = None
    owner_id: int | None = Field(default=None, foreign_key="reps.id", index=True)
    account_id: int | None = Field(default=None, foreign_key="accounts.id")
    # The company this lead belongs to, as leads link on it (the account candidate): the
    # registrable email domain (never a free-mail one) and the normalized company name.
    company_domain: str = Field(default="", index=True)
    company_key: str = Field(default="", index=True)
    # The account owner, proposed when a lead from a company with an owned account arrives.
    proposed_owner_id: int | None = Field(default=None, foreign_key="reps.id")
    # Set when this lead was merged into another: it is kept (for undo, and as an alias of its
    # address and reply token) but hidden from lists, matching and actions.
    merged_into_id: int | None = Field(default=None, foreign_key="leads.id", index=True)
    score: float = 0.0
    grade: str | None = None
    # ok, bounced or opted_out: whether this address may be mailed.
    email_status: str = "ok"
    # Random token of this lead's reply address (leads+<token>@domain).
    reply_token: str = Field(index=True, unique=True)
    enquiry: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    # Bumped on every change, so two clicks on one stale card cannot both apply.
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    last_activity_at: datetime = Field(default_factory=utcnow)
    # Privacy (bot/privacy/): when its personal data was erased (a tombstone since), and when
    # retention found it without activity for too long (offered a re-permission, then erased).
    erased_at: datetime | None = None
    stale_since: datetime | None = None


class Contact(SQLModel, table=True):
    __tablename__ = "contacts"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int | None = Field(default=None, foreign_key="accounts.id")
    lead_id: int | None = Field(default=None, foreign_key="leads.id", index=True)
    first_name: str = ""
    last_name: str = ""
    email: str = Field(default="", index=True)
    title: str = ""
    phone: str = ""
    created_at: datetime = Field(default_factory=utcnow)


class Opportunity(SQLModel, table=True):
    __tablename__ = "opportunities"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int | None = Field(default=None, foreign_key="accounts.id")
    contact_id: int | None = Field(default=None, foreign_key="contacts.id")
    lead_id: int | None = Field(default=None, foreign_key="leads.id", index=True)
    name: str
    amount: float | None = None
    # The ISO 4217 code the amount was given in (`€25,000` → EUR); None: none was said.
    currency: str | None = Field(default=None, max_length=3)
    close_date: date | None = None
    stage: str = "prospecting"
    owner_id: int | None = Field(default=None, foreign_key="reps.id")
    created_at: datetime = Field(default_factory=utcnow)


class TimelineEntry(SQLModel, table=True):
    """Append-only: what happened to a lead, who did it and when."""

    __tablename__ = "timeline"

    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="leads.id", index=True)
    at: datetime = Field(default_factory=utcnow)
    # "system", "email:<address>", "rep:<id>", "cli", …
    actor: str
    kind: str
    summary: str
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    inbound_message_id: int | None = Field(default=None, foreign_key="inbound_messages.id")


class InboundMessage(SQLModel, table=True):
    """The inbox queue: raw bytes are committed here before the transport acknowledges them."""

    __tablename__ = "inbound_messages"
    __table_args__ = (
        Index("ix_inbound_state_id", "state", "id"),
        # One first arrival per Message-ID: a second one, even at the same instant on another
        # connection, is stored as its duplicate and never processed (storage.inbox.enqueue).
        Index(
            "ux_inbound_first_message_id",
            "message_id",
            unique=True,
            sqlite_where=text("duplicate_of IS NULL"),
            postgresql_where=text("duplicate_of IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    received_at: datetime = Field(default_factory=utcnow)
    # smtp, imap, api
    channel: str
    # Transport identity, unique when present (IMAP: host/user/folder/uidvalidity/uid).
    source_key: str | None = Field(default=None, unique=True)
    mail_from: str = ""
    rcpt_tos: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    message_id: str | None = Field(default=None, index=True)
    raw: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    size: int = 0
    # queued, done, quarantined, duplicate
    state: str = Field(default="queued")
    # enquiry, reply, auto_reply, bounce, complaint, unsubscribe (set when processed)
    classification: str | None = None
    reason: str | None = None
    lead_id: int | None = Field(default=None, foreign_key="leads.id", index=True)
    duplicate_of: int | None = None
    subject: str = ""
    from_address: str = ""
    error: str | None = Field(default=None, sa_column=Column(Text))
    attempts: int = 0
    processed_at: datetime | None = None


class IntakeRecord(SQLModel, table=True):
    """One capture that went through the intake checks (bot/leads/intake.py), whatever the door.

    A capture that passed keeps only its source key and time (the flood count reads those) and
    the lead it made; a held one keeps the draft, source and evidence as capture received them,
    so that approving it replays the capture exactly, and the reasons it was held."""

    __tablename__ = "intake_records"
    __table_args__ = (
        # The flood count: captures from one source since a time.
        Index("ix_intake_records_key_at", "source_key", "at"),
        Index("ix_intake_records_state_id", "state", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow)
    # The door (email, form, api, import) and who sent it through it (a sender's domain, …).
    channel: str
    source_key: str = ""
    # passed, held, approved, rejected
    state: str = "passed"
    reasons: list[dict[str, str]] = Field(default_factory=list, sa_column=_json_list())
    draft: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    source: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    evidence: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    inbound_message_id: int | None = Field(default=None, foreign_key="inbound_messages.id")
    # The lead the capture made or updated (a held one: once approved).
    lead_id: int | None = Field(default=None, foreign_key="leads.id", index=True)
    decided_by: str | None = None
    decided_at: datetime | None = None
    # Why it was rejected, in the words of whoever rejected it.
    note: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


class OutboxItem(SQLModel, table=True):
    """A notification written in the same transaction as the change it reports."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_state_due", "state", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow)
    # lead.new, lead.assigned, …
    kind: str
    lead_id: int | None = Field(default=None, foreign_key="leads.id")
    rep_id: int | None = Field(default=None, foreign_key="reps.id")
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # pending, sent, failed
    state: str = "pending"
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    # Where it went (console, slack channel/ts), so an update can edit in place later.
    delivery_ref: str | None = None


class QueueItem(SQLModel, table=True):
    """A lead waiting for (or offered to) a rep."""

    __tablename__ = "assignment_queue"
    __table_args__ = (
        Index("ix_queue_state_retry", "state", "retry_at"),
        Index("ix_queue_state_due", "state", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="leads.id", unique=True)
    enqueued_at: datetime = Field(default_factory=utcnow)
    # waiting, offered, done
    state: str = Field(default="waiting", index=True)
    offered_to: int | None = Field(default=None, foreign_key="reps.id")
    offered_at: datetime | None = None
    rule: str | None = None
    # When the offered rep's response time (SLA) runs out.
    due_at: datetime | None = None
    # Reps it was offered to who let the SLA lapse (not offered again while others can take it).
    tried: list[int] = Field(default_factory=list, sa_column=_json_list())
    hops: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # A waiting lead no rep could take is looked at again from this time on.
    retry_at: datetime | None = None


class Assignment(SQLModel, table=True):
    """One offer of a lead to a rep: the fairness report and round robin read these."""

    __tablename__ = "assignments"
    __table_args__ = (Index("ix_assignments_rep_at", "rep_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="leads.id", index=True)
    rep_id: int = Field(foreign_key="reps.id")
    at: datetime = Field(default_factory=utcnow)
    rule: str = ""
    strategy: str = ""
    # offer (from the queue), reassign (after a missed SLA)
    kind: str = "offer"


class Cursor(SQLModel, table=True):
    """How far a background job has read an append-only table (the scorer: timeline ids)."""

    __tablename__ = "cursors"

    name: str = Field(primary_key=True)
    position: int = 0


class ImapCursor(SQLModel, table=True):
    """How far one IMAP folder has been read: UIDVALIDITY and the last UID committed."""

    __tablename__ = "imap_cursors"

    id: int | None = Field(default=None, primary_key=True)
    mailbox: str = Field(unique=True)
    uidvalidity: int
    last_uid: int = 0
    updated_at: datetime = Field(default_factory=utcnow)


class LeadBlockKey(SQLModel, table=True):
    """One blocking key of one lead (`bot.dedupe.match.blocking_keys`): a new lead is compared
    only with the leads sharing one of its keys, so matching touches a few rows, not the store."""

    __tablename__ = "lead_block_keys"
    __table_args__ = (Index("ix_lead_block_keys_key_lead", "key", "lead_id"),)

    lead_id: int = Field(foreign_key="leads.id", primary_key=True)
    key: str = Field(primary_key=True)


class MatchModelRow(SQLModel, table=True):
    """A fitted match model (`bot.dedupe.model.MatchModel.as_data`): m, u, the prior and term
    frequencies, and what it was fitted on. The newest row is the model in force."""

    __tablename__ = "match_models"

    id: int | None = Field(default=None, primary_key=True)
    trained_at: datetime = Field(default_factory=utcnow)
    trained_by: str = ""
    leads: int = 0
    pairs: int = 0
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class EnrichmentAnswer(SQLModel, table=True):
    """What the enrichment provider (LEADBOT_ENRICH_URL) answered for one company domain,
    cached: one call per domain, whatever the number of its leads. `ok` False = it failed
    (kept so a failing provider is asked again only after a while)."""

    __tablename__ = "enrichment_answers"

    domain: str = Field(primary_key=True)
    fetched_at: datetime = Field(default_factory=utcnow)
    ok: bool = False
    answer: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    error: str = ""


class LeadMatchForm(SQLModel, table=True):
    """A lead's fields in the normal form the matcher compares (`bot.dedupe.match.Prepared`),
    kept beside its blocking keys: matching loads these few rows instead of normalizing every
    candidate again (phone parsing alone is half the cost of a comparison)."""

    __tablename__ = "lead_match_forms"

    lead_id: int = Field(foreign_key="leads.id", primary_key=True)
    form: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class DuplicateFlag(SQLModel, table=True):
    """A pair a person should look at: "possible duplicate of L-7 (87%)", and what they decided."""

    __tablename__ = "duplicate_flags"
    __table_args__ = (Index("ix_duplicate_flags_pair", "lead_id", "other_id", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="leads.id", index=True)
    other_id: int = Field(foreign_key="leads.id", index=True)
    score: float
    reasons: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # open, merged, not_duplicate
    state: str = Field(default="open", index=True)
    # capture or scan
    found_by: str = "capture"
    created_at: datetime = Field(default_factory=utcnow)
    decided_by: str | None = None
    decided_at: datetime | None = None


class LeadMerge(SQLModel, table=True):
    """One merge, with what it changed, so that it can be undone."""

    __tablename__ = "lead_merges"

    id: int | None = Field(default=None, primary_key=True)
    survivor_id: int = Field(foreign_key="leads.id", index=True)
    merged_id: int = Field(foreign_key="leads.id", index=True)
    score: float | None = None
    actor: str
    at: datetime = Field(default_factory=utcnow)
    # The survivor's fields before the merge, and the value the merge gave each of them.
    before: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    after: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # Ids of the rows moved from the merged lead to the survivor, per table.
    moved: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    undone_at: datetime | None = None
    undone_by: str | None = None


class SlackRequestSeen(SQLModel, table=True):
    """A signed Slack request already honoured: the same signature is refused afterwards, in
    every process (Slack signs a timestamp, so a request may be replayed for five minutes)."""

    __tablename__ = "slack_requests_seen"

    signature: str = Field(primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)


# Nurture campaigns live in their own module; importing it registers their tables here.
# The REST API's keys and answers, and the webhooks: importing the module registers them here.
from storage.api_tables import (  # noqa: E402, F401
    ApiKey,
    IdempotentAnswer,
    WebhookDelivery,
    WebhookEndpoint,
)
from storage.campaign_tables import (  # noqa: E402, F401
    Campaign,
    CampaignMember,
    CampaignSend,
    CampaignStep,
    TrackingEvent,
    TrackingSpoolOffset,
)

# Web-to-lead forms likewise (storage/form_tables.py).
from storage.form_tables import (  # noqa: E402, F401
    ConfirmationThrottle,
    FormConfirmation,
    FormSubmission,
    WebForm,
)

# The import journal lives in its own module; importing it registers its tables here.
from storage.import_tables import ImportLead, ImportRow, ImportRun  # noqa: E402, F401

# Privacy: the suppression list, the privacy log, the self-service requests.
from storage.privacy_tables import (  # noqa: E402, F401
    PrivacyLogEntry,
    PrivacyRequest,
    SuppressedAddress,
)

# The reports' roll-up, dashboard links and alert times, likewise.
from storage.report_tables import (  # noqa: E402, F401
    LeadAlert,
    LeadFact,
    ReportCampaignCounts,
    ReportDayCounts,
    ReportLink,
    ReportMonthCounts,
    ReportTouchHistogram,
)


class InstanceSetting(SQLModel, table=True):
    """A value that belongs to this leadbot installation and must be the same for every process
    that opens the store (the key that signs public links): kept with the data it protects."""

    __tablename__ = "instance_settings"

    name: str = Field(primary_key=True)
    value: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
