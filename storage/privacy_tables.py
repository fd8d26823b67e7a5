"""SQLModel tables of privacy (bot/privacy/): the suppression list of erased addresses (keyed
hashes, never the address), the append-only privacy log, and the self-service requests' clock.
Imported by storage.models, so Alembic sees them. None of them holds personal data.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, Text
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class SuppressedAddress(SQLModel, table=True):
    """An address erased on request: HMAC-SHA256 of it under LEADBOT_SECRET_KEY (hex). A form,
    API or import capture of that address is held instead of bringing the person back."""

    __tablename__ = "suppressed_addresses"

    digest: str = Field(primary_key=True)
    at: datetime = Field(default_factory=utcnow)
    # The privacy log entry that put it here.
    log_id: int | None = None


class PrivacyLogEntry(SQLModel, table=True):
    """Append-only (the store refuses UPDATE and DELETE): who erased or exported what, when and
    why, naming the records (L-12, counts per table) and never the personal data."""

    __tablename__ = "privacy_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow)
    # cli, self-service, retention:<rule>, rep:<id>
    actor: str
    # erase, export, retention
    action: str
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    # {"leads": ["L-12"], "rows": {"timeline": 4, …}}
    records: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class PrivacyRequest(SQLModel, table=True):
    """When a self-service confirmation mail last went to an address (by its keyed hash): at
    most one an hour, decided by one conditional UPDATE so two workers cannot both send."""

    __tablename__ = "privacy_requests"

    digest: str = Field(primary_key=True)
    sent_at: datetime = Field(default_factory=utcnow)
