"""Inbound email: accept raw bytes into the inbox queue, and process queued messages.

`accept_raw` is what the transports call (SMTP after DATA, IMAP per fetched message): it commits
the bytes and nothing else, so the transport can acknowledge at once. `InboundMailHandler`
claims one queued row at a time, decodes it with mail-parser and runs the domain pipeline; if
anything fails, the savepoint is rolled back and the message is quarantined with its error, in the
same transaction, so a message is never half-applied and never lost.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

import storage.inbox
from bot.imports.batch import capture_batch
from bot.mail_in import pipeline
from bot.mail_in.budget import time_budget
from bot.mail_in.decode import decode_mail
from bot.mail_in.envelope import message_id_of, spool_entry  # noqa: F401 (re-exported)
from bot.rules.file import Rules, default_rules
from storage.engine import Store
from storage.models import InboundMessage
from storage.text import storable

log = logging.getLogger(__name__)

# How long one batch's transaction may apply messages before it commits (the rest waits).
BATCH_SECONDS = 0.25


def accept_raw(
    store: Store,
    raw: bytes,
    *,
    channel: str,
    mail_from: str = "",
    rcpt_tos: list[str] | None = None,
    source_key: str | None = None,
) -> InboundMessage:
    """Commit the raw message to the inbox queue; returns the stored row (maybe a duplicate)."""
    with store.transaction() as session:
        return storage.inbox.enqueue(
            session,
            InboundMessage(
                channel=channel,
                source_key=source_key,
                mail_from=storable(mail_from),
                rcpt_tos=[storable(rcpt) for rcpt in rcpt_tos or []],
                message_id=message_id_of(raw),
                raw=raw,
            ),
        )


@dataclass(frozen=True)
class Processed:
    inbound_id: int
    state: str
    classification: str | None
    lead_id: int | None
    error: str | None = None


class InboundMailHandler:
    """Takes queued inbound messages through decode → pipeline, one transaction each."""

    def __init__(
        self,
        store: Store,
        reply_address: str,
        steps: tuple[str, ...] = pipeline.DEFAULT_STEPS,
        rules: Callable[[], Rules] = default_rules,
        budget_seconds: float = 5.0,
    ) -> None:
        self.store = store
        self.reply_address = reply_address
        self.steps = steps
        # Called per message: a RulesFile's `get` re-reads the rules file when it changes.
        self.rules = rules
        # Parsing one message past this is stopped, and the message quarantined with the reason.
        self.budget_seconds = budget_seconds
        # SQLite: messages parsed for a batch that its deadline left queued, by id, for the next
        # batch (parsing them again cost more than applying: 7 parses per mail at 20 a batch).
        self._parsed: dict[int, pipeline.MailEvent | Exception] = {}

    def process_next(self) -> Processed | None:
        """Process the oldest queued message; None when there is none.

        PostgreSQL: claim it (SKIP LOCKED), then parse; a row lock stops no one else. SQLite has
        one writer for the whole file, so the message is parsed before the write lock is taken,
        and the SMTP listener's commits never wait behind mail-parser.
        """
        if not self.store.is_sqlite:
            with self.store.transaction() as session:
                row = storage.inbox.claim_next(session)
                if row is None:
                    return None
                return self._apply_one(session, row, self._prepare(row))
        with self.store.reading() as session:
            peeked = storage.inbox.next_queued(session)
            prepared = self._prepare(peeked) if peeked is not None else None
            peeked_id = peeked.id if peeked is not None else None
        if peeked_id is None or prepared is None:
            return None
        with self.store.transaction() as session:
            row = storage.inbox.queued_by_id(session, peeked_id)
            if row is None:  # a retry or another process took it meanwhile
                return Processed(peeked_id, "skipped", None, None)
            return self._apply_one(session, row, prepared)

    def _prepare(self, row: InboundMessage) -> pipeline.MailEvent | Exception:
        """Decode and run the pure steps; a failure is kept, to be quarantined in `_apply`."""
        assert row.id is not None
        try:
            rules = self.rules()
            with time_budget(self.budget_seconds):
                mail = decode_mail(row.raw, row.mail_from, tuple(row.rcpt_tos or ()))
                event = pipeline.MailEvent(row.id, mail, self.reply_address, rules=rules)
                return pipeline.prepare(event, self.steps)
        except Exception as exc:
            return exc

    def _apply_one(
        self, session: Session, row: InboundMessage, prepared: pipeline.MailEvent | Exception
    ) -> Processed:
        applied = self._apply(session, row, prepared)
        assert isinstance(applied, Processed)  # outside a batch, capture is never deferred
        return applied

    def _apply(
        self,
        session: Session,
        row: InboundMessage,
        prepared: pipeline.MailEvent | Exception,
        in_batch: bool = False,
    ) -> Processed | pipeline.MailEvent:
        """Run one message's steps in a savepoint; a failure quarantines it. In a batch, an
        error of the store itself (a unique index another worker's commit won, a deadlock)
        fails the whole batch instead: its messages are then taken one at a time, when the
        other worker's rows are visible, rather than quarantining a message that is fine. In a
        batch, an enquiry comes back as its event with the capture pending (`apply_batch`)."""
        assert row.id is not None
        try:
            if isinstance(prepared, Exception):
                raise prepared
            prepared.defer_capture = in_batch
            with session.begin_nested():
                event = pipeline.run(session, prepared, self.steps)
                if event.pending is not None:
                    return event
                self._done(session, row, event)
        except Exception as exc:
            if in_batch and isinstance(exc, DBAPIError):
                raise
            return self._quarantine(session, row, exc)
        return Processed(row.id, "done", row.classification, row.lead_id)

    def _done(self, session: Session, row: InboundMessage, event: pipeline.MailEvent) -> None:
        storage.inbox.mark_done(
            session,
            row,
            classification=event.outcome or "ignored",
            reason=event.reason,
            lead_id=event.lead.id if event.lead else None,
            subject=event.mail.subject,
            from_address=event.mail.from_address,
        )
        session.flush()

    def _quarantine(self, session: Session, row: InboundMessage, exc: Exception) -> Processed:
        assert row.id is not None
        error = f"{type(exc).__name__}: {exc}"
        log.warning("inbound message %s quarantined: %s", row.id, error)
        detail = "".join(traceback.format_exception(exc, limit=-4))
        storage.inbox.quarantine(session, row, f"{error}\n\n{detail}")
        return Processed(row.id, "quarantined", None, None, error)

    def _capture_pending(
        self, session: Session, pending: list[tuple[InboundMessage, pipeline.MailEvent]]
    ) -> list[Processed]:
        """Capture the batch's enquiries together (`capture_many`, with a matcher that reads the
        batch's blocks once), then finish each message in a savepoint of its own. A mail whose
        capture failed alone (capture_many retried it by itself) is quarantined alone; an error
        of the store fails the batch (see `_apply`)."""
        done: list[Processed] = []
        groups: dict[tuple[int, bool, bool], list[tuple[InboundMessage, pipeline.MailEvent]]]
        groups = {}
        for row, event in pending:
            steps = event.steps
            key = (id(event.rules), "dedupe" in steps, "notify" in steps)
            groups.setdefault(key, []).append((row, event))
        for (_, dedupe, notify), members in groups.items():
            items = [event.pending for _, event in members if event.pending is not None]
            results = capture_batch(
                session, items, rules=members[0][1].rules, dedupe=dedupe, notify=notify
            )
            for (row, event), result in zip(members, results, strict=True):
                assert row.id is not None
                if isinstance(result, DBAPIError):
                    raise result
                if isinstance(result, Exception):
                    done.append(self._quarantine(session, row, result))
                    continue
                try:
                    with session.begin_nested():
                        pipeline.captured(event, result)
                        self._done(session, row, event)
                except DBAPIError:
                    raise
                except Exception as exc:
                    done.append(self._quarantine(session, row, exc))
                    continue
                done.append(Processed(row.id, "done", row.classification, row.lead_id))
        return done

    def process_batch(self, limit: int) -> int:
        """Process up to `limit` queued messages in ONE transaction (each in a savepoint of its
        own, a failing one quarantined alone); how many were taken.

        PostgreSQL: claim the batch (SKIP LOCKED, so two workers take disjoint batches), parse,
        apply. SQLite: parse the batch before the write lock is taken, then apply those still
        queued. Should the batch's transaction fail as a whole, its messages are taken again one
        at a time (`process_next`), so no message can hold the others back.
        """
        try:
            if not self.store.is_sqlite:
                with self.store.transaction() as session:
                    rows = list(storage.inbox.claim_batch(session, limit))
                    # Parsed one by one as applied: a row past the deadline is not parsed.
                    return len(apply_batch(self, session, _prepared_lazily(self, rows)))
            with self.store.reading() as session:
                peeked = [(row.id, self._parsed.get(row.id) or self._prepare(row)) for row in
                          storage.inbox.next_queued_batch(session, limit)]  # fmt: skip
            if not peeked:
                return 0
            prepared = dict(peeked)
            with self.store.transaction() as session:
                rows = list(storage.inbox.queued_by_ids(session, list(prepared)))
                applied = apply_batch(self, session, [(row, prepared[row.id]) for row in rows])
            taken = {p.inbound_id for p in applied}
            queued = {row.id for row in rows}
            self._parsed = {i: e for i, e in prepared.items() if i in queued and i not in taken}
            # Rows another worker or a retry took meanwhile count as taken: they are gone.
            return len(applied) + len(peeked) - len(rows)
        except Exception:
            log.exception("an inbox batch failed as a whole; taking its messages one at a time")
            self._parsed = {}  # a failed batch may have been half through applying them
            done = 0
            while done < limit and self.process_next() is not None:
                done += 1
            return done

    def drain(self, limit: int | None = None, batch: int = 20) -> int:
        """Process queued messages until none is left (or `limit`), in batches; how many."""
        done = 0
        while limit is None or done < limit:
            size = batch if limit is None else min(batch, limit - done)
            taken = self.process_batch(size)
            if not taken:
                break
            done += taken
        return done

    def retry(self, inbound_id: int) -> bool:
        with self.store.transaction() as session:
            row = storage.inbox.by_id(session, inbound_id)
            if row is None or row.state != "quarantined":
                return False
            storage.inbox.requeue(session, row)
            return True


def _prepared_lazily(
    handler: InboundMailHandler, rows: list[InboundMessage]
) -> Iterator[tuple[InboundMessage, pipeline.MailEvent | Exception]]:
    for row in rows:
        yield row, handler._prepare(row)


def apply_batch(
    handler: InboundMailHandler,
    session: Session,
    items: Iterable[tuple[InboundMessage, pipeline.MailEvent | Exception]],
) -> list[Processed]:
    """Apply prepared messages inside the caller's one transaction, each in a savepoint (a
    failure quarantines that message alone). The enquiries' captures are left pending by the
    pipeline and made together at the end (`capture_many`): the store is read and written per
    batch, not per mail. Past BATCH_SECONDS the rest is left queued for the next batch: on
    SQLite this transaction holds the write lock every other writer of the store waits for."""
    deadline = time.monotonic() + BATCH_SECONDS
    done: list[Processed] = []
    pending: list[tuple[InboundMessage, pipeline.MailEvent]] = []
    for row, prepared in items:
        if (done or pending) and time.monotonic() > deadline:
            break
        applied = handler._apply(session, row, prepared, in_batch=True)
        if isinstance(applied, pipeline.MailEvent):
            pending.append((row, applied))
        else:
            done.append(applied)
    return done + handler._capture_pending(session, pending)
