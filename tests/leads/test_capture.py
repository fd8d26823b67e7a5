"""Capture, the one path every door takes, on a real store (SQLite file and PostgreSQL).

The door here is not mail: a web form's draft goes through the same create-or-update,
de-duplication, company link, timeline and outbox as an email does.
"""

from __future__ import annotations

import pytest
from sqlmodel import Session

import storage.accounts
import storage.duplicates
import storage.leads
import storage.outbox
import storage.reps
import storage.timeline
from bot.leads import fields
from bot.leads.capture import BadDraft, Draft, Evidence, Source, capture
from bot.rules.file import default_rules
from storage.engine import Store
from storage.models import Account, Rep
from tests.factories import add_indexed_lead

FORM = Source("form", "form:contact", "the form contact")


def post(title: str = "Contact us", **data: object) -> Evidence:
    return Evidence("form.post", title, {"fields": data})


def take(session: Session, draft: Draft, source: Source = FORM, **options: object):  # type: ignore[no-untyped-def]
    return capture(session, draft, source, post(), rules=default_rules(), **options)  # type: ignore[arg-type]


def test_a_form_draft_becomes_a_lead_with_its_channel_timeline_and_card(store: Store) -> None:
    draft = Draft.of("Ann@Example-Robotics.io", first_name="Ann", company="Example Robotics",
                     city="Lyon", enquiry="A demo, please")  # fmt: skip
    with store.transaction() as session:
        result = take(session, draft)
        lead = result.lead
        assert lead.id is not None
        entries = storage.timeline.for_lead(session, lead.id)
        [note] = storage.outbox.listing(session)
    assert result.created and not result.merged
    assert (lead.email, lead.source, lead.first_name, lead.city) == (
        "ann@example-robotics.io", "form", "Ann", "Lyon")  # fmt: skip
    assert lead.enquiry == "A demo, please"
    assert [(e.kind, e.actor) for e in entries] == [("created", "system"),
                                                    ("form.post", "form:contact")]  # fmt: skip
    assert entries[0].summary == "lead created from the form contact"
    assert entries[1].summary == "enquiry: Contact us"
    assert (note.kind, note.payload["lead"], note.payload["subject"]) == (
        "lead.new", f"L-{lead.id}", "Contact us")  # fmt: skip


def test_a_known_address_is_updated_gaps_filled_and_set_values_kept(store: Store) -> None:
    with store.transaction() as session:
        rep = storage.reps.add(session, Rep(name="Rita", email="rita@acme.test"))
        first = take(session, Draft.of("ann@example.io", company="Example"))
        first.lead.owner_id = rep.id
    with store.transaction() as session:
        before = len(storage.outbox.listing(session))
        again = take(session, Draft.of(" ANN@example.io ", company="Other Co", title="CTO",
                                       enquiry="Any news?"))  # fmt: skip
        notes = storage.outbox.listing(session)[before:]
        assert storage.leads.count(session) == 1
    assert not again.created and again.filled == ("title",)
    assert (again.lead.company, again.lead.title, again.lead.enquiry) == ("Example", "CTO",
                                                                          "Any news?")  # fmt: skip
    assert [(n.kind, n.rep_id) for n in notes] == [("lead.enquiry", rep.id)]


def test_the_address_of_a_merged_lead_lands_on_its_survivor(store: Store) -> None:
    with store.transaction() as session:
        survivor = add_indexed_lead(session, "jane@acme.io", first_name="Jane")
        merged = add_indexed_lead(session, "jd@acme.io", first_name="Jane")
        merged.merged_into_id = survivor.id
    with store.transaction() as session:
        result = take(session, Draft.of("JD@acme.io", phone="+33 4 72 00 00 00"))
        assert storage.leads.count(session) == 1  # the survivor; no new lead beside it
    assert result.lead.id == survivor.id and not result.created
    assert result.lead.phone == "+33 4 72 00 00 00"


def test_a_sure_duplicate_is_merged_and_a_likely_one_flagged(store: Store) -> None:
    person = {"first_name": "Jane", "last_name": "Doe", "company": "Acme Robotics",
              "phone": "+1 415 555 0134", "street": "1 Market St", "city": "Boston"}  # fmt: skip
    with store.transaction() as session:
        original = add_indexed_lead(session, "jane@acme-robotics.io", **person)
    with store.transaction() as session:
        sure = take(session, Draft.of("jane.doe@acme-robotics.io", **person))
        notes = storage.outbox.listing(session)
    assert sure.merged and sure.lead.id == original.id and not sure.created
    assert sure.duplicate.startswith(f"duplicate of L-{original.id} (")
    assert notes == []  # no card for a lead that is not new, and no owner to tell yet
    likely = {"first_name": "Jane", "last_name": "Doe", "company": "Acme Robotics"}
    with store.transaction() as session:
        flagged = take(session, Draft.of("jdoe@gmail.com", **likely))
        assert flagged.lead.id is not None
        flags = storage.duplicates.open_flags(session, flagged.lead.id)
    rules = default_rules().match
    assert flagged.created and not flagged.merged
    assert [f.other_id for f in flags] == [original.id]
    assert rules.review <= flags[0].score < rules.auto_merge
    assert "possible duplicate" in flagged.duplicate


def test_a_new_lead_is_linked_to_its_companys_account(store: Store) -> None:
    with store.transaction() as session:
        account = Account(name="Acme Robotics", domain="acme-robotics.io", name_key="acme robotics")
        storage.accounts.add(session, account)
    with store.transaction() as session:
        result = take(session, Draft.of("bob@acme-robotics.io", first_name="Bob"))
        kinds = [e.kind for e in storage.timeline.for_lead(session, result.lead.id)]  # type: ignore[arg-type]
    assert result.lead.account_id == account.id
    assert "company.linked" in kinds


def test_dedupe_and_notify_can_be_left_out(store: Store) -> None:
    person = {"first_name": "Jane", "last_name": "Doe", "company": "Acme Robotics",
              "phone": "+1 415 555 0134", "street": "1 Market St"}  # fmt: skip
    with store.transaction() as session:
        add_indexed_lead(session, "jane@acme-robotics.io", **person)
    with store.transaction() as session:
        result = take(session, Draft.of("jane.doe@acme-robotics.io", **person),
                      dedupe=False, notify=False)  # fmt: skip
        assert storage.leads.count(session) == 2
        assert storage.outbox.listing(session) == []
    assert result.created and not result.merged and result.duplicate == ""


@pytest.mark.parametrize("address", ["", "   ", "not-an-address"])
def test_no_usable_address_is_refused_with_the_reason(store: Store, address: str) -> None:
    with store.transaction() as session, pytest.raises(BadDraft, match="no sender address"):
        take(session, Draft.of(address, first_name="Ann"))


def test_a_draft_takes_only_declared_fields() -> None:
    with pytest.raises(TypeError, match="not lead fields: shoe_size"):
        Draft.of("ann@example.io", shoe_size="42")
    draft = Draft.of("ann@example.io", **{name: "x" for name in fields.NAMES})
    assert set(draft.values) == set(fields.NAMES)
