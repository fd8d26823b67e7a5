"""`/lead report` in Slack: a manager gets a signed /reports link in a private answer that opens
the dashboard; a rep gets the counts and no link."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_slack import ANN, BOB, SECRET, replies, slash, wait_for
from tests.fakes.slack_api import SlackApiStandIn, slack_api_server
from tests.services.bot import RunningBot, manual_routing, running_bot

MEG = "U0MEG"


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """SQLite only: the link is the store's row either way (tests/reports cover both stores)."""
    return sqlite_url


@pytest.fixture
def slack() -> Iterator[SlackApiStandIn]:
    with slack_api_server() as server:
        server.users.update({"ann@sales.test": ANN, "bob@sales.test": BOB})
        yield server


@pytest.fixture
def bot(database_url: str, tmp_path: Path, slack: SlackApiStandIn) -> Iterator[RunningBot]:
    """A serve of its own, with reps Ann and Bob and the manager Meg."""
    settings = {
        "LEADBOT_SLACK_BOT_TOKEN": "xoxb-test-token",
        "LEADBOT_SLACK_SIGNING_SECRET": SECRET,
        "LEADBOT_SLACK_API_URL": slack.url,
        "LEADBOT_PUBLIC_URL": "https://leads.example.test",
        "LEADBOT_RULES": str(manual_routing(tmp_path)),
    }
    with running_bot(tmp_path, database_url, **settings) as running:
        running.cli("reps", "add", "Ann Lee", "ann@sales.test")
        running.cli("reps", "add", "Bob Ray", "bob@sales.test")
        running.cli("reps", "add", "Meg Fox", "meg@sales.test", "--role", "manager")
        yield running


def test_managers_get_the_dashboard_link_privately(bot: RunningBot, slack: SlackApiStandIn) -> None:
    slack.users["meg@sales.test"] = MEG
    assert slash(bot, slack, "report", user=MEG).status_code == 200
    [answer] = wait_for(lambda: replies(slack), timeout=30)
    assert answer["response_type"] == "ephemeral"
    assert "Dashboard (7 days): https://leads.example.test/reports?t=" in answer["text"]
    token = answer["text"].split("?t=", 1)[1].split()[0]
    page = httpx.get(f"{bot.http_url}/reports", params={"t": token})
    assert page.status_code == 200 and "Lead reports" in page.text
    [link] = bot.cli_json("report", "links")
    assert (link["created_by"], link["state"]) == ("rep:Meg Fox", "active")

    slack.reset()
    slack.users["ann@sales.test"] = ANN
    assert slash(bot, slack, "report", user=ANN).status_code == 200
    [answer] = wait_for(lambda: replies(slack), timeout=30)
    assert "?t=" not in answer["text"]
    assert "given to managers" in answer["text"]
