"""`leadbot serve`: every listener, loop and worker process of the bot, declared as tables.

Read it top to bottom: RUNNERS are the loops that run as long as serve does (name, what runs,
when the settings want it), ROUTES are who contributes HTTP routes, STARTUP is the order things
start in and SHUTDOWN the order they stop in on SIGINT/SIGTERM, which is not the reverse (Slack
stops taking requests first; nurture writes its buffered opens only once HTTP is closed). `serve`
builds the `Parts` once from the settings and walks the tables. (Mailman declares its runners
in mailman.cfg and one master starts them; Salmon's config/boot.py is the same idea, small.)
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import multiprocessing
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

import uvicorn
from starlette.routing import BaseRoute

from bot.app.forms import FormsRuntime
from bot.app.nurture import NurtureRuntime
from bot.app.services import Services, build_services
from bot.app.supervisor import Child, Supervisor
from bot.app.webhooks import run_webhook_sender
from bot.assignment.assigner import Assigner
from bot.config import Settings
from bot.mail_in import listener as smtp_listener
from bot.mail_in import worker as inbox_worker
from bot.mail_in.imap import run_imap_poller
from bot.mail_in.smtp import InboxSMTPHandler, start_smtp_server
from bot.privacy.daily import run_retention_daily
from bot.public_links import PublicLinks
from bot.reports.links import DashboardLinks
from bot.rules.file import RulesFile
from bot.web.api.routes import api_routes
from bot.web.app import build_http_app
from bot.web.events import events_routes
from bot.web.lead_page import lead_page_routes
from bot.web.limits import BodyLimits, bounded_http_protocol
from bot.web.metrics import metrics_routes
from bot.web.privacy import privacy_routes
from bot.web.reports_page import reports_routes
from storage import spool as spooling
from storage.models import utcnow
from storage.spool import SpoolWriter

if TYPE_CHECKING:
    from bot.integrations.slack.app import SlackRuntime

log = logging.getLogger("leadbot")

# How often serve looks whether the weekly digest is due.
DIGEST_CHECK_SECONDS = 600.0
# How long worker processes get at stop to finish what they hold before they are ended.
WORKERS_STOP_SECONDS = 15.0


@dataclass(frozen=True)
class Runner:
    """A loop that runs as long as serve does, started only if the settings asked for it."""

    name: str
    run: Callable[[Parts], Coroutine[Any, Any, None]]
    wanted: Callable[[Parts], bool] = lambda parts: True


async def repeat(
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


class EmbeddedUvicorn(uvicorn.Server):
    """uvicorn inside our loop: signals are ours, so it must not capture them."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class Parts:
    """What serve builds once from the settings: the tables below name its steps and loops."""

    settings: Settings
    services: Services
    links: PublicLinks
    # The rules file, one reloader for every part of this process (it alone logs each load).
    rules: RulesFile
    assigner: Assigner
    nurture: NurtureRuntime
    inbox_workers: Supervisor | None
    slack_worker: Supervisor | None
    slack: SlackRuntime | None
    loop: asyncio.AbstractEventLoop
    inbox_wake: asyncio.Event = field(default_factory=asyncio.Event)
    outbox_wake: asyncio.Event = field(default_factory=asyncio.Event)
    smtp: asyncio.Server | None = None
    http: EmbeddedUvicorn | None = None
    serving_http: asyncio.Task[None] | None = None
    runners: list[asyncio.Task[None]] = field(default_factory=list)
    # Web forms: routes, the submission processor, the double opt-in sender.
    forms: FormsRuntime | None = None
    # The spool's one writer (group commits) and the mover's wake-up (storage/spool.py).
    spool_writer: SpoolWriter | None = None
    spool_wake: asyncio.Event = field(default_factory=asyncio.Event)
    # On a spooled store the SMTP listener is a process of its own (bot/mail_in/listener.py);
    # it sends a byte on `spooled` after each commit.
    smtp_listener: Supervisor | None = None
    spooled: Connection | None = None

    # The runners.

    async def drain_outbox(self) -> None:
        await repeat(self.services.outbox.drain_once, self.outbox_wake, self.idle, "outbox")

    async def move_spool(self) -> None:
        await repeat(self._move_spool, self.spool_wake, self.idle, "spool")

    async def drain_inbox_here(self) -> None:
        await repeat(self._drain_inbox, self.inbox_wake, self.idle, "inbox")

    async def wake_inbox_workers(self) -> None:
        assert self.inbox_workers is not None
        await self.inbox_workers.run(self.inbox_wake)

    async def assign(self) -> None:
        await repeat(self.assigner.tick, asyncio.Event(), self.idle, "assignment")

    async def watch_slack_worker(self) -> None:
        assert self.slack_worker is not None
        await self.slack_worker.run()

    async def process_forms(self) -> None:
        assert self.forms is not None
        await repeat(self._process_forms, self.forms.wake, self.idle, "forms")

    async def wake_form_worker(self) -> None:
        assert self.forms is not None and self.forms.worker is not None
        await self.forms.worker.run(self.forms.wake)

    async def send_confirmations(self) -> None:
        assert self.forms is not None
        forms = self.forms
        await repeat(forms.confirmations.drain_once, forms.confirmations_wake, self.idle, "confirm")

    def _process_forms(self) -> int:
        assert self.forms is not None
        done = self.forms.process()
        if done:
            self.loop.call_soon_threadsafe(self.outbox_wake.set)
            self.loop.call_soon_threadsafe(self.forms.confirmations_wake.set)
        return done

    async def roll_up_reports(self) -> None:
        await repeat(self._roll_up, asyncio.Event(), self.idle, "reports")

    async def scan_alerts(self) -> None:
        await repeat(self._scan_alerts, asyncio.Event(), self.idle, "alerts")

    async def send_digest(self) -> None:
        await repeat(self._digest_due, asyncio.Event(), DIGEST_CHECK_SECONDS, "digest")

    async def refit_match_model(self) -> None:
        """Now and then, `leadbot dedupe train --if-grown` in a process of its own: fitting is
        CPU work that must not hold up the listeners of this one."""
        while True:
            await asyncio.sleep(self.settings.dedupe_refit_seconds)
            try:
                child = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "bot.cli", "dedupe", "train", "--if-grown", "--json",
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                )  # fmt: skip
                output, errors = await child.communicate()
            except OSError:
                log.exception("dedupe refit could not start; trying again later")
                continue
            if child.returncode:
                log.warning("dedupe refit failed: %s", errors.decode(errors="replace")[-500:])
            elif output.strip() not in (b"", b"null"):
                log.info("dedupe model refitted: %s", output.decode(errors="replace")[:200])

    async def enrich(self) -> None:
        from bot.integrations.enrichment.provider import EnrichmentRunner, http_fetch

        url = self.settings.enrich_url
        fetch = http_fetch(url, self.settings.enrich_timeout_seconds)
        runner = EnrichmentRunner(self.services.store, fetch, url)
        await repeat(runner.tick, asyncio.Event(), self.idle, "enrichment")

    async def poll_imap(self) -> None:
        await run_imap_poller(self.settings, self.services, self.inbox_wake)

    async def retention(self) -> None:
        await run_retention_daily(self.services.store, self.rules.get)

    # The start-up steps.

    async def open_spool(self) -> None:
        if self.services.spool is not None:
            self.spool_writer = SpoolWriter(self.services.spool, self._spooled)
            if self.forms is not None:
                self.forms.web.spool = self.spool_writer

    async def listen_smtp(self) -> None:
        if self.smtp_listener is not None and self.spooled is not None:
            self.loop.add_reader(self.spooled.fileno(), self._heard_spooled)
            self.smtp_listener.start()
            return
        # Spooled, the mover wakes the inbox once the mail is in the store; else the 250 does.
        wake = self.inbox_wake.set if self.spool_writer is None else (lambda: None)
        handler = InboxSMTPHandler(
            self.services.accept_smtp,
            self.settings.inbound_address_list(),
            wake,
            spool=self.spool_writer,
        )
        self.smtp = await start_smtp_server(
            handler,
            self.settings.smtp_host,
            self.settings.smtp_port,
            self.settings.smtp_max_message_size,
        )

    async def start_slack_worker(self) -> None:
        if self.slack_worker is not None:
            self.slack_worker.start()

    async def start_nurture(self) -> None:
        self.nurture.start()

    async def start_http(self) -> None:
        routes = [route for contribute in ROUTES for route in contribute(self)]
        app = self.nurture.wrap(build_http_app(self.services.health, routes))
        limits = [(prefix, limit(self.settings)) for prefix, limit in BODY_LIMITS]
        app = BodyLimits(app, limits, self.settings.http_max_body_bytes)
        config = uvicorn.Config(
            app,
            http=bounded_http_protocol(
                self.settings.http_max_header_bytes, self.settings.http_max_headers
            ),
            host=self.settings.http_host,
            port=self.settings.http_port,
            log_level="warning",
            access_log=False,
            lifespan="on",
        )
        self.http = EmbeddedUvicorn(config)
        self.serving_http = asyncio.create_task(self.http.serve(), name="http")

    async def start_inbox_workers(self) -> None:
        if self.inbox_workers is not None:
            self.inbox_workers.start()

    async def start_form_worker(self) -> None:
        if self.forms is not None:
            await asyncio.to_thread(self.forms.start)

    async def start_runners(self) -> None:
        for runner in RUNNERS:
            if runner.wanted(self):
                self.runners.append(asyncio.create_task(runner.run(self), name=runner.name))

    async def wait_for_http(self) -> None:
        assert self.http is not None and self.serving_http is not None
        while not self.http.started and not self.serving_http.done():
            await asyncio.sleep(0.01)

    async def connect_slack(self) -> None:
        if self.slack is not None:
            await self.slack.connect()

    # The shutdown steps.

    async def disconnect_slack(self) -> None:
        if self.slack is not None:
            await self.slack.disconnect()

    async def watch_smtp_listener(self) -> None:
        assert self.smtp_listener is not None
        await self.smtp_listener.run()

    async def close_smtp(self) -> None:
        if self.smtp_listener is not None and self.spooled is not None:
            await asyncio.to_thread(self.smtp_listener.stop, WORKERS_STOP_SECONDS)
            self.loop.remove_reader(self.spooled.fileno())
        if self.smtp is not None:
            self.smtp.close()
            await self.smtp.wait_closed()

    async def stop_http(self) -> None:
        if self.http is not None and self.serving_http is not None:
            self.http.should_exit = True
            await self.serving_http

    async def stop_nurture(self) -> None:
        await self.nurture.stop()

    async def cancel_runners(self) -> None:
        for task in self.runners:
            task.cancel()
        await asyncio.gather(*self.runners, return_exceptions=True)

    async def stop_inbox_workers(self) -> None:
        if self.inbox_workers is not None:
            await asyncio.to_thread(self.inbox_workers.stop, WORKERS_STOP_SECONDS)

    async def stop_form_worker(self) -> None:
        if self.forms is not None and self.forms.worker is not None:
            await asyncio.to_thread(self.forms.worker.stop, WORKERS_STOP_SECONDS)

    async def stop_slack_worker(self) -> None:
        if self.slack_worker is not None:
            await asyncio.to_thread(self.slack_worker.stop, WORKERS_STOP_SECONDS)

    async def close_spool(self) -> None:
        if self.spool_writer is not None:
            await asyncio.to_thread(self.spool_writer.stop)

    async def dispose_store(self) -> None:
        self.services.store.dispose()

    def inbox_running(self) -> bool:
        """Whether the inbox is being worked: its worker processes, or the loop in this one."""
        if self.inbox_workers is not None:
            return self.inbox_workers.alive
        return any(task.get_name() == "inbox" and not task.done() for task in self.runners)

    @property
    def idle(self) -> float:
        return self.settings.worker_idle_seconds

    def _roll_up(self) -> int:
        from bot.reports import rollup

        with self.services.store.reading() as session:
            if not rollup.pending(session):
                return 0
        with self.services.store.transaction() as session:
            return rollup.step(session)

    def _scan_alerts(self) -> int:
        from bot.reports import alerts

        with self.services.store.reading() as session:
            if not alerts.pending(session):
                return 0
        with self.services.store.transaction() as session:
            seen = alerts.scan(session, self.rules.get().alerts)
        if seen:
            self.loop.call_soon_threadsafe(self.outbox_wake.set)
        return seen

    def _digest_due(self) -> int:
        from bot.reports import digest, rollup

        rollup.catch_up(self.services.store)
        with self.services.store.transaction() as session:
            queued = digest.due(session, utcnow())
        if queued:
            self.loop.call_soon_threadsafe(self.outbox_wake.set)
        return 0  # once a check is done, wait for the next one

    def _move_spool(self) -> int:
        """What the doors spooled, into the store; then the inbox and the forms look at once."""
        assert self.services.spool is not None
        moved = spooling.move(self.services.spool, self.services.store, kinds=self.moved_here)
        if moved.get("smtp"):
            self.loop.call_soon_threadsafe(self.inbox_wake.set)
        if moved.get("form") and self.forms is not None:
            self.loop.call_soon_threadsafe(self.forms.posted)
        return sum(moved.values())

    @property
    def moved_here(self) -> tuple[str, ...]:
        """What serve's spool runner moves: the kinds no worker process moves itself (the inbox
        workers move the mail, the form worker the posts: serve keeps its CPU for answering)."""
        kinds = []
        if self.inbox_workers is None:
            kinds.append("smtp")
        if self.forms is None or self.forms.worker is None:
            kinds.append("form")
        return tuple(kinds)

    def _spooled(self, kinds: frozenset[str]) -> None:
        """Called by the spool writer's thread after each commit: who moves it looks at once
        (the form route wakes the form worker itself once it has answered)."""
        if kinds & set(self.moved_here):
            self.loop.call_soon_threadsafe(self.spool_wake.set)
        if "smtp" in kinds and self.inbox_workers is not None:
            self.loop.call_soon_threadsafe(self.inbox_wake.set)

    def _heard_spooled(self) -> None:
        """The listener process committed mail to the spool: its mover looks at once."""
        assert self.spooled is not None
        with contextlib.suppress(EOFError, OSError):
            while self.spooled.poll(0):
                self.spooled.recv_bytes()
        self._spooled(frozenset({"smtp"}))

    def _drain_inbox(self) -> int:
        done = self.services.inbound.drain(limit=100, batch=max(1, self.settings.inbox_batch_size))
        if done:
            self.loop.call_soon_threadsafe(self.outbox_wake.set)
        return done


