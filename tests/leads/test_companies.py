"""The company view on a real store: company keys, account linking, siblings on conversion."""

from __future__ import annotations

import pytest

import storage.accounts
import storage.leads
import storage.reps
import storage.timeline
from bot.leads import companies
from bot.leads.permissions import Actor
from storage.engine import Store
from storage.models import Account, Rep
from tests.factories import add_indexed_lead as add_lead
from tests.factories import run


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("ACME, Inc.", "acme"),
        ("Acme GmbH", "acme"),
        ("Acme Ltd", "acme"),
        ("Acme S.A.", "acme"),
        ("The Acme Corporation", "acme"),
        ("Acme Robotics LLC", "acme robotics"),
        ("Müller & Söhne AG", "muller sohne"),
    ],
)
def test_company_keys_strip_legal_forms_and_punctuation(name: str, key: str) -> None:
    assert companies.company_key(name) == key


@pytest.mark.parametrize(
    ("email", "domain"),
    [
        ("ann@acme.io", "acme.io"),
        ("ann@eu.mail.acme.co.uk", "acme.co.uk"),
        ("ann@gmail.com", ""),
        ("ann@outlook.com", ""),
        ("ann@yahoo.co.uk", ""),
        ("not-an-address", ""),
    ],
)
def test_only_company_domains_link_people(email: str, domain: str) -> None:
    assert companies.email_company_domain(email) == domain


def test_a_new_lead_links_to_its_companys_account_and_gets_its_owner_proposed(
    store: Store,
) -> None:
    with store.transaction() as session:
        ann = storage.reps.add(session, Rep(name="Ann", email="ann@sales.test"))
        storage.accounts.add(
            session,
            Account(name="Globex Corp", domain="globex.com", name_key="globex", owner_id=ann.id),
        )
        by_domain = add_lead(session, "hank@eu.globex.com", first_name="Hank")
        by_name = add_lead(session, "hank@gmail.com", company="GLOBEX Corp.")
        by_typo = add_lead(session, "h@yahoo.com", company="Globexx Corporation")
        stranger = add_lead(session, "x@initech.test", company="Initech")
        linked = [companies.link(session, lead) for lead in (by_domain, by_name, by_typo, stranger)]
    assert [a.name if a else None for a in linked] == ["Globex Corp"] * 3 + [None]
    with store.transaction() as session:
        lead = storage.leads.by_id(session, by_domain.id or 0)
        assert lead is not None and lead.proposed_owner_id == ann.id and lead.owner_id is None
        [entry] = [e for e in storage.timeline.for_lead(session, lead.id or 0)
                   if e.kind == "company.linked"]  # fmt: skip
        assert entry.summary == "company: account Globex Corp, owned by Ann (proposed as owner)"


def test_converting_a_lead_flags_its_open_siblings_and_unconverting_unflags_them(
    store: Store,
) -> None:
    with store.transaction() as session:
        ann = storage.reps.add(session, Rep(name="Ann", email="ann@sales.test"))
        jane = add_lead(session, "jane@acme.io", first_name="Jane", company="Acme Inc",
                        owner_id=ann.id, status="working")  # fmt: skip
        john = add_lead(session, "john@acme.io", first_name="John", company="Acme")
        eve = add_lead(session, "eve@gmail.com", first_name="Eve", company="ACME, Inc.")
        gone = add_lead(session, "old@acme.io", status="trashed", trash_reason="spam")
        other = add_lead(session, "x@initech.test", company="Initech")
    with store.transaction() as session:
        outcome = run(session, f"convert L-{jane.id} 'Acme robots' 12k", Actor.for_rep(ann))
        assert outcome.message.startswith(f"L-{jane.id} converted: account Acme Inc")
    with store.transaction() as session:
        account = storage.accounts.account_by_domain(session, "acme.io")
        assert account is not None and account.name_key == "acme"
        for lead_id, flagged in ((john.id, True), (eve.id, True), (gone.id, False),
                                 (other.id, False)):  # fmt: skip
            lead = storage.leads.by_id(session, lead_id or 0)
            assert lead is not None
            kinds = [e.kind for e in storage.timeline.for_lead(session, lead_id or 0)]
            assert ("company.converted" in kinds) is flagged
            assert (lead.account_id == account.id) is flagged
            assert (lead.proposed_owner_id == ann.id) is flagged
        view = companies.view(session, "acme.io")
        assert view.account is not None and view.account.id == account.id
        assert sorted(lead.id for lead in view.leads) == sorted(
            [jane.id, john.id, eve.id, gone.id]  # type: ignore[list-item]
        )
        assert [c.email for c in view.contacts] == ["jane@acme.io"]
        assert [(o.name, o.amount) for o in view.opportunities] == [("Acme robots", 12_000)]
        assert companies.view(session, f"A-{account.id}").account == account
        assert companies.view(session, "Acme, Inc.").account == account
    with store.transaction() as session:
        run(session, f"unconvert L-{jane.id}", Actor.for_rep(ann))
    with store.transaction() as session:
        assert storage.accounts.account_by_domain(session, "acme.io") is None
        john_now = storage.leads.by_id(session, john.id or 0)
        assert john_now is not None and john_now.account_id is None
        assert john_now.proposed_owner_id is None


def test_a_company_without_an_account_still_shows_its_leads(store: Store) -> None:
    with store.transaction() as session:
        add_lead(session, "a@initech.test", company="Initech")
        add_lead(session, "b@initech.test")
        add_lead(session, "c@gmail.com", company="Initech LLC")
        add_lead(session, "d@gmail.com", company="Initrode")
        everyone = ["a@initech.test", "b@initech.test", "c@gmail.com"]  # not Initrode
        for query in ("initech.test", "Initech", "INITECH Ltd."):
            view = companies.view(session, query)
            assert view.account is None
            assert sorted(lead.email for lead in view.leads) == everyone
