"""Named queries over reps."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func
from sqlmodel import Session, SQLModel, col, select

from storage.leads import ACTIVE, OPEN_STATUSES
from storage.models import Lead, Rep


def add(session: Session, rep: Rep) -> Rep:
    session.add(rep)
    session.flush()
    return rep


def by_id(session: Session, rep_id: int) -> Rep | None:
    return session.get(Rep, rep_id)


def by_email(session: Session, email: str) -> Rep | None:
    return session.exec(select(Rep).where(Rep.email == email.strip().lower())).first()


def listing(session: Session) -> Sequence[Rep]:
    return session.exec(select(Rep).order_by(col(Rep.id))).all()


def by_slack_user(session: Session, slack_user_id: str) -> Rep | None:
    return session.exec(select(Rep).where(Rep.slack_user_id == slack_user_id)).first()


def by_name(session: Session, name: str) -> Rep | None:
    from sqlalchemy import func

    query = select(Rep).where(func.lower(Rep.name) == name.strip().lower())
    return session.exec(query).first()


def open_lead_count(session: Session, rep_id: int) -> int:
    """The rep's leads still to work (new, working, qualified; not merged away)."""
    query = (
        select(func.count())
        .select_from(Lead)
        .where(Lead.owner_id == rep_id)
        .where(col(Lead.status).in_(OPEN_STATUSES))
        .where(ACTIVE)
    )
    return int(session.exec(query).one())


def open_leads_for_update(session: Session, rep_id: int) -> Sequence[Lead]:
    query = (
        select(Lead)
        .where(Lead.owner_id == rep_id)
        .where(col(Lead.status).in_(OPEN_STATUSES))
        .where(ACTIVE)
        .order_by(col(Lead.id))
        .with_for_update()
    )
    return session.exec(query).all()


def referenced(session: Session, rep_id: int) -> bool:
    """Whether any row points at the rep (leads, accounts, deals, offers, the assignment log):
    read from the foreign keys themselves, so a table added later is counted too."""
    for table in SQLModel.metadata.sorted_tables:
        for key in table.foreign_keys:
            if key.column.table.name == "reps" and key.parent.table is table:
                query = select(func.count()).select_from(table).where(key.parent == rep_id)
                if session.exec(query).one():
                    return True
    return False


def delete(session: Session, rep: Rep) -> None:
    session.delete(rep)
    session.flush()