RUNNERS: tuple[Runner, ...] = (
    Runner("outbox", Parts.drain_outbox),
    # what SMTP and the forms spooled before answering, into the store in batches
    Runner(
        "spool", Parts.move_spool, lambda p: p.services.spool is not None and bool(p.moved_here)
    ),
    # LEADBOT_INBOX_WORKERS=0: the inbox is processed in this process, else by worker processes
    Runner("inbox", Parts.drain_inbox_here, lambda p: p.inbox_workers is None),
    Runner("inbox-wake", Parts.wake_inbox_workers, lambda p: p.inbox_workers is not None),
    Runner("assignment", Parts.assign),
    Runner("slack-supervise", Parts.watch_slack_worker, lambda p: p.slack_worker is not None),
    # the SMTP listener's process (on a spooled store): started again should it die
    Runner("smtp-supervise", Parts.watch_smtp_listener, lambda p: p.smtp_listener is not None),
    Runner("imap", Parts.poll_imap, lambda p: bool(p.settings.imap_host)),
    # web-form submissions into leads, and their double opt-in mails
    # (LEADBOT_FORM_WORKERS=0: in threads here, else the form worker process does both)
    Runner("forms", Parts.process_forms, lambda p: p.forms is not None and not p.forms.worker),
    Runner(
        "form-confirmations",
        Parts.send_confirmations,
        lambda p: p.forms is not None and not p.forms.worker,
    ),
    Runner("forms-wake", Parts.wake_form_worker, lambda p: bool(p.forms and p.forms.worker)),
    # signed webhook deliveries from the webhook outbox
    Runner("webhooks", lambda p: run_webhook_sender(p.settings, p.services.store)),
    # the reports' roll-up follows the timeline (bot/reports/rollup.py)
    Runner("reports", Parts.roll_up_reports),
    # hot-lead alerts to the owner (bot/reports/alerts.py, the rules' [alerts])
    Runner("alerts", Parts.scan_alerts),
    # the weekly digest, when LEADBOT_SLACK_DIGEST_CHANNEL names a channel
    Runner("digest", Parts.send_digest, lambda p: bool(p.settings.slack_digest_channel)),
    # the [retention] rules, once a day (bot/privacy/retention.py)
    Runner("retention", Parts.retention),
    # the match model follows the store as it grows (bot/dedupe/store_train.py)
    # the optional enrichment provider, after capture (LEADBOT_ENRICH_URL)
    Runner("enrichment", Parts.enrich, lambda p: bool(p.settings.enrich_url)),
    Runner("dedupe-refit", Parts.refit_match_model, lambda p: p.settings.dedupe_refit_seconds > 0),
)

