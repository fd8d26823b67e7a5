"""The services built from the settings: the store, the inbox handler and the outbox dispatcher.

`build_services` is what the CLI, the tests and `serve` use, so every one of them runs the same
wiring; the inbox worker processes build their handler with the same function
(`bot.mail_in.worker.inbound_handler`), below this package, so they never import the app.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import storage.inbox
from bot.config import Settings
from bot.mail_in.inbox import InboundMailHandler, accept_raw
from bot.mail_in.worker import inbound_handler
from bot.notify.console import ConsoleNotifier
from bot.notify.dispatcher import Notifier, OutboxDispatcher
from bot.public_links import PublicLinks
from storage.engine import Store
from storage.migrate import ensure_schema
from storage.spool import Spool


@dataclass
class Services:
    """What every entry point needs: the store, the inbox (in and processing) and the outbox."""

    settings: Settings
    store: Store
    inbound: InboundMailHandler
    outbox: OutboxDispatcher
    # What the doors commit to before they answer, when the settings want one (storage/spool.py).
    spool: Spool | None = None

    def accept_smtp(self, raw: bytes, mail_from: str, rcpt_tos: list[str]) -> int:
        row = accept_raw(self.store, raw, channel="smtp", mail_from=mail_from, rcpt_tos=rcpt_tos)
        assert row.id is not None
        return row.id

    def health(self) -> dict[str, Any]:
        # A read: on SQLite a write transaction here waited for the write lock (seconds, while
        # the inbox worker held it), and /healthz ran it in the event loop.
        with self.store.reading() as session:
            counts = storage.inbox.counts_by_state(session)
        return {"status": "ok", "inbox": counts}


def build_services(settings: Settings, *, migrate: bool = True) -> Services:
    """Services on the configured store, migrated first unless `migrate` is False."""
    if migrate:
        ensure_schema(settings.database_url)
    store = Store(settings.database_url, settings.signing_key())
    spool_path = settings.spool_path()
    return Services(
        settings=settings,
        store=store,
        inbound=inbound_handler(settings, store),
        outbox=OutboxDispatcher(
            store, build_notifier(settings, store), settings.outbox_max_attempts
        ),
        spool=Spool(spool_path) if spool_path else None,
    )


def build_notifier(settings: Settings, store: Store) -> Notifier:
    """Slack when a bot token is configured, else the console."""
    if not settings.slack_bot_token:
        return ConsoleNotifier()
    # Imported only when Slack is configured: the CLI's commands do not pay for it otherwise.
    from bot.integrations.slack.notifier import SlackNotifier, owner_names, recent_timeline

    return SlackNotifier(
        token=settings.slack_bot_token,
        base_url=settings.slack_api_url,
        links=PublicLinks(settings.public_url, settings.signing_key()),
        channel=settings.slack_channel or None,
        timeline_for=recent_timeline(store),
        owner_name_for=owner_names(store),
        digest_channel=settings.slack_digest_channel or None,
    )
