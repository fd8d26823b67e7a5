"""The command grammar on a real store: permissions, assignment, conversion, listings."""

from __future__ import annotations

import pytest
from sqlmodel import Session

import storage.accounts
import storage.leads
import storage.outbox
import storage.reps
import storage.timeline
from bot.leads import actions, commands
from bot.leads.lifecycle import IllegalTransition
from bot.leads.permissions import Actor, NotAllowed
from bot.leads.reply_address import new_reply_token
from storage.engine import Store
from storage.models import Account, Lead, Rep

OPERATOR = Actor.operator("ops")


def add_lead(session: Session, email: str, owner: Rep | None = None, **fields: str) -> Lead:
    return storage.leads.add(
        session,
        Lead(
            email=email,
            reply_token=new_reply_token(),
            owner_id=owner.id if owner else None,
            **fields,
        ),
    )


def run(session: Session, text: str, actor: Actor = OPERATOR, **kw: bool) -> commands.Outcome:
    return commands.execute(session, commands.parse(text), actor, **kw)


@pytest.fixture
def team(store: Store) -> dict[str, Rep]:
    with store.transaction() as session:
        return {
            name: storage.reps.add(session, Rep(name=name.title(), email=f"{name}@sales.test",
                                                role=role, slack_user_id=f"U{name.upper()}"))
            for name, role in (("ann", "rep"), ("bob", "rep"), ("meg", "manager"))
        }  # fmt: skip


def test_reps_act_only_on_their_own_leads(store: Store, team: dict[str, Rep]) -> None:
    ann, bob, meg = (Actor.for_rep(team[n]) for n in ("ann", "bob", "meg"))
    with store.transaction() as session:
        add_lead(session, "x@acme.test", owner=team["ann"])
    with store.transaction() as session:
        with pytest.raises(NotAllowed, match="L-1 belongs to Ann"):
            run(session, "qualify L-1", bob)
        assert run(session, "show L-1", bob).lead is not None  # reading is open to reps
        assert run(session, "qualify L-1", ann).message == "L-1 is now qualified"
        assert run(session, "note L-1 'checked budget'", meg).message == "note added to L-1"
        with pytest.raises(NotAllowed, match="only managers and admins assign"):
            run(session, "assign L-1 bob@sales.test", ann)
        entries = storage.timeline.for_lead(session, 1)
    assert [(e.actor, e.kind) for e in entries] == [
        ("rep:Ann", "status.qualify"), ("rep:Meg", "note"),
    ]  # fmt: skip


def test_assign_by_mention_notifies_the_rep(store: Store, team: dict[str, Rep]) -> None:
    with store.transaction() as session:
        add_lead(session, "x@acme.test")
        outcome = run(session, "assign L-1 <@UBOB|bob>", Actor.for_rep(team["meg"]))
    assert outcome.message == "L-1 assigned to Bob"
    with store.transaction() as session:
        lead = storage.leads.by_id(session, 1)
        [note] = storage.outbox.listing(session)
        assert lead is not None and lead.owner_id == team["bob"].id
        assert (note.kind, note.rep_id) == ("lead.assigned", team["bob"].id)
        with pytest.raises(actions.RepNotFound):
            run(session, "assign L-1 nobody@sales.test")


def test_convert_matches_the_existing_account_and_unconvert_keeps_it(
    store: Store, team: dict[str, Rep]
) -> None:
    with store.transaction() as session:
        storage.accounts.add(session, Account(name="Acme Robotics", domain="acme.test"))
        add_lead(session, "jane@acme.test", owner=team["ann"], company="ACME Robotics GmbH",
                 first_name="Jane", last_name="Doe")  # fmt: skip
    ann = Actor.for_rep(team["ann"])
    with store.transaction() as session:
        with pytest.raises(commands.NeedsInput):
            run(session, "convert L-1", ann, interactive=True)  # Slack asks in a modal
        outcome = run(session, "convert L-1 Robots for Acme 12.5k", ann)
    assert outcome.message == (
        "L-1 converted: account Acme Robotics, opportunity O-1 Robots for Acme (12,500.00)"
    )
    with store.transaction() as session:
        [opportunity] = storage.accounts.opportunities_for_lead(session, 1)
        contact = storage.accounts.contact_for_lead(session, 1)
        assert (opportunity.amount, opportunity.account_id, opportunity.stage) == (
            12500.0, 1, "prospecting",
        )  # fmt: skip
        assert contact is not None and (contact.email, contact.account_id) == ("jane@acme.test", 1)
        lead = storage.leads.by_id(session, 1)
        assert lead is not None and (lead.status, lead.stage) == ("converted", "opportunity")
        removed = commands.execute(session, commands.parse("unconvert L-1"), ann).message
    assert removed == (
        "L-1 is nurturing again; removed opportunity O-1 Robots for Acme, contact jane@acme.test"
    )
    with store.transaction() as session:
        assert storage.accounts.account_by_id(session, 1) is not None  # it existed before
        lead = storage.leads.by_id(session, 1)
        assert lead is not None and (lead.status, lead.account_id) == ("nurturing", None)


