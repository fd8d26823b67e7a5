"""Named queries over the CRM side: accounts, contacts and opportunities."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, or_
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from storage.models import Account, Contact, Cursor, Lead, Opportunity

CrmRow = Account | Contact | Opportunity


def _taken_cursor(row: CrmRow) -> str:
    return f"ids-taken:{type(row).__tablename__}"


def add(session: Session, row: CrmRow) -> None:
    """Insert the row with an id never given before. PostgreSQL sequences never hand an id out
    twice; SQLite gives a deleted row's id again when it was the highest (the tables are not
    AUTOINCREMENT), so an un-converted opportunity's O-4 would come back as another deal. The
    highest id a delete removed is kept in `cursors`, and a new row starts above it."""
    if row.id is None and session.get_bind().dialect.name == "sqlite":
        model = type(row)
        taken = session.get(Cursor, _taken_cursor(row))
        highest = session.exec(select(func.max(model.id))).one() or 0
        if taken is not None and taken.position > highest:
            row.id = taken.position + 1
    session.add(row)
    session.flush()


def account_by_id(session: Session, account_id: int) -> Account | None:
    return session.get(Account, account_id)


def opportunity_by_id(session: Session, opportunity_id: int) -> Opportunity | None:
    return session.get(Opportunity, opportunity_id)


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


def delete(session: Session, row: CrmRow) -> None:
    if row.id is not None and session.get_bind().dialect.name == "sqlite":
        statement = sqlite_insert(Cursor).values(name=_taken_cursor(row), position=row.id)
        session.execute(
            statement.on_conflict_do_update(
                index_elements=["name"],
                set_={"position": func.max(Cursor.position, statement.excluded.position)},
            )
        )
    session.delete(row)
    session.flush()


def account_by_name_key(session: Session, name_key: str) -> Account | None:
    query = select(Account).where(Account.name_key == name_key).order_by(col(Account.id))
    return session.exec(query.limit(1)).first()


def accounts_with_prefix(session: Session, prefix: str, limit: int = 200) -> Sequence[Account]:
    """Accounts whose name key starts with `prefix`: the few a fuzzy company match compares."""
    pattern = prefix.replace("%", "").replace("_", "") + "%"
    query = select(Account).where(col(Account.name_key).like(pattern)).order_by(col(Account.id))
    return session.exec(query.limit(limit)).all()


def company_leads(
    session: Session,
    *,
    domain: str = "",
    key: str = "",
    account_id: int | None = None,
    exclude: int | None = None,
    statuses: Sequence[str] | None = None,
    limit: int = 500,
) -> Sequence[Lead]:
    """Leads of one company, oldest first: linked to its account, or sharing its company email
    domain or normalized name. Merged-away leads are left out (their survivor stands for them)."""
    same = []
    if domain:
        same.append(col(Lead.company_domain) == domain)
    if key:
        same.append(col(Lead.company_key) == key)
    if account_id is not None:
        same.append(col(Lead.account_id) == account_id)
    if not same:
        return []
    query = select(Lead).where(or_(*same)).where(col(Lead.merged_into_id).is_(None))
    if exclude is not None:
        query = query.where(col(Lead.id) != exclude)
    if statuses is not None:
        query = query.where(col(Lead.status).in_(statuses))
    return session.exec(query.order_by(col(Lead.id)).limit(limit)).all()


def contacts_of(session: Session, account_id: int) -> Sequence[Contact]:
    return session.exec(
        select(Contact).where(Contact.account_id == account_id).order_by(col(Contact.id))
    ).all()


def opportunities_of(session: Session, account_id: int) -> Sequence[Opportunity]:
    return session.exec(
        select(Opportunity)
        .where(Opportunity.account_id == account_id)
        .order_by(col(Opportunity.id))
    ).all()


def accounts_without_name_key(session: Session) -> Sequence[Account]:
    """Accounts stored before name keys existed."""
    return session.exec(select(Account).where(Account.name_key == "")).all()
