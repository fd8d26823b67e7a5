"""Slack's slow work in a process of its own: the serving process verifies, parses and acks;
the work after the ack (bolt's lazy listeners) runs in a Slack worker process.

Bolt's own adapters do the same on AWS Lambda (LambdaLazyListenerRunner): the lazy half of a
request is dispatched again, marked lazy-only, somewhere else. Here that is a worker process fed
through a multiprocessing.Queue (unbounded: forwarding never blocks the loop and never drops), so
the ack path never waits behind card rendering and store work, even with 20 requests at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import queue
from collections.abc import Awaitable, Callable
from multiprocessing.process import BaseProcess
from typing import Any

from slack_bolt.lazy_listener.async_internals import to_runnable_function
from slack_bolt.lazy_listener.async_runner import AsyncLazyListenerRunner
from slack_bolt.lazy_listener.asyncio_runner import AsyncioLazyListenerRunner
from slack_bolt.request.async_request import AsyncBoltRequest

log = logging.getLogger(__name__)

_spawn = multiprocessing.get_context("spawn")

WORKER_NICENESS = 10
# Put on the queue by a clean stop: the worker finishes what came before it, then exits.
STOP = "stop"
# (body, headers, mode): what the worker needs to dispatch the request again, lazy-only. The body
# is the raw text over HTTP (its signature is checked again) and the parsed dict in Socket Mode,
# where bolt keeps no raw text.
Forwarded = tuple[str | dict[str, Any], dict[str, list[str]], str]


class ForwardingLazyRunner(AsyncLazyListenerRunner):
    def __init__(self, jobs: Any) -> None:
        self.jobs = jobs
        self.logger = log

    def start(self, function: Callable[..., Awaitable[None]], request: AsyncBoltRequest) -> None:
        headers = {name: list(values) for name, values in request.headers.items()}
        headers["x-slack-bolt-lazy-only"] = ["1"]
        headers["x-slack-bolt-lazy-function-name"] = [request.lazy_function_name or ""]
        body = request.raw_body if request.mode == "http" else request.body
        self.jobs.put((body, headers, request.mode))


class InlineLazyRunner(AsyncioLazyListenerRunner):
    """Runs a forwarded lazy function. slack-bolt 1.30's AsyncLazyListenerRunner.run awaits
    `to_runnable_function(...)()`, calling the coroutine it returns (a TypeError); that path
    only runs when a lazy request is dispatched again, as on Lambda and here."""

    async def run(
        self, function: Callable[..., Awaitable[None]], request: AsyncBoltRequest
    ) -> None:
        await to_runnable_function(internal_func=function, logger=self.logger, request=request)


def worker_main(settings_data: dict[str, Any], jobs: Any, log_level: int) -> None:
    """Entry point of the Slack worker process."""
    # Acks are latency work, what follows them is throughput work: under load the CPU goes to
    # the serving process first, and Slack hears back in time.
    os.nice(WORKER_NICENESS)
    logging.basicConfig(
        level=log_level, format="%(asctime)s %(levelname)s %(name)s[slack]: %(message)s"
    )
    asyncio.run(_work(settings_data, jobs))


async def _work(settings_data: dict[str, Any], jobs: Any) -> None:
    from bot.config import Settings
    from bot.integrations.slack.app import build_slack_app
    from storage.engine import Store

    settings = Settings(**settings_data)
    store = Store(settings.database_url)
    app = build_slack_app(settings, store)
    app.listener_runner.lazy_listener_runner = InlineLazyRunner(logger=log)
    parent = os.getppid()
    loop = asyncio.get_running_loop()
    running: set[asyncio.Task[Any]] = set()
    while os.getppid() == parent:  # orphaned by a killed serve: stop too
        try:
            job: Forwarded | str | None = await loop.run_in_executor(None, _next_job, jobs)
        except (EOFError, OSError):
            break
        if job is None:
            continue
        if job == STOP:
            break  # everything forwarded before the stop has been started
        body, headers, mode = job
        request = AsyncBoltRequest(body=body, headers=headers, mode=mode)
        task = asyncio.create_task(app.async_dispatch(request))
        running.add(task)
        task.add_done_callback(running.discard)
    if running:
        await asyncio.wait(running, timeout=10)
    store.dispose()


def _next_job(jobs: Any) -> Forwarded | str | None:
    try:
        return jobs.get(timeout=0.5)
    except queue.Empty:
        return None


class SlackWorker:
    """One Slack worker process, restarted if it dies; `runner` is what the front app uses."""

    def __init__(self, settings_data: dict[str, Any], log_level: int) -> None:
        self.settings_data = settings_data
        self.log_level = log_level
        self.jobs = _spawn.Queue()
        self.runner = ForwardingLazyRunner(self.jobs)
        self.process: BaseProcess | None = None
        self.stopping = False

    def start(self) -> None:
        self.process = _spawn.Process(
            target=worker_main,
            args=(self.settings_data, self.jobs, self.log_level),
            name="leadbot-slack-worker",
            daemon=True,
        )
        self.process.start()

    def supervise(self) -> None:
        if self.process is not None and not self.process.is_alive() and not self.stopping:
            log.error("Slack worker exited (%s); restarting", self.process.exitcode)
            self.start()

    def stop(self, timeout: float = 15.0) -> None:
        self.stopping = True
        if self.process is None:
            return
        self.jobs.put(STOP)
        self.process.join(timeout)
        if self.process.is_alive():
            log.warning("Slack worker did not finish in %ss; killing it", timeout)
            self.process.kill()
            self.process.join(5)
        with contextlib.suppress(Exception):
            self.jobs.close()
