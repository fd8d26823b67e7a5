"""One `leadbot serve` per store for the hostile HTTP tests (module-scoped: starting serve is
the slow part), with Slack on and the Web API stand-in behind it."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.slack_api import SlackApiStandIn, slack_api_server
from tests.services.bot import RunningBot, running_bot
from tests.services.postgres import create_database

SLACK_SECRET = "hostile-signing-secret"
API_KEY = "test-secret"  # LEADBOT_SECRET_KEY in tests.services.bot.bot_env
_databases = itertools.count()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def module_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """A fresh migrated store for the module, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path_factory.mktemp("hostile-sqlite") / "leadbot.db"
        shutil.copy(template, path)
        return f"sqlite:///{path}"
    admin = request.getfixturevalue("postgres_admin_url")
    return create_database(
        admin,
        f"leadbot_hostile_{next(_databases)}_{id(request)}",
        template=request.getfixturevalue("postgres_template"),
    )


@pytest.fixture(scope="module")
def slack_api() -> Iterator[SlackApiStandIn]:
    with slack_api_server() as server:
        yield server


@pytest.fixture(scope="module")
def served(
    module_database_url: str, tmp_path_factory: pytest.TempPathFactory, slack_api: SlackApiStandIn
) -> Iterator[RunningBot]:
    settings = {
        "LEADBOT_SLACK_BOT_TOKEN": "xoxb-test-token",
        "LEADBOT_SLACK_SIGNING_SECRET": SLACK_SECRET,
        "LEADBOT_SLACK_API_URL": slack_api.url,
        "LEADBOT_SLACK_WORKERS": "0",
    }
    workdir = tmp_path_factory.mktemp("hostile-serve")
    with running_bot(workdir, module_database_url, **settings) as bot:
        yield bot
