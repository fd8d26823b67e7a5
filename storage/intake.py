"""Named queries over the intake records: the flood count, the holds waiting, their decision."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from storage.models import InboundMessage, IntakeRecord, utcnow


def add(session: Session, record: IntakeRecord) -> IntakeRecord:
    session.add(record)
    session.flush()
    return record


def count_since(session: Session, source_key: str, since: datetime) -> int:
    """Captures from `source_key` at or after `since`, passed or held: what a flood is counted
    on, read from the store so that every worker process sees the same count."""
    query = (
        select(func.count())
        .select_from(IntakeRecord)
        .where(IntakeRecord.source_key == source_key)
        .where(col(IntakeRecord.at) >= since)
    )
    return int(session.exec(query).one())


def by_id(session: Session, record_id: int) -> IntakeRecord | None:
    return session.get(IntakeRecord, record_id, populate_existing=True)


def held(session: Session, limit: int = 1000) -> Sequence[IntakeRecord]:
    """The holds waiting for a decision, oldest first."""
    query = (
        select(IntakeRecord)
        .where(IntakeRecord.state == "held")
        .order_by(col(IntakeRecord.id))
        .limit(limit)
    )
    return session.exec(query).all()


def decide(session: Session, record_id: int, state: str, by: str, note: str = "") -> bool:
    """Move a hold from `held` to `state` (approved, rejected); False when it is not held (any
    more). One conditional UPDATE: of two people deciding the same hold at once, one wins and
    the other's update matches no row (PostgreSQL re-checks the row once the first commits)."""
    result = session.execute(
        update(IntakeRecord)
        .where(col(IntakeRecord.id) == record_id)
        .where(col(IntakeRecord.state) == "held")
        .values(state=state, decided_by=by, decided_at=utcnow(), note=note)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def set_lead(session: Session, record: IntakeRecord, lead_id: int | None) -> None:
    record.lead_id = lead_id
    session.add(record)


# --- the inbox's quarantine, as intake decides on it --------------------------------------------


def reject_message(session: Session, message_id: int, by: str, note: str = "") -> bool:
    """Close a quarantined inbound message as rejected (kept, never processed); False when it is
    not quarantined (any more)."""
    reason = f"rejected by {by}" + (f": {note}" if note else "")
    result = session.execute(
        update(InboundMessage)
        .where(col(InboundMessage.id) == message_id)
        .where(col(InboundMessage.state) == "quarantined")
        .values(state="rejected", reason=reason, processed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def link_message(session: Session, message_id: int, lead_id: int, reason: str) -> None:
    """A held mail was approved: the message now belongs to the lead (so replies that quote its
    Message-ID thread onto it) and is an enquiry."""
    session.execute(
        update(InboundMessage)
        .where(col(InboundMessage.id) == message_id)
        .values(lead_id=lead_id, classification="enquiry", reason=reason)
        .execution_options(synchronize_session=False)
    )
