"""Socket Mode: with an app-level token and no signing secret, the real `leadbot serve` opens a
websocket (Slack's Socket Mode protocol, against a stand-in), acks envelopes over it and does the
work after the ack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_slack import ANN, lead_from_email, replies, wait_for
from tests.services.bot import RunningBot, running_bot
from tests.services.slack_api import SlackApiStandIn, slack_api_server
from tests.services.slack_signing import block_actions_payload, slash_command_fields
from tests.services.slack_socket import SocketModeStandIn, socket_mode_server


@pytest.fixture
def slack() -> Iterator[SlackApiStandIn]:
    with slack_api_server() as server:
        server.users["ann@sales.test"] = ANN
        yield server


@pytest.fixture
def socket() -> Iterator[SocketModeStandIn]:
    with socket_mode_server() as server:
        yield server


@pytest.fixture
def bot(
    database_url: str, tmp_path: Path, slack: SlackApiStandIn, socket: SocketModeStandIn
) -> Iterator[RunningBot]:
    slack.socket_url = socket.url
    settings = {
        "LEADBOT_SLACK_BOT_TOKEN": "xoxb-test-token",
        "LEADBOT_SLACK_APP_TOKEN": "xapp-test-token",
        "LEADBOT_SLACK_API_URL": slack.url,
    }
    with running_bot(tmp_path, database_url, **settings) as running:
        running.cli("reps", "add", "Ann Lee", "ann@sales.test")
        yield running


def test_commands_and_clicks_over_socket_mode(
    bot: RunningBot, slack: SlackApiStandIn, socket: SocketModeStandIn
) -> None:
    assert socket.connected.wait(10)
    [opened] = slack.calls_to("apps.connections.open")
    assert opened.token == "xapp-test-token"
    lead_from_email(bot)
    bot.cli("lead", "assign", "L-1", "ann@sales.test")

    fields = slash_command_fields("mine", user_id=ANN, response_url=slack.response_url)
    envelope = socket.send_envelope("slash_commands", dict(fields))
    assert socket.wait_for_ack(envelope)["envelope_id"] == envelope
    [reply] = wait_for(lambda: replies(slack))
    assert reply["text"] == "1 open leads for Ann Lee"

    version = bot.cli_json("leads", "show", "L-1")["version"]
    click = block_actions_payload("lead_qualify", f"1:{version}", user_id=ANN,
                                  response_url=slack.response_url)  # fmt: skip
    socket.wait_for_ack(socket.send_envelope("interactive", click))
    bot.wait_until(lambda: bot.cli_json("leads", "show", "L-1")["status"] == "qualified")
    qualify = bot.cli_json("leads", "show", "L-1")["timeline"][-1]
    assert (qualify["kind"], qualify["actor"]) == ("status.qualify", "rep:Ann Lee")
