"""Web forms inside `leadbot serve`: the routes, and what makes submissions leads and sends the
double opt-in mails: a worker process (LEADBOT_FORM_WORKERS=1, the default; capture's CPU work
stays off the HTTP server's GIL) or, with 0, the same work in threads of serve."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import storage.forms
from bot.app.supervisor import Child, Supervisor
from bot.config import Settings
from bot.forms import worker
from bot.forms.tokens import FormTokens
from bot.rules.file import Rules
from bot.web.forms import FormsWeb
from storage.engine import Store

log = logging.getLogger("leadbot.forms")


class FormsRuntime:
    def __init__(self, settings: Settings, store: Store, rules: Callable[[], Rules]) -> None:
        # Set by every accepted POST: the processor looks at once instead of at its next tick.
        self.wake = asyncio.Event()
        self.confirmations_wake = asyncio.Event()
        self.web = FormsWeb(
            store,
            FormTokens(settings.signing_key()),
            lambda: rules().forms,
            public_url=settings.public_url,
            max_body_bytes=settings.form_max_body_bytes,
            wake=self.posted,
        )
        self.store = store
        self.processor, self.confirmations = worker.processor_and_sender(settings, store)
        self.worker: Supervisor | None = None
        if settings.form_workers > 0:
            child = Child(worker.PROCESS_NAME, worker.worker_main,
                          (settings.model_dump(), log.getEffectiveLevel()),
                          exited=worker.exited)  # fmt: skip
            # One process: SQLite has one writer, and on PostgreSQL one keeps up with capture.
            self.worker = Supervisor(child)
        self._started = False

    def start(self) -> None:
        """Start the worker when the store has a form: a bot without forms spawns no process
        for them (the first POST to a form created meanwhile starts it)."""
        if self.worker is None or self._started:
            return
        with self.store.reading() as session:
            if storage.forms.all_forms(session):
                self.worker.start()
                self._started = True

    def posted(self) -> None:
        if self.worker is not None and not self._started:
            self.worker.start()
            self._started = True
        self.wake.set()

    def process(self) -> int:
        done = self.processor.drain_once()
        if done:
            self.confirmations_wake.set()
        return done
