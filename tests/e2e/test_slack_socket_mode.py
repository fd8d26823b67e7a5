"""Socket Mode end to end: with an app-level token and no signing secret, the real `leadbot serve`
asks the Web API stand-in for a websocket URL, connects to the Socket Mode stand-in (a real
websocket), acks each envelope over it at once and does the work after the ack in its Slack
worker process."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_slack import (
    ANN,
    BOB,
    buttons,
    card_posted_to,
    lead_from_email,
    replies,
    wait_for,
)
from tests.fakes.slack_api import SlackApiStandIn, slack_api_server
from tests.fakes.slack_signing import (
    app_home_opened_event,
    block_actions_payload,
    event_body,
    slash_command_fields,
    view_submission_payload,
)
from tests.fakes.slack_socket import SocketModeStandIn, socket_mode_server
from tests.services.bot import RunningBot, manual_routing, running_bot

APP_TOKEN = "xapp-test"
ACK_SECONDS = 10.0  # generous: CI shares the machine; an idle one acks in milliseconds


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """One store: Socket Mode is a transport (connect, ack, reconnect), and what its commands and
    clicks write goes through the Slack worker that test_slack.py drives on both stores."""
    return sqlite_url


@pytest.fixture
def socket() -> Iterator[SocketModeStandIn]:
    """The Socket Mode stand-in (a websocket server)."""
    with socket_mode_server() as server:
        yield server


@pytest.fixture
def slack(socket: SocketModeStandIn) -> Iterator[SlackApiStandIn]:
    """The Web API stand-in, handing out the Socket Mode stand-in's URL."""
    with slack_api_server(socket_url=socket.url) as server:
        server.users.update({"ann@sales.test": ANN, "bob@sales.test": BOB})
        yield server


@pytest.fixture
def bot(
    database_url: str, tmp_path: Path, slack: SlackApiStandIn, socket: SocketModeStandIn
) -> Iterator[RunningBot]:
    """`leadbot serve` in Socket Mode, connected, with reps Ann and Bob."""
    settings = {
        "LEADBOT_SLACK_BOT_TOKEN": "xoxb-test-token",
        "LEADBOT_SLACK_APP_TOKEN": APP_TOKEN,  # and no signing secret: Socket Mode only
        "LEADBOT_SLACK_API_URL": slack.url,
        # Leads are assigned by hand here: enquiries wait for the MQL thresholds.
        "LEADBOT_RULES": str(manual_routing(tmp_path)),
    }
    with running_bot(tmp_path, database_url, **settings) as running:
        running.cli("reps", "add", "Ann Lee", "ann@sales.test")
        running.cli("reps", "add", "Bob Ray", "bob@sales.test")
        if not socket.connected.wait(20):
            raise AssertionError(f"serve did not connect over Socket Mode; log:\n{running.log()}")
        yield running


def acked(socket: SocketModeStandIn, bot: RunningBot, envelope_id: str) -> dict[str, object]:
    """The ack of `envelope_id`, which must come within ACK_SECONDS (the log if it does not)."""
    try:
        return socket.wait_for_ack(envelope_id, ACK_SECONDS)
    except AssertionError as error:
        raise AssertionError(f"{error}\nlog:\n{bot.log()}") from None


def test_serve_connects_with_the_app_token(
    bot: RunningBot, slack: SlackApiStandIn, socket: SocketModeStandIn
) -> None:
    [opened] = slack.calls_to("apps.connections.open")
    headers = {name.lower(): value for name, value in opened.headers.items()}
    assert headers["authorization"] == f"Bearer {APP_TOKEN}"
    assert opened.ok and opened.response["url"] == socket.url
    assert socket.connections == [socket.url.partition("?")[2]]  # the URL it was handed
    assert "Slack: Socket Mode" in bot.log()
    assert "HTTP /slack/events" not in bot.log()  # no signing secret: no unverified route


