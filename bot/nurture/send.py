"""Delivers due campaign steps (plan, claim, render, SMTP, record), at most once per lead and step.

1. Plan (bot.nurture.campaigns.plan_due): new segment matches join; due steps become `pending`
   sends.
2. Claim, in one transaction: pending sends are locked (SKIP LOCKED on PostgreSQL, the one write
   lock on SQLite), rendered, and marked `sending` with their Message-ID and links, before any
   byte goes out. An address opted out or bounced since planning is `skipped`; a template that
   fails to render is `failed` and never sent.
3. Deliver over a few SMTP connections, no faster than the rate limit.
4. Record: `sent` with the server's reply; refused for good (5xx) → `failed` with the reply;
   refused for now (4xx, connection errors before DATA) → `pending` again after a backoff that
   doubles, and `failed` with the last reply after the last attempt. A connection lost during
   DATA → `unknown`.
A worker that dies between claim and record leaves rows in `sending`; after `stale_seconds` they
are marked `unknown` and never resent: the relay may have taken them, and a person looks.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from jinja2 import TemplateError

import storage.campaigns
from bot.config import Settings
from bot.leads.reply_address import reply_address_for
from bot.nurture import campaigns
from bot.nurture.compose import (
    BadAddress,
    Envelope,
    TemplateSet,
    address,
    build_message,
    new_message_id,
    render_email,
)
from bot.nurture.links import TrackingLinks
from bot.nurture.relay import Connection, Relay, Result
from storage.engine import Store
from storage.models import Campaign, CampaignStep, utcnow

Progress = Callable[[str], None]


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
    ) -> None:
        self.store = store
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
            sends = storage.campaigns.claim_pending_sends(session, now, limit, campaign_id)
            if not sends:
                return outgoing, settled
            leads, reps = storage.campaigns.leads_and_owners(session, {s.lead_id for s in sends})
            # Checked by address, over every lead record: opted out or bounced since planning?
            statuses = storage.campaigns.statuses_by_address(session, {s.address for s in sends})
            campaign_rows: dict[int, Campaign | None] = {}
            steps: dict[int, CampaignStep | None] = {}
            for send in sends:
                assert send.id is not None
                if send.campaign_id not in campaign_rows:
                    campaign_rows[send.campaign_id] = storage.campaigns.by_id(
                        session, send.campaign_id
                    )
                if send.step_id not in steps:
                    steps[send.step_id] = storage.campaigns.step_by_id(session, send.step_id)
                campaign, step = campaign_rows[send.campaign_id], steps[send.step_id]
                lead = leads.get(send.lead_id)
                status = statuses.get(send.address, "ok")
                skip = "lead gone" if lead is None else None if status == "ok" else status
                if skip or campaign is None or step is None or lead is None:
                    send.state, send.smtp_reply = "skipped", f"not sent: {skip or 'gone'}"
                    settled["skipped"] += 1
                    session.add(send)
                    continue
                owner = reps.get(lead.owner_id) if lead.owner_id else None
                try:
                    sender = campaign.sender or self.from_address
                    message_id = send.message_id or new_message_id(sender)
                    rendered = render_email(
                        TemplateSet(campaign.template_set, campaign.template_dir),
                        step.template,
                        campaigns.lead_context(lead, owner, campaign),
                        self.links,
                        send.id,
                    )
                    reply_to = reply_address_for(lead.reply_token, self.reply_address)
                    message = build_message(
                        Envelope(
                            sender=address(owner.name if owner else "", sender),
                            to=address(f"{lead.first_name} {lead.last_name}", send.address),
                            reply_to=address(owner.name if owner else "", reply_to),
                            message_id=message_id,
                            unsubscribe_https=self.links.opt_out(send.id),
                            unsubscribe_mailto=reply_to,
                            date=now,
                        ),
                        rendered,
                    )
                    data = message.as_bytes()
                except (TemplateError, BadAddress, ValueError) as exc:
                    send.state, send.smtp_reply = "failed", f"not sent: {exc}"
                    settled["failed"] += 1
                    session.add(send)
                    continue
                send.state, send.claimed_at, send.attempts = "sending", now, send.attempts + 1
                send.message_id, send.links = message_id, rendered.links
                session.add(send)
                outgoing.append(Outgoing(send.id, self.reply_address, send.address, data))
        return outgoing, settled

    def record(self, results: list[tuple[int, Result]]) -> Counter[str]:
        counts: Counter[str] = Counter()
        now = utcnow()
        with self.store.transaction() as session:
            sends = storage.campaigns.sends_by_ids(session, [send_id for send_id, _ in results])
            for send_id, result in results:
                send = sends[send_id]
                send.smtp_reply = result.reply
                if result.state == "sent":
                    send.state, send.sent_at = "sent", now
                elif result.state == "retry" and send.attempts < self.max_attempts:
                    wait = self.retry_seconds * 2 ** (send.attempts - 1)
                    send.state, send.next_attempt_at = "pending", now + timedelta(seconds=wait)
                elif result.state == "unknown":
                    send.state = "unknown"
                else:
                    send.state = "failed"
                counts[send.state if send.state != "pending" else "retry"] += 1
                session.add(send)
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
        totals: Counter[str] = Counter()
        await asyncio.to_thread(self.recover)
        await asyncio.to_thread(self.plan, campaign_id)
        pace = Pace(self.rate)
        local = self.from_address.rpartition("@")[2] or "localhost"
        pool = [Connection(self.relay, local) for _ in range(self.connections)]
        outgoing: list[Outgoing] = []
        started: set[int] = set()
        try:
            while True:
                outgoing, settled = await asyncio.to_thread(self.claim, campaign_id)
                totals.update(settled)
                _report(progress, settled)
                if not outgoing and not settled:
                    wait = await asyncio.to_thread(self.next_retry_in, campaign_id)
                    if not wait_for_retries or wait is None:
                        break
                    await asyncio.sleep(min(wait, 60.0))
                    continue
                # (Claiming the next batch while this one goes out was tried: the two fight over
                # the GIL and the SMTP round trips wait, so the phases take turns.)
                started = set()
                results = await self._deliver(outgoing, pool, pace, started)
                counts = await asyncio.to_thread(self.record, results)
                totals.update(counts)
                _report(progress, counts)
        except asyncio.CancelledError:
            # Stopped (serve shutting down): what was claimed but never handed to SMTP goes
            # back to pending; only an email in flight is left for `unknown`.
            untouched = [o.send_id for o in outgoing if o.send_id not in started]
            await asyncio.to_thread(self.release, untouched)
            raise
        finally:
            await asyncio.gather(*(c.close() for c in pool), return_exceptions=True)
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


def _report(progress: Progress | None, counts: Counter[str]) -> None:
    if progress is not None:
        for state, n in counts.items():
            for _ in range(n):
                progress(state)
