"""Named queries over leads."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func
from sqlmodel import Session, col, select

from storage.models import Lead, utcnow


def add(session: Session, lead: Lead) -> Lead:
    session.add(lead)
    session.flush()
    return lead


def by_id(session: Session, lead_id: int, *, for_update: bool = False) -> Lead | None:
    query = select(Lead).where(Lead.id == lead_id)
    if for_update:
        query = query.with_for_update()
    return session.exec(query).first()


def by_email(session: Session, email: str) -> Lead | None:
    """The oldest lead for an address, matched case-insensitively (addresses are stored lower)."""
    query = select(Lead).where(Lead.email == email.strip().lower()).order_by(col(Lead.id))
    return session.exec(query.limit(1)).first()


def all_by_email(session: Session, email: str) -> Sequence[Lead]:
    return session.exec(select(Lead).where(Lead.email == email.strip().lower())).all()


def by_reply_token(session: Session, token: str) -> Lead | None:
    return session.exec(select(Lead).where(Lead.reply_token == token)).first()


def listing(
    session: Session,
    *,
    status: str | None = None,
    owner_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Sequence[Lead]:
    query = select(Lead)
    if status:
        query = query.where(Lead.status == status)
    if owner_id is not None:
        query = query.where(Lead.owner_id == owner_id)
    return session.exec(query.order_by(col(Lead.id)).offset(offset).limit(limit)).all()


def count(session: Session) -> int:
    return session.exec(select(func.count()).select_from(Lead)).one()


def touch(session: Session, lead: Lead) -> None:
    """Record a change: bump the version (stale cards lose) and the activity times."""
    now = utcnow()
    lead.version += 1
    lead.updated_at = now
    lead.last_activity_at = now
    session.add(lead)