ROUTES: tuple[Callable[[Parts], list[BaseRoute]], ...] = (
    # /lead/…: the signed lead page that Slack cards link to
    lambda parts: lead_page_routes(parts.services.store, parts.links),
    # /events: behaviour events posted by the website
    lambda parts: events_routes(parts.services.store, parts.settings.signing_key()),
    # /api/v1: the REST API with scoped keys, its OpenAPI document and docs page
    lambda parts: api_routes(
        parts.services.store,
        parts.rules.get,
        rate_per_minute=parts.settings.api_rate_per_minute,
        max_body_bytes=parts.settings.api_max_body_bytes,
        max_import_bytes=parts.settings.api_max_import_bytes,
    ),
    # the open pixel, tracked clicks and the opt-out page
    lambda parts: parts.nurture.routes,
    # /reports: the dashboard, opened by a signed link (`leadbot report link`)
    lambda parts: reports_routes(
        parts.services.store,
        DashboardLinks(parts.settings.public_url, parts.settings.signing_key()),
    ),
    # /metrics (Prometheus) and /readyz (503 while the store or the inbox worker is down)
    lambda parts: metrics_routes(parts.services.store, parts.inbox_running),
    # /privacy: self-service export and erase, linked from the opt-out page
    lambda parts: privacy_routes(
        parts.services.store,
        parts.settings.public_url,
        parts.settings.signing_key(),
        parts.settings.outbound_smtp_url,
        parts.settings.outbound_from or parts.settings.reply_address,
    ),
    # /slack/events, when a signing secret is set
    lambda parts: parts.slack.routes if parts.slack else [],
    # /f/NAME: web-to-lead forms (the hosted page, submissions, double opt-in links)
    lambda parts: parts.forms.web.routes if parts.forms else [],
)

