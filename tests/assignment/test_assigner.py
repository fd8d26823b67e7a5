"""The assignment queue on a real store (SQLite and PostgreSQL), with a clock the test moves:
MQLs enter, offers respect capacity and availability, lapsed offers move on, reps are told."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import storage.assignment
import storage.leads
import storage.outbox
import storage.reps
import storage.timeline
from bot.leads import actions, commands
from bot.leads.permissions import Actor
from bot.rules.file import parse_rules
from storage.engine import Store
from tests.assignment.helpers import (
    HOT,
    Clock,
    add_lead,
    add_rep,
    assigner,
    kinds_of,
    lead_row,
    queue_state,
    summaries,
)


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


FALL_THROUGH = """
[scoring.points]
enquiry = 30
reply = 20

[mql]
min_score = 50
min_grade = "D"
enquiries_enter_queue = false

[assignment]
recheck_seconds = 60
{manager}

[[assignment.rule]]
name = "ann-first"
pool = ["ann@sales.test"]
sla_minutes = 10
{backup}
"""
BACKUP = '\n[[assignment.rule]]\nname = "backup"\npool = ["bob@sales.test"]\nsla_minutes = 10\n'


def test_a_lead_whose_only_rep_let_it_lapse_falls_to_the_next_rule(
    store: Store, clock: Clock
) -> None:
    add_rep(store, "Ann")
    bob = add_rep(store, "Bob")
    lead_id = add_lead(store, "x@acme.test", HOT)
    run = assigner(store, clock, parse_rules(FALL_THROUGH.format(manager="", backup=BACKUP), "t"))
    run.drain()
    clock.advance(minutes=11)
    assert run.drain().reassigned == 1
    assert lead_row(store, lead_id).owner_id == bob.id  # not Ann again, not waiting for ever


def test_a_lead_whose_only_rep_let_it_lapse_goes_to_the_manager(store: Store, clock: Clock) -> None:
    add_rep(store, "Ann")
    mo = add_rep(store, "Mo", role="manager")
    lead_id = add_lead(store, "x@acme.test", HOT)
    text = FALL_THROUGH.format(manager='manager = "mo@sales.test"', backup="")
    run = assigner(store, clock, parse_rules(text, "t"))
    run.drain()
    clock.advance(minutes=11)
    assert run.drain().reassigned == 1
    assert lead_row(store, lead_id).owner_id == mo.id
