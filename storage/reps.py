"""Named queries over reps."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, col, select

from storage.models import Rep


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
