"""`leadbot assign explain`: the rule, each rep considered and why, and the history."""

from __future__ import annotations

import random

import storage.leads
from bot.assignment.decide import decide
from bot.assignment.explain import explain, explain_text
from storage.engine import Store
from tests.assignment.helpers import (
    HOT,
    NOW,
    ROUTING,
    RULES,
    Clock,
    add_lead,
    add_rep,
    assigner,
    lead,
    rep,
)


def test_explain_names_the_rule_and_each_rep() -> None:
    team = [rep(1, "Ann"), rep(2, "Bob", paused=True), rep(3, "Cy", load=5, capacity=5)]
    decision = decide(lead(country="FR"), ROUTING, team, NOW, rng=random.Random(0), explain=True)
    text = explain_text(lead(country="FR"), decision, None)
    assert text.splitlines() == [
        "L-7 jane@acme.test",
        "queue: not queued (not an MQL yet)",
        "  skipped rule 'territory': country FR is not in territory dach",
        "  skipped rule 'country': country fr is not ca, us",
        "  skipped rule 'language': language unknown is not es",
        "  skipped rule 'industry': industry unknown is not banking, insurance",
        "  skipped rule 'product': asks about none of router pro",
        "  skipped rule 'big': company size unknown",
        "  skipped rule 'small': company size unknown",
        "  skipped rule 'grade': grade unknown is not a",
        "  skipped rule 'source': source email is not form",
        "  skipped rule 'two conditions': grade unknown is not b",
        "rule 'fallback' matches: any lead → every rep by round_robin (SLA 60 min)",
        "reps considered:",
        "  R-1 Ann <ann@sales.test> (0/50): chosen",
        "  R-2 Bob <bob@sales.test> (0/50): skipped: paused",
        "  R-3 Cy <cy@sales.test> (5/5): skipped: at capacity (5/5 open leads)",
        "round robin among 1 of 3 reps",
    ]


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
