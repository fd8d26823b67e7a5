"""Named queries over the CRM side: accounts, contacts and opportunities."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func
from sqlmodel import Session, col, select

from storage.models import Account, Contact, Lead, Opportunity


def add(session: Session, row: Account | Contact | Opportunity) -> None:
    session.add(row)
    session.flush()


def account_by_id(session: Session, account_id: int) -> Account | None:
    return session.get(Account, account_id)


def account_by_domain(session: Session, domain: str) -> Account | None:
    query = select(Account).where(Account.domain == domain.lower()).order_by(col(Account.id))
    return session.exec(query.limit(1)).first()


def account_by_name(session: Session, name: str) -> Account | None:
    query = (
        select(Account)
        .where(func.lower(Account.name) == name.strip().lower())
        .order_by(col(Account.id))
    )
    return session.exec(query.limit(1)).first()


def contact_for_lead(session: Session, lead_id: int) -> Contact | None:
    return session.exec(select(Contact).where(Contact.lead_id == lead_id)).first()


def opportunities_for_lead(session: Session, lead_id: int) -> Sequence[Opportunity]:
    return session.exec(select(Opportunity).where(Opportunity.lead_id == lead_id)).all()


def account_in_use(session: Session, account_id: int) -> bool:
    """Whether anything still points at the account (contacts, opportunities, leads)."""
    for model in (Contact, Opportunity, Lead):
        query = select(func.count()).select_from(model).where(model.account_id == account_id)
        if session.exec(query).one():
            return True
    return False


def contact_in_use(session: Session, contact_id: int) -> bool:
    query = (
        select(func.count()).select_from(Opportunity).where(Opportunity.contact_id == contact_id)
    )
    return bool(session.exec(query).one())


def delete(session: Session, row: Account | Contact | Opportunity) -> None:
    session.delete(row)
    session.flush()
