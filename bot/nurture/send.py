"""Delivers due campaign steps (plan, claim, render, SMTP, record), at most once per lead and step.

1. Plan (bot.nurture.campaigns.plan_due): new segment matches join; due steps become `pending`
   sends.
2. Claim, in one transaction: pending sends are locked (SKIP LOCKED on PostgreSQL, the one write
   lock on SQLite), rendered, and marked `sending` with their Message-ID and links, before any
   byte goes out. An address opted out or bounced since planning is `skipped`; a template that
   fails to render is `failed` and never sent.
3. Deliver over a few SMTP connections, no faster than the rate limit; with `processes` > 1,
   that many sender processes each claim, deliver and record their own batches (the claim is
   what keeps them apart: SKIP LOCKED on PostgreSQL, the one write lock on SQLite), and the rate
   is shared between them.
4. Record: `sent` with the server's reply; refused for good (5xx) → `failed` with the reply;
   refused for now (4xx, connection errors before DATA) → `pending` again after a backoff that
   doubles, and `failed` with the last reply after the last attempt. A connection lost during
   DATA → `unknown`.
A worker that dies between claim and record leaves rows in `sending`; after `stale_seconds` they
are marked `unknown` and never resent: the relay may have taken them, and a person looks.

Rendering is cached per run: a campaign, its steps and each step's compiled templates are read
once, and the MIME is laid out by compose.message_bytes with the lead's parts filled in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from multiprocessing.connection import Connection as Pipe
from typing import Any

from jinja2 import TemplateError

import storage.campaigns
from bot.config import Settings
from bot.leads.reply_address import reply_address_for
from bot.nurture import campaigns
from bot.nurture.compose import (
    BadAddress,
    Envelope,
    StepTemplates,
    TemplateSet,
    address_text,
    message_bytes,
    new_message_id,
    render_email,
)
from bot.nurture.links import TrackingLinks
from bot.nurture.relay import Connection, Relay, Result
from storage.engine import Store
from storage.models import Campaign, CampaignStep, utcnow

Progress = Callable[[str], None]

log = logging.getLogger(__name__)
_spawn = multiprocessing.get_context("spawn")
PROCESS_NAME = "leadbot-campaign-sender"
# Fewer pending emails than this per extra process are not worth starting one (~1 s each).
PENDING_PER_PROCESS = 500


@dataclass(frozen=True, slots=True)
class Outgoing:
    send_id: int
    sender: str
    recipient: str
    data: bytes


class Pace:
    """At most `rate` starts per second across every connection (0 = no limit)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.next = time.monotonic()

    async def wait(self) -> None:
        if not self.interval:
            return
        now = time.monotonic()
        slot = max(self.next, now)
        self.next = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)


