"""Named queries behind /metrics: what the store holds right now (counts, queue depths and
ages, failures) and the spans the histograms are made of. Each is one grouped query."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, text
from sqlmodel import Session, col, select

from storage.models import InboundMessage, IntakeRecord, Lead, LeadFact, OutboxItem, QueueItem


def ping(session: Session) -> None:
    session.exec(select(text("1")))  # type: ignore[call-overload]


def leads_by_channel(session: Session) -> dict[str, int]:
    rows = session.exec(select(Lead.source, func.count()).group_by(Lead.source)).all()
    return {source or "": int(n) for source, n in rows}


def inbound_by_classification(session: Session) -> dict[str, int]:
    rows = session.exec(
        select(InboundMessage.classification, func.count()).group_by(InboundMessage.classification)
    ).all()
    return {kind or "unprocessed": int(n) for kind, n in rows}


def intake_held(session: Session) -> int:
    return session.exec(
        select(func.count()).select_from(IntakeRecord).where(IntakeRecord.state == "held")
    ).one()


def inbox_quarantined(session: Session) -> int:
    return session.exec(
        select(func.count())
        .select_from(InboundMessage)
        .where(InboundMessage.state == "quarantined")
    ).one()


def queue_waiting(session: Session) -> tuple[int, datetime | None]:
    """Leads waiting for a rep, and when the oldest of them was queued."""
    count, oldest = session.exec(
        select(func.count(), func.min(QueueItem.enqueued_at)).where(QueueItem.state == "waiting")
    ).one()
    return int(count), oldest


def outbox_pending(session: Session) -> tuple[int, datetime | None]:
    count, oldest = session.exec(
        select(func.count(), func.min(OutboxItem.created_at)).where(OutboxItem.state == "pending")
    ).one()
    return int(count), oldest


def outbox_failures(session: Session) -> dict[str, int]:
    """Notifications given up on (failed) per kind, plus those that needed a retry."""
    rows = session.exec(
        select(OutboxItem.kind, OutboxItem.state, func.count())
        .where((OutboxItem.state == "failed") | (col(OutboxItem.attempts) > 1))
        .group_by(OutboxItem.kind, OutboxItem.state)
    ).all()
    return {f"{kind}|{state}": int(n) for kind, state, n in rows}


def arrival_to_lead_seconds(session: Session, limit: int = 5000) -> list[float]:
    """Received → processed of the latest mails that made or updated a lead."""
    rows = session.exec(
        select(InboundMessage.received_at, InboundMessage.processed_at)
        .where(
            col(InboundMessage.lead_id).is_not(None), col(InboundMessage.processed_at).is_not(None)
        )
        .order_by(col(InboundMessage.id).desc())
        .limit(limit)
    ).all()
    return [max(0.0, (done - got).total_seconds()) for got, done in rows]


def touch_buckets(session: Session, bounds: Sequence[float]) -> tuple[list[int], int, float]:
    """Arrival → first touch of every live lead: the count at or under each bound, the count
    and the sum (a Prometheus histogram's series), from the reports' roll-up."""
    seconds = col(LeadFact.touch_seconds)
    columns: list[Any] = [func.sum(case((seconds <= bound, 1), else_=0)) for bound in bounds]
    columns += [func.count(seconds), func.sum(seconds)]
    row = session.exec(select(*columns).where(seconds.is_not(None))).one()
    counts = [int(v or 0) for v in row[: len(bounds)]]
    return counts, int(row[len(bounds)] or 0), float(row[len(bounds) + 1] or 0.0)
