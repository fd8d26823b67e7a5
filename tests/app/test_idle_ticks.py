"""serve's loops tick every LEADBOT_WORKER_IDLE_SECONDS; with nothing to do a tick only reads.

On SQLite every write transaction takes the one write lock (BEGIN IMMEDIATE) that capture needs;
before this, an idle serve took it about 26 times a second at the tests' 0.1 s tick (the outbox,
the reports' roll-up and the hot-lead scan each opened one per tick to find nothing). Each check
here counts the write transactions a tick opens, on both stores, and that the tick still finds
the work once there is some."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from types import SimpleNamespace
from typing import Any

import pytest
from sqlmodel import Session

import storage.outbox
import storage.timeline
from bot.app.serve import Parts
from bot.notify.dispatcher import OutboxDispatcher
from storage.engine import Store
from storage.models import Lead, OutboxItem, Rep
from tests.factories import add_indexed_lead


class Counted:
    """The store, with the write transactions it opened counted."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.writes = 0

    def transaction(self) -> AbstractContextManager[Session]:
        self.writes += 1
        return self.store.transaction()

    def reading(self) -> AbstractContextManager[Session]:
        return self.store.reading()


class Notifier:
    name = "test"

    def __init__(self) -> None:
        self.delivered: list[str] = []

    def deliver(self, item: OutboxItem, lead: Lead | None, rep: Rep | None) -> str | None:
        self.delivered.append(item.kind)
        return "ok"


@pytest.fixture
def counted(store: Store) -> Iterator[Counted]:
    yield Counted(store)


def serve_tick(counted: Counted, method: Callable[[Any], int]) -> int:
    """One tick of a serve runner, on a stand-in for serve's parts (the store and the loop's
    wake-up call are all these runners use)."""
    loop = SimpleNamespace(call_soon_threadsafe=lambda *_: None)
    parts = SimpleNamespace(services=SimpleNamespace(store=counted), loop=loop,
                            outbox_wake=SimpleNamespace(set=None),
                            rules=SimpleNamespace(get=rules))  # fmt: skip
    return method(parts)


def rules() -> Any:
    from bot.rules.file import default_rules

    return default_rules()


def test_idle_ticks_open_no_write_transaction_and_find_work_when_it_comes(
    counted: Counted, store: Store
) -> None:
    notifier = Notifier()
    outbox = OutboxDispatcher(counted, notifier)  # type: ignore[arg-type]
    for _ in range(3):
        assert outbox.drain_once() == 0
        assert serve_tick(counted, Parts._roll_up) == 0
        assert serve_tick(counted, Parts._scan_alerts) == 0
    assert counted.writes == 0

    with store.transaction() as session:
        lead = add_indexed_lead(session, "jane@acme.example", first_name="Jane")
        assert lead.id is not None
        storage.timeline.append(session, lead.id, actor="api", kind="email.reply",
                                summary="reply: Re: pricing")  # fmt: skip
        storage.outbox.put(session, "lead.assigned", lead_id=lead.id, payload={})
    assert outbox.drain_once() == 1
    assert notifier.delivered == ["lead.assigned"]
    assert serve_tick(counted, Parts._roll_up) > 0
    assert serve_tick(counted, Parts._scan_alerts) > 0
    writes = counted.writes
    assert writes > 0

    # All caught up: idle again, and reading only.
    assert outbox.drain_once() == 0
    assert serve_tick(counted, Parts._roll_up) == 0
    assert serve_tick(counted, Parts._scan_alerts) == 0
    assert counted.writes == writes
