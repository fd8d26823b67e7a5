"""SQLModel tables of web-to-lead forms: the forms, every submission as it was posted (the queue
the form processor drains), and the last confirmation mail per address (double opt-in).
Imported by storage.models, so Alembic sees them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class WebForm(SQLModel, table=True):
    """One form marketing defined (`leadbot form create`)."""

    __tablename__ = "web_forms"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    # [{"name": "email", "required": true}, …] in the order the form shows them.
    fields: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    # The thank-you URL a browser is sent to (303); "" = leadbot's own thank-you page.
    redirect_url: str = ""
    # Origins allowed to post from their pages with JavaScript (CORS): ["https://yourco.example"].
    origins: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    double_opt_in: bool = False
    # The consent checkbox's exact text and its version (a hash of the text); "" = no checkbox.
    consent_text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    consent_version: str = ""
    # Tags every lead from this form gets (custom["tags"]: campaign segments select on them).
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # active or disabled (a disabled form answers 404 and keeps its submissions).
    state: str = "active"
    created_at: datetime = Field(default_factory=utcnow)


class FormSubmission(SQLModel, table=True):
    """One POST to a form, committed before the answer; the processor makes it a lead."""

    __tablename__ = "form_submissions"
    __table_args__ = (
        Index("ix_form_submissions_state_id", "state", "id"),
        # The per-IP, per-address and per-form limits count recent submissions.
        Index("ix_form_submissions_ip_at", "client_ip", "received_at"),
        Index("ix_form_submissions_address_at", "address", "received_at"),
        Index("ix_form_submissions_form_at", "form_id", "received_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    form_id: int = Field(foreign_key="web_forms.id")
    received_at: datetime = Field(default_factory=utcnow)
    # queued, done, held (in the intake quarantine), quarantined (processing failed),
    # duplicate (the same token posted again with the same values: a double click)
    state: str = "queued"
    # Everything posted, as posted (field → value).
    posted: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # The lower-cased address posted (what the per-address limit counts).
    address: str = ""
    client_ip: str = ""
    user_agent: str = ""
    content_type: str = ""
    # utm_source, utm_medium, utm_campaign, utm_term, utm_content, referrer, page.
    attribution: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    # {"text", "version", "checked", "at"} when the form has a consent text.
    consent: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # The fill token's nonce: UNIQUE, so a replayed token cannot be stored as a fresh one.
    nonce: str | None = Field(default=None, unique=True)
    # What the answer-time checks found (honeypot, too_fast, token, replay, origin, length).
    reasons: list[dict[str, str]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    # A hash of the posted values: a replay with the same values is a double click.
    digest: str = ""
    duplicate_of: int | None = None
    lead_id: int | None = Field(default=None, foreign_key="leads.id", index=True)
    intake_record_id: int | None = Field(default=None, foreign_key="intake_records.id")
    error: str | None = Field(default=None, sa_column=Column(Text))
    processed_at: datetime | None = None


class ConfirmationThrottle(SQLModel, table=True):
    """When an address was last sent a confirmation mail: one row per address, moved forward by
    one conditional UPDATE, so two workers cannot both send within the hour."""

    __tablename__ = "form_confirmation_throttle"

    address: str = Field(primary_key=True)
    last_sent_at: datetime


class FormConfirmation(SQLModel, table=True):
    """A double opt-in mail to send (the form processor queues it, the confirmation sender
    sends it through LEADBOT_OUTBOUND_SMTP_URL)."""

    __tablename__ = "form_confirmations"
    __table_args__ = (Index("ix_form_confirmations_state_id", "state", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="leads.id", index=True)
    form_id: int = Field(foreign_key="web_forms.id")
    address: str
    created_at: datetime = Field(default_factory=utcnow)
    # pending, sent, failed
    state: str = "pending"
    attempts: int = 0
    sent_at: datetime | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text))