# Request-body limits by path prefix; any other path gets LEADBOT_HTTP_MAX_BODY_BYTES.
BODY_LIMITS: tuple[tuple[str, Callable[[Settings], int]], ...] = (
    # Slack's payloads (a modal's state, a long /lead note) are larger than a website's event.
    ("/slack/events", lambda settings: settings.slack_max_body_bytes),
)

STARTUP: tuple[Callable[[Parts], Awaitable[None]], ...] = (
    Parts.open_spool,  # before the doors that commit to it
    Parts.listen_smtp,
    Parts.start_slack_worker,
    Parts.start_nurture,  # the tracking buffer and the campaign scheduler
    Parts.start_http,
    Parts.start_inbox_workers,
    Parts.start_form_worker,
    Parts.start_runners,
    Parts.wait_for_http,
    Parts.connect_slack,  # Socket Mode, once HTTP answers
)

SHUTDOWN: tuple[Callable[[Parts], Awaitable[None]], ...] = (
    Parts.disconnect_slack,  # first: no new requests over Socket Mode
    Parts.close_smtp,
    Parts.stop_http,
    Parts.stop_nurture,  # after HTTP: every buffered open and click is written
    Parts.cancel_runners,
    Parts.stop_inbox_workers,
    Parts.stop_form_worker,  # after HTTP: every accepted submission is committed already
    Parts.stop_slack_worker,  # once HTTP is closed too: no acked request is left without its work
    Parts.close_spool,  # after the doors: what was spooled stays for the next start's mover
    Parts.dispose_store,  # what was accepted but not yet processed stays queued for the next start
)


