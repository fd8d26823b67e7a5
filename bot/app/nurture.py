"""Nurture inside `leadbot serve`: the tracking endpoints and their event writer, and the
campaign scheduler that sends due steps of active campaigns every LEADBOT_CAMPAIGN_TICK_SECONDS."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from bot.app.supervisor import Child, Supervisor
from bot.config import Settings
from bot.nurture import tracking_writer
from bot.nurture.campaigns import Hit
from bot.nurture.hit_spool import HitSpool, spool_dir
from bot.nurture.links import TrackingLinks
from bot.nurture.send import CampaignSender
from bot.web.tracking import HitBuffer, PixelFastPath, tracking_routes
from storage.engine import Store

log = logging.getLogger("leadbot.nurture")

# How long the writer gets at stop to write what it was sent.
WRITER_STOP_SECONDS = 60.0


class NurtureRuntime:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.links = TrackingLinks(settings.public_url, settings.signing_key())
        # Opens and clicks are classified and written by a process of their own, off the GIL
        # that answers the pixel; it starts with the first batch.
        self.writer = Supervisor(
            Child(
                tracking_writer.PROCESS_NAME,
                tracking_writer.writer_main,
                (settings.model_dump(), log.getEffectiveLevel()),
                exited=tracking_writer.exited,
                overdue=tracking_writer.overdue,
            )
        )
        # Every hit is appended to the spool before it is answered; the writer drains it.
        self.spool = HitSpool(spool_dir(settings))
        self.buffer = HitBuffer(store, settings.tracking_flush_seconds,
                                settings.scanner_window_seconds, self._write,
                                self.spool)  # fmt: skip
        self.sender = CampaignSender(store, settings)
        self.routes = tracking_routes(store, self.links, self.buffer)
        self._writer: asyncio.Task[None] | None = None
        self._scheduler: asyncio.Task[None] | None = None

    def wrap(self, app: Any) -> PixelFastPath:
        return PixelFastPath(app, self.links, self.buffer)

    def _write(self, hits: list[Hit]) -> int:
        """Hand a batch to the writer process (blocking while its pipe is full: off the loop)."""
        self.writer.send(tracking_writer.batch(hits))
        return len(hits)

    def start(self) -> None:
        self._writer = asyncio.create_task(self._run_buffer(), name="tracking-writer")
        self._scheduler = asyncio.create_task(self._schedule(), name="campaign-scheduler")

    async def _run_buffer(self) -> None:
        watching = asyncio.create_task(self._watch_writer(), name="tracking-writer-watch")
        try:
            await self.buffer.run()
        finally:
            watching.cancel()

    async def _watch_writer(self) -> None:
        """Start the writer once there is something to write (a hit, or what a killed serve
        left; a process per serve that never sees a hit would cost every start a second), and
        again whenever it died."""
        leftovers = await asyncio.to_thread(self.spool.leftovers)
        while not (leftovers or self.spool.appended):
            await asyncio.sleep(0.2)
        await asyncio.to_thread(self.writer.start)
        while True:
            await asyncio.sleep(1.0)
            await asyncio.to_thread(self.writer.watch)

    async def _schedule(self) -> None:
        while True:
            try:
                totals = await self.sender.run()
                if totals:
                    log.info("campaigns: %s", ", ".join(f"{k} {v}" for k, v in totals.items()))
            except Exception:
                log.exception("campaign scheduler failed; trying again next tick")
            await asyncio.sleep(self.settings.campaign_tick_seconds)

    async def stop(self) -> None:
        """After the HTTP server has stopped: write every buffered event, stop the scheduler."""
        if self._scheduler is not None:
            self._scheduler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._scheduler
        if self._writer is not None:
            await self.buffer.close(self._writer)
        if self.spool.appended:  # hits since the last look: the writer drains them at its stop
            await asyncio.to_thread(self.writer.start)
        await asyncio.to_thread(self.writer.stop, WRITER_STOP_SECONDS)
