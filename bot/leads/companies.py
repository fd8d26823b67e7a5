"""The company view: which account a lead belongs to, and who else there is already talking to us.

A lead's company is known by two keys kept on the lead: the registrable domain of its email
address (only a company domain: a gmail.com address says nothing about an employer) and its
company name in normal form (legal forms and punctuation stripped: "ACME, Inc." and "Acme GmbH"
are both "acme"). A lead links to an Account with the same domain, the same name key, or a name
key close enough by rapidfuzz (typos: "Globex Coporation"). When that account has an owner, the
owner is proposed for the new lead; when a lead converts, its open siblings (same company) are
flagged so that no second rep cold-calls a customer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz
from sqlmodel import Session

import storage.accounts
import storage.reps
import storage.timeline
from bot.dedupe.match import normalize_company
from bot.leads.freemail import company_from_domain, is_freemail, registrable_domain
from bot.leads.refs import lead_label, parse_opportunity_ref
from storage.models import Account, Contact, Lead, Opportunity

# How close two company name keys must be (rapidfuzz ratio, 0-100) to be one company.
NAME_SIMILARITY = 92
OPEN_STATUSES = ("new", "working", "nurturing", "qualified")
# How many accounts sharing a name key's first two letters a fuzzy company match compares.
PREFIX_CANDIDATES = 200


def email_company_domain(email: str) -> str:
    """The registrable domain of a company address ("ann@eu.acme.io" -> "acme.io"); "" for
    free-mail providers and malformed addresses."""
    host = email.rpartition("@")[2].strip().lower()
    if not host or "." not in host or is_freemail(host):
        return ""
    return registrable_domain(host)


def company_key(company: str, domain: str = "") -> str:
    """The company name in normal form, or the one a company domain implies ("acme.io" ->
    "acme") when no name is known."""
    key = normalize_company(company)
    if not key and domain:
        key = normalize_company(company_from_domain(domain))
    return key


def refresh_keys(lead: Lead) -> None:
    """Recompute the lead's company keys from its email and company fields."""
    lead.company_domain = email_company_domain(lead.email)
    lead.company_key = company_key(lead.company, lead.company_domain)


def find_account(session: Session, domain: str, key: str) -> Account | None:
    """The account of a company: by domain, then by name key, then by a close name key."""
    if domain:
        account = storage.accounts.account_by_domain(session, domain)
        if account is not None:
            return account
    if not key:
        return None
    account = storage.accounts.account_by_name_key(session, key)
    if account is not None:
        return account
    best, best_score = None, 0.0
    for candidate in storage.accounts.accounts_with_prefix(session, key[:2], PREFIX_CANDIDATES):
        similarity = fuzz.ratio(key, candidate.name_key)
        if similarity >= NAME_SIMILARITY and similarity > best_score:
            best, best_score = candidate, similarity
    return best


def find_account_among(accounts: Sequence[Account], domain: str, key: str) -> Account | None:
    """`find_account` over accounts read already (oldest first: storage.bulk.accounts_for),
    for a batch of captures: the same order of tries and the same fuzzy limit."""
    if domain:
        for account in accounts:
            if account.domain == domain.lower():
                return account
    if not key:
        return None
    for account in accounts:
        if account.name_key == key:
            return account
    prefix = key[:2].replace("%", "").replace("_", "")
    candidates = [a for a in accounts if a.name_key.startswith(prefix)][:PREFIX_CANDIDATES]
    best, best_score = None, 0.0
    for candidate in candidates:
        similarity = fuzz.ratio(key, candidate.name_key)
        if similarity >= NAME_SIMILARITY and similarity > best_score:
            best, best_score = candidate, similarity
    return best


def link(session: Session, lead: Lead, actor: str = "system") -> Account | None:
    """Fill in the lead's company keys and link it to its company's account, if there is one;
    an owned account proposes its owner for an unowned lead (on the timeline)."""
    refresh_keys(lead)
    account = find_account(session, lead.company_domain, lead.company_key)
    if account is None or account.id is None:
        return None
    attach(session, lead, account, actor)
    return account


