"""Hot-lead alerts on both stores: which events are hot under the `[alerts]` rules, at most one
alert per lead per quiet time, none for a lead nobody owns, the survivor's owner for a merged
lead; and two PostgreSQL workers claiming one lead's alert at once: one wins."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

import storage.reports
import storage.reps
import storage.timeline
from bot.reports import alerts
from bot.rules.alerts import AlertRules
from bot.rules.file import RulesError, parse_rules
from storage.engine import Store
from storage.models import Lead, OutboxItem, Rep
from tests.factories import add_indexed_lead

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
RULES = AlertRules(pages=("/pricing",))


def hot_messages(store: Store) -> list[tuple[int | None, str]]:
    with store.reading() as session:
        items = session.exec(select(OutboxItem).where(OutboxItem.kind == alerts.KIND)).all()
        return [(item.rep_id, item.payload["alert"]) for item in items]


def event(store: Store, lead_id: int, kind: str, summary: str, **data: str) -> None:
    with store.transaction() as session:
        storage.timeline.append(session, lead_id, actor="api", kind=kind, summary=summary,
                                data=data)  # fmt: skip


def test_events_rules_and_the_quiet_hour(store: Store) -> None:
    with store.transaction() as session:
        rep = storage.reps.add(session, Rep(name="ann", email="ann@example.com"))
        jane = add_indexed_lead(session, "jane@acme.example", first_name="Jane",
                                last_name="Doe", company="Acme", owner_id=rep.id)  # fmt: skip
        nobody = add_indexed_lead(session, "x@beta.example")
        ids = (rep.id, jane.id, nobody.id)
    rep_id, jane_id, nobody_id = ids
    event(store, jane_id, "page.visit", "page.visit: /blog", detail="/blog")
    event(store, nobody_id, "page.visit", "page.visit: /pricing", detail="/pricing")
    with store.transaction() as session:
        assert alerts.scan(session, RULES, NOW) == 2
    assert hot_messages(store) == []  # /blog is not listed; nobody owns the other lead
    event(store, jane_id, "page.visit", "page.visit: /pricing", detail="/pricing")
    event(store, jane_id, "email.reply", "reply: Re: pricing")
    with store.transaction() as session:
        alerts.scan(session, RULES, NOW)
    assert hot_messages(store) == [
        (rep_id, "Jane Doe of Acme visited /pricing — call now?")
    ]  # the reply came within the hour: no second alert
    event(store, jane_id, "email.reply", "reply: Re: pricing")
    with store.transaction() as session:
        alerts.scan(session, RULES, NOW + timedelta(minutes=61))
    assert hot_messages(store)[1:] == [
        (rep_id, "Jane Doe of Acme replied (reply: Re: pricing) — call now?")
    ]
    with store.transaction() as session:
        assert alerts.scan(session, AlertRules(reply=False), NOW) == 0  # nothing new


def test_a_merged_leads_alert_goes_to_the_survivors_owner(store: Store) -> None:
    with store.transaction() as session:
        ann = storage.reps.add(session, Rep(name="ann", email="ann@example.com"))
        bob = storage.reps.add(session, Rep(name="bob", email="bob@example.com"))
        survivor = add_indexed_lead(session, "jd@acme.example", owner_id=ann.id)
        merged = add_indexed_lead(session, "j@acme.example", owner_id=bob.id,
                                  merged_into_id=survivor.id)  # fmt: skip
        ids = (ann.id, merged.id, survivor.id)
    event(store, ids[1], "email.reply", "reply: hello")
    with store.transaction() as session:
        alerts.scan(session, RULES, NOW)
    assert hot_messages(store) == [(ids[0], "jd@acme.example replied (reply: hello) — call now?")]


def test_alerts_rules_are_checked_with_their_line() -> None:
    rules = parse_rules('[alerts]\nopens = 3\npages = ["/demo"]\nquiet_minutes = 30\n')
    assert rules.alerts == AlertRules(opens=3, pages=("/demo",), quiet_minutes=30.0)
    with pytest.raises(RulesError, match=r"rules:3: alerts\.click: must be true or false"):
        parse_rules("[alerts]\nopens = 2\nclick = 'yes'\n")
    with pytest.raises(RulesError, match=r"alerts\.loud: unknown key"):
        parse_rules("[alerts]\nloud = true\n")


def _claim(url: str, lead_id: int, start: multiprocessing.synchronize.Event, out) -> None:  # type: ignore[no-untyped-def]
    store = Store(url)
    start.wait()
    with store.transaction() as session:
        out.put(storage.reports.claim_alert(session, lead_id, NOW, NOW - timedelta(hours=1)))
    store.dispose()


def test_two_workers_claim_one_alert(postgres_url: str) -> None:
    store = Store(postgres_url)
    with store.transaction() as session:
        lead = add_indexed_lead(session, "race@acme.example")
        lead_id = lead.id
    context = multiprocessing.get_context("spawn")
    start, out = context.Event(), context.Queue()
    workers = [context.Process(target=_claim, args=(postgres_url, lead_id, start, out))
               for _ in range(2)]  # fmt: skip
    for worker in workers:
        worker.start()
    start.set()
    results = sorted(out.get(timeout=60) for _ in workers)
    for worker in workers:
        worker.join(30)
    assert results == [False, True]
    with store.reading() as session:
        assert session.get(Lead, lead_id) is not None
    store.dispose()
