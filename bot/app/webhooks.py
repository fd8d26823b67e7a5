"""The webhook sender as serve runs it: built from the settings, one round after another."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from bot.config import Settings
from bot.notify.webhooks import Retry, WebhookSender
from storage.engine import Store

log = logging.getLogger("leadbot")


def build_sender(settings: Settings, store: Store) -> WebhookSender:
    return WebhookSender(
        store,
        retry=Retry(
            base_seconds=settings.webhook_retry_base_seconds,
            cap_seconds=settings.webhook_retry_max_seconds,
            window=timedelta(hours=settings.webhook_retry_hours),
        ),
        timeout=settings.webhook_timeout_seconds,
        report_after=settings.webhook_report_after_failures,
    )


async def run_webhook_sender(settings: Settings, store: Store) -> None:
    """Send what is due; when nothing is, look again after LEADBOT_WORKER_IDLE_SECONDS."""
    sender = build_sender(settings, store)
    try:
        while True:
            try:
                done = await asyncio.to_thread(sender.send_due)
            except Exception:
                log.exception("webhooks failed; retrying shortly")
                done = 0
            if not done:
                await asyncio.sleep(settings.worker_idle_seconds)
    finally:
        await asyncio.to_thread(sender.close)