def attach(session: Session, lead: Lead, account: Account, actor: str = "system") -> None:
    """Link the lead to its company's account found for it (`link`'s second half)."""
    assert account.id is not None
    lead.account_id = account.id
    if account.owner_id is not None and lead.owner_id is None:
        lead.proposed_owner_id = account.owner_id
    session.add(lead)
    assert lead.id is not None
    owner = storage.reps.by_id(session, account.owner_id) if account.owner_id else None
    summary = f"company: account {account.name}"
    if owner is not None:
        summary += f", owned by {owner.name}" + (
            " (proposed as owner)" if lead.proposed_owner_id == owner.id else ""
        )
    storage.timeline.append(
        session,
        lead.id,
        actor=actor,
        kind="company.linked",
        summary=summary,
        data={"account_id": account.id, "owner_id": account.owner_id},
    )


def flag_siblings(session: Session, lead: Lead, account: Account, actor: str) -> list[Lead]:
    """After `lead` converted into `account`: link the company's other open leads to the
    account, propose its owner, and say on each timeline who already works the company."""
    assert lead.id is not None and account.id is not None
    siblings = storage.accounts.company_leads(
        session,
        domain=lead.company_domain,
        key=lead.company_key,
        account_id=account.id,
        exclude=lead.id,
        statuses=OPEN_STATUSES,
    )
    owner = storage.reps.by_id(session, account.owner_id) if account.owner_id else None
    who = f" (owner {owner.name})" if owner else ""
    for sibling in siblings:
        assert sibling.id is not None
        sibling.account_id = account.id
        if owner is not None and sibling.owner_id != owner.id:
            sibling.proposed_owner_id = owner.id
        session.add(sibling)
        storage.timeline.append(
            session,
            sibling.id,
            actor=actor,
            kind="company.converted",
            summary=(
                f"{account.name} is a customer since {lead_label(lead.id)} converted{who}: "
                "talk to the account owner before reaching out"
            ),
            data={"account_id": account.id, "lead_id": lead.id, "owner_id": account.owner_id},
        )
    return list(siblings)


def unlink_siblings(session: Session, lead: Lead, account_id: int) -> None:
    """Un-converting the lead that created an account: its siblings go back to no account."""
    for sibling in storage.accounts.company_leads(
        session, account_id=account_id, exclude=lead.id, statuses=OPEN_STATUSES
    ):
        sibling.account_id = None
        sibling.proposed_owner_id = None
        session.add(sibling)


@dataclass
class CompanyView:
    """Everything of one company: its account (None before anyone converted), leads, contacts
    and opportunities."""

    query: str
    domain: str
    key: str
    account: Account | None
    leads: list[Lead]
    contacts: list[Contact]
    opportunities: list[Opportunity]


def account_ref(account_id: int) -> str:
    return f"A-{account_id}"


def view(session: Session, query: str) -> CompanyView:
    """The company named by `query`: an account (A-3), a domain or address (acme.io,
    ann@acme.io), or a company name ("ACME Inc.")."""
    text = query.strip()
    account: Account | None = None
    domain = key = ""
    opportunity_id = parse_opportunity_ref(text)
    if text.upper().startswith("A-") and text[2:].isdigit():
        account = storage.accounts.account_by_id(session, int(text[2:]))
    elif opportunity_id is not None:  # O-4: the company the deal is with
        opportunity = storage.accounts.opportunity_by_id(session, opportunity_id)
        if opportunity is not None and opportunity.account_id is not None:
            account = storage.accounts.account_by_id(session, opportunity.account_id)
    elif "@" in text or ("." in text and " " not in text):
        domain = email_company_domain(text if "@" in text else f"x@{text}")
        key = company_key("", domain)
        account = find_account(session, domain, key)
    else:
        key = company_key(text)
        account = find_account(session, "", key)
    if account is not None:
        domain = account.domain or domain
        key = account.name_key or key
    leads = storage.accounts.company_leads(
        session, domain=domain, key=key, account_id=account.id if account else None
    )
    contacts = storage.accounts.contacts_of(session, account.id) if account and account.id else []
    opportunities = (
        storage.accounts.opportunities_of(session, account.id) if account and account.id else []
    )
    return CompanyView(text, domain, key, account, list(leads), list(contacts), list(opportunities))
