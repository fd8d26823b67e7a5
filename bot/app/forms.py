"""Web forms inside `leadbot serve`: the routes, the processor that makes submissions leads, and
the sender of double opt-in mails, built once from the settings."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bot.config import Settings
from bot.forms.confirm import ConfirmationSender
from bot.forms.process import FormProcessor
from bot.forms.tokens import FormTokens
from bot.rules.file import Rules
from bot.web.forms import FormsWeb
from storage.engine import Store


class FormsRuntime:
    def __init__(self, settings: Settings, store: Store, rules: Callable[[], Rules]) -> None:
        # Set by every accepted POST: the processor looks at once instead of at its next tick.
        self.wake = asyncio.Event()
        self.tokens = FormTokens(settings.signing_key())
        self.web = FormsWeb(
            store,
            self.tokens,
            lambda: rules().forms,
            public_url=settings.public_url,
            max_body_bytes=settings.form_max_body_bytes,
            wake=self.wake.set,
        )
        self.processor = FormProcessor(store, rules)
        self.confirmations = ConfirmationSender(
            store,
            self.tokens,
            relay_url=settings.outbound_smtp_url,
            sender=settings.outbound_from or settings.reply_address,
            public_url=settings.public_url,
        )
        self.confirmations_wake = asyncio.Event()

    def process(self) -> int:
        done = self.processor.drain_once()
        if done:
            self.confirmations_wake.set()
        return done
