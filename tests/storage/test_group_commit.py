"""The group commit the form POSTs use on a store without a spool: requests that wait together
share one transaction, each is answered with its own result once committed, and one that cannot
be written fails alone."""

from __future__ import annotations

import threading
from concurrent.futures import Future

import pytest
from sqlmodel import Session, select

from storage.engine import Store
from storage.group_commit import GroupCommit
from storage.models import Cursor


def test_requests_waiting_together_share_a_transaction_and_each_gets_its_own_answer(
    database_url: str,
) -> None:
    store = Store(database_url)
    first_started, release = threading.Event(), threading.Event()
    transactions: list[object] = []  # kept alive: their ids stay theirs

    def write(session: Session, name: str) -> str:
        if name == "first":  # holds the writer, so the others queue up behind it
            first_started.set()
            assert release.wait(10)
        transactions.append(session.connection())
        session.add(Cursor(name=name, position=len(name)))
        session.flush()
        return name.upper()

    writer: GroupCommit[str, str] = GroupCommit(store, write, name="test-writer")
    try:
        first = writer.submit("first")
        assert first_started.wait(10)
        rest = [writer.submit(f"post-{i}") for i in range(12)]
        release.set()
        assert first.result(10) == "FIRST"
        assert [f.result(10) for f in rest] == [f"POST-{i}" for i in range(12)]
    finally:
        writer.stop()
    # the first alone, then the twelve that waited behind it in one transaction
    assert len({id(c) for c in transactions[1:]}) == 1 and len(transactions) == 13
    assert transactions[0] is not transactions[1]
    with store.reading() as session:
        names = set(session.exec(select(Cursor.name)).all())
    assert {"first", *(f"post-{i}" for i in range(12))} <= names
    store.dispose()


def test_an_item_that_cannot_be_written_fails_alone_and_the_others_are_committed(
    database_url: str,
) -> None:
    store = Store(database_url)
    gate, started = threading.Event(), threading.Event()

    def write(session: Session, name: str) -> int:
        if name == "gate":
            started.set()
            assert gate.wait(10)
        if name == "bad":
            raise ValueError("this one cannot be stored")
        session.add(Cursor(name=name, position=1))
        session.flush()
        return 1

    writer: GroupCommit[str, int] = GroupCommit(store, write, name="test-writer")
    try:
        writer.submit("gate")
        assert started.wait(10)
        futures: dict[str, Future[int]] = {
            name: writer.submit(name) for name in ("a", "b", "bad", "c")
        }
        gate.set()
        for name in ("a", "b", "c"):
            assert futures[name].result(10) == 1
        with pytest.raises(ValueError, match="cannot be stored"):
            futures["bad"].result(10)
    finally:
        writer.stop()
    with store.reading() as session:
        names = set(session.exec(select(Cursor.name)).all())
    assert {"gate", "a", "b", "c"} <= names and "bad" not in names
    store.dispose()


def test_stop_commits_what_was_submitted(sqlite_url: str) -> None:
    store = Store(sqlite_url)
    writer: GroupCommit[str, str] = GroupCommit(
        store, lambda session, name: session.add(Cursor(name=name)) or name, name="test-writer"
    )
    futures = [writer.submit(f"n{i}") for i in range(50)]
    writer.stop()
    assert [f.result(0) for f in futures] == [f"n{i}" for i in range(50)]
    with store.reading() as session:
        assert len(session.exec(select(Cursor.name)).all()) >= 50
    store.dispose()
