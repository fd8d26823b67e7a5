"""Inbox workers as processes of their own, supervised by `serve` (Mailman's runners, in small).

Parsing mail is CPU work; in the serving process it would hold the GIL against the SMTP listener
and slow every 250 reply. A worker process builds its own store and handler from the settings,
drains the queue, and sleeps until woken or a short tick passes. On PostgreSQL several workers
share the queue through SKIP LOCKED claims; SQLite has one writer, so one worker is enough there.

The app's supervisor (bot/app/supervisor.py) spawns and restarts the workers and wakes them over
a pipe; this module keeps the worker's entry point, what it builds and what it logs.
"""

from __future__ import annotations

import logging
import os
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from bot import log_masking as masking
from bot.config import Settings
from bot.mail_in.inbox import InboundMailHandler
from bot.rules.file import RulesFile
from storage import spool as spooling
from storage.engine import Store
from storage.spool import Spool

log = logging.getLogger(__name__)

PROCESS_NAME = "leadbot-inbox-worker"
# What an inbox worker moves from the spool into the store (serve moves the rest).
MOVED_HERE = ("smtp",)


def inbound_handler(settings: Settings, store: Store) -> InboundMailHandler:
    """The inbox handler the settings describe: the same in serve, the CLI and each worker."""
    return InboundMailHandler(
        store,
        settings.reply_address,
        tuple(settings.inbound_steps),
        rules=RulesFile(settings.rules_file(), announce=False).get,
        budget_seconds=settings.mail_budget_seconds,
    )


def worker_main(settings_data: dict[str, Any], log_level: int, wake: Connection) -> None:
    """Entry point of a worker process; returns when the parent closes the pipe or exits."""
    logging.basicConfig(
        level=log_level, format="%(asctime)s %(levelname)s %(name)s[worker]: %(message)s"
    )
    masking.install()  # addresses in log lines are masked
    settings = Settings(**settings_data)
    if settings.inbox_worker_nice:
        # Processing is throughput work; the listener's 250 is latency: on a busy machine the
        # kernel gives the cores to the listener and serve first.
        os.nice(settings.inbox_worker_nice)
    store = Store(settings.database_url, settings.signing_key())
    inbound = inbound_handler(settings, store)
    # Mail the SMTP listener spooled is moved here, not in serve: serve's process keeps its
    # CPU (and its GIL) for answering, and only this process waits for SQLite's write lock.
    spool_path = settings.spool_path()
    spool = Spool(spool_path) if spool_path else None
    try:
        while True:
            try:
                # One batch at a time: the pipe is read between them.
                batch = max(1, settings.inbox_batch_size)
                moved = spooling.move(spool, store, kinds=MOVED_HERE) if spool else {}
                # One transaction (at most 0.25 s of applying), then the pipe: a parent that
                # died ends the worker within one batch.
                done = inbound.process_batch(batch) + sum(moved.values())
            except Exception:
                log.exception("inbox worker failed; retrying shortly")
                done = 0
            # The pipe is read after every batch too: a parent that died (EOF) ends the worker
            # within one batch, not after the whole queue.
            if done or wake.poll(settings.worker_idle_seconds):
                while wake.poll(0):
                    wake.recv_bytes()
    except (EOFError, OSError):
        pass  # the parent closed the pipe (stop) or died: what is queued waits for the next one
    finally:
        store.dispose()


def exited(process: BaseProcess) -> None:
    """Logged when a worker died and the supervisor starts another."""
    log.error("inbox worker %s exited (%s); restarting", process.pid, process.exitcode)
