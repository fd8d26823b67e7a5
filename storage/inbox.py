"""Named queries over the inbound-message queue (the inbox)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage.models import InboundMessage, utcnow

log = logging.getLogger(__name__)


def enqueue(session: Session, message: InboundMessage) -> InboundMessage:
    """Store raw bytes. A Message-ID seen before is kept too, as a duplicate of the first.

    The unique index `ux_inbound_first_message_id` decides which arrival is the first, not the
    look-up: two arrivals of one Message-ID at the same instant (two connections, two serves)
    both pass the look-up, one insert wins and the other, in a savepoint, is stored again as
    the winner's duplicate, so the message is processed once."""
    message.size = len(message.raw)
    if message.message_id:
        first = _first_with_message_id(session, message.message_id)
        if first is not None:
            return _add_duplicate(session, message, first)
        try:
            with session.begin_nested():
                session.add(message)
                session.flush()
        except IntegrityError:
            first = _first_with_message_id(session, message.message_id)
            if first is None:
                raise  # another constraint (the IMAP source key): not a lost race
            log.info("Message-ID %s arrived twice at once; kept as a duplicate", first)
            return _add_duplicate(session, message, first)
        return message
    session.add(message)
    session.flush()
    return message


def _first_with_message_id(session: Session, message_id: str) -> int | None:
    return session.exec(
        select(InboundMessage.id)
        .where(InboundMessage.message_id == message_id)
        .order_by(col(InboundMessage.id))
        .limit(1)
    ).first()


def _add_duplicate(session: Session, message: InboundMessage, first: int) -> InboundMessage:
    message.state = "duplicate"
    message.duplicate_of = first
    message.processed_at = utcnow()
    session.add(message)
    session.flush()
    return message


def by_source_key(session: Session, source_key: str) -> InboundMessage | None:
    return session.exec(
        select(InboundMessage).where(InboundMessage.source_key == source_key)
    ).first()


def by_id(session: Session, message_id: int) -> InboundMessage | None:
    return session.get(InboundMessage, message_id)


def claim_next(session: Session) -> InboundMessage | None:
    """The oldest queued message, locked so no other worker takes it (SKIP LOCKED on PostgreSQL).

    The lock lasts until the caller's transaction ends: a worker that dies mid-way leaves the
    row queued for the next one.
    """
    query = (
        select(InboundMessage)
        .where(InboundMessage.state == "queued")
        .order_by(col(InboundMessage.id))
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    return session.exec(query).first()


def claim_batch(session: Session, limit: int) -> Sequence[InboundMessage]:
    """The oldest `limit` queued messages, locked for this transaction: two workers on
    PostgreSQL take disjoint batches (SKIP LOCKED); a worker that dies leaves them queued."""
    query = (
        select(InboundMessage)
        .where(InboundMessage.state == "queued")
        .order_by(col(InboundMessage.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return session.exec(query).all()


def next_queued_batch(session: Session, limit: int) -> Sequence[InboundMessage]:
    """The oldest `limit` queued messages, without a lock (SQLite's one worker parses first)."""
    query = (
        select(InboundMessage)
        .where(InboundMessage.state == "queued")
        .order_by(col(InboundMessage.id))
        .limit(limit)
    )
    return session.exec(query).all()


def queued_by_ids(session: Session, message_ids: Sequence[int]) -> Sequence[InboundMessage]:
    """Those of these messages that are still queued, locked for this transaction, oldest first."""
    if not message_ids:
        return []
    query = (
        select(InboundMessage)
        .where(col(InboundMessage.id).in_(list(message_ids)))
        .where(InboundMessage.state == "queued")
        .order_by(col(InboundMessage.id))
        .with_for_update(skip_locked=True)
    )
    return session.exec(query).all()


def next_queued(session: Session) -> InboundMessage | None:
    """The oldest queued message, without a lock: for a single worker that parses it first."""
    query = (
        select(InboundMessage)
        .where(InboundMessage.state == "queued")
        .order_by(col(InboundMessage.id))
        .limit(1)
    )
    return session.exec(query).first()


def queued_by_id(session: Session, message_id: int) -> InboundMessage | None:
    """The message if it is still queued, locked for this transaction."""
    query = (
        select(InboundMessage)
        .where(InboundMessage.id == message_id)
        .where(InboundMessage.state == "queued")
        .with_for_update(skip_locked=True)
    )
    return session.exec(query).first()


def lead_ids_for_message_ids(session: Session, message_ids: Sequence[str]) -> list[int]:
    """Leads that earlier messages with these Message-IDs belong to (thread matching)."""
    if not message_ids:
        return []
    rows = session.exec(
        select(InboundMessage.lead_id)
        .where(col(InboundMessage.message_id).in_(list(message_ids)))
        .where(col(InboundMessage.lead_id).is_not(None))
        .order_by(col(InboundMessage.id))
    ).all()
    return [row for row in rows if row is not None]


def listing(
    session: Session, *, state: str | None = None, limit: int = 200, offset: int = 0
) -> Sequence[InboundMessage]:
    query = select(InboundMessage)
    if state:
        query = query.where(InboundMessage.state == state)
    return session.exec(query.order_by(col(InboundMessage.id)).offset(offset).limit(limit)).all()


def counts_by_state(session: Session) -> dict[str, int]:
    from sqlalchemy import func

    rows = session.exec(
        select(InboundMessage.state, func.count()).group_by(InboundMessage.state)
    ).all()
    return {state: n for state, n in rows}


def mark_done(
    session: Session,
    message: InboundMessage,
    *,
    classification: str,
    reason: str,
    lead_id: int | None,
    subject: str,
    from_address: str,
) -> None:
    message.state = "done"
    message.classification = classification
    message.reason = reason
    message.lead_id = lead_id
    message.subject = subject[:998]
    message.from_address = from_address[:320]
    message.error = None
    message.attempts += 1
    message.processed_at = utcnow()
    session.add(message)


def quarantine(session: Session, message: InboundMessage, error: str) -> None:
    message.state = "quarantined"
    message.error = error
    message.attempts += 1
    message.processed_at = utcnow()
    session.add(message)


def requeue(session: Session, message: InboundMessage) -> None:
    """Send a quarantined message through the pipeline again (the last error stays until then)."""
    message.state = "queued"
    session.add(message)
