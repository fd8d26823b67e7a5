"""One assignment decision, pure: conditions, first match, filters, strategies."""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta

import pytest

from bot.assignment.availability import RepView
from bot.assignment.decide import decide
from tests.assignment.helpers import NOW, ROUTING, lead, pool_rule, rep, rules

# --- conditions ----------------------------------------------------------------------------

RULE_REP = {
    "territory": "t",
    "country": "c",
    "language": "l",
    "industry": "i",
    "product": "p",
    "big": "b",
    "small": "s",
    "grade": "g",
    "source": "f",
    "two conditions": "x",
}


@pytest.mark.parametrize(
    ("fields", "rule"),
    [
        ({"country": "AT"}, "territory"),
        ({"country": "us"}, "country"),
        ({"language": "ES"}, "language"),
        ({"industry": "insurance"}, "industry"),
        ({"custom": {"product": "Router Pro"}}, "product"),
        ({"enquiry": "Could you quote the router pro for 40 sites?"}, "product"),
        ({"company_size": "1,000-5,000"}, "big"),
        ({"company_size": "2-10"}, "small"),
        ({"grade": "A"}, "grade"),
        ({"source": "form"}, "source"),
        ({"country": "FR", "grade": "B"}, "two conditions"),
        ({"country": "FR", "grade": "C"}, "fallback"),
        ({"company_size": "50"}, "fallback"),
        ({}, "fallback"),
    ],
)
def test_each_condition_routes_and_the_first_match_wins(fields: dict, rule: str) -> None:
    names = ("T", "C", "L", "I", "P", "B", "S", "G", "F", "X", "Any")
    reps = [rep(i, n) for i, n in enumerate(names, start=1)]
    decision = decide(lead(**fields), ROUTING, reps, NOW)
    assert decision.rule is not None and decision.rule.name == rule
    if rule != "fallback":
        assert decision.chosen is not None
        assert decision.chosen.email == f"{RULE_REP[rule]}@sales.test"


def test_rules_that_did_not_match_say_why() -> None:
    decision = decide(lead(country="FR", grade="C"), ROUTING, [], NOW, explain=True)
    assert decision.rules_missed[:2] == (
        "rule 'territory': country FR is not in territory dach",
        "rule 'country': country fr is not ca, us",
    )
    assert "rule 'two conditions': grade c is not b" in decision.rules_missed
    assert "rule 'big': company size unknown" in decision.rules_missed


def test_no_matching_rule_leaves_the_lead_waiting() -> None:
    only_us = rules('[[assignment.rule]]\nname = "us"\nwhen = { country = "US" }\npool = "all"')
    decision = decide(lead(country="DE"), only_us, [rep(1)], NOW)
    assert decision.rule is None and decision.chosen is None
    assert decision.why == "no assignment rule matches"


def test_a_pool_names_its_reps_and_an_unknown_email_is_reported() -> None:
    named = rules('[[assignment.rule]]\nname = "p"\npool = ["b@sales.test", "ghost@sales.test"]')
    decision = decide(lead(), named, [rep(1, "A"), rep(2, "B")], NOW)
    assert [c.rep.name for c in decision.considered] == ["B"]
    assert decision.chosen is not None and decision.chosen.name == "B"
    assert "no rep ghost@sales.test" in decision.why


def test_pool_all_means_reps_not_managers() -> None:
    team = [rep(1, "Ann"), rep(2, "Meg", role="manager"), rep(3, "Root", role="admin")]
    decision = decide(lead(), pool_rule(), team, NOW)
    assert [c.rep.name for c in decision.considered] == ["Ann"]


# --- filters -------------------------------------------------------------------------------


def test_capacity_paused_inactive_skills_language_and_territory_filter_reps() -> None:
    rule = rules(
        '[territories]\nnordics = ["SE", "NO"]\n'
        '[[assignment.rule]]\nname = "r"\npool = "all"\nskills = ["hardware"]\n'
        "match_territory = true"
    )
    hw = frozenset({"hardware"})
    team = [
        rep(1, "Full", capacity=3, load=3, skills=hw, territories=frozenset({"se"})),
        rep(2, "Paused", paused=True, skills=hw),
        rep(3, "Gone", active=False, skills=hw),
        rep(4, "Soft", skills=frozenset({"software"}), territories=frozenset({"se"})),
        rep(5, "Mono", skills=hw, languages=frozenset({"en"}), territories=frozenset({"se"})),
        rep(6, "Far", skills=hw, territories=frozenset({"us"})),
        rep(7, "Fits", skills=hw, languages=frozenset({"en", "sv"}),
            territories=frozenset({"nordics"})),
    ]  # fmt: skip
    decision = decide(lead(country="SE", language="sv"), rule, team, NOW)
    reasons = {c.rep.name: c.skipped for c in decision.considered}
    assert reasons == {
        "Full": "at capacity (3/3 open leads)",
        "Paused": "paused",
        "Gone": "inactive",
        "Soft": "lacks skill hardware",
        "Mono": "does not speak sv (en)",
        "Far": "covers us, not SE",
        "Fits": None,
    }
    assert decision.chosen is not None and decision.chosen.name == "Fits"