def test_unconvert_removes_an_account_the_conversion_created(store: Store) -> None:
    with store.transaction() as session:
        add_lead(session, "sam@gmail.com", company="Sam's Garage")
        run(session, "convert L-1")
    with store.transaction() as session:
        account = storage.accounts.account_by_name(session, "Sam's Garage")
        assert account is not None and account.domain is None  # free mail: no domain link
        run(session, "unconvert L-1")
        assert storage.accounts.account_by_name(session, "Sam's Garage") is None
        with pytest.raises(IllegalTransition, match="cannot unconvert a lead that is nurturing"):
            run(session, "unconvert L-1")


def test_a_stale_card_cannot_apply_a_second_transition(store: Store) -> None:
    with store.transaction() as session:
        lead = add_lead(session, "x@acme.test")
        seen = lead.version
    click = commands.Command("qualify", "L-1", expected_version=seen)
    with store.transaction() as session:
        commands.execute(session, click, OPERATOR)
    with store.transaction() as session, pytest.raises(actions.StaleLead, match="now qualified"):
        commands.execute(session, click, OPERATOR)  # the double click


def test_listings(store: Store, team: dict[str, Rep]) -> None:
    with store.transaction() as session:
        add_lead(session, "a@acme.test", owner=team["ann"], company="Acme")
        add_lead(session, "b@initech.test", company="Initech", first_name="Bill")
        add_lead(session, "c@acme.test", owner=team["ann"], status="trashed")
    with store.transaction() as session:
        mine = run(session, "mine", Actor.for_rep(team["ann"]))
        assert [lead.email for lead in mine.leads] == ["a@acme.test"]
        unassigned = run(session, "unassigned")
        assert [lead.email for lead in unassigned.leads] == ["b@initech.test"]
        assert unassigned.message == "1 leads waiting for an owner"
        # `queue`, its old name, still lists them (scripts and habits)
        assert [lead.email for lead in run(session, "queue").leads] == ["b@initech.test"]
        assert [lead.email for lead in run(session, "search BILL").leads] == ["b@initech.test"]
        assert {lead.email for lead in run(session, "search acme").leads} == {
            "a@acme.test", "c@acme.test",
        }  # fmt: skip
        report = run(session, "report").message
    assert report.splitlines() == [
        "3 leads",
        "by status: new 2, trashed 1",
        "by source: email 3",
        "by owner: Ann 2, unassigned 1",
    ]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "usage: <verb> <lead>"),
        ("frobnicate L-1", "unknown verb 'frobnicate'"),
        ("trash L-1 because", "usage: trash <lead> <reason>"),
        ("assign L-1", "usage: assign <lead>"),
        ("mine now", "usage: mine"),
        ("search", "usage: search <text>"),
        ('note L-1 "unbalanced', "No closing quotation"),
    ],
)
def test_bad_commands_answer_with_usage(text: str, error: str) -> None:
    with pytest.raises(commands.UsageError, match=error):
        commands.parse(text)


def test_two_clicks_at_once_apply_one_transition(store: Store, team: dict[str, Rep]) -> None:
    import threading

    with store.transaction() as session:
        version = add_lead(session, "x@acme.test", owner=team["ann"]).version
    click = commands.Command("qualify", "L-1", expected_version=version)
    start = threading.Barrier(2)
    results: list[str] = []

    def press(actor: Actor) -> None:
        start.wait(timeout=10)
        try:
            with store.transaction() as session:
                results.append(commands.execute(session, click, actor).message)
        except actions.StaleLead as refused:
            results.append(str(refused))

    presses = [
        threading.Thread(target=press, args=(Actor.for_rep(team[n]),)) for n in ("ann", "meg")
    ]
    for thread in presses:
        thread.start()
    for thread in presses:
        thread.join()
    assert sorted(results) == ["L-1 changed meanwhile; it is now qualified", "L-1 is now qualified"]
    with store.transaction() as session:
        kinds = [e.kind for e in storage.timeline.for_lead(session, 1)]
    assert kinds == ["status.qualify"]
