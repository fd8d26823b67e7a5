"""Shared by the assignment tests: plain values for the pure decision (a lead, reps, rules at a
fixed `NOW`), and a real store with leads, reps and behaviour events for the assigner."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import storage.assignment
import storage.leads
import storage.reps
import storage.timeline
from bot.assignment.assigner import Assigner
from bot.assignment.availability import RepView
from bot.leads.reply_address import new_reply_token
from bot.rules.file import Rules, parse_rules
from storage.engine import Store
from storage.models import Lead, Rep, utcnow

# --- the pure decision ------------------------------------------------------------------------

# A Monday, 14:00 UTC: 15:00 in Berlin, 09:00 in New York, 23:00 in Tokyo.
NOW = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)


def rules(text: str) -> Rules:
    return parse_rules(text, "test")


def lead(**fields: object) -> Lead:
    values: dict[str, object] = {"email": "jane@acme.test", "reply_token": "t", "id": 7}
    values.update(fields)
    return Lead(**values)  # type: ignore[arg-type]


def rep(rep_id: int, name: str | None = None, **fields: object) -> RepView:
    name = name or f"rep{rep_id}"
    return RepView(id=rep_id, name=name, email=f"{name.lower()}@sales.test", **fields)  # type: ignore[arg-type]


def pool_rule(strategy: str = "round_robin", extra: str = "") -> Rules:
    return rules(f'[[assignment.rule]]\nname = "all"\npool = "all"\nstrategy = "{strategy}"\n'
                 f"{extra}")  # fmt: skip


ROUTING = rules(
    """
[territories]
dach = ["DE", "AT", "CH"]

[[assignment.rule]]
name = "territory"
when = { territory = "dach" }
rep = "t@sales.test"
[[assignment.rule]]
name = "country"
when = { country = ["US", "CA"] }
rep = "c@sales.test"
[[assignment.rule]]
name = "language"
when = { language = "es" }
rep = "l@sales.test"
[[assignment.rule]]
name = "industry"
when = { industry = ["Banking", "Insurance"] }
rep = "i@sales.test"
[[assignment.rule]]
name = "product"
when = { product = ["Router Pro"] }
rep = "p@sales.test"
[[assignment.rule]]
name = "big"
when = { company_size_min = 1000 }
rep = "b@sales.test"
[[assignment.rule]]
name = "small"
when = { company_size_max = 10 }
rep = "s@sales.test"
[[assignment.rule]]
name = "grade"
when = { grade = "A" }
rep = "g@sales.test"
[[assignment.rule]]
name = "source"
when = { source = "form" }
rep = "f@sales.test"
[[assignment.rule]]
name = "two conditions"
when = { country = "FR", grade = ["B"] }
rep = "x@sales.test"
[[assignment.rule]]
name = "fallback"
pool = "all"
"""
)


# --- a real store -----------------------------------------------------------------------------

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
enquiries_enter_queue = false

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
