"""The inbox processed in batches (bot/mail_in/inbox.py): one transaction per batch, a message
that fails alone quarantined (its half-written lead rolled back with its savepoint), a batch
that fails as a whole taken again one by one, and two worker processes on PostgreSQL draining
one queue in batches without taking a message twice."""

from __future__ import annotations

import multiprocessing
from collections import Counter
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import event
from sqlmodel import col, select

from bot.mail_in import inbox as inbox_module
from bot.mail_in import pipeline
from bot.mail_in.inbox import InboundMailHandler, accept_raw
from storage.engine import Store
from storage.models import InboundMessage, Lead, TimelineEntry
from tests.factories import enrichment_fails_for

REPLY = "leads@acme-leads.test"


@pytest.fixture(autouse=True)
def unhurried_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch's time cap off (a loaded machine would cut these small batches short)."""
    monkeypatch.setattr(inbox_module, "BATCH_SECONDS", 600.0)


def mail(n: int, subject: str = "Pricing") -> bytes:
    message = EmailMessage()
    message["From"] = f"Buyer {n} <buyer{n}@company-{n}.test>"
    message["To"] = REPLY
    message["Subject"] = f"{subject} {n}"
    message["Message-ID"] = f"<q{n}@company-{n}.test>"
    message.set_content(f"Pricing for {n + 2} seats, please.\n")
    return message.as_bytes()


def queue(store: Store, count: int, subject: str = "Pricing") -> list[int]:
    ids = []
    for n in range(count):
        row = accept_raw(store, mail(n, subject), channel="smtp", mail_from="x@y.test")
        assert row.id is not None
        ids.append(row.id)
    return ids


def states(store: Store) -> list[tuple[str, str | None]]:
    with store.reading() as session:
        rows = session.exec(select(InboundMessage).order_by(col(InboundMessage.id))).all()
        return [(row.state, row.error.split(":")[0] if row.error else None) for row in rows]


def commits_on(store: Store) -> list[int]:
    commits: list[int] = []
    event.listen(store.engine, "commit", lambda _connection: commits.append(1))
    return commits


