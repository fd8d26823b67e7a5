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
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from bot import log_masking as masking
from bot.config import Settings
from bot.mail_in.inbox import InboundMailHandler
from bot.rules.file import RulesFile
from storage.engine import Store

log = logging.getLogger(__name__)

PROCESS_NAME = "leadbot-inbox-worker"


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
    store = Store(settings.database_url, settings.signing_key())
    inbound = inbound_handler(settings, store)
    try:
        while True:
            try:
                done = inbound.drain(limit=10)  # small batches: the pipe is read between them
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