async def serve(settings: Settings, ready: Callable[[], Awaitable[None]] | None = None) -> None:
    """Run the bot until SIGINT or SIGTERM; `ready` is awaited once everything is up."""
    stop = asyncio.Event()
    parts = build_parts(settings)
    for sig in (signal.SIGINT, signal.SIGTERM):
        parts.loop.add_signal_handler(sig, stop.set)
    for step in STARTUP:
        await step(parts)
    log.info(
        "leadbot serving: SMTP %s:%s, HTTP %s:%s, store %s, notifications %s",
        settings.smtp_host,
        settings.smtp_port,
        settings.http_host,
        settings.http_port,
        parts.services.store.engine.url.render_as_string(hide_password=True),
        parts.services.outbox.notifier.name,
    )
    if parts.slack is not None:
        log.info("Slack: %s", ", ".join(parts.slack.transports))
    # Everything built so far lives as long as serve: keep it out of the collector's full passes,
    # which otherwise stall the loop (and every ack and 250) for tens of milliseconds.
    gc.freeze()
    sys.setswitchinterval(0.0005)
    if ready is not None:
        await ready()
    await stop.wait()
    log.info("leadbot stopping")
    for step in SHUTDOWN:
        await step(parts)


def build_parts(settings: Settings) -> Parts:
    """Everything serve runs, built from the settings (call it inside the running loop)."""
    services = build_services(settings)
    level = log.getEffectiveLevel()
    inbox_workers = None
    if settings.inbox_workers > 0:
        child = Child(
            inbox_worker.PROCESS_NAME,
            inbox_worker.worker_main,
            (settings.model_dump(), level),
            exited=inbox_worker.exited,
        )
        inbox_workers = Supervisor(child, count=settings.inbox_workers)
    slack, slack_worker = build_slack(settings, services, level)
    rules = RulesFile(settings.rules_file())
    listener, spooled = build_smtp_listener(settings, services, level)
    return Parts(
        settings=settings,
        services=services,
        links=PublicLinks(settings.public_url, settings.signing_key()),
        rules=rules,
        # Scoring, the MQL queue and assignment; the rules reload when the file changes.
        assigner=Assigner(services.store, rules.get),
        nurture=NurtureRuntime(settings, services.store),
        inbox_workers=inbox_workers,
        slack_worker=slack_worker,
        slack=slack,
        loop=asyncio.get_running_loop(),
        forms=FormsRuntime(settings, services.store, rules.get),
        smtp_listener=listener,
        spooled=spooled,
    )


