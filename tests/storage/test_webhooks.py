"""The webhook outbox in the store (SQLite and PostgreSQL): a timeline entry that is an event
queues one delivery per subscribed endpoint in its own transaction, a claim takes at most one
delivery per endpoint and lead (the oldest), and two senders claiming at once never take the
same one."""

from __future__ import annotations

import threading
from datetime import timedelta

import storage.timeline
import storage.webhooks
from bot.notify.webhooks import add_endpoint
from storage.engine import Store
from storage.models import Lead, utcnow


def leads(store: Store, count: int) -> list[int]:
    with store.transaction() as session:
        rows = [Lead(email=f"w{i}@hooks{i}.test", reply_token=f"hook{i}") for i in range(count)]
        session.add_all(rows)
        session.flush()
        return [lead.id for lead in rows if lead.id is not None]


def test_events_are_queued_with_the_change_and_claimed_in_order_per_lead(store: Store) -> None:
    first, second = leads(store, 2)
    with store.transaction() as session:
        add_endpoint(session, "http://127.0.0.1:9/a", ["lead.status_changed", "lead.created"])
        add_endpoint(session, "http://127.0.0.1:9/b", ["lead.assigned"])
    try:
        with store.transaction() as session:
            storage.timeline.append(session, first, actor="t", kind="status.work", summary="1")
            storage.timeline.append(session, first, actor="t", kind="note", summary="no event")
            raise RuntimeError("the change fails")
    except RuntimeError:
        pass
    with store.reading() as session:
        assert storage.webhooks.count_pending(session) == 0  # rolled back with the change
    with store.transaction() as session:
        for lead_id in (first, first, second):
            storage.timeline.append(session, lead_id, actor="t", kind="status.work", summary="w")
        storage.timeline.append(session, second, actor="t", kind="assigned", summary="a")
    now = utcnow()
    with store.transaction() as session:
        claimed = storage.webhooks.claim_due(session, now, timedelta(minutes=2))
        picked = sorted((d.endpoint_id, d.lead_id, d.event_type) for d, _ in claimed)
    # Endpoint 1: the first of lead 1 (its second waits), the one of lead 2; endpoint 2: lead 2.
    assert [(lead, event) for _, lead, event in picked] == [
        (first, "lead.status_changed"),
        (second, "lead.status_changed"),
        (second, "lead.assigned"),
    ]
    with store.transaction() as session:  # leased: nothing more until they are answered
        assert storage.webhooks.claim_due(session, now, timedelta(minutes=2)) == []
    with store.transaction() as session:
        for delivery, _ in claimed:
            delivery.state, delivery.locked_until = "delivered", None
            session.add(delivery)
    with store.transaction() as session:
        again = storage.webhooks.claim_due(session, now, timedelta(minutes=2))
        assert [(d.lead_id, d.event_type) for d, _ in again] == [(first, "lead.status_changed")]


def test_two_senders_claiming_at_once_never_take_the_same_delivery(store: Store) -> None:
    ids = leads(store, 40)
    with store.transaction() as session:
        add_endpoint(session, "http://127.0.0.1:9/c", ["lead.status_changed"])
    with store.transaction() as session:
        for lead_id in ids:
            storage.timeline.append(session, lead_id, actor="t", kind="status.work", summary="w")
    taken: list[list[int]] = [[], []]
    start = threading.Barrier(2)

    def sender(n: int) -> None:
        start.wait()
        while True:
            with store.transaction() as session:
                claimed = storage.webhooks.claim_due(session, utcnow(), timedelta(minutes=2), 5)
                taken[n] += [d.id for d, _ in claimed if d.id is not None]
            if not claimed:
                return

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not set(taken[0]) & set(taken[1])
    assert len(taken[0]) + len(taken[1]) == 40
