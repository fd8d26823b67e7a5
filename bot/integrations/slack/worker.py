"""Slack's slow work in a process of its own: the serving process verifies, parses and acks;
the work after the ack (bolt's lazy listeners) runs in a Slack worker process.

Bolt's own adapters do the same on AWS Lambda (LambdaLazyListenerRunner): the lazy half of a
request is dispatched again, marked lazy-only, somewhere else. Here the serving app's
`ForwardingLazyRunner` (bot/integrations/slack/app.py) posts it to this process through the app's
supervisor (bot/app/supervisor.py), which never blocks the loop and never drops, so the ack path
never waits behind card rendering and store work, even with 20 requests at once. This module
keeps the worker's entry point and what it logs.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from slack_bolt.lazy_listener.async_internals import to_runnable_function
from slack_bolt.lazy_listener.asyncio_runner import AsyncioLazyListenerRunner
from slack_bolt.request.async_request import AsyncBoltRequest

from bot import log_masking as masking
from bot.config import Settings
from bot.integrations.slack.app import Forwarded, build_slack_app
from storage.engine import Store

log = logging.getLogger(__name__)

PROCESS_NAME = "leadbot-slack-worker"
WORKER_NICENESS = 10
# How long a stopping worker waits for the work it has started.
FINISH_SECONDS = 10


class InlineLazyRunner(AsyncioLazyListenerRunner):
    """Runs a forwarded lazy function. slack-bolt 1.30's AsyncLazyListenerRunner.run awaits
    `to_runnable_function(...)()`, calling the coroutine it returns (a TypeError); that path
    only runs when a lazy request is dispatched again, as on Lambda and here."""

    async def run(
        self, function: Callable[..., Awaitable[None]], request: AsyncBoltRequest
    ) -> None:
        await to_runnable_function(internal_func=function, logger=self.logger, request=request)


def worker_main(settings_data: dict[str, Any], log_level: int, jobs: Connection) -> None:
    """Entry point of the Slack worker process."""
    # Acks are latency work, what follows them is throughput work: under load the CPU goes to
    # the serving process first, and Slack hears back in time.
    os.nice(WORKER_NICENESS)
    logging.basicConfig(
        level=log_level, format="%(asctime)s %(levelname)s %(name)s[slack]: %(message)s"
    )
    masking.install()  # addresses in log lines are masked
    asyncio.run(_work(Settings(**settings_data), jobs))


async def _work(settings: Settings, jobs: Connection) -> None:
    store = Store(settings.database_url, settings.signing_key())
    app = build_slack_app(settings, store)
    app.listener_runner.lazy_listener_runner = InlineLazyRunner(logger=log)
    loop = asyncio.get_running_loop()
    running: set[asyncio.Task[Any]] = set()
    while True:
        try:
            job: Forwarded = await loop.run_in_executor(None, jobs.recv)
        except (EOFError, OSError):
            break  # stop closed the pipe after its last job, or serve is gone: stop too
        body, headers, mode = job
        request = AsyncBoltRequest(body=body, headers=headers, mode=mode)
        task = asyncio.create_task(app.async_dispatch(request))
        running.add(task)
        task.add_done_callback(running.discard)
    if running:
        await asyncio.wait(running, timeout=FINISH_SECONDS)
    store.dispose()


def exited(process: BaseProcess) -> None:
    """Logged when the worker died and the supervisor starts another."""
    log.error("Slack worker exited (%s); restarting", process.exitcode)


def overdue(timeout: float) -> None:
    """Logged when the worker has not finished at stop and is ended."""
    log.warning("Slack worker did not finish in %ss; killing it", timeout)
