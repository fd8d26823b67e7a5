"""Named queries of privacy: the suppression list (keyed hashes), the append-only privacy log,
the self-service requests' hourly limit, and what retention and the hygiene report select."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage.engine import SECRET_KEY_INFO
from storage.models import (
    CampaignMember,
    CampaignSend,
    InboundMessage,
    IntakeRecord,
    Lead,
    OutboxItem,
    PrivacyLogEntry,
    PrivacyRequest,
    SuppressedAddress,
    TimelineEntry,
    TrackingEvent,
    utcnow,
)


class NoSecretKey(RuntimeError):
    """The store was opened without LEADBOT_SECRET_KEY, so an address cannot be hashed."""


def digest(session: Session, address: str) -> str:
    """HMAC-SHA256 of the lower-cased address under the secret key the store was opened with:
    the list cannot be turned back into addresses without the key, which is not in the store."""
    key = session.info.get(SECRET_KEY_INFO, "")
    if callable(key):
        key = key()
    if not key:
        raise NoSecretKey("the store was opened without a secret key: cannot hash addresses")
    message = address.strip().lower().encode()
    return hmac.new(str(key).encode(), message, hashlib.sha256).hexdigest()


def suppress(session: Session, address: str, log_id: int | None) -> None:
    """Put the address on the suppression list (once: the digest is the primary key)."""
    value = digest(session, address)
    if session.get(SuppressedAddress, value) is not None:
        return
    try:  # two erasures of one address at once: the second finds the row the first added
        with session.begin_nested():
            session.add(SuppressedAddress(digest=value, log_id=log_id))
    except IntegrityError:
        pass


def is_suppressed(session: Session, address: str) -> bool:
    """Whether the address was erased on request. An empty list needs no key (a store opened
    without one, as in most tests, still captures); a non-empty one without a key is an error,
    never a silent pass."""
    if session.exec(select(SuppressedAddress.digest).limit(1)).first() is None:
        return False
    return session.get(SuppressedAddress, digest(session, address)) is not None


def log(session: Session, actor: str, action: str, reason: str, records: dict[str, Any]) -> int:
    entry = PrivacyLogEntry(actor=actor, action=action, reason=reason, records=records)
    session.add(entry)
    session.flush()
    assert entry.id is not None
    return entry.id


def log_entries(session: Session, limit: int = 200) -> Sequence[PrivacyLogEntry]:
    query = select(PrivacyLogEntry).order_by(col(PrivacyLogEntry.id).desc()).limit(limit)
    return session.exec(query).all()


def may_send_request(session: Session, address: str, every: timedelta, now: datetime) -> bool:
    """Claim the right to mail this address a confirmation now: True at most once per `every`.
    An insert (the first time) or one conditional UPDATE: of two workers, one wins."""
    value = digest(session, address)
    try:
        with session.begin_nested():
            session.add(PrivacyRequest(digest=value, sent_at=now))
        return True
    except IntegrityError:
        pass
    result = session.execute(
        update(PrivacyRequest)
        .where(col(PrivacyRequest.digest) == value)
        .where(col(PrivacyRequest.sent_at) <= now - every)
        .values(sent_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def close_pending(session: Session, lead_ids: set[int]) -> int:
    """Pending notifications about erased leads are not sent any more (their payload is gone)."""
    result = session.execute(
        update(OutboxItem)
        .where(col(OutboxItem.lead_id).in_(lead_ids))
        .where(col(OutboxItem.state) == "pending")
        .values(state="sent", delivery_ref="skipped:erased", sent_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def stop_campaigns(session: Session, lead_ids: set[int]) -> None:
    """Erased leads leave their campaigns: no further step, and a planned email is not sent."""
    session.execute(
        update(CampaignMember)
        .where(col(CampaignMember.lead_id).in_(lead_ids))
        .where(col(CampaignMember.state) == "active")
        .values(state="stopped", stopped_reason="erased")
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(CampaignSend)
        .where(col(CampaignSend.lead_id).in_(lead_ids))
        .where(col(CampaignSend.state) == "pending")
        .values(state="failed")
        .execution_options(synchronize_session=False)
    )


def card_refs(session: Session, lead_ids: set[int]) -> list[str]:
    """Where cards about these leads were posted (Slack "channel:ts"), to redraw them."""
    rows = session.exec(
        select(OutboxItem.delivery_ref)
        .where(col(OutboxItem.lead_id).in_(lead_ids))
        .where(OutboxItem.state == "sent")
        .where(col(OutboxItem.delivery_ref).is_not(None))
    ).all()
    refs = {ref for ref in rows if ref and not ref.startswith(("console:", "skipped:", "slack:"))}
    return sorted(refs)


# --- retention ---------------------------------------------------------------------------------


def raw_mail_older_than(session: Session, before: datetime) -> Sequence[InboundMessage]:
    """Processed mails still holding their bytes, received before `before`."""
    query = (
        select(InboundMessage)
        .where(col(InboundMessage.state).in_(("done", "duplicate")))
        .where(col(InboundMessage.received_at) < before)
        .where(func.length(InboundMessage.raw) > 0)
    )
    return session.exec(query).all()


def tracking_older_than(session: Session, before: datetime) -> Sequence[TrackingEvent]:
    return session.exec(select(TrackingEvent).where(col(TrackingEvent.at) < before)).all()


def quarantined_older_than(
    session: Session, before: datetime
) -> tuple[Sequence[IntakeRecord], Sequence[InboundMessage]]:
    """Held or rejected captures no lead came of, and quarantined or rejected mails no lead
    owns, from before `before`."""
    holds = session.exec(
        select(IntakeRecord)
        .where(col(IntakeRecord.state).in_(("held", "rejected")))
        .where(col(IntakeRecord.lead_id).is_(None))
        .where(col(IntakeRecord.at) < before)
    ).all()
    mails = session.exec(
        select(InboundMessage)
        .where(col(InboundMessage.state).in_(("quarantined", "rejected")))
        .where(col(InboundMessage.lead_id).is_(None))
        .where(col(InboundMessage.received_at) < before)
    ).all()
    return holds, mails


def delete_rows(session: Session, rows: Sequence[Any]) -> None:
    for row in rows:
        session.delete(row)
    session.flush()


def detach_message(session: Session, message_id: int) -> None:
    """Rows that name a mail about to be deleted stop naming it (it is deleted, not them)."""
    for table in (TimelineEntry, IntakeRecord):
        session.execute(
            update(table)
            .where(col(table.inbound_message_id) == message_id)
            .values(inbound_message_id=None)
            .execution_options(synchronize_session=False)
        )


def trashed_before(session: Session, before: datetime) -> Sequence[Lead]:
    """Trashed leads not erased yet whose last change is older than `before`."""
    query = (
        select(Lead)
        .where(Lead.status == "trashed")
        .where(col(Lead.erased_at).is_(None))
        .where(col(Lead.updated_at) < before)
    )
    return session.exec(query).all()


OPEN_STATUSES = ("new", "working", "nurturing", "qualified")


def inactive_before(session: Session, before: datetime) -> Sequence[Lead]:
    """Open leads, not yet stale nor erased, with no activity since `before`."""
    query = (
        select(Lead)
        .where(col(Lead.status).in_(OPEN_STATUSES))
        .where(col(Lead.merged_into_id).is_(None))
        .where(col(Lead.erased_at).is_(None))
        .where(col(Lead.stale_since).is_(None))
        .where(col(Lead.last_activity_at) < before)
    )
    return session.exec(query).all()


def stale(session: Session, limit: int = 10000) -> Sequence[Lead]:
    query = (
        select(Lead)
        .where(col(Lead.stale_since).is_not(None))
        .where(col(Lead.erased_at).is_(None))
        .order_by(col(Lead.stale_since))
        .limit(limit)
    )
    return session.exec(query).all()


def bounced(session: Session, limit: int = 10000) -> Sequence[Lead]:
    query = (
        select(Lead)
        .where(Lead.email_status == "bounced")
        .where(col(Lead.erased_at).is_(None))
        .where(col(Lead.merged_into_id).is_(None))
        .order_by(col(Lead.id))
        .limit(limit)
    )
    return session.exec(query).all()


def at_domains(session: Session, domains: set[str], limit: int = 10000) -> Sequence[Lead]:
    """Leads whose company domain is one of `domains` (colleagues of a hard-bounced address)."""
    if not domains:
        return []
    query = (
        select(Lead)
        .where(col(Lead.company_domain).in_(domains))
        .where(col(Lead.erased_at).is_(None))
        .where(col(Lead.merged_into_id).is_(None))
        .order_by(col(Lead.id))
        .limit(limit)
    )
    return session.exec(query).all()
