"""Scoring on the timeline and `lead why`: the scorer follows every committed event, and why
says which events and rules made the score, the grade and the MQL decision."""

from __future__ import annotations

import pytest
from sqlmodel import Session

import storage.timeline
from bot.leads import commands
from bot.leads.permissions import Actor
from bot.scoring import qualification
from storage.engine import Store
from storage.models import utcnow
from tests.assignment.helpers import RULES, add_lead, lead_row


def test_why_lists_events_rules_score_and_grade(store: Store) -> None:
    lead_id = add_lead(store, "jane@gmail.com", ("email.enquiry", "page.visit"), title="CTO")
    with store.transaction() as session:
        outcome = commands.execute(
            session, commands.parse(f"why L-{lead_id}"), Actor.operator("ops"), rules=RULES
        )
    lines = outcome.message.splitlines()
    assert (
        lines[0]
        == f"L-{lead_id} jane@gmail.com: score 31, grade D (not an MQL; rules from test rules)"
    )
    assert lines[1] == "score: events with half-life 30 days"
    assert lines[2].endswith("enquiry    +30 → 30.00 now")
    assert lines[3].endswith("page_visit +1 → 1.00 now")
    assert "  +25 seniority executive (title 'CTO')" in lines
    assert "  -10 free-mail address (gmail.com)" in lines
    mql = lines.index(
        "mql: score 31 < 50; grade D meets D; "
        "an enquiry waits for the MQL thresholds (mql.enquiries_enter_queue = false)"
    )
    # Why it is not in the assignment queue, in words, right after (what enrichment found
    # follows).
    assert lines[mql + 1].startswith("queue: not queued: not an MQL (score 31 < 50;")
    # then what enrichment found (nothing here: no phone, a free-mail domain)
    enriched = lines.index("enriched: nothing (stated values, or nothing in the capture to go by)")
    assert enriched > mql


def test_why_is_part_of_the_shared_grammar() -> None:
    assert commands.parse("why L-3") == commands.Command("why", "L-3")
    with pytest.raises(commands.UsageError):
        commands.parse("why L-3 extra")
    assert "why <lead>" in commands.usage_text()


def test_an_event_committed_after_a_later_one_is_still_scored(postgres_url: str) -> None:
    """PostgreSQL hands out ids at insert, not at commit: the scorer must not skip the late one."""
    store = Store(postgres_url)
    early = add_lead(store, "early@acme.test")
    late = add_lead(store, "late@acme.test")
    ticks = [0.0]
    scorer = qualification.Scorer(store, clock=lambda: ticks[0])
    slow = Session(store.engine)  # an inbox worker in the middle of a transaction
    storage.timeline.append(slow, early, actor="test", kind="email.enquiry", summary="first id")
    storage.timeline.append(slow, early, actor="test", kind="email.reply", summary="first id")
    slow.flush()
    with store.transaction() as session:
        storage.timeline.append(session, late, actor="test", kind="email.enquiry", summary="next")
    assert scorer.run(RULES, utcnow()) == 1
    ticks[0] = 1.0
    slow.commit()
    slow.close()
    assert scorer.run(RULES, utcnow()) == 1
    assert (lead_row(store, early).score, lead_row(store, early).stage) == (50, "mql")
    ticks[0] = 10.0
    assert scorer.run(RULES, utcnow()) == 0  # read again, nothing new: no work
    assert scorer.run(RULES, utcnow()) == 0 and not scorer.pending()  # the cursor moved on
    store.dispose()


def test_why_fits_one_slack_message_however_long_the_history(store: Store) -> None:
    from bot.integrations.slack.blocks import message_blocks

    lead_id = add_lead(store, "busy@acme.test", ("page.visit",) * 60 + ("email.reply",))
    with store.transaction() as session:
        outcome = commands.execute(
            session, commands.parse(f"why L-{lead_id}"), Actor.operator("ops"), rules=RULES
        )
    assert outcome.lead is None  # Slack shows it as a message, not as the lead's card
    assert "  … 46 earlier events, worth 46.00 now" in outcome.message.splitlines()
    [section] = message_blocks(outcome.message)
    assert len(section["text"]["text"]) < 3000
