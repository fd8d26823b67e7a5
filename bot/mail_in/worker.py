"""Inbox workers as processes of their own, supervised by `serve` (Mailman's runners, in small).

Parsing mail is CPU work; in the serving process it would hold the GIL against the SMTP listener
and slow every 250 reply. A worker process builds its own store and handler from the settings,
drains the queue, and sleeps until woken or a short tick passes. On PostgreSQL several workers
share the queue through SKIP LOCKED claims; SQLite has one writer, so one worker is enough there.

Wake-ups travel over a pipe, not a multiprocessing.Event: an Event's lock can be left held by a
parent killed mid-`set()`, which would hang the worker. A pipe also tells the worker when the
parent is gone (end of file), so a worker never outlives `serve`, even after SIGKILL.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

log = logging.getLogger(__name__)

_spawn = multiprocessing.get_context("spawn")


def worker_main(settings_data: dict[str, Any], wake: Connection, log_level: int) -> None:
    """Entry point of a worker process; returns when the parent closes the pipe or exits."""
    logging.basicConfig(
        level=log_level, format="%(asctime)s %(levelname)s %(name)s[worker]: %(message)s"
    )
    from bot.app.serve import build_services
    from bot.config import Settings

    settings = Settings(**settings_data)
    services = build_services(settings, migrate=False)
    try:
        while True:
            try:
                done = services.inbound.drain(limit=100)
            except Exception:
                log.exception("inbox worker failed; retrying shortly")
                done = 0
            if not done and wake.poll(settings.worker_idle_seconds):
                while wake.poll(0):
                    wake.recv_bytes()
    except (EOFError, OSError):
        pass  # the parent closed the pipe (stop) or died: what is queued waits for the next one
    finally:
        services.store.dispose()


class WorkerPool:
    """Starts N worker processes, wakes them, and restarts any that dies while running."""

    def __init__(self, settings_data: dict[str, Any], size: int, log_level: int) -> None:
        self.settings_data = settings_data
        self.size = size
        self.log_level = log_level
        self.workers: list[tuple[BaseProcess, Connection]] = []
        self.stopping = False

    def _spawn_one(self) -> tuple[BaseProcess, Connection]:
        receiver, sender = _spawn.Pipe(duplex=False)
        process = _spawn.Process(
            target=worker_main,
            args=(self.settings_data, receiver, self.log_level),
            name="leadbot-inbox-worker",
            daemon=True,
        )
        process.start()
        receiver.close()
        # A full pipe already holds a wake-up; never block the serving loop on it.
        os.set_blocking(sender.fileno(), False)
        return process, sender

    def start(self) -> None:
        self.workers = [self._spawn_one() for _ in range(self.size)]

    def wake(self) -> None:
        for _, sender in self.workers:
            # Full pipe: a wake-up is already pending. Broken: supervise() restarts the worker.
            with contextlib.suppress(BlockingIOError, BrokenPipeError):
                sender.send_bytes(b"!")

    def supervise(self) -> None:
        """Replace dead workers (called periodically by serve)."""
        for index, (process, sender) in enumerate(self.workers):
            if not process.is_alive() and not self.stopping:
                log.error("inbox worker %s exited (%s); restarting", process.pid, process.exitcode)
                sender.close()
                self.workers[index] = self._spawn_one()

    def stop(self, timeout: float = 15.0) -> None:
        self.stopping = True
        for _, sender in self.workers:
            sender.close()
        for process, _ in self.workers:
            process.join(timeout)
            if process.is_alive():
                process.terminate()
                process.join(5)
