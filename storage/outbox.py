"""Named queries over the notification outbox."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from storage.models import OutboxItem, utcnow


def put(
    session: Session,
    kind: str,
    *,
    lead_id: int | None = None,
    rep_id: int | None = None,
    payload: dict[str, Any] | None = None,
) -> OutboxItem:
    item = OutboxItem(kind=kind, lead_id=lead_id, rep_id=rep_id, payload=payload or {})
    session.add(item)
    return item


def claim_due(
    session: Session, limit: int = 20, now: datetime | None = None
) -> Sequence[OutboxItem]:
    """Pending items whose time has come, locked for this dispatcher (SKIP LOCKED on PostgreSQL)."""
    query = (
        select(OutboxItem)
        .where(*_due(now or utcnow()))
        .order_by(col(OutboxItem.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return session.exec(query).all()


def any_due(session: Session, now: datetime | None = None) -> bool:
    """Whether an item is due: a read, so an idle dispatcher takes no write lock to find out."""
    return session.exec(_ANY_DUE, params={"now": now or utcnow()}).first() is not None


def _due(now: Any) -> tuple[Any, ...]:
    """The items whose time has come: what `claim_due` locks and `any_due` looks for."""
    return (OutboxItem.state == "pending", OutboxItem.next_attempt_at <= now)


# Built once: every tick of serve's dispatcher asks, busy or idle.
_ANY_DUE = select(OutboxItem.id).where(*_due(bindparam("now"))).limit(1)


def listing(
    session: Session, *, state: str | None = None, limit: int = 200
) -> Sequence[OutboxItem]:
    query = select(OutboxItem)
    if state:
        query = query.where(OutboxItem.state == state)
    return session.exec(query.order_by(col(OutboxItem.id)).limit(limit)).all()


def mark_sent(session: Session, item: OutboxItem, ref: str | None) -> None:
    item.state = "sent"
    item.attempts += 1
    item.sent_at = utcnow()
    item.delivery_ref = ref
    item.last_error = None
    session.add(item)


def mark_failed_attempt(
    session: Session, item: OutboxItem, error: str, retry_at: datetime | None
) -> None:
    """Count a failed try; with no `retry_at` the item is given up on (state failed)."""
    item.attempts += 1
    item.last_error = error
    if retry_at is None:
        item.state = "failed"
    else:
        item.next_attempt_at = retry_at
    session.add(item)


def delivery_refs(session: Session, lead_id: int) -> list[str]:
    """Where this lead's notifications went (Slack: "channel:ts"), to update them in place."""
    rows = session.exec(
        select(OutboxItem.delivery_ref)
        .where(OutboxItem.lead_id == lead_id)
        .where(OutboxItem.state == "sent")
        .where(col(OutboxItem.delivery_ref).is_not(None))
    ).all()
    return [ref for ref in rows if ref and not ref.startswith(("console:", "skipped:"))]
