"""De-duplication against the store (SQLite file and PostgreSQL): capture, flags, review."""

from __future__ import annotations

import pytest
from sqlmodel import select

import storage.duplicates
import storage.leads
import storage.outbox
import storage.reps
import storage.timeline
from bot.dedupe import store_match
from bot.dedupe.match import MatchRules
from bot.leads import commands
from bot.leads.permissions import Actor, NotAllowed
from storage.engine import Store
from storage.models import (
    DuplicateFlag,
    Lead,
    LeadBlockKey,
    Rep,
)
from tests.factories import add_indexed_lead as add_lead
from tests.factories import run
from tests.mail_in.test_pipeline import deliver, mail

RULES = MatchRules()


SIGNED = (
    "Hello, we need 40 robots.\n\n--\nJane Doe\nHead of Operations, Acme Robotics\n"
    "+1 415 555 0134\n"
)


# --- capture ----------------------------------------------------------------------------------


def test_a_second_address_of_one_person_merges_into_the_first_lead(store: Store) -> None:
    deliver(store, mail("Jane Doe <jane@acme-robotics.io>", SIGNED))
    deliver(store, mail("Jane Doe <jane.doe@acme-robotics.io>", "Any news on my request?\n"))
    with store.transaction() as session:
        [lead] = storage.leads.listing(session)
        merged = storage.leads.all_by_email(session, "jane.doe@acme-robotics.io")[0]
        assert (lead.email, merged.merged_into_id) == ("jane@acme-robotics.io", lead.id)
        assert lead.id is not None
        kinds = [e.kind for e in storage.timeline.for_lead(session, lead.id)]
        notes = [n.kind for n in storage.outbox.listing(session)]
    # Both enquiries (and the second lead's "created") are on the survivor: nothing is lost.
    assert kinds.count("email.enquiry") == 2 and kinds.count("created") == 2
    assert "merged" in kinds
    assert notes == ["lead.new"]  # one card, for the first lead: the second is no new lead
    # The merged address is an alias: its next mail lands on the survivor.
    deliver(store, mail("Jane Doe <jane.doe@acme-robotics.io>", "Calling tomorrow?"))
    with store.transaction() as session:
        assert storage.leads.count(session) == 1
        assert lead.id is not None
        entries = storage.timeline.for_lead(session, lead.id)
        assert [e.kind for e in entries].count("email.enquiry") == 3


def test_a_likely_duplicate_is_kept_and_flagged_for_a_person(store: Store) -> None:
    deliver(store, mail("Jane Doe <jane@acme-robotics.io>", SIGNED))
    signed_gmail = SIGNED.replace("+1 415 555 0134\n", "")
    deliver(store, mail("Jane Doe <jdoe77@gmail.com>", signed_gmail))
    with store.transaction() as session:
        first, second = storage.leads.listing(session)
        assert second.id is not None and first.id is not None
        [flag] = storage.duplicates.open_flags(session, second.id)
        entries = storage.timeline.for_lead(session, second.id)
        [note] = [n for n in storage.outbox.listing(session) if n.lead_id == second.id]
    assert (flag.lead_id, flag.other_id) == (second.id, first.id)
    assert 0.70 <= flag.score < 0.85
    flagged = [e.summary for e in entries if e.kind == "duplicate.flagged"]
    assert flagged == [f"possible duplicate of L-{first.id} ({round(flag.score * 100)}%)"]
    assert note.payload["duplicate"] == flagged[0]


def test_colleagues_and_free_mail_strangers_stay_apart(store: Store) -> None:
    deliver(store, mail("Jane Doe <jane@acme-robotics.io>", SIGNED))
    deliver(store, mail("John Smith <john@acme-robotics.io>", "Pricing please"))
    deliver(store, mail("Acme Robotics <info@acme-robotics.io>", "Send a brochure"))
    deliver(store, mail("Ann Lee <ann.lee@gmail.com>", "Hi"))
    deliver(store, mail("Bo Chan <bo.chan@gmail.com>", "Hi"))
    with store.transaction() as session:
        leads = {lead.email: lead for lead in storage.leads.listing(session)}
        flags = session.exec(select(DuplicateFlag)).all()
        keys = {row.key for row in session.exec(select(LeadBlockKey)).all()}
    assert len(leads) == 5 and flags == []
    # Colleagues share the company keys (the company view), free-mail users share nothing.
    acme = ("jane@acme-robotics.io", "john@acme-robotics.io", "info@acme-robotics.io")
    assert {leads[e].company_domain for e in acme} == {"acme-robotics.io"}
    assert {leads[e].company_domain for e in ("ann.lee@gmail.com", "bo.chan@gmail.com")} == {""}
    # gmail.com is no company: no domain or company block joins its users.
    assert [key for key in keys if "gmail" in key and not key.startswith("em:")] == []
    # A role address gives no personal-email key: info@ is not a person.
    assert "em:info@acme-robotics.io" not in keys and "em:jane@acme-robotics.io" in keys


# --- review: merge and not-a-duplicate commands ------------------------------------------------