def build_smtp_listener(
    settings: Settings, services: Services, level: int
) -> tuple[Supervisor | None, Connection | None]:
    """The SMTP listener's process and the pipe it reports commits on, when the store is
    spooled and LEADBOT_SMTP_PROCESS is on; else serve listens itself."""
    if services.spool is None or not settings.smtp_process:
        return None, None
    heard, spooled = multiprocessing.get_context("spawn").Pipe(duplex=False)
    child = Child(
        smtp_listener.PROCESS_NAME,
        smtp_listener.listener_main,
        (settings.model_dump(), level, spooled),
        exited=smtp_listener.exited,
    )
    return Supervisor(child), heard


def build_slack(
    settings: Settings, services: Services, level: int
) -> tuple[SlackRuntime | None, Supervisor | None]:
    """Slack's app and worker process, or nothing when no bot token is set."""
    if not settings.slack_bot_token:
        return None, None
    # Imported only with a bot token: slack_bolt would cost every other serve half a second.
    from bot.integrations.slack import worker as slack_worker
    from bot.integrations.slack.app import build_slack_runtime

    worker = None
    if settings.slack_workers > 0:
        child = Child(
            slack_worker.PROCESS_NAME,
            slack_worker.worker_main,
            (settings.model_dump(), level),
            exited=slack_worker.exited,
            overdue=slack_worker.overdue,
        )
        worker = Supervisor(child)
    slack = build_slack_runtime(settings, services.store, worker.post if worker else None)
    if slack is None:  # no signing secret nor app token: nothing to hear from Slack
        return None, None
    return slack, worker
