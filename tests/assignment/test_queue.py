"""The assignment queue on a real store (SQLite and PostgreSQL), with a clock the test moves:
MQLs enter, offers respect capacity and availability, lapsed offers move on, reps are told."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

import storage.assignment
import storage.leads
import storage.outbox
import storage.reps
import storage.timeline
from bot.assignment.decide import Assigner, explain
from bot.leads import actions, commands
from bot.leads.permissions import Actor
from bot.leads.reply_address import new_reply_token
from bot.rules.file import Rules, parse_rules
from bot.scoring import qualification
from storage.engine import Store
from storage.models import Lead, Rep, utcnow

RULES = parse_rules(
    """
[scoring.points]
enquiry = 30
reply = 20
click = 10
open = 10
page_visit = 1

[mql]
min_score = 50
min_grade = "D"

[assignment]
recheck_seconds = 60

[[assignment.rule]]
name = "everyone"
pool = "all"
strategy = "round_robin"
sla_minutes = 10
""",
    "test rules",
)


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def assigner(store: Store, clock: Clock, rules: Rules = RULES, seed: int = 1) -> Assigner:
    return Assigner(store, lambda: rules, clock=clock, rng=random.Random(seed))


def add_rep(store: Store, name: str, **fields: object) -> Rep:
    with store.transaction() as session:
        return storage.reps.add(
            session,
            Rep(name=name, email=f"{name.lower()}@sales.test", **fields),  # type: ignore[arg-type]
        )


def add_lead(store: Store, email: str, kinds: tuple[str, ...] = (), **fields: object) -> int:
    """A lead with behaviour events on its timeline, as the pipeline and tracking write them."""
    with store.transaction() as session:
        lead = storage.leads.add(
            session,
            Lead(email=email, reply_token=new_reply_token(), **fields),  # type: ignore[arg-type]
        )
        assert lead.id is not None
        for kind in kinds:
            storage.timeline.append(session, lead.id, actor="test", kind=kind, summary=kind)
        return lead.id


HOT = ("email.enquiry", "email.reply")  # 50 points: an MQL


def lead_row(store: Store, lead_id: int) -> Lead:
    with store.transaction() as session:  # not reading(): its rollback would expire the row
        lead = storage.leads.by_id(session, lead_id)
        assert lead is not None
        return lead


def kinds_of(store: Store, lead_id: int) -> list[str]:
    with store.reading() as session:
        return [e.kind for e in storage.timeline.for_lead(session, lead_id)]


def summaries(store: Store, lead_id: int, kind: str) -> list[str]:
    with store.reading() as session:
        return [e.summary for e in storage.timeline.for_lead(session, lead_id) if e.kind == kind]


def queue_state(store: Store, lead_id: int) -> str | None:
    with store.reading() as session:
        item = storage.assignment.item_for_lead(session, lead_id)
        return item.state if item else None


def test_mqls_enter_the_queue_and_are_offered_the_others_stay_with_marketing(
    store: Store, clock: Clock
) -> None:
    ann = add_rep(store, "Ann")
    hot = add_lead(store, "hot@acme.test", HOT)
    cool = add_lead(store, "cool@acme.test", ("email.enquiry",))
    result = assigner(store, clock).drain()
    assert (result.scored, result.offered, result.waiting) == (2, 1, 0)

    assert lead_row(store, hot).owner_id == ann.id
    assert (lead_row(store, hot).stage, lead_row(store, hot).score) == ("mql", 50)
    assert kinds_of(store, hot)[-3:] == ["mql", "queued", "assigned"]
    assert summaries(store, hot, "assigned") == [
        "assigned to Ann by rule 'everyone' (round robin); respond within 10 min"
    ]
    with store.reading() as session:
        [item] = [i for i in storage.outbox.listing(session) if i.kind == "lead.assigned"]
        assert (item.lead_id, item.rep_id, item.payload["rule"]) == (hot, ann.id, "everyone")

    cool_lead = lead_row(store, cool)
    assert (cool_lead.owner_id, cool_lead.stage, cool_lead.score) == (None, "lead", 30)
    assert queue_state(store, cool) is None

    # A click later makes the cool lead an MQL: the scorer follows the timeline.
    with store.transaction() as session:
        storage.timeline.append(session, cool, actor="tracking", kind="email.clicked",
                                summary="clicked")  # fmt: skip
        storage.timeline.append(session, cool, actor="tracking", kind="email.opened",
                                summary="opened")  # fmt: skip
    assert assigner(store, clock).drain().offered == 1
    assert lead_row(store, cool).owner_id == ann.id


def test_a_lead_nobody_can_take_waits_and_is_offered_when_a_rep_frees_up(
    store: Store, clock: Clock
) -> None:
    ann = add_rep(store, "Ann", capacity=1)
    first = add_lead(store, "first@acme.test", HOT)
    second = add_lead(store, "second@acme.test", HOT)
    run = assigner(store, clock)
    result = run.drain()
    assert (result.offered, result.waiting) == (1, 1)
    assert queue_state(store, second) == "waiting"

    with store.transaction() as session:
        lead = storage.leads.by_id(session, first)
        assert lead is not None
        actions.transition(session, lead, "trash", "rep:Ann", reason="spam")
    assert run.drain().offered == 0  # looked at again after recheck_seconds, not at once
    clock.advance(seconds=61)
    assert run.drain().offered == 1
    assert lead_row(store, second).owner_id == ann.id


def test_resuming_a_paused_rep_offers_the_waiting_leads_at_once(store: Store, clock: Clock) -> None:
    add_rep(store, "Ann", paused=True)
    lead_id = add_lead(store, "x@acme.test", HOT)
    run = assigner(store, clock)
    assert run.drain().waiting == 1
    with store.transaction() as session:
        rep = actions.find_rep(session, "ann@sales.test")
        rep.paused = False
        storage.assignment.wake_waiting(session)
    assert run.drain().offered == 1
    assert lead_row(store, lead_id).owner_id is not None


def test_working_hours_are_read_in_the_reps_time_zone(store: Store, clock: Clock) -> None:
    def hours_from(zone: str, offset: int) -> str:
        """A one-hour window starting `offset` hours from now, in `zone`."""
        hour = (clock.now.astimezone(ZoneInfo(zone)).hour + offset) % 24
        return f"{hour:02d}:00-{(hour + 1) % 24:02d}:00"

    add_rep(store, "Ann", timezone="Europe/Berlin", working_hours=hours_from("Europe/Berlin", 2))
    add_rep(store, "Kai", timezone="Asia/Tokyo", working_hours=hours_from("Asia/Tokyo", 0))
    lead_id = add_lead(store, "x@acme.test", HOT)
    assigner(store, clock).drain()
    owner = lead_row(store, lead_id).owner_id
    with store.reading() as session:
        assert (rep := storage.reps.by_id(session, owner or 0)) and rep.name == "Kai"


def test_out_of_office_reps_are_passed_over(store: Store, clock: Clock) -> None:
    today = clock.now.date().isoformat()
    add_rep(store, "Ann", out_of_office=[today])
    add_rep(store, "Bob")
    ids = [add_lead(store, f"l{i}@acme.test", HOT) for i in range(3)]
    assigner(store, clock).drain()
    with store.reading() as session:
        names = {storage.reps.by_id(session, lead_row(store, i).owner_id or 0).name for i in ids}  # type: ignore[union-attr]
    assert names == {"Bob"}


def test_an_offer_nobody_acts_on_moves_to_the_next_rep_and_the_manager_is_told(
    store: Store, clock: Clock
) -> None:
    ann = add_rep(store, "Ann", last_assigned_at=clock.now - timedelta(days=2))
    bob = add_rep(store, "Bob", last_assigned_at=clock.now - timedelta(days=1))
    meg = add_rep(store, "Meg", role="manager")
    lead_id = add_lead(store, "x@acme.test", HOT)
    run = assigner(store, clock)
    run.drain()
    assert lead_row(store, lead_id).owner_id == ann.id  # she waited longest

    clock.advance(minutes=9)
    assert run.drain().reassigned == 0
    clock.advance(minutes=2)
    assert run.drain().reassigned == 1
    assert lead_row(store, lead_id).owner_id == bob.id
    assert summaries(store, lead_id, "assignment.sla_missed") == ["Ann did not act within 10 min"]
    assert summaries(store, lead_id, "assigned")[-1] == (
        "reassigned from Ann to Bob by rule 'everyone' (round robin); respond within 10 min"
    )
    with store.reading() as session:
        told = [i for i in storage.outbox.listing(session) if i.kind == "lead.sla_missed"]
        assert [(i.rep_id, i.payload["subject"]) for i in told] == [
            (meg.id, f"Ann did not act on L-{lead_id} within 10 min; reassigned to Bob")
        ]
        item = storage.assignment.item_for_lead(session, lead_id)
        assert item is not None and (item.state, item.hops, item.tried) == ("offered", 1, [ann.id])
        assert [(a.rep_id, a.kind) for a in storage.assignment.for_lead(session, lead_id)] == [
            (ann.id, "offer"), (bob.id, "reassign")]  # fmt: skip

    # Bob lets it lapse too: everyone has had it once, so the round starts again with Ann.
    clock.advance(minutes=11)
    assert run.drain().reassigned == 1
    assert lead_row(store, lead_id).owner_id == ann.id
    assert kinds_of(store, lead_id).count("assignment.sla_missed") == 2


def test_an_offer_acted_on_in_time_stays(store: Store, clock: Clock) -> None:
    ann = add_rep(store, "Ann")
    add_rep(store, "Bob")
    lead_id = add_lead(store, "x@acme.test", HOT)
    run = assigner(store, clock)
    run.drain()
    owner = lead_row(store, lead_id).owner_id
    with store.transaction() as session:
        rep = storage.reps.by_id(session, owner or 0)
        assert rep is not None
        commands.execute(session, commands.parse(f"work L-{lead_id}"), Actor.for_rep(rep))
    clock.advance(minutes=30)
    assert run.drain().reassigned == 0
    assert lead_row(store, lead_id).owner_id == owner
    assert queue_state(store, lead_id) == "done"
    assert ann.id is not None


def test_a_lapsed_offer_with_nobody_else_goes_back_to_the_queue(store: Store, clock: Clock) -> None:
    add_rep(store, "Ann")
    lead_id = add_lead(store, "x@acme.test", HOT)
    run = assigner(store, clock)
    run.drain()
    clock.advance(minutes=11)
    assert run.drain().reassigned == 1
    assert lead_row(store, lead_id).owner_id is None
    assert queue_state(store, lead_id) == "waiting"
    assert summaries(store, lead_id, "assignment.requeued") == [
        "back in the queue: nobody else can take it now"
    ]
    with store.reading() as session:  # no manager: the notice goes to the channel/console
        told = [i for i in storage.outbox.listing(session) if i.kind == "lead.sla_missed"]
        assert [i.rep_id for i in told] == [None]
    clock.advance(seconds=61)
    assert run.drain().offered == 1  # Ann again: nobody else is there


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
    assert lines[-1] == "mql: score 31 < 50; grade D meets D"


def test_why_is_part_of_the_shared_grammar() -> None:
    assert commands.parse("why L-3") == commands.Command("why", "L-3")
    with pytest.raises(commands.UsageError):
        commands.parse("why L-3 extra")
    assert "why <lead>" in commands.usage_text()


def test_explain_shows_the_rule_the_reps_and_the_history(store: Store, clock: Clock) -> None:
    add_rep(store, "Ann", capacity=0)
    add_rep(store, "Bob")
    lead_id = add_lead(store, "x@acme.test", HOT)
    assigner(store, clock).drain()
    with store.reading() as session:
        lead = storage.leads.by_id(session, lead_id)
        assert lead is not None
        text = explain(session, lead, RULES, clock.now)
    assert "rule 'everyone' matches: any lead → every rep by round_robin (SLA 10 min)" in text
    assert "  R-1 Ann <ann@sales.test> (0/0): skipped: at capacity (0/0 open leads)" in text
    assert "now with Bob (R-2); a decision made now would weigh:" in text
    assert "offer → Bob (rule 'everyone', round_robin)" in text


def test_the_report_keeps_the_last_n_per_rep(store: Store, clock: Clock) -> None:
    add_rep(store, "Ann")
    add_rep(store, "Bob")
    for i in range(7):
        add_lead(store, f"l{i}@acme.test", HOT)
    run = assigner(store, clock)
    run.drain()
    with store.reading() as session:
        recent = [(a.rep_id, a.id) for a in storage.assignment.recent_per_rep(session, 2)]
        totals = storage.assignment.assignments_total(session)
    assert sorted(totals.values()) == [3, 4]  # round robin: turn and turn about
    assert [rep_id for rep_id, _ in recent] == [1, 1, 2, 2]
    assert recent[0][1] > recent[1][1] and recent[2][1] > recent[3][1]  # newest first


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


def test_a_waiting_lead_closed_meanwhile_leaves_the_queue(store: Store, clock: Clock) -> None:
    add_rep(store, "Ann", paused=True)
    lead_id = add_lead(store, "x@acme.test", HOT)
    run = assigner(store, clock)
    run.drain()
    with store.transaction() as session:
        lead = storage.leads.by_id(session, lead_id)
        assert lead is not None
        actions.transition(session, lead, "trash", "cli:ops", reason="spam")
        actions.find_rep(session, "ann@sales.test").paused = False
        storage.assignment.wake_waiting(session)
    assert run.drain().offered == 0
    assert queue_state(store, lead_id) == "done"
    assert lead_row(store, lead_id).owner_id is None


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
