"""`/lead report` in Slack: a manager gets a signed /reports link in a private answer that opens
the dashboard; a rep gets the counts and no link."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.test_slack import ANN, bot, replies, slack, slash, wait_for  # noqa: F401
from tests.fakes.slack_api import SlackApiStandIn
from tests.services.bot import RunningBot

MEG = "U0MEG"


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """SQLite only: the link is the store's row either way (tests/reports cover both stores)."""
    return sqlite_url


def test_managers_get_the_dashboard_link_privately(
    bot: RunningBot,  # noqa: F811  (the fixtures of test_slack)
    slack: SlackApiStandIn,  # noqa: F811
) -> None:
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
