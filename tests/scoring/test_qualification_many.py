"""`refresh_many`, the batch form of `refresh`: the same scores, grades, MQL stages, queue items
and timeline entries as refreshing the leads one by one, on a real store."""

from __future__ import annotations

import dataclasses

import storage.assignment
import storage.leads
import storage.timeline
from bot.scoring import qualification
from storage.engine import Store
from storage.models import utcnow
from tests.assignment.helpers import HOT, RULES, add_lead

# Every enquiry enters the queue too: the batch queues as well as it marks MQLs.
QUEUE_ENQUIRIES = dataclasses.replace(
    RULES, mql=dataclasses.replace(RULES.mql, enquiries_enter_queue=True)
)
CASES = (
    ("hot", HOT, {"title": "CTO"}),  # an MQL, queued
    ("asked", ("email.enquiry",), {}),  # an enquiry: queued, not an MQL
    ("quiet", ("page.visit",), {"company_size": "5000"}),  # neither
)


def outcome(store: Store, lead_id: int) -> tuple[object, ...]:
    with store.reading() as session:
        lead = storage.leads.by_id(session, lead_id)
        assert lead is not None
        item = storage.assignment.item_for_lead(session, lead_id)
        entries = storage.timeline.for_lead(session, lead_id)
        return (lead.score, lead.grade, lead.stage, item.state if item else None,
                [(e.kind, e.summary) for e in entries])  # fmt: skip


def test_a_batch_is_refreshed_as_each_lead_alone_is(store: Store) -> None:
    one = [add_lead(store, f"{name}@one.io", kinds, **fields) for name, kinds, fields in CASES]
    many = [add_lead(store, f"{name}@many.io", kinds, **fields) for name, kinds, fields in CASES]
    now = utcnow()
    with store.transaction() as session:
        for lead_id in one:
            lead = storage.leads.by_id(session, lead_id)
            assert lead is not None
            qualification.refresh(session, lead, QUEUE_ENQUIRIES, now)
    with store.transaction() as session:
        leads = [storage.leads.by_id(session, lead_id) for lead_id in many]
        twice = [lead for lead in leads if lead is not None] * 2  # named twice: once is enough
        results = qualification.refresh_many(session, twice, QUEUE_ENQUIRIES, now)
    assert sorted(results) == sorted(many)
    assert [outcome(store, lead_id) for lead_id in many] == [
        outcome(store, lead_id) for lead_id in one
    ]
    states = [outcome(store, lead_id)[2:4] for lead_id in many]
    assert states == [("mql", "waiting"), ("lead", "waiting"), ("lead", None)]
    with store.transaction() as session:  # again: nothing more happens
        leads = [storage.leads.by_id(session, lead_id) for lead_id in many]
        qualification.refresh_many(session, [x for x in leads if x], QUEUE_ENQUIRIES, now)
    assert [len(outcome(store, lead_id)[4]) for lead_id in many] == [4, 2, 1]
