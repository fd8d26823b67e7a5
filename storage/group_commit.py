"""Group commit into the store: many requests' writes in one transaction, each answered once
its own is committed.

A door that answers only after its write is committed (a form POST on a store without a spool)
would otherwise pay a whole transaction per request: on PostgreSQL the pool's ping, BEGIN, the
INSERT and COMMIT, four round trips and their driver work, while twenty visitors wait in line
for the same connection pool. One writer thread takes whatever is waiting when it is free (up
to `limit`), writes it all in one transaction and resolves each request's future with its own
result. The first request of a quiet moment is written at once, alone: batching costs it
nothing.

Should the batch's transaction fail, each item is written again in a transaction of its own,
so one bad item fails alone and the others are still stored (and the store being down fails
each with its own error: the door answers 503 and nothing is half-kept).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Generic, TypeVar

from sqlmodel import Session

from storage.engine import Store

log = logging.getLogger("leadbot.storage")

T = TypeVar("T")
R = TypeVar("R")

# The most items one transaction takes: the waiting line rarely holds more, and a bigger
# transaction only makes its first item wait longer.
GROUP_LIMIT = 64


class GroupCommit(Generic[T, R]):
    """One thread that writes `write(session, item)` for submitted items, several per
    transaction; `submit` returns a future resolved after the commit holding the item."""

    def __init__(
        self,
        store: Store,
        write: Callable[[Session, T], R],
        *,
        name: str,
        limit: int = GROUP_LIMIT,
    ) -> None:
        self.store = store
        self.write = write
        self.name = name
        self.limit = limit
        self._queue: queue.SimpleQueue[tuple[T, Future[R]] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()

    def submit(self, item: T) -> Future[R]:
        future: Future[R] = Future()
        if self._thread is None:
            with self._start:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                    self._thread.start()
        self._queue.put((item, future))
        return future

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.limit:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)  # stop after this commit
                    break
                batch.append(more)
            self._commit(batch)

    def _commit(self, batch: list[tuple[T, Future[R]]]) -> None:
        try:
            with self.store.transaction() as session:
                results = [self.write(session, item) for item, _ in batch]
        except Exception as exc:
            if len(batch) == 1:
                log.exception("%s: a write failed", self.name)
                batch[0][1].set_exception(exc)
                return
            log.warning("%s: a batch of %d failed; writing each alone", self.name, len(batch))
            for one in batch:
                self._commit([one])
            return
        for (_, future), result in zip(batch, results, strict=True):
            future.set_result(result)

    def stop(self, timeout: float = 10.0) -> None:
        """Commit what was submitted, then end the thread."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
            self._thread = None
