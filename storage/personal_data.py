"""Where personal data lives, declared once, column by column: what privacy export, erase and
retention walk (bot/privacy/).

Every table of the store is declared in PLACES, either way: about a person (`lead` names the
column that points at the lead record; `address` names columns holding the person's address on
rows no lead owns yet, as a quarantined mail) or not (`lead=None`). Every column that can hold
text (strings, JSON, bytes) is either `personal` (erase blanks it) or `kept` (not personal: a
status, a kind, a rep's name); numbers, flags and times are kept without saying so. Rows made
only of personal data (blocking keys, match forms) are `delete`d. tests/storage/
test_personal_data.py fails when a table or a text column is not declared, so a new table joins
export, erase and retention with one line here. (Zulip's zerver/lib/retention.py declares the
models tied to a message the same way.)

The walking functions below are the only SQL privacy runs: rows of some leads in one place,
blanking them, deleting them.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, DateTime, Float, Integer, Numeric, delete
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, col, select

from storage.api_tables import ApiKey, IdempotentAnswer, WebhookDelivery, WebhookEndpoint
from storage.form_tables import ConfirmationThrottle, FormConfirmation, FormSubmission, WebForm
from storage.import_tables import ImportLead, ImportRow, ImportRun
from storage.models import (
    Account,
    Assignment,
    Campaign,
    CampaignMember,
    CampaignSend,
    CampaignStep,
    Contact,
    Cursor,
    DuplicateFlag,
    EnrichmentAnswer,
    ImapCursor,
    InboundMessage,
    InstanceSetting,
    IntakeRecord,
    Lead,
    LeadBlockKey,
    LeadMatchForm,
    LeadMerge,
    MatchModelRow,
    Opportunity,
    OutboxItem,
    PrivacyLogEntry,
    PrivacyRequest,
    QueueItem,
    Rep,
    SlackRequestSeen,
    SuppressedAddress,
    TimelineEntry,
    TrackingEvent,
    TrackingSpoolOffset,
)
from storage.report_tables import (
    LeadAlert,
    LeadFact,
    ReportCampaignCounts,
    ReportDayCounts,
    ReportLink,
    ReportMonthCounts,
    ReportTouchHistogram,
)

ERASED = "erased on request"


def _actor_kind(actor: Any) -> Any:
    """`email:jane@acme.io` → `email`: the channel stays (reports read it), the person goes."""
    return actor.partition(":")[0] if isinstance(actor, str) and "@" in actor else actor


def _new_token(_: Any) -> str:
    """A fresh reply token: a reply to the old address must not thread onto the tombstone."""
    return secrets.token_hex(8)


@dataclass(frozen=True)
class Place:
    """One table, as privacy sees it."""

    table: Any
    # The column naming the lead record the row is about; None = not about a lead.
    lead: str | None = None
    personal: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()
    # Columns holding the person's address on rows no lead owns (lead column empty).
    address: tuple[str, ...] = ()
    # A JSON column and key holding the address on such rows (a held capture's draft).
    address_in: tuple[str, str] | None = None
    # Rows made only of personal data: erase deletes them.
    delete: bool = False
    # What erase writes instead of a blank, per column (old value → new value).
    replace: Mapping[str, Callable[[Any], Any]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.table.__tablename__)


PLACES: tuple[Place, ...] = (
    Place(Lead, "id",
          personal=("email", "first_name", "last_name", "company", "title", "phone", "website",
                    "street", "city", "state", "postal_code", "country", "language", "industry",
                    "company_size", "custom", "enquiry", "company_domain", "company_key",
                    "reply_token"),
          kept=("source", "status", "stage", "trash_reason", "grade", "email_status"),
          replace={"reply_token": _new_token}),
    Place(TimelineEntry, "lead_id", personal=("summary", "data", "actor"), kept=("kind",),
          replace={"actor": _actor_kind, "summary": lambda _: ERASED}),
    Place(InboundMessage, "lead_id",
          personal=("mail_from", "rcpt_tos", "message_id", "raw", "reason", "subject",
                    "from_address", "error"),
          kept=("channel", "source_key", "state", "classification"),
          address=("from_address", "mail_from")),
    Place(IntakeRecord, "lead_id", personal=("reasons", "draft", "source", "evidence", "note",
                                             "source_key"),
          kept=("channel", "state", "decided_by"), address_in=("draft", "email")),
    Place(OutboxItem, "lead_id", personal=("payload", "last_error"),
          kept=("kind", "state", "delivery_ref")),
    Place(Contact, "lead_id", personal=("first_name", "last_name", "email", "title", "phone")),
    Place(Opportunity, "lead_id", personal=("name",), kept=("stage", "currency")),
    Place(CampaignMember, "lead_id", kept=("state", "stopped_reason")),
    Place(CampaignSend, "lead_id", personal=("address", "message_id", "smtp_reply", "links"),
          kept=("state",), address=("address",)),
    Place(TrackingEvent, "lead_id", personal=("user_agent",),
          kept=("kind", "verdict", "verdict_reason")),
    Place(QueueItem, "lead_id", kept=("state", "rule", "tried")),
    Place(Assignment, "lead_id", kept=("rule", "strategy", "kind")),
    Place(LeadBlockKey, "lead_id", personal=("key",), delete=True),
    Place(LeadMatchForm, "lead_id", personal=("form",), delete=True),
    Place(DuplicateFlag, "lead_id", personal=("reasons",), kept=("state", "found_by",
                                                                   "decided_by")),
    Place(DuplicateFlag, "other_id", personal=("reasons",), kept=("state", "found_by",
                                                                    "decided_by")),
    Place(LeadMerge, "merged_id", personal=("before", "after"),
          kept=("actor", "moved", "undone_by")),
    Place(LeadMerge, "survivor_id", personal=("before", "after"),
          kept=("actor", "moved", "undone_by")),
    # Web-form submissions: what was posted, from where, the consent given.
    Place(FormSubmission, "lead_id",
          personal=("posted", "address", "client_ip", "user_agent", "attribution", "consent",
                    "nonce", "reasons", "digest", "error"),
          kept=("state", "content_type"), address=("address",)),
    Place(FormConfirmation, "lead_id", personal=("address", "last_error"), kept=("state",),
          address=("address",)),
    # The import journal's rows and the values an import changed.
    Place(ImportRow, "lead_id", personal=("reason", "detail"), kept=("action",)),
    Place(ImportLead, "lead_id", personal=("before", "after", "written")),
    # A webhook event's body names the person; a pending one is sent as an empty object.
    Place(WebhookDelivery, "lead_id", personal=("body", "last_error"),
          kept=("event_type", "message_id", "state"), replace={"body": lambda _: "{}"}),
    # The reports' facts: source, UTM and stage only, so the figures survive an erase.
    Place(LeadFact, "lead_id", kept=("source", "utm_source", "utm_campaign", "status", "stage")),
    Place(LeadAlert, "lead_id"),
    # Not about a lead: the team, companies, campaigns, cursors, privacy's own bookkeeping.
    Place(WebForm, kept=("name", "fields", "redirect_url", "origins", "consent_text",
                         "consent_version", "tags", "state")),
    # An address's last confirmation time (its primary key): it ages out with the hourly limit.
    Place(ConfirmationThrottle, kept=("address",)),
    Place(ImportRun, kept=("actor", "file_name", "file_sha256", "format", "encoding",
                           "delimiter", "options", "state", "counts", "reverted_by",
                           "revert_report")),
    Place(ApiKey, kept=("name", "prefix", "key_hash", "scopes")),
    # A POST's kept answer lives 24 hours (the Idempotency-Key window).
    Place(IdempotentAnswer, kept=("idempotency_key", "request", "body_hash", "response")),
    Place(WebhookEndpoint, kept=("url", "events", "secret", "previous_secret", "last_error")),
    Place(ReportLink, kept=("created_by", "revoked_by")),
    # The reports' summaries: counts per period, channel, UTM tag and owner, no person in them.
    Place(ReportDayCounts, kept=("source", "utm_source")),
    Place(ReportMonthCounts, kept=("source", "utm_source")),
    Place(ReportCampaignCounts, kept=("source", "utm_source", "utm_campaign")),
    Place(ReportTouchHistogram, kept=("metric", "dim", "key")),
    Place(SlackRequestSeen, kept=("signature",)),
    Place(Rep, kept=("name", "email", "slack_user_id", "role", "signature", "timezone",
                     "working_hours", "working_days", "out_of_office", "skills", "languages",
                     "territories")),
    Place(Account, kept=("name", "domain", "name_key")),
    Place(Campaign, kept=("name", "template_set", "template_dir", "segment", "sender", "state")),
    Place(CampaignStep, kept=("template",)),
    # How far the hit spool was written: a file name and an offset.
    Place(TrackingSpoolOffset, kept=("segment",)),
    Place(Cursor, kept=("name",)),
    # The installation's own values (the link-signing key): nothing about a person.
    Place(InstanceSetting, kept=("name", "value")),
    Place(ImapCursor, kept=("mailbox",)),
    Place(SuppressedAddress, kept=("digest",)),
    Place(PrivacyRequest, kept=("digest",)),
    Place(PrivacyLogEntry, kept=("actor", "action", "reason", "records")),
    # The fitted match model: m/u per comparison level and how often values occur (counts over
    # all leads, tied to none; `dedupe train` refits it from the leads left after an erase).
    Place(MatchModelRow, kept=("trained_by", "params")),
    # The enrichment provider's answer about a company domain (size, industry), not a person.
    Place(EnrichmentAnswer, kept=("domain", "answer", "error")),
)  # fmt: skip

_NOT_TEXT = (Boolean, Date, DateTime, Float, Integer, Numeric)


def holds_text(column: Any) -> bool:
    """Whether a column can hold text about someone: anything but numbers, flags and times."""
    kind = column.type
    if isinstance(kind, TypeDecorator):
        kind = kind.impl if not isinstance(kind.impl, type) else kind.impl()
    return not isinstance(kind, _NOT_TEXT)


def about_leads() -> tuple[Place, ...]:
    return tuple(place for place in PLACES if place.lead is not None)


# --- walking the places ------------------------------------------------------------------------


def aliases(session: Session, lead_ids: Iterable[int]) -> set[int]:
    """`lead_ids` and every lead merged into them, and into those (merge chains)."""
    found = set(lead_ids)
    frontier = set(found)
    while frontier:
        rows = session.exec(select(Lead.id).where(col(Lead.merged_into_id).in_(frontier))).all()
        frontier = {row for row in rows if row is not None} - found
        found |= frontier
    return found


def leads_by_address(session: Session, address: str) -> list[int]:
    rows = session.exec(select(Lead.id).where(Lead.email == address.strip().lower())).all()
    return [row for row in rows if row is not None]


def rows_of(session: Session, place: Place, lead_ids: set[int], address: str = "") -> list[Any]:
    """The rows of `place` about these leads, and (with `address`) the rows no lead owns that
    hold the address."""
    table = place.table
    rows: dict[Any, Any] = {}
    assert place.lead is not None
    if lead_ids:
        query = select(table).where(col(getattr(table, place.lead)).in_(lead_ids))
        for row in session.exec(query).all():
            rows[_key(row)] = row
    address = address.strip().lower()
    if address and (place.address or place.address_in):
        unowned = col(getattr(table, place.lead)).is_(None)
        for column in place.address:
            query = select(table).where(unowned, getattr(table, column) == address)
            for row in session.exec(query).all():
                rows[_key(row)] = row
        if place.address_in is not None:
            column, key = place.address_in
            for row in session.exec(select(table).where(unowned)).all():
                value = (getattr(row, column) or {}).get(key, "")
                if isinstance(value, str) and value.strip().lower() == address:
                    rows[_key(row)] = row
    return list(rows.values())


def _key(row: Any) -> tuple[Any, ...]:
    return tuple(getattr(row, column.name) for column in row.__table__.primary_key.columns)


def as_data(row: Any) -> dict[str, Any]:
    """A row as JSON can hold it: raw bytes as text, times as ISO strings."""
    data: dict[str, Any] = {}
    for column in row.__table__.columns:
        value = getattr(row, column.name)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        elif isinstance(value, datetime | date):
            value = value.isoformat()
        data[column.name] = value
    return data


def blank(place: Place, row: Any) -> None:
    """Erase the personal columns of one row in place (the caller's transaction writes it)."""
    for name in place.personal:
        value = getattr(row, name)
        if name in place.replace:
            new = place.replace[name](value)
        else:
            new = _blank_of(row.__table__.columns[name], value)
        setattr(row, name, new)


def _blank_of(column: Any, value: Any) -> Any:
    if isinstance(value, dict):
        return {}
    if isinstance(value, list):
        return []
    if isinstance(value, bytes):
        return b""
    if column.nullable:
        return None
    return ""


def erase_rows(session: Session, place: Place, rows: Sequence[Any]) -> int:
    """Blank (or delete) these rows of `place`; how many."""
    if not rows:
        return 0
    if place.delete:
        assert place.lead is not None
        lead_ids = {getattr(row, place.lead) for row in rows}
        column = col(getattr(place.table, place.lead))
        session.exec(delete(place.table).where(column.in_(lead_ids)))  # type: ignore[call-overload]
        for row in rows:
            session.expunge(row)
        return len(rows)
    for row in rows:
        blank(place, row)
        session.add(row)
    session.flush()
    return len(rows)


def undeclared(metadata: Any) -> list[str]:
    """Tables of `metadata` no Place declares, and text columns of declared tables that are
    neither personal nor kept: what export, erase and retention would miss."""
    declared: dict[str, set[str]] = {}
    for place in PLACES:
        declared.setdefault(place.name, set()).update(place.personal, place.kept)
    missing: list[str] = []
    for table in sorted(metadata.sorted_tables, key=lambda t: t.name):
        if table.name == "alembic_version":
            continue
        if table.name not in declared:
            missing.append(f"{table.name} (table)")
            continue
        for column in table.columns:
            if holds_text(column) and column.name not in declared[table.name]:
                missing.append(f"{table.name}.{column.name}")
    return missing
