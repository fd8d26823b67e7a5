"""The process that writes tracking events, so the HTTP server never runs that work itself.

Classifying and inserting thousands of opens a second is CPU work; in the serving process it
would hold the GIL against the loop that answers the pixel (the p99 doubled). The server sends
each batch over a pipe; the writer classifies and inserts it in one transaction. Closing the
pipe is the stop signal: the writer first reads (and writes) every batch sent before it, so a
clean stop loses nothing. A writer that died is started again on the next batch.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

log = logging.getLogger(__name__)

_spawn = multiprocessing.get_context("spawn")
# Tries for one batch before the writer logs it and moves on (the store being down for minutes).
ATTEMPTS = 30


def writer_main(settings_data: dict[str, Any], batches: Connection, log_level: int) -> None:
    logging.basicConfig(
        level=log_level, format="%(asctime)s %(levelname)s %(name)s[tracking]: %(message)s"
    )
    import time

    from bot.config import Settings
    from bot.nurture.campaigns import Hit, record_hits
    from storage.engine import Store

    settings = Settings(**settings_data)
    store = Store(settings.database_url)
    try:
        while True:
            try:
                rows = batches.recv()
            except (EOFError, OSError):
                return  # the server closed the pipe: everything it sent has been written
            hits = [Hit(*row) for row in rows]
            for attempt in range(ATTEMPTS):
                try:
                    with store.transaction() as session:
                        record_hits(session, hits, settings.scanner_window_seconds)
                    break
                except Exception:
                    log.exception("writing %d tracking events failed (try %d)", len(hits),
                                  attempt + 1)  # fmt: skip
                    time.sleep(min(2**attempt, 30))
    finally:
        store.dispose()


class TrackingWriter:
    """The writer process, as the HTTP server's HitBuffer sees it: `write(batch)` and `close()`."""

    def __init__(self, settings_data: dict[str, Any], log_level: int) -> None:
        self.settings_data = settings_data
        self.log_level = log_level
        self.process: BaseProcess | None = None
        self.pipe: Connection | None = None
        self.lock = threading.Lock()

    def _start(self) -> None:
        receiver, sender = _spawn.Pipe(duplex=False)
        self.process = _spawn.Process(
            target=writer_main, args=(self.settings_data, receiver, self.log_level),
            name="leadbot-tracking-writer", daemon=True,
        )  # fmt: skip
        self.process.start()
        receiver.close()
        self.pipe = sender

    def write(self, hits: list[Any]) -> int:
        """Hand a batch to the writer (blocking while the pipe is full: call it off the loop)."""
        with self.lock:
            if self.process is None or not self.process.is_alive():
                if self.process is not None:
                    log.warning("tracking writer exited (%s); starting another",
                                self.process.exitcode)  # fmt: skip
                self._start()
            assert self.pipe is not None
            self.pipe.send([tuple(hit) for hit in hits])
            return len(hits)

    def close(self, timeout: float = 60.0) -> None:
        with self.lock:
            if self.pipe is not None:
                self.pipe.close()
            if self.process is not None:
                self.process.join(timeout)
                if self.process.is_alive():
                    log.error("tracking writer still busy after %ss; stopping it", timeout)
                    self.process.terminate()
                    self.process.join()
