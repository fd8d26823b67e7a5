"""`leadbot serve`: the command starts the whole bot and stops cleanly on SIGTERM."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.cli.conftest import Leadbot
from tests.services.bot import running_bot


def test_serve_offers_verbose_logging(leadbot: Leadbot) -> None:
    text = leadbot("serve", "--help").stdout
    assert "--verbose" in text and "-v" in text and "Debug logging." in text


def test_serve_answers_and_stops_on_sigterm(sqlite_url: str, tmp_path: Path) -> None:
    with running_bot(tmp_path, sqlite_url) as bot:
        assert httpx.get(f"{bot.http_url}/healthz", timeout=5).json()["status"] == "ok"
        assert bot.stop() == 0
