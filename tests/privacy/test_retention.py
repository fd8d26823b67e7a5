"""Retention against a controllable clock, on a real store (SQLite file and PostgreSQL): each
rule of `[retention]` removes exactly what it says, the dry run counts the same and changes
nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

import storage.leads
from bot.privacy import retention
from bot.rules.checks import Invalid
from storage.engine import Store
from storage.models import InboundMessage, IntakeRecord, TrackingEvent, utcnow
from tests.campaign_helpers import add_campaign, add_leads, sent_sends

NOW = utcnow()
DAY = timedelta(days=1)
RULES = retention.RetentionRules.from_table({
    "raw_mail_days": 90, "tracking_months": 24, "quarantine_days": 30, "trashed_days": 180,
    "stale_months": 18, "stale_erase_days": 60,
})  # fmt: skip


def seed(store: Store) -> dict[str, int]:
    """One record on each side of each rule's line."""
    stale, fresh, old_trash, new_trash = add_leads(store, 4)
    campaign = add_campaign(store, steps=(("welcome", 0),))
    [send, *_] = sent_sends(store, campaign, ["https://example.test/"])
    with store.transaction() as session:
        for lead_id, status, updated, active in (
            (stale, "nurturing", 600, 600), (fresh, "working", 1, 1),
            (old_trash, "trashed", 200, 200), (new_trash, "trashed", 10, 10),
        ):  # fmt: skip
            lead = storage.leads.by_id(session, lead_id)
            assert lead is not None
            lead.status, lead.updated_at = status, NOW - updated * DAY
            lead.last_activity_at = NOW - active * DAY
            session.add(lead)
        for days, state in ((100, "done"), (10, "done"), (40, "quarantined"), (5, "quarantined")):
            session.add(InboundMessage(channel="smtp", raw=b"From: x@y.test\r\n\r\nhello",
                                       state=state, received_at=NOW - days * DAY))  # fmt: skip
        for days, state in ((40, "held"), (5, "held"), (40, "passed")):
            session.add(IntakeRecord(channel="form", state=state, at=NOW - days * DAY,
                                     draft={"email": "x@y.test"}))  # fmt: skip
        for days in (800, 30):
            session.add(TrackingEvent(send_id=send, campaign_id=campaign, lead_id=fresh,
                                      kind="open", at=NOW - days * DAY))  # fmt: skip
    return {"stale": stale, "fresh": fresh, "old_trash": old_trash, "new_trash": new_trash}


def counts(outcomes: list[retention.Outcome]) -> dict[str, int]:
    return {outcome.rule: outcome.count for outcome in outcomes}


def test_each_rule_removes_exactly_what_it_says(store: Store) -> None:
    ids = seed(store)
    with store.transaction() as session:
        planned = counts(retention.run(session, RULES, NOW, dry_run=True))
        session.rollback()
    expected = {"raw_mail_days": 1, "tracking_months": 1, "quarantine_days": 2,
                "trashed_days": 1, "stale_erase_days": 0, "stale_months": 1}  # fmt: skip
    assert planned == expected
    with store.reading() as session:  # the dry run changed nothing
        assert all(m.raw for m in session.exec(select(InboundMessage)).all())
        assert len(session.exec(select(TrackingEvent)).all()) == 2

    with store.transaction() as session:
        assert counts(retention.run(session, RULES, NOW, dry_run=False)) == expected
    with store.reading() as session:
        messages = {m.received_at.date(): m for m in session.exec(select(InboundMessage)).all()}
        assert sorted(len(m.raw) > 0 for m in messages.values()) == [False, True, True]
        assert {m.state for m in messages.values()} == {"done", "quarantined"}
        assert [e.at.date() for e in session.exec(select(TrackingEvent)).all()] == [
            (NOW - 30 * DAY).date()]  # fmt: skip
        holds = session.exec(select(IntakeRecord)).all()
        assert sorted((h.state, (NOW - h.at).days) for h in holds) == [("held", 5),
                                                                      ("passed", 40)]  # fmt: skip
        old, new = (storage.leads.by_id(session, ids[k]) for k in ("old_trash", "new_trash"))
        assert old is not None and old.erased_at is not None and old.email == ""
        assert old.status == "trashed"  # a tombstone: the numbers stay
        assert new is not None and new.erased_at is None and new.email
        stale = storage.leads.by_id(session, ids["stale"])
        assert stale is not None and stale.stale_since == NOW and stale.erased_at is None

    # 61 days on, nothing happened to the stale lead: it is erased
    later = NOW + 61 * DAY
    with store.transaction() as session:
        assert counts(retention.run(session, RULES, later, dry_run=False))["stale_erase_days"] == 1
    with store.reading() as session:
        stale = storage.leads.by_id(session, ids["stale"])
        assert stale is not None and stale.erased_at is not None and stale.first_name == ""


def test_a_stale_lead_that_came_back_is_fresh_again(store: Store) -> None:
    ids = seed(store)
    with store.transaction() as session:
        retention.run(session, RULES, NOW, dry_run=False)
    with store.transaction() as session:
        stale = storage.leads.by_id(session, ids["stale"])
        assert stale is not None
        stale.last_activity_at = NOW + DAY  # a reply, a click
        session.add(stale)
    with store.transaction() as session:
        run = counts(retention.run(session, RULES, NOW + 61 * DAY, dry_run=False))
        assert run["stale_erase_days"] == 0
        stale = storage.leads.by_id(session, ids["stale"])
        assert stale is not None and stale.stale_since is None and stale.erased_at is None


@pytest.mark.parametrize(
    ("table", "error"),
    [({"raw_mail": 3}, "unknown key"), ({"raw_mail_days": -1}, "above 0"),
     ({"tracking_months": "soon"}, "above 0")],
)  # fmt: skip
def test_a_bad_retention_table_says_which_key(table: dict, error: str) -> None:
    with pytest.raises(Invalid, match=error) as caught:
        retention.RetentionRules.from_table(table)
    assert caught.value.path[0] == "retention"
