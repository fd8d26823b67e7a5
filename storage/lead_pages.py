"""Named queries for the REST API's lead list: filters and keyset (cursor) pagination.

Pages run in id order and a cursor is the last id seen, so a lead added while someone pages
lands after the ones they have not read yet, and a lead changed meanwhile does not move: no
gaps, no repeats (an OFFSET would shift under inserts).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from storage.leads import ACTIVE
from storage.models import Lead


@dataclass(frozen=True)
class LeadFilter:
    status: str | None = None
    stage: str | None = None
    owner_id: int | None = None
    # True: only leads nobody owns (owner=none).
    unowned: bool = False
    source: str | None = None
    updated_since: datetime | None = None
    text: str | None = None


def page(session: Session, where: LeadFilter, after_id: int, limit: int) -> Sequence[Lead]:
    query = select(Lead).where(ACTIVE).where(col(Lead.id) > after_id)
    if where.status:
        query = query.where(Lead.status == where.status)
    if where.stage:
        query = query.where(Lead.stage == where.stage)
    if where.owner_id is not None:
        query = query.where(Lead.owner_id == where.owner_id)
    if where.unowned:
        query = query.where(col(Lead.owner_id).is_(None))
    if where.source:
        query = query.where(Lead.source == where.source)
    if where.updated_since is not None:
        query = query.where(col(Lead.updated_at) >= where.updated_since)
    if where.text:
        pattern = f"%{where.text.strip().lower()}%"
        full_name = func.lower(Lead.first_name + " " + Lead.last_name)
        query = query.where(
            col(Lead.email).like(pattern)
            | full_name.like(pattern)
            | func.lower(Lead.company).like(pattern)
        )
    return session.exec(query.order_by(col(Lead.id)).limit(limit)).all()