class CampaignSender:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        rate: float | None = None,
        connections: int | None = None,
        max_attempts: int | None = None,
        retry_seconds: float | None = None,
        stale_seconds: float = 900.0,
        batch: int = 100,
        processes: int | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.links = TrackingLinks(settings.public_url, settings.signing_key())
        self.relay = Relay.from_url(settings.outbound_smtp_url)
        self.from_address = settings.outbound_from or settings.reply_address
        self.reply_address = settings.reply_address
        self.rate = settings.outbound_rate if rate is None else rate
        self.connections = max(1, connections or settings.outbound_connections)
        self.max_attempts = max_attempts or settings.outbound_max_attempts
        self.retry_seconds = (
            settings.outbound_retry_seconds if retry_seconds is None else retry_seconds
        )
        self.stale_seconds = stale_seconds
        self.batch = batch
        self.processes = max(1, processes or settings.outbound_processes)
        self.pending_per_process = PENDING_PER_PROCESS
        # Read once per run (`run` clears them): campaigns, steps, compiled step templates.
        self._campaigns: dict[int, Campaign | None] = {}
        self._steps: dict[int, CampaignStep | None] = {}
        self._templates: dict[tuple[str, str, str], StepTemplates] = {}

    # --- the blocking steps (run in a thread) --------------------------------------------------

    def recover(self) -> int:
        with self.store.transaction() as session:
            before = utcnow() - timedelta(seconds=self.stale_seconds)
            return storage.campaigns.mark_stale_sending_unknown(session, before)

    def plan(self, campaign_id: int | None = None, limit: int = 500) -> campaigns.PlanReport:
        """Plan every due step, `limit` members per transaction."""
        total = campaigns.PlanReport()
        while True:
            with self.store.transaction() as session:
                ids = [campaign_id] if campaign_id else storage.campaigns.active_ids(session)
                report = campaigns.plan_due(session, ids, limit=limit)
            total.enrolled += report.enrolled
            total.planned += report.planned
            for reason, n in report.stopped.items():
                total.stopped[reason] = total.stopped.get(reason, 0) + n
            if report.members < limit:
                return total

    def pending(self, campaign_id: int | None = None) -> int:
        with self.store.reading() as session:
            return storage.campaigns.count_pending(session, campaign_id)

    def claim(self, campaign_id: int | None = None) -> tuple[list[Outgoing], Counter[str]]:
        """Lock due sends, render them and mark them `sending` (or skipped/failed), in one go."""
        outgoing: list[Outgoing] = []
        settled: Counter[str] = Counter()
        now = utcnow()
        with self.store.transaction() as session:
            # No bigger than a minute's sending at the rate limit: a batch must be long done
            # before `stale_seconds` would call its rows abandoned.
            limit = min(self.batch, max(1, int(self.rate * 60))) if self.rate > 0 else self.batch
            sends = storage.campaigns.claim_due_sends(session, now, limit, campaign_id)
            if not sends:
                return outgoing, settled
            leads = storage.campaigns.mail_rows(session, {s.lead_id for s in sends})
            reps = storage.campaigns.reps_by_ids(
                session, {ld.owner_id for ld in leads.values() if ld.owner_id is not None}
            )
            # Checked by address, over every lead record: opted out or bounced since planning?
            statuses = storage.campaigns.statuses_by_address(session, {s.address for s in sends})
            sending: list[tuple[int, Any, str, list[str]]] = []
            done: list[tuple[int, str, str, Any, Any]] = []
            for send in sends:
                campaign = self._campaign(session, send.campaign_id)
                step = self._step(session, send.step_id)
                lead = leads.get(send.lead_id)
                status = statuses.get(send.address, "ok")
                skip = "lead gone" if lead is None else None if status == "ok" else status
                if skip or campaign is None or step is None or lead is None:
                    reply = f"not sent: {skip or 'gone'}"
                    done.append((send.id, "skipped", reply, None, send.next_attempt_at))
                    settled["skipped"] += 1
                    continue
                owner = reps.get(lead.owner_id) if lead.owner_id else None
                owner_name = owner.name if owner else ""
                try:
                    sender = campaign.sender or self.from_address
                    message_id = send.message_id or new_message_id(sender)
                    rendered = render_email(
                        self._step_templates(campaign, step.template),
                        step.template,
                        campaigns.lead_context(lead, owner, campaign),
                        self.links,
                        send.id,
                    )
                    reply_to = reply_address_for(lead.reply_token, self.reply_address)
                    data = message_bytes(
                        Envelope(
                            sender=address_text(owner_name, sender),
                            to=address_text(f"{lead.first_name} {lead.last_name}", send.address),
                            reply_to=address_text(owner_name, reply_to),
                            message_id=message_id,
                            unsubscribe_https=self.links.opt_out(send.id),
                            unsubscribe_mailto=reply_to,
                            date=now,
                        ),
                        rendered,
                    )
                except (TemplateError, BadAddress, ValueError) as exc:
                    done.append((send.id, "failed", f"not sent: {exc}", None, send.next_attempt_at))
                    settled["failed"] += 1
                    continue
                sending.append((send.id, now, message_id, rendered.links))
                outgoing.append(Outgoing(send.id, self.reply_address, send.address, data))
            storage.campaigns.mark_sending(session, sending)
            storage.campaigns.settle_sends(session, done)
        return outgoing, settled

    def _campaign(self, session: Any, campaign_id: int) -> Campaign | None:
        if campaign_id not in self._campaigns:
            self._campaigns[campaign_id] = storage.campaigns.by_id(session, campaign_id)
        return self._campaigns[campaign_id]

    def _step(self, session: Any, step_id: int) -> CampaignStep | None:
        if step_id not in self._steps:
            self._steps[step_id] = storage.campaigns.step_by_id(session, step_id)
        return self._steps[step_id]

    def _step_templates(self, campaign: Campaign, template: str) -> StepTemplates:
        """The step's compiled templates, loaded once per run (a failure is not kept: each send
        of a step that does not load fails with the error)."""
        key = (campaign.template_set, campaign.template_dir, template)
        if key not in self._templates:
            templates = TemplateSet(campaign.template_set, campaign.template_dir)
            self._templates[key] = templates.compiled(template)
        return self._templates[key]

    def record(self, results: list[tuple[int, Result]]) -> Counter[str]:
        counts: Counter[str] = Counter()
        now = utcnow()
        with self.store.transaction() as session:
            current = storage.campaigns.attempts_of(session, [send_id for send_id, _ in results])
            rows: list[tuple[int, str, str, Any, Any]] = []
            for send_id, result in results:
                attempts, next_at = current[send_id]
                if result.state == "sent":
                    rows.append((send_id, "sent", result.reply, now, next_at))
                    counts["sent"] += 1
                elif result.state == "retry" and attempts < self.max_attempts:
                    wait = self.retry_seconds * 2 ** (attempts - 1)
                    rows.append((send_id, "pending", result.reply, None,
                                 now + timedelta(seconds=wait)))  # fmt: skip
                    counts["retry"] += 1
                else:
                    state = "unknown" if result.state == "unknown" else "failed"
                    rows.append((send_id, state, result.reply, None, next_at))
                    counts[state] += 1
            storage.campaigns.settle_sends(session, rows)
        return counts

    def next_retry_in(self, campaign_id: int | None) -> float | None:
        with self.store.reading() as session:
            at = storage.campaigns.next_pending_at(session, campaign_id)
        return None if at is None else max(0.0, (at - utcnow()).total_seconds())

    # --- the loop -------------------------------------------------------------------------------

    async def run(
        self,
        campaign_id: int | None = None,
        *,
        wait_for_retries: bool = False,
        progress: Progress | None = None,
    ) -> Counter[str]:
        """Send what is due now; with `wait_for_retries`, also wait out the backoffs until every
        send has an outcome (what `leadbot campaign send` does). Returns counts by outcome."""
        self._campaigns.clear()
        self._steps.clear()
        self._templates.clear()
        await asyncio.to_thread(self.recover)
        await asyncio.to_thread(self.plan, campaign_id)
        extra = 0
        if self.processes > 1:
            pending = await asyncio.to_thread(self.pending, campaign_id)
            extra = min(self.processes, pending // self.pending_per_process) - 1
        if extra < 1:
            return await self.drain(campaign_id, wait_for_retries=wait_for_retries,
                                    progress=progress)  # fmt: skip
        return await self._drain_in_processes(extra + 1, campaign_id, wait_for_retries, progress)

    async def drain(
        self,
        campaign_id: int | None = None,
        *,
        wait_for_retries: bool = False,
        progress: Progress | None = None,
        counted: Callable[[Counter[str]], None] | None = None,
        rate: float | None = None,
    ) -> Counter[str]:
        """Claim, deliver and record batches until nothing is due (planning is `run`'s);
        `counted` is told each batch's counts; `rate`: this drain's share of the rate."""
        totals: Counter[str] = Counter()
        pace = Pace(self.rate if rate is None else rate)
        local = self.from_address.rpartition("@")[2] or "localhost"
        pool = [Connection(self.relay, local) for _ in range(self.connections)]
        outgoing: list[Outgoing] = []
        started: set[int] = set()
        try:
            while True:
                outgoing, settled = await asyncio.to_thread(self.claim, campaign_id)
                totals.update(settled)
                _report(progress, settled, counted)
                if not outgoing and not settled:
                    wait = await asyncio.to_thread(self.next_retry_in, campaign_id)
                    if not wait_for_retries or wait is None:
                        break
                    await asyncio.sleep(min(wait, 60.0))
                    continue
                # (Claiming the next batch while this one goes out was tried: the two fight over
                # the GIL and the SMTP round trips wait, so the phases take turns; other sender
                # processes fill the gaps.)
                started = set()
                results = await self._deliver(outgoing, pool, pace, started)
                counts = await asyncio.to_thread(self.record, results)
                totals.update(counts)
                _report(progress, counts, counted)
        except asyncio.CancelledError:
            # Stopped (serve shutting down): what was claimed but never handed to SMTP goes
            # back to pending; only an email in flight is left for `unknown`.
            untouched = [o.send_id for o in outgoing if o.send_id not in started]
            await asyncio.to_thread(self.release, untouched)
            raise
        finally:
            await asyncio.gather(*(c.close() for c in pool), return_exceptions=True)
        return totals

    async def _drain_in_processes(
        self,
        count: int,
        campaign_id: int | None,
        wait_for_retries: bool,
        progress: Progress | None,
    ) -> Counter[str]:
        """This process and `count` - 1 sender processes drain the due sends, each with its
        share of the rate and its own connections; the children's counts come back over a pipe
        each. Closing the pipes (or this process dying) stops them: each releases what it had
        not handed to SMTP."""
        options = {
            "rate": self.rate / count,
            "connections": self.connections,
            "max_attempts": self.max_attempts,
            "retry_seconds": self.retry_seconds,
            "stale_seconds": self.stale_seconds,
            "batch": self.batch,
        }
        children = []
        for _ in range(count - 1):
            stop_theirs, stop_ours = _spawn.Pipe(duplex=False)
            counts_ours, counts_theirs = _spawn.Pipe(duplex=False)
            process = _spawn.Process(
                target=sender_main,
                args=(self.settings.model_dump(), options, campaign_id, wait_for_retries,
                      stop_theirs, counts_theirs),
                name=PROCESS_NAME,
                daemon=True,
            )  # fmt: skip
            process.start()
            stop_theirs.close()
            counts_theirs.close()
            children.append((process, stop_ours, counts_ours))
        totals: Counter[str] = Counter()
        try:
            collected = asyncio.to_thread(_collect, [c[2] for c in children], totals, progress)
            ours, _ = await asyncio.gather(
                self.drain(campaign_id, wait_for_retries=wait_for_retries, progress=progress,
                           rate=self.rate / count),
                collected,
            )  # fmt: skip
            totals.update(ours)
        finally:
            for _, stop, _ in children:
                stop.close()  # the stop signal (a no-op for children that are done)
            for process, _, _ in children:
                await asyncio.to_thread(process.join, 60)
                if process.is_alive():
                    log.error("campaign sender process %s did not stop; killing it", process.pid)
                    process.kill()
        return totals

    def release(self, send_ids: list[int]) -> None:
        if send_ids:
            with self.store.transaction() as session:
                storage.campaigns.release_sends(session, send_ids)

    async def _deliver(
        self, outgoing: list[Outgoing], pool: list[Connection], pace: Pace, started: set[int]
    ) -> list[tuple[int, Result]]:
        queue: asyncio.Queue[Outgoing] = asyncio.Queue()
        for item in outgoing:
            queue.put_nowait(item)
        results: list[tuple[int, Result]] = []

        async def worker(connection: Connection) -> None:
            while not queue.empty():
                item = queue.get_nowait()
                await pace.wait()
                started.add(item.send_id)
                result = await connection.send(item.sender, item.recipient, item.data)
                results.append((item.send_id, result))

        await asyncio.gather(*(worker(c) for c in pool[: max(1, len(outgoing))]))
        return results


def _report(
    progress: Progress | None,
    counts: Counter[str],
    counted: Callable[[Counter[str]], None] | None = None,
) -> None:
    if counted is not None and counts:
        counted(counts)
    if progress is not None:
        for state, n in counts.items():
            for _ in range(n):
                progress(state)


def _collect(pipes: list[Pipe], totals: Counter[str], progress: Progress | None) -> None:
    """Read the children's counts until each has ended (end of file on its pipe)."""
    from multiprocessing.connection import wait

    open_pipes = list(pipes)
    while open_pipes:
        for pipe in wait(open_pipes):
            try:
                counts = Counter(pipe.recv())  # type: ignore[union-attr]
            except (EOFError, OSError):
                open_pipes.remove(pipe)  # type: ignore[arg-type]
                continue
            totals.update(counts)
            _report(progress, counts)


def sender_main(
    settings_data: dict[str, Any],
    options: dict[str, Any],
    campaign_id: int | None,
    wait_for_retries: bool,
    stop: Pipe,
    counts: Pipe,
) -> None:
    """Entry point of a sender process: drain, sending each batch's counts to the parent. End
    of file on `stop` (the parent closed it, or died) cancels the drain, which releases what it
    had claimed but not handed to SMTP."""
    settings = Settings(**settings_data)
    store = Store(settings.database_url, settings.signing_key())
    sender = CampaignSender(store, settings, processes=1, **options)

    async def main() -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()

        def watch() -> None:
            with contextlib.suppress(EOFError, OSError):
                while True:
                    stop.recv()
            if not loop.is_closed():
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(task.cancel)

        threading.Thread(target=watch, daemon=True).start()
        with contextlib.suppress(asyncio.CancelledError):
            await sender.drain(campaign_id, wait_for_retries=wait_for_retries,
                               counted=lambda batch: counts.send(dict(batch)))  # fmt: skip

    try:
        asyncio.run(main())
    finally:
        counts.close()
        store.dispose()