def test_commands_clicks_and_events_are_acked_over_the_socket_then_done(
    bot: RunningBot, slack: SlackApiStandIn, socket: SocketModeStandIn
) -> None:
    lead_from_email(bot)
    bot.cli("lead", "assign", "L-1", "ann@sales.test")
    card = card_posted_to(slack, ANN)
    channel, ts = card["channel"], slack.calls_to("chat.postMessage")[-1].response["ts"]

    # /lead mine: the ack comes back over the socket with the envelope's id, the list after it.
    fields = slash_command_fields("mine", user_id=ANN, response_url=slack.response_url)
    envelope = socket.send_envelope("slash_commands", dict(fields))
    assert acked(socket, bot, envelope) == {"envelope_id": envelope}
    [reply] = wait_for(lambda: replies(slack), timeout=20)
    assert reply["response_type"] == "ephemeral"
    assert reply["text"] == "1 open leads for Ann Lee"
    assert "*L-1* Jane Doe" in json.dumps(reply["blocks"])

    # Bob's click on Ann's card is acked too, and refused.
    version = bot.cli_json("leads", "show", "L-1")["version"]
    value = buttons(card["blocks"])["lead_qualify"]
    assert value == f"1:{version}"
    click = block_actions_payload("lead_qualify", value, user_id=BOB, message_ts=ts,
                                  channel_id=channel, response_url=slack.response_url)  # fmt: skip
    acked(socket, bot, socket.send_envelope("interactive", click))
    wait_for(lambda: len(replies(slack)) == 2, timeout=20)
    assert "belongs to Ann Lee" in replies(slack)[-1]["text"]
    assert bot.cli_json("leads", "show", "L-1")["status"] == "new"

    # Ann's click qualifies the lead and redraws her card in place.
    click = block_actions_payload("lead_qualify", value, user_id=ANN, message_ts=ts,
                                  channel_id=channel, response_url=slack.response_url)  # fmt: skip
    envelope = socket.send_envelope("interactive", click)
    assert acked(socket, bot, envelope) == {"envelope_id": envelope}
    bot.wait_until(lambda: bot.cli_json("leads", "show", "L-1")["status"] == "qualified")
    qualify = bot.cli_json("leads", "show", "L-1")["timeline"][-1]
    assert (qualify["kind"], qualify["actor"]) == ("status.qualify", "rep:Ann Lee")
    updated = wait_for(lambda: [c.params for c in slack.calls_to("chat.update")
                                if c.ok and c.params.get("ts") == ts], timeout=20)  # fmt: skip
    assert "lead_qualify" not in buttons(updated[-1]["blocks"])

    # An Events API envelope: App Home is published for Ann.
    event = json.loads(event_body(app_home_opened_event(user_id=ANN)))
    acked(socket, bot, socket.send_envelope("events_api", event))
    [published] = wait_for(lambda: slack.calls_to("views.publish"), timeout=20)
    assert published.params["user_id"] == ANN
    assert "*L-1* Jane Doe" in json.dumps(published.params["view"])

    # Every envelope was answered exactly once, in the order sent; serve stops cleanly.
    assert len(socket.acks) == 4 and len({ack["envelope_id"] for ack in socket.acks}) == 4
    assert bot.stop() == 0
    assert wait_for(lambda: not socket.connected.is_set())
    log = bot.log()
    assert "Traceback" not in log and " ERROR " not in log, log


def test_a_refresh_from_slack_reconnects_and_keeps_acking(
    bot: RunningBot, slack: SlackApiStandIn, socket: SocketModeStandIn
) -> None:
    # Slack asks clients to move to a new connection now and then (every few hours).
    socket.send({"type": "disconnect", "reason": "refresh_requested",
                 "debug_info": {"host": "applink-leadbot-stand-in"}})  # fmt: skip
    socket.wait_for_connections(2, timeout=20)
    assert len(slack.calls_to("apps.connections.open")) == 2

    started = time.monotonic()
    fields = slash_command_fields("mine", user_id=ANN, response_url=slack.response_url)
    envelope = socket.send_envelope("slash_commands", dict(fields))
    assert acked(socket, bot, envelope) == {"envelope_id": envelope}
    assert time.monotonic() - started < ACK_SECONDS
    [reply] = wait_for(lambda: replies(slack), timeout=20)
    assert reply["text"] == "0 open leads for Ann Lee"


def test_a_modal_answers_in_the_ack_over_the_socket(
    bot: RunningBot, slack: SlackApiStandIn, socket: SocketModeStandIn
) -> None:
    lead_from_email(bot)
    bot.cli("lead", "assign", "L-1", "ann@sales.test")
    fields = slash_command_fields("trash L-1", user_id=ANN, response_url=slack.response_url)
    acked(socket, bot, socket.send_envelope("slash_commands", dict(fields)))
    view = wait_for(lambda: slack.calls_to("views.open"), timeout=20)[0].params["view"]
    assert view["callback_id"] == "trash_lead"

    # No reason picked: the modal's errors travel back in the ack's payload.
    envelope = socket.send_envelope("interactive", view_submission_payload(view, {}, user_id=ANN))
    ack = acked(socket, bot, envelope)
    assert ack["envelope_id"] == envelope
    assert ack["payload"]["response_action"] == "errors"
    assert bot.cli_json("leads", "show", "L-1")["status"] == "new"

    submitted = view_submission_payload(view, {"reason": "no_budget", "comment": "next year"},
                                        user_id=ANN)  # fmt: skip
    envelope = socket.send_envelope("interactive", submitted)
    assert acked(socket, bot, envelope) == {"envelope_id": envelope}
    bot.wait_until(lambda: bot.cli_json("leads", "show", "L-1")["status"] == "trashed")
    assert bot.cli_json("leads", "show", "L-1")["trash_reason"] == "no_budget"
