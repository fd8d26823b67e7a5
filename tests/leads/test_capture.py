"""Capture, the one path every door takes, on a real store (SQLite file and PostgreSQL).

The door here is not mail: a web form's draft goes through the same intake checks,
create-or-update, de-duplication, company link, timeline and outbox as an email does.
"""

from __future__ import annotations

import dataclasses

import pytest
from sqlmodel import Session, select

import storage.accounts
import storage.duplicates
import storage.intake
import storage.leads
import storage.outbox
import storage.reps
import storage.timeline
from bot.leads import fields
from bot.leads.capture import BadDraft, Draft, Evidence, NotHeld, Source, approve, capture, reject
from bot.rules.file import Rules, default_rules
from bot.rules.intake import IntakeRules
from storage.engine import Store
from storage.models import Account, IntakeRecord, Rep
from tests.factories import add_indexed_lead

FORM = Source("form", "form:contact", "the form contact")


def with_intake(intake: IntakeRules) -> Rules:
    return dataclasses.replace(default_rules(), intake=intake)


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
    # With the intake checks off (an approval's replay): nothing to hold it in, so refused.
    with store.transaction() as session, pytest.raises(BadDraft, match="no sender address"):
        take(session, Draft.of(address, first_name="Ann"), checks=False)


@pytest.mark.parametrize("address", ["", "   ", "not-an-address"])
def test_no_usable_address_is_held_with_the_reason(store: Store, address: str) -> None:
    with store.transaction() as session:
        result = take(session, Draft.of(address, first_name="Ann"))
        assert storage.leads.count(session) == 0 and storage.outbox.listing(session) == []
    assert result.lead is None and not result.created and result.hold is not None
    assert [r["check"] for r in result.hold.reasons] == ["address"]
    assert result.hold.state == "held" and result.hold.draft["values"] == {"first_name": "Ann"}


def test_a_draft_takes_only_declared_fields() -> None:
    with pytest.raises(TypeError, match="not lead fields: shoe_size"):
        Draft.of("ann@example.io", shoe_size="42")
    draft = Draft.of("ann@example.io", **{name: "x" for name in fields.NAMES})
    assert set(draft.values) == set(fields.NAMES)


# --- the intake checks, on the store ------------------------------------------------------------

JUNK = Draft.of("bot@mailinator.com", first_name="Bot", company="Spam Inc", enquiry="Buy now",
                found=("first name from the From header",))  # fmt: skip
MAIL = Source("email", "email:bot@mailinator.com", "an email to leads@acme.test", "mailinator.com")


def test_a_failing_capture_is_held_with_its_reasons_and_everything_to_replay_it(
    store: Store,
) -> None:
    evidence = Evidence("email.enquiry", "Cheap leads", {"excerpt": "Buy now", "from": "bot@x"})
    with store.transaction() as session:
        result = capture(session, JUNK, MAIL, evidence, rules=default_rules())
        assert storage.leads.count(session) == 0 and storage.outbox.listing(session) == []
        [held] = storage.intake.held(session)
    assert result.held and result.lead is None and held.id == result.hold.id  # type: ignore[union-attr]
    assert (held.channel, held.source_key, held.state) == ("email", "mailinator.com", "held")
    assert held.reasons == [{"check": "disposable",
                             "detail": "mailinator.com is a disposable-mail domain"}]  # fmt: skip
    assert Draft.from_data(held.draft) == JUNK
    assert Source.from_data(held.source) == MAIL
    assert Evidence.from_data(held.evidence) == evidence


def test_a_capture_that_passes_is_recorded_for_the_flood_count_with_its_lead(store: Store) -> None:
    source = Source("form", "form:contact", "the form contact", "form:contact")
    with store.transaction() as session:
        result = take(session, Draft.of("ann@example.io"), source)
        [record] = session.exec(select(IntakeRecord)).all()
    assert (record.state, record.source_key, record.lead_id) == ("passed", "form:contact",
                                                                 result.lead.id)  # type: ignore[union-attr]  # fmt: skip
    assert record.draft == {} and record.reasons == []  # nothing kept that is not needed


