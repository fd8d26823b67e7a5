"""Conversion: a lead becomes a Contact under an Account plus an Opportunity, and back.

`propose` suggests the Account (an existing one when the email domain or the company name
matches), the Contact and the Opportunity; `convert` creates them and moves the lead; `unconvert`
puts the lead back into nurture and removes what its conversion created that nothing else uses.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, timedelta

from sqlmodel import Session

import storage.accounts
import storage.timeline
from bot.leads import actions, companies
from bot.leads.refs import lead_label, opportunity_amount, opportunity_label
from storage.models import Account, Contact, Lead, Opportunity

OPPORTUNITY_STAGES = ("prospecting", "qualification", "proposal", "negotiation")
DEFAULT_CLOSE_DAYS = 30


@dataclass
class ConversionPlan:
    lead_id: int
    version: int
    account_id: int | None
    account_name: str
    domain: str | None
    contact_name: str
    contact_email: str
    opportunity_name: str
    amount: float | None
    close_date: str
    stage: str = "prospecting"
    # The ISO 4217 code the amount was given in (`€25,000` → EUR); None when none was said.
    currency: str | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def company_domain(email: str) -> str | None:
    """The registrable company domain of an address; None for free-mail ones."""
    return companies.email_company_domain(email) or None


def propose(session: Session, lead: Lead, today: date | None = None) -> ConversionPlan:
    assert lead.id is not None
    domain = company_domain(lead.email)
    account = companies.find_account(
        session, domain or "", companies.company_key(lead.company, domain or "")
    )
    person = " ".join(p for p in (lead.first_name, lead.last_name) if p) or lead.email
    account_name = account.name if account else (lead.company or person)
    close = (today or date.today()) + timedelta(days=DEFAULT_CLOSE_DAYS)
    return ConversionPlan(
        lead_id=lead.id,
        version=lead.version,
        account_id=account.id if account else None,
        account_name=account_name,
        domain=domain,
        contact_name=person,
        contact_email=lead.email,
        opportunity_name=f"{account_name} - new business",
        amount=None,
        close_date=close.isoformat(),
    )


def convert(
    session: Session,
    lead: Lead,
    actor_label: str,
    plan: ConversionPlan,
    *,
    expected_version: int | None = None,
) -> tuple[Account, Contact, Opportunity]:
    if plan.stage not in OPPORTUNITY_STAGES:
        raise actions.BadArguments(f"stage must be one of: {', '.join(OPPORTUNITY_STAGES)}")
    if plan.amount is not None and plan.amount < 0:
        raise actions.BadArguments("the amount cannot be negative")
    actions.transition(session, lead, "convert", actor_label, expected_version=expected_version)
    assert lead.id is not None
    account = storage.accounts.account_by_id(session, plan.account_id) if plan.account_id else None
    created_account = account is None
    if account is None:
        name = plan.account_name.strip() or lead.email
        account = Account(
            name=name,
            domain=plan.domain,
            name_key=companies.company_key(name, plan.domain or ""),
            owner_id=lead.owner_id,
            created_by_lead_id=lead.id,
        )
        storage.accounts.add(session, account)
    contact = Contact(
        account_id=account.id,
        lead_id=lead.id,
        first_name=lead.first_name,
        last_name=lead.last_name,
        email=lead.email,
        title=lead.title,
        phone=lead.phone,
    )
    storage.accounts.add(session, contact)
    opportunity = Opportunity(
        account_id=account.id,
        contact_id=contact.id,
        lead_id=lead.id,
        name=plan.opportunity_name.strip() or f"{account.name} - new business",
        amount=plan.amount,
        currency=plan.currency,
        close_date=date.fromisoformat(plan.close_date),
        stage=plan.stage,
        owner_id=lead.owner_id,
    )
    storage.accounts.add(session, opportunity)
    lead.account_id = account.id
    siblings = companies.flag_siblings(session, lead, account, actor_label)
    storage.timeline.append(
        session,
        lead.id,
        actor=actor_label,
        kind="converted",
        summary=(
            f"converted: {'new' if created_account else 'existing'} account {account.name}, "
            f"opportunity {opportunity_label(opportunity.id)} {opportunity.name}"
            + (f" ({opportunity_amount(opportunity)})" if opportunity.amount is not None else "")
        ),
        data={
            "account_id": account.id,
            "account_created": created_account,
            "contact_id": contact.id,
            "opportunity_id": opportunity.id,
            "opportunity": opportunity_label(opportunity.id),
            "siblings_flagged": [sibling.id for sibling in siblings],
        },
    )
    return account, contact, opportunity


def unconvert(
    session: Session, lead: Lead, actor_label: str, *, expected_version: int | None = None
) -> list[str]:
    """Back to nurturing; returns what was removed (opportunities, contact, account)."""
    actions.transition(session, lead, "unconvert", actor_label, expected_version=expected_version)
    assert lead.id is not None
    removed: list[str] = []
    account_id = lead.account_id
    for opportunity in storage.accounts.opportunities_for_lead(session, lead.id):
        removed.append(f"opportunity {opportunity_label(opportunity.id)} {opportunity.name}")
        storage.accounts.delete(session, opportunity)
    contact = storage.accounts.contact_for_lead(session, lead.id)
    if (
        contact is not None
        and contact.id is not None
        and not storage.accounts.contact_in_use(session, contact.id)
    ):
        removed.append(f"contact {contact.email}")
        storage.accounts.delete(session, contact)
    lead.account_id = None
    session.add(lead)
    session.flush()
    account = storage.accounts.account_by_id(session, account_id) if account_id else None
    if account is not None and account.id is not None and account.created_by_lead_id == lead.id:
        # The siblings were linked by this conversion: they go with it.
        companies.unlink_siblings(session, lead, account.id)
        session.flush()
    if (
        account is not None
        and account.id is not None
        and account.created_by_lead_id == lead.id
        and not storage.accounts.account_in_use(session, account.id)
    ):
        removed.append(f"account {account.name}")
        storage.accounts.delete(session, account)
    storage.timeline.append(
        session,
        lead.id,
        actor=actor_label,
        kind="unconverted",
        summary=f"{lead_label(lead.id)} un-converted; removed: {', '.join(removed) or 'nothing'}",
        data={"removed": removed},
    )
    return removed