def test_language_matching_can_be_turned_off_and_unstated_languages_pass() -> None:
    team = [rep(1, "Mono", languages=frozenset({"en"})), rep(2, "Unstated")]
    strict = decide(lead(language="de"), pool_rule(), team, NOW)
    assert [r.name for r in strict.eligible] == ["Unstated"]
    loose = decide(lead(language="de"), pool_rule(extra="match_language = false"), team, NOW)
    assert {r.name for r in loose.eligible} == {"Mono", "Unstated"}


def test_nobody_available_means_waiting() -> None:
    decision = decide(lead(), pool_rule(), [rep(1, capacity=0)], NOW)
    assert decision.chosen is None
    assert decision.why == "no rep can take it now; it waits in the queue"


# --- strategies ----------------------------------------------------------------------------


def run_many(strategy: str, team: list[RepView], n: int, seed: int = 1) -> Counter[str]:
    """Decide n times, applying each decision to the views as the Assigner does."""
    ruleset, rng, got = pool_rule(strategy), random.Random(seed), Counter[str]()
    for step in range(n):
        chosen = decide(lead(), ruleset, team, NOW, rng=rng).chosen
        assert chosen is not None
        chosen.last_assigned_at = NOW + timedelta(seconds=step)
        chosen.load += 1
        chosen.recent_offers += 1
        got[chosen.name] += 1
    return got


def test_round_robin_takes_turns() -> None:
    team = [rep(i) for i in range(1, 6)]
    ruleset, rng = pool_rule(), random.Random(3)
    order = []
    for step in range(15):
        chosen = decide(lead(), ruleset, team, NOW, rng=rng).chosen
        assert chosen is not None
        chosen.last_assigned_at = NOW + timedelta(seconds=step)
        order.append(chosen.id)
    assert sorted(order[:5]) == [1, 2, 3, 4, 5]
    assert order[5:10] == order[:5] and order[10:] == order[:5]


def test_ties_are_not_broken_by_id() -> None:
    firsts = Counter()
    for seed in range(200):
        team = [rep(i) for i in range(1, 5)]
        chosen = decide(lead(), pool_rule(), team, NOW, rng=random.Random(seed)).chosen
        assert chosen is not None
        firsts[chosen.id] += 1
    assert set(firsts) == {1, 2, 3, 4}
    assert min(firsts.values()) >= 25  # about 50 each


def test_round_robin_starts_with_whoever_waited_longest() -> None:
    team = [
        rep(1, last_assigned_at=NOW - timedelta(minutes=1)),
        rep(2, last_assigned_at=NOW - timedelta(hours=1)),
        rep(3, last_assigned_at=NOW),
    ]
    assert decide(lead(), pool_rule(), team, NOW).chosen == team[1]


def test_weighted_round_robin_follows_the_weights() -> None:
    team = [rep(1, "Heavy", weight=3), rep(2, "Light", weight=1), rep(3, "Mid", weight=2)]
    assert run_many("weighted_round_robin", team, 60) == {"Heavy": 30, "Mid": 20, "Light": 10}


def test_least_loaded_fills_the_emptiest_relative_to_capacity() -> None:
    team = [rep(1, "Busy", load=8, capacity=10), rep(2, "Free", load=0, capacity=10),
            rep(3, "Big", load=10, capacity=40)]  # fmt: skip
    decision = decide(lead(), pool_rule("least_loaded"), team, NOW)
    assert decision.chosen is not None and decision.chosen.name == "Free"
    got = run_many("least_loaded", team, 20)
    assert {r.name: r.load for r in team} == {"Busy": 8, "Free": 6, "Big": 24}
    assert sum(got.values()) == 20


def test_a_rep_who_let_the_sla_lapse_is_passed_over_while_others_can_take_it() -> None:
    team = [rep(1), rep(2)]
    decision = decide(lead(), pool_rule(), team, NOW, tried=[1])
    assert decision.chosen is not None and decision.chosen.id == 2
    assert decision.considered[0].skipped == "let the response time lapse on this lead already"
    # Everyone has let it lapse: the round starts again.
    again = decide(lead(), pool_rule(), team, NOW, tried=[1, 2])
    assert again.chosen is not None


def test_the_account_owner_proposed_by_dedupe_comes_first_when_the_rule_lets_them() -> None:
    team = [rep(1, "Ann", load=9, capacity=10), rep(2, "Bob"), rep(3, "Cy")]
    decision = decide(lead(proposed_owner_id=1), pool_rule("least_loaded"), team, NOW)
    assert decision.chosen is not None and decision.chosen.name == "Ann"
    assert decision.why == "Ann owns the company's account"
    full = [rep(1, "Ann", load=10, capacity=10), rep(2, "Bob")]
    decision = decide(lead(proposed_owner_id=1), pool_rule(), full, NOW)
    assert decision.chosen is not None and decision.chosen.name == "Bob"  # Ann is at capacity
