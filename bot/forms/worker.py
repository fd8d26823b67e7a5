"""The form worker: a process of its own, supervised by `serve`, that makes submissions leads
and sends the double opt-in mails.

Capture (de-duplication above all) is CPU work; in the serving process it would hold the GIL
against the HTTP server and slow every 303. The worker builds its own store, processor and
sender from the settings, drains the queue in small batches (reading its pipe between them),
and sleeps until woken by a POST or a short tick passes; while POSTs keep arriving it lets them
commit first (`let_posts_commit_first`). The app's supervisor
(bot/app/supervisor.py) spawns, restarts and stops it.
"""

from __future__ import annotations

import logging
import time
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from bot.config import Settings
from bot.forms.confirm import ConfirmationSender
from bot.forms.process import FormProcessor
from bot.forms.tokens import FormTokens
from bot.rules.file import RulesFile
from storage.engine import Store

log = logging.getLogger(__name__)

PROCESS_NAME = "leadbot-form-worker"


def processor_and_sender(
    settings: Settings, store: Store
) -> tuple[FormProcessor, ConfirmationSender]:
    """What the settings describe: the same in serve, the CLI and the worker."""
    tokens = FormTokens(settings.signing_key())
    processor = FormProcessor(store, RulesFile(settings.rules_file(), announce=False).get)
    sender = ConfirmationSender(
        store,
        tokens,
        relay_url=settings.outbound_smtp_url,
        sender=settings.outbound_from or settings.reply_address,
        public_url=settings.public_url,
    )
    return processor, sender


# While POSTs keep arriving (each wakes the worker), it waits for a pause this long before the
# next capture: the answer a visitor waits on is the commit of their submission, and on SQLite a
# capture holds the one write lock. It never waits longer than MAX_DEFER_SECONDS in a row.
QUIET_SECONDS = 0.1
MAX_DEFER_SECONDS = 2.0


def let_posts_commit_first(wake: Connection) -> None:
    deadline = time.monotonic() + MAX_DEFER_SECONDS
    while True:
        while wake.poll(0):
            wake.recv_bytes()
        if time.monotonic() >= deadline or not wake.poll(QUIET_SECONDS):
            return


def worker_main(settings_data: dict[str, Any], log_level: int, wake: Connection) -> None:
    """Entry point of the worker process; returns when the parent closes the pipe or exits."""
    logging.basicConfig(
        level=log_level, format="%(asctime)s %(levelname)s %(name)s[forms]: %(message)s"
    )
    settings = Settings(**settings_data)
    store = Store(settings.database_url)
    processor, sender = processor_and_sender(settings, store)
    try:
        while True:
            done = 0
            for name, work in (("form processing", processor.drain_once),
                               ("confirmation mail", sender.drain_once)):  # fmt: skip
                try:
                    done += work()
                except Exception:
                    log.exception("%s failed; retrying shortly", name)
            if wake.poll(0) or (not done and wake.poll(settings.worker_idle_seconds)):
                let_posts_commit_first(wake)
    except (EOFError, OSError):
        pass  # the parent closed the pipe (stop) or died: what is queued waits for the next one
    finally:
        store.dispose()


def exited(process: BaseProcess) -> None:
    log.error("form worker %s exited (%s); restarting", process.pid, process.exitcode)
