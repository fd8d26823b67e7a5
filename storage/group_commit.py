"""Group commit: many callers' small writes in one transaction, each caller told when its own is
on the disk.

Why: a door (SMTP's 250, a form's 303) answers only once what it accepted is committed, and a
commit costs one fsync. Twenty visitors posting at once, each in a transaction of their own, queue
for twenty fsyncs (and twenty pooled connections). One thread that takes what has arrived while
it was committing and commits it together pays one fsync per round, so the answer's p99 stays
near one commit however many post at once (the spool's writer and, on PostgreSQL, the forms'
submissions use it).

`write(items)` commits a batch and returns one result per item, in order. A batch that fails is
written again one item at a time, so an item the store refuses (say, text PostgreSQL cannot hold)
fails only its own caller; when the store itself is down, each caller hears the error and answers
"try again": nothing is acknowledged that was not committed.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

# At most this many items go into one commit.
GROUP_LIMIT = 256


class GroupCommitter(Generic[T, R]):
    """The one thread that commits: `submit` an item and await its future, resolved with the
    item's result once the commit holding it is done (or with the error that stopped it).
    `on_written` hears each committed batch, from the committing thread."""

    def __init__(
        self,
        write: Callable[[Sequence[T]], Sequence[R]],
        *,
        name: str,
        on_written: Callable[[Sequence[T]], None] = lambda items: None,
        limit: int = GROUP_LIMIT,
    ) -> None:
        self.write = write
        self.name = name
        self.on_written = on_written
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
        items = [item for item, _ in batch]
        try:
            results = self.write(items)
        except Exception as exc:
            if len(batch) == 1:
                log.exception("%s: could not commit an item", self.name)
                batch[0][1].set_exception(exc)
                return
            log.warning("%s: a commit of %d items failed (%s); one at a time", self.name,
                        len(batch), exc)  # fmt: skip
            for one in batch:
                self._commit([one])
            return
        for (_, future), result in zip(batch, results, strict=True):
            future.set_result(result)
        try:
            self.on_written(items)
        except Exception:
            log.exception("%s: the after-commit call failed", self.name)

    def stop(self, timeout: float = 10.0) -> None:
        """Commit what was submitted, then end the thread."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
            self._thread = None
