"""Fixtures for outgoing mail: a local SMTP sink, settings pointing at it, leads to mail."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.config import Settings
from tests.fakes.smtp_sink import Sink, smtp_sink


@pytest.fixture
def sink() -> Iterator[Sink]:
    with smtp_sink() as running:
        yield running


def settings_for(database_url: str, sink: Sink, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "outbound_smtp_url": sink.url,
        "public_url": "http://127.0.0.1:9",
        "secret_key": "test-secret",
        "reply_address": "leads@acme-leads.test",
        "outbound_from": "news@acme-leads.test",
        "outbound_rate": 0,
        "outbound_connections": 2,
        "outbound_retry_seconds": 0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]