def test_more_than_the_flood_limit_from_one_key_is_held_and_other_keys_pass(store: Store) -> None:
    rules = IntakeRules.from_table({"flood_limit": 3})

    def send(n: int, key: str) -> bool:
        source = Source("form", f"form:{key}", f"the form {key}", f"form:{key}")
        with store.transaction() as session:
            return capture(session, Draft.of(f"p{n}@example{n}.io"), source, post(),
                           rules=with_intake(rules)).held  # fmt: skip

    assert [send(n, "contact") for n in range(5)] == [False, False, False, True, True]
    assert send(9, "demo") is False  # another source key counts on its own
    with store.transaction() as session:
        assert storage.leads.count(session) == 4
        reasons = [h.reasons[0]["detail"] for h in storage.intake.held(session)]
    assert reasons == [
        "4 captures from form:contact within 10 minutes, over the limit of 3",
        "5 captures from form:contact within 10 minutes, over the limit of 3",
    ]


def test_approving_replays_the_capture_and_the_timeline_says_who_and_why(store: Store) -> None:
    evidence = Evidence("email.enquiry", "Cheap leads", {"excerpt": "Buy now"})
    with store.transaction() as session:
        hold = capture(session, JUNK, MAIL, evidence, rules=default_rules()).hold
        assert hold is not None and hold.id is not None
    with store.transaction() as session:
        result = approve(session, hold.id, "cli:ann", rules=default_rules())
        lead = result.lead
        assert lead is not None and lead.id is not None
        entries = storage.timeline.for_lead(session, lead.id)
        [note] = storage.outbox.listing(session)
        record = storage.intake.by_id(session, hold.id)
        assert record is not None
    assert result.created and not result.held
    assert (lead.email, lead.first_name, lead.company, lead.source, lead.enquiry) == (
        "bot@mailinator.com", "Bot", "Spam Inc", "email", "Buy now")  # fmt: skip
    assert [(e.kind, e.actor) for e in entries] == [
        ("created", "system"), ("email.enquiry", "email:bot@mailinator.com"),
        ("intake.approved", "cli:ann")]  # fmt: skip
    assert entries[0].data == {"found": ["first name from the From header"]}
    assert entries[1].summary == "enquiry: Cheap leads" and entries[1].data["excerpt"] == "Buy now"
    assert entries[2].summary == (
        f"approved H-{hold.id} from the intake quarantine "
        "(held: disposable: mailinator.com is a disposable-mail domain)")  # fmt: skip
    assert note.kind == "lead.new"
    assert (record.state, record.decided_by, record.lead_id) == ("approved", "cli:ann", lead.id)
    assert record.decided_at is not None


def test_a_hold_is_decided_once_and_rejecting_keeps_it(store: Store) -> None:
    with store.transaction() as session:
        first = take(session, JUNK).hold
        second = take(session, Draft.of("x@mailinator.com")).hold
        assert first is not None and first.id and second is not None and second.id
    with store.transaction() as session:
        rejected = reject(session, first.id, "cli:bob", "spam, obviously")
    assert (rejected.state, rejected.decided_by, rejected.note) == (
        "rejected", "cli:bob", "spam, obviously")  # fmt: skip
    with store.transaction() as session, pytest.raises(NotHeld, match="rejected already"):
        approve(session, first.id, "cli:ann", rules=default_rules())
    with store.transaction() as session:
        approve(session, second.id, "cli:ann", rules=default_rules())
    with store.transaction() as session, pytest.raises(NotHeld, match="approved already"):
        reject(session, second.id, "cli:bob")
    with store.transaction() as session, pytest.raises(NotHeld, match="no hold H-999"):
        approve(session, 999, "cli:ann", rules=default_rules())
    with store.transaction() as session:
        assert storage.leads.count(session) == 1
        assert storage.intake.held(session) == []


def test_a_hold_that_cannot_become_a_lead_stays_held(store: Store) -> None:
    with store.transaction() as session:
        hold = take(session, Draft.of("", first_name="Ann")).hold
        assert hold is not None and hold.id is not None
    with store.transaction() as session, pytest.raises(BadDraft, match="no sender address"):
        approve(session, hold.id, "cli:ann", rules=default_rules())
    with store.transaction() as session:
        assert [h.id for h in storage.intake.held(session)] == [hold.id]
