"""The store on SQLite and PostgreSQL: migrations, the inbox queue, claims that never collide."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

import storage.inbox
import storage.outbox
from storage.engine import Store
from storage.migrate import HEAD, current
from storage.models import InboundMessage


def _message(
    raw: bytes = b"Subject: hi\r\n\r\nbody", message_id: str | None = None
) -> InboundMessage:
    return InboundMessage(channel="smtp", raw=raw, message_id=message_id)


def test_migrations_reach_head(database_url: str) -> None:
    assert current(database_url) == HEAD


def test_sqlite_runs_in_wal_mode(sqlite_url: str) -> None:
    store = Store(sqlite_url)
    with store.transaction() as session:
        mode = session.connection().exec_driver_sql("PRAGMA journal_mode").scalar()
    store.dispose()
    assert mode == "wal"


def test_raw_bytes_survive_byte_for_byte(store: Store) -> None:
    raw = bytes(range(256)) * 40
    with store.transaction() as session:
        stored = storage.inbox.enqueue(session, _message(raw))
    with store.transaction() as session:
        again = storage.inbox.by_id(session, stored.id or 0)
        assert again is not None
        assert again.raw == raw
        assert again.size == len(raw)


def test_repeated_message_id_is_kept_as_a_duplicate(store: Store) -> None:
    with store.transaction() as session:
        first = storage.inbox.enqueue(session, _message(message_id="<a@x>"))
        second = storage.inbox.enqueue(session, _message(message_id="<a@x>"))
        other = storage.inbox.enqueue(session, _message(message_id="<b@x>"))
    assert (first.state, second.state, other.state) == ("queued", "duplicate", "queued")
    assert second.duplicate_of == first.id


def test_failed_transaction_leaves_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction() as session:
        storage.inbox.enqueue(session, _message())
        raise RuntimeError("boom")
    with store.transaction() as session:
        assert storage.inbox.listing(session) == []


def test_two_postgres_workers_never_claim_the_same_message(postgres_url: str) -> None:
    store = Store(postgres_url)
    with store.transaction() as session:
        for i in range(2):
            storage.inbox.enqueue(session, _message(message_id=f"<{i}@x>"))
    claimed: list[int] = []
    both_hold = threading.Barrier(2)

    def claim() -> None:
        with store.transaction() as session:
            row = storage.inbox.claim_next(session)
            assert row is not None and row.id is not None
            claimed.append(row.id)
            both_hold.wait(timeout=10)  # both transactions hold their lock at the same time

    threads = [threading.Thread(target=claim) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    store.dispose()
    assert sorted(claimed) == [1, 2]


def test_outbox_claim_skips_items_not_yet_due(store: Store) -> None:
    from datetime import timedelta

    from storage.models import utcnow

    with store.transaction() as session:
        due = storage.outbox.put(session, "lead.new")
        later = storage.outbox.put(session, "lead.new")
        later.next_attempt_at = utcnow() + timedelta(minutes=5)
    with store.transaction() as session:
        assert [i.id for i in storage.outbox.claim_due(session)] == [due.id]


def test_postgres_is_really_postgres(postgres_url: str) -> None:
    store = Store(postgres_url)
    with store.transaction() as session:
        version = session.connection().execute(text("select version()")).scalar()
    store.dispose()
    assert str(version).startswith("PostgreSQL")


def test_head_constant_matches_the_migration_scripts() -> None:
    from alembic.script import ScriptDirectory

    from storage.migrate import HEAD, alembic_config

    assert ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head() == HEAD
