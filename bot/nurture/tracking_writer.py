"""The process that writes tracking events, so the HTTP server never runs that work itself.

Classifying and inserting thousands of opens a second is CPU work; in the serving process it
would hold the GIL against the loop that answers the pixel (the p99 doubled). The server appends
each hit to the hit spool (bot/nurture/hit_spool.py); every LEADBOT_TRACKING_FLUSH_SECONDS the
writer drains the spool, a transaction per chunk, and it drains it once more when it starts (what
a killed serve left) and when it stops. The server may also send batches over the pipe (hits it
could not spool); the writer classifies and inserts each in one transaction. Closing the pipe is
the stop signal: the writer first writes every batch sent before it and drains the spool, so a
clean stop loses nothing. serve starts the writer with itself and again when it died.

The app's supervisor (bot/app/supervisor.py) spawns the writer and hands it the batches; this
module keeps the writer's entry point and what it logs.
"""

from __future__ import annotations

import logging
import os
import time
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from bot import log_masking as masking
from bot.config import Settings
from bot.nurture.campaigns import Hit, record_hits
from bot.nurture.hit_spool import drain, spool_dir
from storage.engine import Store

log = logging.getLogger(__name__)

PROCESS_NAME = "leadbot-tracking-writer"
# Tries for one batch before the writer logs it and moves on (the store being down for minutes).
ATTEMPTS = 30


def writer_main(settings_data: dict[str, Any], log_level: int, batches: Connection) -> None:
    """Entry point of the writer process; returns once the server has closed the pipe."""
    logging.basicConfig(
        level=log_level, format="%(asctime)s %(levelname)s %(name)s[tracking]: %(message)s"
    )
    masking.install()  # addresses in log lines are masked
    settings = Settings(**settings_data)
    store = Store(settings.database_url, settings.signing_key())
    folder, owner = spool_dir(settings), os.getppid()

    def drain_spool(finished_only: bool = False) -> None:
        try:
            drain(store, folder, settings.scanner_window_seconds, owner,
                  finished_only=finished_only)  # fmt: skip
        except Exception:  # the store is down: the spool keeps the hits for the next round
            log.exception("draining the hit spool %s failed; trying again", folder)

    drain_spool(finished_only=True)  # what serves killed before this one left, at once
    try:
        while True:
            try:
                rows = batches.recv() if batches.poll(settings.tracking_flush_seconds) else None
            except (EOFError, OSError):
                drain_spool()
                return  # the server closed the pipe: everything it sent has been written
            if rows is None:
                drain_spool()
                continue
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


def batch(hits: list[Hit]) -> list[tuple[Any, ...]]:
    """What goes over the pipe for a batch of hits: plain tuples, cheap to pickle."""
    return [tuple(hit) for hit in hits]


def exited(process: BaseProcess) -> None:
    """Logged when the writer died and the next batch starts another."""
    log.warning("tracking writer exited (%s); starting another", process.exitcode)


def overdue(timeout: float) -> None:
    """Logged when the writer is still busy at stop and is ended."""
    log.error("tracking writer still busy after %ss; stopping it", timeout)
