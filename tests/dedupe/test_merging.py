"""Merging two leads and undoing it, on a real store (SQLite file and PostgreSQL)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlmodel import select

import storage.duplicates
import storage.leads
import storage.outbox
import storage.reps
import storage.timeline
from bot.dedupe import merging
from bot.dedupe.match import MatchRules
from bot.leads.reply_address import reply_address_for
from bot.rules.file import default_rules
from storage.engine import Store
from storage.models import (
    Campaign,
    CampaignMember,
    CampaignSend,
    CampaignStep,
    LeadMerge,
    TrackingEvent,
)
from tests.factories import add_indexed_lead as add_lead
from tests.factories import run
from tests.mail_in.test_pipeline import REPLY_BASE, deliver, mail

RULES = MatchRules()


SIGNED = (
    "Hello, we need 40 robots.\n\n--\nJane Doe\nHead of Operations, Acme Robotics\n"
    "+1 415 555 0134\n"
)


def test_merge_keeps_the_best_value_per_field_and_every_timeline_entry(store: Store) -> None:
    with store.transaction() as session:
        old = add_lead(session, "jane@acme.io", first_name="Jane", last_name="Doe",
                       company="Acme", phone="+1 415 555 0134", city="Boston")  # fmt: skip
        new = add_lead(session, "jd@acme.io", first_name="Jane", last_name="Doe",
                       company="Acme Inc", title="COO", phone="", city="Austin")  # fmt: skip
        assert old.id is not None and new.id is not None
        for lead, n in ((old, 3), (new, 2)):
            for i in range(n):
                assert lead.id is not None
                storage.timeline.append(session, lead.id, actor="t", kind="note", summary=f"{i}")
        old_id, new_id = old.id, new.id
    with store.transaction() as session:
        before = {e.id for e in session.exec(select(storage.timeline.TimelineEntry)).all()}
        result = run(session, f"merge L-{new_id} L-{old_id}")
        assert result.message.startswith(f"L-{new_id} merged into L-{old_id}")
    with store.transaction() as session:
        survivor = storage.leads.by_id(session, old_id)
        assert survivor is not None
        # newest non-empty wins (the merged lead is newer), an empty value never overwrites
        assert (survivor.title, survivor.company, survivor.city) == ("COO", "Acme Inc", "Austin")
        assert survivor.phone == "+1 415 555 0134" and survivor.email == "jane@acme.io"
        on_survivor = {e.id for e in storage.timeline.for_lead(session, old_id)}
        on_merged = storage.timeline.for_lead(session, new_id)
        assert before <= on_survivor  # every entry of both leads is on the survivor
        assert [e.kind for e in on_merged] == ["merged_into"]
        assert storage.leads.count(session) == 1


def test_source_priority_survivorship(store: Store) -> None:
    match = MatchRules(survivorship="source_priority", source_priority=("form", "email"))
    rules = replace(default_rules(), match=match)
    with store.transaction() as session:
        form = add_lead(session, "a@acme.io", first_name="Jane", title="CTO", source="form")
        mail_lead = add_lead(session, "b@acme.io", first_name="Janet", title="VP", source="email")
        merging.merge(session, mail_lead, form, "t", rules)
        assert (form.first_name, form.title) == ("Jane", "CTO")  # the form's values win
    with store.transaction() as session:
        form2 = add_lead(session, "c@acme.io", title="", source="form")
        mail2 = add_lead(session, "d@acme.io", title="VP", source="email")
        merging.merge(session, mail2, form2, "t", rules)
        assert form2.title == "VP"  # a lower source still fills an empty field


def test_unmerge_restores_both_leads_and_keeps_later_edits(store: Store) -> None:
    with store.transaction() as session:
        old = add_lead(session, "jane@acme.io", first_name="Jane", last_name="Doe", title="")
        new = add_lead(session, "jd@acme.io", first_name="Jane", last_name="Doe", title="COO",
                       phone="+1 415 555 0134")  # fmt: skip
        storage.timeline.append(session, new.id or 0, actor="t", kind="note", summary="mine")
        old_id, new_id = old.id, new.id
        keys_before = set(storage.duplicates.block_members(session, ["em:jd@acme.io"]))
    with store.transaction() as session:
        run(session, f"merge L-{new_id} L-{old_id}")
        assert storage.duplicates.block_sizes(session, ["em:jd@acme.io"]) == {}
    with store.transaction() as session:
        survivor = storage.leads.by_id(session, old_id or 0)
        assert survivor is not None and survivor.title == "COO"
        survivor.phone = "+1 617 555 0100"  # a rep corrects it after the merge
        session.add(survivor)
    with store.transaction() as session:
        outcome = run(session, f"unmerge L-{new_id}")
        assert "kept phone" in outcome.message
    with store.transaction() as session:
        survivor = storage.leads.by_id(session, old_id or 0)
        merged = storage.leads.by_id(session, new_id or 0)
        assert survivor is not None and merged is not None
        assert merged.merged_into_id is None and survivor.title == ""
        assert survivor.phone == "+1 617 555 0100"  # the later edit stays
        kinds = [e.kind for e in storage.timeline.for_lead(session, new_id or 0)]
        assert kinds.count("note") == 1 and "unmerged" in kinds
        assert set(storage.duplicates.block_members(session, ["em:jd@acme.io"])) == keys_before
        [record] = session.exec(select(LeadMerge)).all()
        assert record.undone_at is not None
        assert storage.leads.count(session) == 2
    with store.transaction() as session, pytest.raises(ValueError, match="not merged into"):
        run(session, f"unmerge L-{new_id}")


def test_merged_lead_refuses_actions_and_points_at_its_survivor(store: Store) -> None:
    with store.transaction() as session:
        old = add_lead(session, "jane@acme.io", first_name="Jane")
        new = add_lead(session, "jd@acme.io", first_name="Jane")
        run(session, f"merge L-{new.id} L-{old.id}")
        token = new.reply_token
    with store.transaction() as session:
        with pytest.raises(ValueError, match=f"L-{new.id} was merged into L-{old.id}"):
            run(session, f"qualify L-{new.id}")
        assert run(session, f"show L-{new.id}").message == f"L-{new.id} was merged into L-{old.id}"
        survivor = storage.leads.by_reply_token(session, token)
        assert survivor is not None and survivor.id == old.id
    # A reply to the merged lead's own reply address threads onto the survivor.
    deliver(store, mail("Jane <jd@acme.io>", "yes"), rcpt=reply_address_for(token, REPLY_BASE))
    with store.transaction() as session:
        kinds = [e.kind for e in storage.timeline.for_lead(session, old.id or 0)]
        assert "email.reply" in kinds


def test_a_merge_scores_the_survivor_with_the_moved_events(store: Store) -> None:
    with store.transaction() as session:
        old = add_lead(session, "jane@acme.io", first_name="Jane", last_name="Doe")
        new = add_lead(session, "jd@acme.io", first_name="Jane", last_name="Doe")
        for lead in (old, new):
            storage.timeline.append(session, lead.id or 0, actor="t", kind="email.enquiry",
                                    summary="enquiry")  # fmt: skip
    with store.transaction() as session:
        run(session, f"merge L-{new.id} L-{old.id}")
        survivor = storage.leads.by_id(session, old.id or 0)
        assert survivor is not None
        merged_score = survivor.score
    with store.transaction() as session:
        run(session, f"unmerge L-{new.id}")
        survivor = storage.leads.by_id(session, old.id or 0)
        assert survivor is not None
    # two enquiries score more than one (the default rules: 25 points each, fresh)
    assert merged_score > survivor.score > 0


def test_a_merge_moves_campaign_rows_and_leaves_a_twin_membership_behind(store: Store) -> None:
    with store.transaction() as session:
        old = add_lead(session, "jane@acme.io", first_name="Jane", last_name="Doe")
        new = add_lead(session, "jd@acme.io", first_name="Jane", last_name="Doe")
        spring, autumn = (Campaign(name=n, template_set="example") for n in ("spring", "autumn"))
        session.add_all([spring, autumn])
        session.flush()
        step = CampaignStep(campaign_id=spring.id or 0, position=0, template="welcome")
        session.add(step)
        session.flush()
        both = [CampaignMember(campaign_id=spring.id or 0, lead_id=lead.id or 0)
                for lead in (old, new)]  # fmt: skip
        only_new = CampaignMember(campaign_id=autumn.id or 0, lead_id=new.id or 0)
        send = CampaignSend(campaign_id=spring.id or 0, step_id=step.id or 0,
                            lead_id=new.id or 0, address=new.email)  # fmt: skip
        session.add_all([*both, only_new, send])
        session.flush()
        event = TrackingEvent(send_id=send.id or 0, campaign_id=spring.id or 0,
                              lead_id=new.id or 0, kind="open", verdict="human")  # fmt: skip
        session.add(event)
        session.flush()
        ids = {"twin": both[1].id, "only_new": only_new.id, "send": send.id, "event": event.id}
    with store.transaction() as session:
        run(session, f"merge L-{new.id} L-{old.id}")
    with store.transaction() as session:
        owner = {
            name: session.get(model, ids[name]).lead_id  # type: ignore[union-attr]
            for name, model in (("twin", CampaignMember), ("only_new", CampaignMember),
                                ("send", CampaignSend), ("event", TrackingEvent))
        }  # fmt: skip
    # The survivor is in spring already: the merged lead's spring membership stays behind (and
    # stops: a merged lead is never mailed); everything else moves.
    assert owner == {"twin": new.id, "only_new": old.id, "send": old.id, "event": old.id}
    with store.transaction() as session:
        run(session, f"unmerge L-{new.id}")
    with store.transaction() as session:
        assert session.get(CampaignMember, ids["only_new"]).lead_id == new.id  # type: ignore[union-attr]
        assert session.get(TrackingEvent, ids["event"]).lead_id == new.id  # type: ignore[union-attr]
