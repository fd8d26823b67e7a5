"""Composition root: builds the services from the settings and runs the listeners together.

`build_services` is what the CLI and the tests use; `serve` starts the SMTP listener, the HTTP
server, the inbox worker, the outbox dispatcher and (when configured) the IMAP poller in one
asyncio loop, and stops them cleanly on SIGINT/SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import storage.inbox
from bot.config import Settings
from bot.mail_in.inbox import InboundMailHandler, accept_raw
from bot.notify.console import ConsoleNotifier
from bot.notify.dispatcher import Notifier, OutboxDispatcher
from bot.public_links import PublicLinks
from bot.rules.file import RulesFile
from storage.engine import Store
from storage.migrate import ensure_schema

if TYPE_CHECKING:
    from bot.mail_in.worker import WorkerPool

log = logging.getLogger("leadbot")


@dataclass
class Services:
    settings: Settings
    store: Store
    inbound: InboundMailHandler
    outbox: OutboxDispatcher

    def accept_smtp(self, raw: bytes, mail_from: str, rcpt_tos: list[str]) -> int:
        row = accept_raw(self.store, raw, channel="smtp", mail_from=mail_from, rcpt_tos=rcpt_tos)
        assert row.id is not None
        return row.id

    def health(self) -> dict[str, Any]:
        with self.store.transaction() as session:
            counts = storage.inbox.counts_by_state(session)
        return {"status": "ok", "inbox": counts}


def build_services(settings: Settings, *, migrate: bool = True) -> Services:
    if migrate:
        ensure_schema(settings.database_url)
    store = Store(settings.database_url)
    return Services(
        settings=settings,
        store=store,
        inbound=InboundMailHandler(
            store,
            settings.reply_address,
            tuple(settings.inbound_steps),
            rules=RulesFile(settings.rules, announce=False).get,
        ),
        outbox=OutboxDispatcher(
            store, build_notifier(settings, store), settings.outbox_max_attempts
        ),
    )


def build_notifier(settings: Settings, store: Store) -> Notifier:
    """Slack when a bot token is configured, else the console."""
    if not settings.slack_bot_token:
        return ConsoleNotifier()
    from bot.integrations.slack.notifier import SlackNotifier, owner_names, recent_timeline

    return SlackNotifier(
        token=settings.slack_bot_token,
        base_url=settings.slack_api_url,
        links=PublicLinks(settings.public_url, settings.signing_key()),
        channel=settings.slack_channel or None,
        timeline_for=recent_timeline(store),
        owner_name_for=owner_names(store),
    )


async def _repeat(
    work: Callable[[], int], wake: asyncio.Event, idle_seconds: float, name: str
) -> None:
    """Run blocking `work` in a thread until it finds nothing, then wait for a wake-up or a tick."""
    while True:
        try:
            done = await asyncio.to_thread(work)
        except Exception:
            log.exception("%s failed; retrying shortly", name)
            done = 0
        if done:
            continue
        wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=idle_seconds)


async def _bridge(wake: asyncio.Event, pool: WorkerPool) -> None:
    """Pass wake-ups to the worker processes and restart any that died."""
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=1.0)
        if wake.is_set():
            wake.clear()
            pool.wake()
        pool.supervise()


async def _every(seconds: float, work: Callable[[], None]) -> None:
    while True:
        await asyncio.sleep(seconds)
        work()


async def serve(settings: Settings, ready: Callable[[], Awaitable[None]] | None = None) -> None:
    # The server stack is imported here so that CLI commands do not pay for it.
    import uvicorn

    from bot.app.nurture import NurtureRuntime
    from bot.mail_in.smtp import InboxSMTPHandler, start_smtp_server
    from bot.public_links import PublicLinks
    from bot.web.app import build_http_app
    from bot.web.lead_page import lead_page_routes

    class EmbeddedUvicorn(uvicorn.Server):
        """uvicorn inside our loop: signals are ours, so it must not capture them."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    services = build_services(settings)
    links = PublicLinks(settings.public_url, settings.signing_key())
    # Scoring, the MQL queue and assignment (bot/assignment/decide.py); the rules reload on edit.
    from bot.assignment.decide import Assigner
    from bot.web.events import events_routes

    rules = RulesFile(settings.rules)
    assigner = Assigner(services.store, rules.get)
    nurture = NurtureRuntime(settings, services.store)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    inbox_wake = asyncio.Event()
    outbox_wake = asyncio.Event()

    def on_stored() -> None:
        inbox_wake.set()

    def process_inbox() -> int:
        done = services.inbound.drain(limit=100)
        if done:
            loop.call_soon_threadsafe(outbox_wake.set)
        return done

    smtp_server = await start_smtp_server(
        InboxSMTPHandler(services.accept_smtp, settings.inbound_address_list(), on_stored),
        settings.smtp_host,
        settings.smtp_port,
        settings.smtp_max_message_size,
    )
    slack = None
    if settings.slack_bot_token:
        from bot.integrations.slack.app import build_slack_runtime

        slack = build_slack_runtime(settings, services.store, log.getEffectiveLevel())
    http_server = EmbeddedUvicorn(
        uvicorn.Config(
            nurture.wrap(
                build_http_app(
                    services.health,
                    [
                        *lead_page_routes(services.store, links),
                        *events_routes(services.store, settings.signing_key()),
                        *nurture.routes,
                        *(slack.routes if slack else []),
                    ],
                )
            ),
            host=settings.http_host,
            port=settings.http_port,
            log_level="warning",
            access_log=False,
            lifespan="on",
        )
    )
    nurture.start()
    tasks = [
        asyncio.create_task(http_server.serve(), name="http"),
        asyncio.create_task(
            _repeat(
                services.outbox.drain_once, outbox_wake, settings.worker_idle_seconds, "outbox"
            ),
            name="outbox",
        ),
    ]
    pool = None
    if settings.inbox_workers > 0:
        from bot.mail_in.worker import WorkerPool

        pool = WorkerPool(settings.model_dump(), settings.inbox_workers, log.getEffectiveLevel())
        pool.start()
        tasks.append(asyncio.create_task(_bridge(inbox_wake, pool), name="inbox-wake"))
    else:
        tasks.append(
            asyncio.create_task(
                _repeat(process_inbox, inbox_wake, settings.worker_idle_seconds, "inbox"),
                name="inbox",
            )
        )
    tasks.append(
        asyncio.create_task(
            _repeat(assigner.tick, asyncio.Event(), settings.worker_idle_seconds, "assignment"),
            name="assignment",
        )
    )
    if slack is not None:
        tasks.append(asyncio.create_task(_every(1.0, slack.supervise), name="slack-supervise"))
    if settings.imap_host:
        from bot.mail_in.imap import run_imap_poller

        tasks.append(
            asyncio.create_task(run_imap_poller(settings, services, inbox_wake), name="imap")
        )
    while not http_server.started and not tasks[0].done():
        await asyncio.sleep(0.01)
    if slack is not None:
        await slack.connect()
    log.info(
        "leadbot serving: SMTP %s:%s, HTTP %s:%s, store %s, notifications %s",
        settings.smtp_host,
        settings.smtp_port,
        settings.http_host,
        settings.http_port,
        services.store.engine.url.render_as_string(hide_password=True),
        services.outbox.notifier.name,
    )
    if slack is not None:
        log.info("Slack: %s", ", ".join(slack.transports))
    # Everything built so far lives as long as serve: keep it out of the collector's full passes,
    # which otherwise stall the loop (and every ack and 250) for tens of milliseconds.
    gc.freeze()
    sys.setswitchinterval(0.0005)
    if ready is not None:
        await ready()
    await stop.wait()
    log.info("leadbot stopping")
    if slack is not None:
        await slack.disconnect()
    smtp_server.close()
    await smtp_server.wait_closed()
    http_server.should_exit = True
    await tasks[0]
    await nurture.stop()  # after HTTP: every buffered open and click is written
    for task in tasks[1:]:
        task.cancel()
    await asyncio.gather(*tasks[1:], return_exceptions=True)
    if pool is not None:
        await asyncio.to_thread(pool.stop)
    if slack is not None:
        await slack.stop()
    # Whatever was accepted but not yet processed stays queued for the next start.
    services.store.dispose()
