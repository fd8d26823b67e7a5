"""Drains the outbox to a notifier, with retries and backoff: an outage delays, never loses.

Each item is claimed (SKIP LOCKED on PostgreSQL), delivered and marked in a transaction of its
own, so an item is marked sent only when its delivery returned, two dispatchers never take one
item, and a crash re-sends at most the one item that was in flight (a batch committed at its end
re-sent up to 20 cards after a `kill -9`).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Protocol

import storage.leads
import storage.outbox
import storage.reps
from storage.engine import Store
from storage.models import Lead, OutboxItem, Rep, utcnow

log = logging.getLogger(__name__)


class Notifier(Protocol):
    name: str

    def deliver(self, item: OutboxItem, lead: Lead | None, rep: Rep | None) -> str | None: ...


class RetryLater(Exception):
    """A notifier's way to ask for a retry after a given delay (Slack's Retry-After)."""

    def __init__(self, seconds: float, message: str = "") -> None:
        super().__init__(message or f"retry after {seconds}s")
        self.seconds = seconds


def backoff_seconds(attempt: int) -> float:
    """5 s, 10 s, 20 s, … capped at 10 minutes."""
    return float(min(600, 5 * 2 ** max(0, attempt - 1)))


class OutboxDispatcher:
    def __init__(self, store: Store, notifier: Notifier, max_attempts: int = 8) -> None:
        self.store = store
        self.notifier = notifier
        self.max_attempts = max_attempts

    def drain_once(self, batch: int = 20) -> int:
        """Deliver up to `batch` items that are due now, committing each; returns how many.

        It looks in a read first: serve calls this on every idle tick, and on SQLite a write
        transaction takes the one write lock that capture needs."""
        with self.store.reading() as session:
            if not storage.outbox.any_due(session):
                return 0
        tried = 0
        while tried < batch and self._deliver_next():
            tried += 1
        return tried

    def _deliver_next(self) -> bool:
        """Claim, deliver and mark one due item in one transaction; False when none is due."""
        with self.store.transaction() as session:
            items = storage.outbox.claim_due(session, limit=1)
            if not items:
                return False
            item = items[0]
            lead = storage.leads.by_id(session, item.lead_id) if item.lead_id else None
            rep = storage.reps.by_id(session, item.rep_id) if item.rep_id else None
            try:
                ref = self.notifier.deliver(item, lead, rep)
            except Exception as exc:
                attempt = item.attempts + 1
                delay = exc.seconds if isinstance(exc, RetryLater) else backoff_seconds(attempt)
                give_up = attempt >= self.max_attempts
                retry_at = None if give_up else utcnow() + timedelta(seconds=delay)
                log.warning("outbox %s attempt %s failed: %s", item.id, attempt, exc)
                storage.outbox.mark_failed_attempt(session, item, str(exc), retry_at)
            else:
                storage.outbox.mark_sent(session, item, ref)
            return True
