"""`leadbot serve`: its options. The command itself runs in every end-to-end test
(tests/services/bot.py starts `python -m bot.cli serve` on free ports)."""

from __future__ import annotations

from tests.cli.conftest import Leadbot


def test_serve_offers_verbose_logging(leadbot: Leadbot) -> None:
    text = leadbot("serve", "--help").stdout
    assert "--verbose" in text and "-v" in text and "Debug logging." in text
    assert "Start the bot: SMTP listener, HTTP server, inbox worker, notifications" in text
