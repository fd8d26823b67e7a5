"""Who gets a lead: rules (first match wins) → candidate reps → filters → strategy.

`decide` is pure: given a lead, the rules and a snapshot of the reps (`RepView`: availability,
load, last assignment), it returns a Decision that says which rule matched, every rep that was
considered and why each was skipped, and the rep chosen. It reads no store and runs no loop, so
it is tested with plain values, and the same answer is what the assigner acts on and what
`leadbot assign explain` prints (bot/assignment/explain.py).
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.assignment.availability import RepView, unavailable
from bot.rules.file import AssignmentRule, Rules
from bot.scoring.score import company_size_of
from storage.models import Lead

# Weighted round robin balances the offers of this period.
WEIGHT_WINDOW = timedelta(days=7)
# Why a rep who let this lead's response time lapse is passed over.
LAPSED = "let the response time lapse on this lead already"


# --- rules ---------------------------------------------------------------------------------


def _lower(value: str | None) -> str:
    return (value or "").strip().lower()


@dataclass(frozen=True)
class LeadFacts:
    """What the conditions read of a lead, worked out once per decision."""

    lead: Lead
    values: dict[str, str]
    territories: frozenset[str]
    size: int | None
    enquiry: str

    @classmethod
    def of(cls, lead: Lead, rules: Rules) -> LeadFacts:
        values = {key: _lower(getattr(lead, key, "")) for key in
                  ("country", "language", "industry", "source")}  # fmt: skip
        values["grade"] = _lower(lead.grade)
        values["product"] = _lower((lead.custom or {}).get("product"))
        return cls(
            lead,
            values,
            frozenset(rules.territories_of(lead.country)),
            company_size_of(lead.company_size),
            _lower(lead.enquiry),
        )


@functools.lru_cache(maxsize=1024)
def _word(name: str) -> re.Pattern[str]:
    return re.compile(rf"\b{re.escape(name)}\b")


def passes(facts: LeadFacts, key: str, wanted: object) -> bool:
    """Whether the lead meets one condition of a rule (the hot path: no reasons)."""
    if key == "company_size_min":
        return facts.size is not None and facts.size >= wanted  # type: ignore[operator]
    if key == "company_size_max":
        return facts.size is not None and facts.size <= wanted  # type: ignore[operator]
    assert isinstance(wanted, frozenset)
    if key == "territory":
        return not facts.territories.isdisjoint(wanted)
    if key == "product":
        return facts.values["product"] in wanted or (
            bool(facts.enquiry) and any(_word(name).search(facts.enquiry) for name in wanted)
        )
    return facts.values[key] in wanted


def failure_reason(facts: LeadFacts, key: str, wanted: object) -> str:
    """Why the lead fails a condition it does not meet (`assign explain`)."""
    lead = facts.lead
    if key in ("company_size_min", "company_size_max"):
        if facts.size is None:
            return "company size unknown"
        sign = "<" if key == "company_size_min" else ">"
        return f"company size {lead.company_size} {sign} {wanted}"
    assert isinstance(wanted, frozenset)
    allowed = ", ".join(sorted(wanted))
    if key == "territory":
        return f"country {lead.country or 'unknown'} is not in territory {allowed}"
    if key == "product":
        return f"asks about none of {allowed}"
    return f"{key} {facts.values[key] or 'unknown'} is not {allowed}"


def match_rule(
    lead: Lead, rules: Rules, *, explain: bool = False
) -> tuple[AssignmentRule | None, tuple[str, ...]]:
    """The first rule whose conditions the lead meets; with `explain`, also why each earlier
    rule did not match."""
    facts = LeadFacts.of(lead, rules)
    missed: list[str] = []
    for rule in rules.rules:
        for key, wanted in rule.when.items():
            if not passes(facts, key, wanted):
                if explain:
                    missed.append(f"rule {rule.name!r}: {failure_reason(facts, key, wanted)}")
                break
        else:
            return rule, tuple(missed)
    return None, tuple(missed)


# --- one decision --------------------------------------------------------------------------


@dataclass(frozen=True)
class Considered:
    rep: RepView
    # None: eligible. Else why it was skipped.
    skipped: str | None


@dataclass(frozen=True)
class Decision:
    rule: AssignmentRule | None
    rules_missed: tuple[str, ...]
    # The rule's reps and, side by side, why each was skipped (None: eligible). Kept as two
    # tuples, not objects per rep: a decision runs per lead, and fewer allocations mean fewer
    # pauses of the garbage collector in the middle of one.
    pool: tuple[RepView, ...]
    skipped: tuple[str | None, ...]
    chosen: RepView | None
    why: str

    @property
    def considered(self) -> tuple[Considered, ...]:
        return tuple(Considered(rep, why) for rep, why in zip(self.pool, self.skipped, strict=True))

    @property
    def eligible(self) -> list[RepView]:
        return [rep for rep, why in zip(self.pool, self.skipped, strict=True) if why is None]


def pool_of(rule: AssignmentRule, reps: Iterable[RepView]) -> tuple[list[RepView], list[str]]:
    """The rule's reps (in the rule's order for a pool), and the emails that name no rep."""
    if rule.rep is not None or not rule.pool_is_everyone:
        by_email = {rep.email: rep for rep in reps}
        wanted = (rule.rep,) if rule.rep is not None else rule.pool
        return [by_email[e] for e in wanted if e in by_email], [
            e for e in wanted if e not in by_email
        ]
    return [rep for rep in reps if rep.role == "rep"], []


def skip_reason(
    rep: RepView,
    lead: Lead,
    rule: AssignmentRule,
    rules: Rules,
    now: datetime,
    tried: frozenset[int] = frozenset(),
) -> str | None:
    reason = unavailable(rep, now)
    if reason:
        return reason
    if rep.id in tried:
        return LAPSED
    if rep.load >= rep.capacity:
        return f"at capacity ({rep.load}/{rep.capacity} open leads)"
    missing = [skill for skill in rule.skills if skill not in rep.skills]
    if missing:
        return f"lacks skill {', '.join(missing)}"
    language = _lower(lead.language)
    if rule.match_language and language and rep.languages and language not in rep.languages:
        return f"does not speak {language} ({', '.join(sorted(rep.languages))})"
    if rule.match_territory:
        places = {_lower(lead.country), *(t.lower() for t in rules.territories_of(lead.country))}
        if not rep.territories & places:
            covers = ", ".join(sorted(rep.territories)) or "no territory"
            return f"covers {covers}, not {lead.country or 'an unknown country'}"
    return None


def choose(eligible: Iterable[RepView], strategy: str, rng: random.Random) -> RepView | None:
    """The strategy's pick. Ties are broken by who was assigned least recently, then by chance
    (each tied rep equally likely): never by id, name or seniority."""
    best: RepView | None = None
    best_first = best_second = 0.0
    ties = 0
    for rep in eligible:
        last = rep.last_assigned_at.timestamp() if rep.last_assigned_at else 0.0
        if strategy == "least_loaded":
            first, second = rep.load / max(rep.capacity, 1), last
        elif strategy == "weighted_round_robin":
            first, second = (rep.recent_offers + 1) / rep.weight, last
        else:
            first, second = last, 0.0
        if best is None or first < best_first or (first == best_first and second < best_second):
            best, best_first, best_second, ties = rep, first, second, 1
        elif first == best_first and second == best_second:
            ties += 1
            if rng.random() * ties < 1:
                best = rep
    return best


def _fall_through(
    lead: Lead,
    rules: Rules,
    lapsed_rule: AssignmentRule,
    reps: Iterable[RepView],
    now: datetime,
    tried: frozenset[int],
) -> tuple[AssignmentRule, list[RepView], list[str | None], list[str], str] | None:
    """Where a lead goes when every rep of its rule let the SLA lapse: the pool of the next rule
    the lead matches with someone free to take it, else, when the rule's pool is one rep (the
    round would offer it to the same rep again), the manager (`[assignment] manager`, or the
    active reps whose role is manager) under the same rule. None: start the round again."""
    reps = list(reps)
    later = rules.rules[rules.rules.index(lapsed_rule) + 1 :]
    while later:
        rule, _ = match_rule(lead, replace(rules, rules=tuple(later)))
        if rule is None:
            break
        pool, unknown = pool_of(rule, reps)
        skipped = [skip_reason(rep, lead, rule, rules, now, tried) for rep in pool]
        if None in skipped:
            return rule, pool, skipped, unknown, f"every rep of {lapsed_rule.name!r} let it lapse"
        later = later[later.index(rule) + 1 :]
    if len(pool_of(lapsed_rule, reps)[0]) > 1:
        return None  # a round among several reps starts again instead
    managers = [
        rep
        for rep in reps
        if rep.id not in tried
        and rep.active
        and (
            (rules.manager and rep.email == rules.manager)
            or (not rules.manager and rep.role == "manager")
        )
    ]
    if not managers:
        return None
    skipped = [None] * len(managers)
    return (
        lapsed_rule,
        managers,
        skipped,
        [],
        f"every rep of {lapsed_rule.name!r} let it lapse: to the manager",
    )


def decide(
    lead: Lead,
    rules: Rules,
    reps: Iterable[RepView],
    now: datetime,
    *,
    tried: Iterable[int] = (),
    rng: random.Random | None = None,
    explain: bool = False,
) -> Decision:
    rng = rng or random.Random()
    rule, missed = match_rule(lead, rules, explain=explain)
    if rule is None:
        return Decision(None, missed, (), (), None, "no assignment rule matches")
    pool, unknown = pool_of(rule, reps)
    tried_set = frozenset(tried)
    skipped = [skip_reason(rep, lead, rule, rules, now, tried_set) for rep in pool]
    notes: list[str] = []
    if tried_set and None not in skipped and LAPSED in skipped:
        # Everyone in this rule's pool let it lapse: the next matching rule, else the manager
        # (one-rep pool), else the round starts again (never waiting for ever on one silent rep).
        fallback = _fall_through(lead, rules, rule, reps, now, tried_set)
        if fallback is not None:
            rule, pool, skipped, unknown, note = fallback
            notes.append(note)
        else:
            skipped = [skip_reason(rep, lead, rule, rules, now) for rep in pool]
    eligible = [rep for rep, why in zip(pool, skipped, strict=True) if why is None]
    notes += [f"no rep {email} (see leadbot reps list)" for email in unknown]
    # The owner of the lead's company account (de-duplication proposes them) comes first, when
    # the rule lets them take it: no second rep cold-calls a customer.
    owner = next((rep for rep in eligible if rep.id == lead.proposed_owner_id), None)
    chosen = owner or choose(eligible, rule.strategy, rng)
    if chosen is None:
        why = "no rep can take it now; it waits in the queue"
    elif owner is not None:
        why = f"{owner.name} owns the company's account"
    else:
        why = f"{rule.strategy.replace('_', ' ')} among {len(eligible)} of {len(pool)} reps"
    return Decision(rule, missed, tuple(pool), tuple(skipped), chosen, "; ".join([why, *notes]))
