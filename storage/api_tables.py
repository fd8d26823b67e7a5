"""Tables of the REST API and its webhooks: API keys (hashed, scoped), the answers kept for
Idempotency-Key, webhook endpoints and their deliveries (the webhook outbox)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, text
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class ApiKey(SQLModel, table=True):
    """A key is `lb_<prefix>_<secret>`: the prefix finds the row, the SHA-256 of the whole key
    proves it (the key itself is printed once and never stored)."""

    __tablename__ = "api_keys"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    prefix: str = Field(unique=True)
    key_hash: str
    scopes: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default=text("'[]'"))
    )
    # Requests a minute this key may make (0 = the LEADBOT_API_RATE_PER_MINUTE default).
    rate_per_minute: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class IdempotentAnswer(SQLModel, table=True):
    """The first answer to a POST with an Idempotency-Key, kept 24 hours: the same key and body
    get it again. Unique per API key and Idempotency-Key, written in the transaction of the
    change itself, so two racing requests make one change."""

    __tablename__ = "api_idempotency"
    __table_args__ = (
        Index("ix_api_idempotency_key", "api_key_id", "idempotency_key", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    api_key_id: int = Field(foreign_key="api_keys.id")
    idempotency_key: str
    # "POST /api/v1/leads" and the SHA-256 of the body: the same key with another request is
    # refused, not answered with the first one's answer.
    request: str
    body_hash: str
    status: int
    response: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, index=True)


class WebhookEndpoint(SQLModel, table=True):
    __tablename__ = "webhook_endpoints"

    id: int | None = Field(default=None, primary_key=True)
    url: str
    events: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default=text("'[]'"))
    )
    # whsec_<base64>: the Standard Webhooks secret; the one before a rotation stays valid (both
    # signatures are sent) until previous_valid_until.
    secret: str
    previous_secret: str | None = None
    previous_valid_until: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    removed_at: datetime | None = None
    # How the receiver is doing: failing since when, how many failures in a row, the last error;
    # reported_at is set once the failure has been reported (log, Slack) until it recovers.
    failing_since: datetime | None = None
    consecutive_failures: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    last_success_at: datetime | None = None
    reported_at: datetime | None = None


class WebhookDelivery(SQLModel, table=True):
    """One event for one endpoint, written in the transaction of the change it reports. Sent at
    least once with the same webhook-id; per endpoint and lead, in the order they were written."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_state_due", "state", "next_attempt_at"),
        Index("ix_webhook_deliveries_order", "endpoint_id", "lead_id", "state", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    endpoint_id: int = Field(foreign_key="webhook_endpoints.id")
    lead_id: int | None = Field(default=None, foreign_key="leads.id")
    event_type: str
    # The webhook-id header: the same on every try and on a replay, so receivers drop repeats.
    message_id: str = Field(unique=True)
    # The JSON body, serialized once: every try signs and sends the same bytes.
    body: str = Field(sa_column=Column(Text, nullable=False))
    # pending, delivered, failed (tried for the whole retry window; `webhook replay` sends it again)
    state: str = "pending"
    attempts: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    next_attempt_at: datetime = Field(default_factory=utcnow)
    # A sender that claimed it holds it until then; one that died leaves it to the next.
    locked_until: datetime | None = None
    delivered_at: datetime | None = None
    last_status: int | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text))

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.body)