def test_only_someone_who_may_change_both_leads_merges_them(store: Store) -> None:
    with store.transaction() as session:
        ann = storage.reps.add(session, Rep(name="Ann", email="ann@sales.test"))
        bob = storage.reps.add(session, Rep(name="Bob", email="bob@sales.test"))
        a = add_lead(session, "jane@acme.io", first_name="Jane", owner_id=ann.id)
        b = add_lead(session, "jd@acme.io", first_name="Jane", owner_id=bob.id)
        with pytest.raises(NotAllowed, match="belongs to Bob"):
            run(session, f"merge L-{a.id} L-{b.id}", Actor.for_rep(ann))
        with pytest.raises(NotAllowed, match="belongs to Ann"):
            run(session, f"notdup L-{b.id} L-{a.id}", Actor.for_rep(bob))


def test_not_a_duplicate_is_never_flagged_or_merged_again(store: Store) -> None:
    with store.transaction() as session:
        a = add_lead(session, "jane@acme.io", first_name="Jane", last_name="Doe", company="Acme")
        b = add_lead(session, "jdoe@gmail.com", first_name="Jane", last_name="Doe", company="Acme")
        [match] = store_match.find_matches(session, b, RULES)
        assert match.key == a.id
        outcome = run(session, f"notdup L-{b.id} L-{a.id}")
        assert outcome.message == f"L-{b.id} and L-{a.id} are different people"
        assert store_match.find_matches(session, b, RULES) == []
        assert store_match.find_matches(session, a, RULES) == []


def test_bad_merge_commands_answer_with_usage(store: Store) -> None:
    for text in ("merge L-1", "merge L-1 L-2 L-3", "notdup L-1", "unmerge L-1 L-2"):
        with pytest.raises(commands.UsageError, match=r"usage: (merge|notdup|unmerge)"):
            commands.parse(text)
    with store.transaction() as session:
        lead = add_lead(session, "jane@acme.io")
        with pytest.raises(ValueError, match="is the same lead"):
            run(session, f"merge L-{lead.id} L-{lead.id}")


# --- blocking in the store --------------------------------------------------------------------


def test_matching_reads_only_the_blocks_of_the_new_lead(store: Store) -> None:
    rules = MatchRules(max_block_size=5)
    with store.transaction() as session:
        # Six people at one company: its company block is over the limit and carries no signal.
        for i in range(6):
            add_lead(session, f"p{i}@globex.test", first_name=f"Person{i}", last_name="Smith",
                     company="Globex")  # fmt: skip
        twin = add_lead(session, "mary@initech.test", first_name="Mary", last_name="Major",
                        company="Initech", phone="+1 212 555 0199")  # fmt: skip
        probe = Lead(id=10_000, email="m.major@initech.test", first_name="Mary", last_name="Major",
                     company="Initech", phone="+1 212 555 0199", reply_token="x")  # fmt: skip
        sizes = storage.duplicates.block_sizes(session, ["co:globex", "co:initech"])
        assert sizes == {"co:globex": 6, "co:initech": 1}
        # Counted up to the limit + 1 only: a big block is known to be too big, not read whole.
        capped = storage.duplicates.block_sizes(session, ["co:globex", "co:initech"], cap=5)
        assert capped == {"co:globex": 6, "co:initech": 1}
        assert storage.duplicates.block_sizes(session, ["co:globex", "co:nobody"], cap=2) == {
            "co:globex": 3
        }
        [match] = store_match.find_matches(session, probe, rules)
        assert (match.key, match.verdict) == (twin.id, "merge")
        stranger = Lead(id=10_001, email="x@globex.test", first_name="Zed", last_name="Quux",
                        company="Globex", reply_token="y")  # fmt: skip
        assert store_match.find_matches(session, stranger, rules) == []


def test_read_only_matches_ask_for_the_model_in_force_once(store: Store) -> None:
    """`Store.reading` makes an option engine per read; the model look-up is kept per pool, so
    a match in a read does not query for it each time (it was a tenth of a match at 1M)."""
    from sqlalchemy import event

    with store.transaction() as session:
        twin = add_lead(session, "mary@initech.test", first_name="Mary", last_name="Major",
                        company="Initech", phone="+1 212 555 0199")  # fmt: skip
        assert twin.id is not None
        twin_id = twin.id
    asked: list[str] = []

    def count(conn, cursor, statement, *_):  # type: ignore[no-untyped-def]
        if "match_models" in statement:
            asked.append(statement)

    event.listen(store.engine, "before_cursor_execute", count)
    store_match.model_saved(store.engine)  # forget what an earlier test of this process saw
    probe = Lead(id=10_000, email="m.major@initech.test", first_name="Mary", last_name="Major",
                 company="Initech", phone="+1 212 555 0199", reply_token="x")  # fmt: skip
    for _ in range(5):
        with store.reading() as session:
            [match] = store_match.find_matches(session, probe, RULES)
            assert match.key == twin_id
            forms = storage.duplicates.match_forms(session, [twin_id])
            assert isinstance(forms[twin_id], dict) and forms[twin_id]
    event.remove(store.engine, "before_cursor_execute", count)
    assert len(asked) == 1
