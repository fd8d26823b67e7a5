"""One real `leadbot serve` per test module (SQLite file), and API keys made with the CLI."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.services.bot import RunningBot, running_bot

ALL_SCOPES = "leads:read,leads:write,events:write,reps:read,campaigns:read"


@pytest.fixture(scope="module")
def api_bot(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningBot]:
    workdir = tmp_path_factory.mktemp("api")
    shutil.copy(sqlite_template, workdir / "leadbot.db")
    with running_bot(workdir, f"sqlite:///{workdir / 'leadbot.db'}") as bot:
        yield bot


def make_key(bot: RunningBot, name: str, scopes: str = ALL_SCOPES, rate: int = 0) -> str:
    result = bot.cli("apikey", "create", name, "--scope", scopes, "--rate", str(rate))
    return result.stdout.strip()


@pytest.fixture(scope="module")
def admin_key(api_bot: RunningBot) -> str:
    return make_key(api_bot, "admin", rate=100_000)


@pytest.fixture(scope="module")
def client(api_bot: RunningBot, admin_key: str) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {admin_key}"}
    with httpx.Client(base_url=f"{api_bot.http_url}/api/v1", headers=headers, timeout=30) as c:
        yield c