def test_a_batch_is_one_transaction_and_a_failing_message_is_quarantined_alone(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue(store, 5)
    real_run = pipeline.run

    def run(session: Any, event: pipeline.MailEvent, steps: tuple[str, ...]) -> Any:
        done = real_run(session, event, steps)  # the lead is written, then the step fails
        if event.mail.subject == "Pricing 2":
            raise RuntimeError("a step failed")
        return done

    monkeypatch.setattr(pipeline, "run", run)
    commits = commits_on(store)
    assert InboundMailHandler(store, REPLY).process_batch(10) == 5
    assert len(commits) == 1
    assert (
        states(store)
        == [("done", None)] * 2 + [("quarantined", "RuntimeError")] + [("done", None)] * 2
    )
    with store.reading() as session:
        emails = sorted(session.exec(select(Lead.email)).all())
    assert emails == sorted(f"buyer{n}@company-{n}.test" for n in (0, 1, 3, 4))


def test_a_batch_that_fails_as_a_whole_is_taken_again_one_by_one(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue(store, 4)

    def broken(*args: Any) -> Any:
        raise RuntimeError("the batch could not be applied")

    monkeypatch.setattr(inbox_module, "apply_batch", broken)
    assert InboundMailHandler(store, REPLY).drain(batch=10) == 4
    assert states(store) == [("done", None)] * 4


def test_drain_takes_the_queue_in_batches_of_the_size_asked(store: Store) -> None:
    queue(store, 7)
    commits = commits_on(store)
    assert InboundMailHandler(store, REPLY).drain(batch=3) == 7
    # 3 + 3 + 1; on PostgreSQL the claim that found the queue empty commits an empty transaction
    assert len(commits) == (3 if store.is_sqlite else 4)
    assert states(store) == [("done", None)] * 7


def _drain_in_a_process(url: str, start: Any) -> None:
    start.wait(30)
    store = Store(url)
    handler = InboundMailHandler(store, REPLY)
    while handler.drain(limit=5, batch=5):
        pass
    store.dispose()


@pytest.mark.postgres
def test_two_worker_processes_on_postgres_never_take_one_message_twice(postgres_url: str) -> None:
    store = Store(postgres_url)
    queue(store, 40)
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    workers = [context.Process(target=_drain_in_a_process, args=(postgres_url, start))
               for _ in range(2)]  # fmt: skip
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    with store.reading() as session:
        rows = session.exec(select(InboundMessage)).all()
        assert {(row.state, row.attempts) for row in rows} == {("done", 1)}
        per_message = Counter(
            session.exec(
                select(TimelineEntry.inbound_message_id).where(
                    col(TimelineEntry.kind) == "email.enquiry"
                )
            ).all()
        )
        assert set(per_message) == {row.id for row in rows}
        assert set(per_message.values()) == {1}
        assert len(session.exec(select(Lead.id)).all()) == 40
    store.dispose()


def test_a_batch_past_its_time_commits_what_it_applied_and_leaves_the_rest_queued(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue(store, 3)
    monkeypatch.setattr(inbox_module, "BATCH_SECONDS", 0.0)
    handler = InboundMailHandler(store, REPLY)
    assert handler.process_batch(10) == 1  # the first is always applied: the batch moves on
    assert states(store) == [("done", None), ("queued", None), ("queued", None)]
    assert handler.drain(batch=10) == 2
    assert states(store) == [("done", None)] * 3


def statements_on(store: Store) -> list[str]:
    seen: list[str] = []
    event.listen(store.engine, "before_cursor_execute",
                 lambda _c, _cur, statement, *_rest: seen.append(statement))  # fmt: skip
    return seen


def test_a_batch_captures_its_enquiries_together_as_one_mail_at_a_time_would(
    store: Store,
) -> None:
    handler = InboundMailHandler(store, REPLY)
    accept_raw(store, mail(0), channel="smtp")
    assert handler.process_batch(10) == 1  # buyer 0 is a stored lead now
    seen = statements_on(store)
    accept_raw(store, mail(1), channel="smtp")
    assert handler.process_batch(10) == 1
    one = len(seen)
    seen.clear()
    again = mail(0, subject="Follow-up").replace(b"<q0@", b"<q0-again@")
    twice = mail(7, subject="Second").replace(b"<q7@", b"<q7-again@")
    for raw in (again, *(mail(n) for n in range(2, 22)), twice):
        accept_raw(store, raw, channel="smtp")
    commits = commits_on(store)
    assert handler.process_batch(30) == 22
    assert len(commits) == 1
    # 22 mails cost fewer statements than 11 mails taken one at a time would
    assert len(seen) < 11 * one, (len(seen), one)
    with store.reading() as session:
        leads = Counter(session.exec(select(Lead.email)).all())
        entries = session.exec(select(TimelineEntry.lead_id, TimelineEntry.kind)).all()
    assert set(leads.values()) == {1} and len(leads) == 22  # buyers 0..21, each once
    by_lead = Counter(lead_id for lead_id, kind in entries if kind == "email.enquiry")
    assert sorted(by_lead.values()) == [1] * 20 + [2, 2]  # 0 and 7 wrote twice, one lead each
    assert all(state == "done" for state, _ in states(store))


def test_a_capture_that_fails_in_a_batch_quarantines_its_mail_alone(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue(store, 5)
    enrichment_fails_for(monkeypatch, "buyer3@")
    commits = commits_on(store)
    assert InboundMailHandler(store, REPLY).process_batch(10) == 5
    assert len(commits) == 1
    assert states(store) == [("done", None)] * 3 + [("quarantined", "ValueError")] + [
        ("done", None)
    ]
    with store.reading() as session:
        emails = sorted(session.exec(select(Lead.email)).all())
    assert emails == sorted(f"buyer{n}@company-{n}.test" for n in (0, 1, 2, 4))
