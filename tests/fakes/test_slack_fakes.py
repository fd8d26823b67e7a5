"""The Slack test services themselves: the Web API stand-in answers slack_sdk's sync and async
clients as Slack does, and the signed requests pass slack_sdk's verifier and bolt's parsing."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import parse_qs

import pytest
from slack_bolt import App, BoltRequest
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack_api import SlackApiStandIn, slack_api_server
from tests.fakes.slack_signing import (
    app_home_opened_event,
    block_actions_payload,
    event_body,
    interactivity_body,
    sign,
    signed_headers,
    slash_command_body,
    view_submission_payload,
)

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TOKEN = "xoxb-test-token"


@pytest.fixture
def slack() -> Any:
    with slack_api_server() as server:
        yield server


def client_for(slack: SlackApiStandIn) -> WebClient:
    return WebClient(token=TOKEN, base_url=slack.url, retry_handlers=[])


# ---- the Web API stand-in ----------------------------------------------------------------


def test_post_message_and_update(slack: SlackApiStandIn) -> None:
    client = client_for(slack)
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}]
    first = client.chat_postMessage(channel="C0LEADS", text="hello", blocks=blocks)
    second = client.chat_postMessage(channel="C0LEADS", text="again")
    assert first["ok"] and first["channel"] == "C0LEADS"
    assert first["ts"] == "1700000000.000100" and second["ts"] == "1700000000.000200"
    assert first["message"]["blocks"] == blocks and first["message"]["bot_id"]
    updated = client.chat_update(channel="C0LEADS", ts=first["ts"], text="changed")
    assert updated["ts"] == first["ts"] and updated["message"]["text"] == "changed"
    with pytest.raises(SlackApiError) as missing:
        client.chat_update(channel="C0LEADS", ts="1.2", text="x")
    assert missing.value.response["error"] == "message_not_found"
    calls = slack.calls_to("chat.postMessage")
    assert [c.params["text"] for c in calls] == ["hello", "again"]
    assert calls[0].params["blocks"] == blocks
    assert calls[0].token == TOKEN
    assert calls[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert [c.method for c in slack.calls] == [
        "chat.postMessage",
        "chat.postMessage",
        "chat.update",
        "chat.update",
    ]


def test_conversations_open_and_ephemeral(slack: SlackApiStandIn) -> None:
    client = client_for(slack)
    opened = client.conversations_open(users="U0ANN")
    assert opened["channel"]["id"].startswith("D")
    again = client.conversations_open(users="U0ANN")
    assert again["channel"]["id"] == opened["channel"]["id"] and again["already_open"]
    assert slack.dm_channel("U0ANN") == opened["channel"]["id"]
    posted = client.chat_postMessage(channel="U0ANN", text="to the DM")
    assert posted["channel"] == opened["channel"]["id"]
    ephemeral = client.chat_postEphemeral(channel="C0LEADS", user="U0ANN", text="psst")
    assert ephemeral["message_ts"]
    assert slack.calls_to("conversations.open")[0].params == {"users": "U0ANN"}


def test_users(slack: SlackApiStandIn) -> None:
    slack.users["ann@yourco.com"] = {"id": "U0ANN", "real_name": "Ann Lee"}
    slack.users["bob@yourco.com"] = "U0BOB"
    client = client_for(slack)
    found = client.users_lookupByEmail(email="Ann@YourCo.com")
    assert found["user"]["id"] == "U0ANN"
    assert found["user"]["profile"]["email"] == "ann@yourco.com"
    assert found["user"]["real_name"] == "Ann Lee"
    assert client.users_info(user="U0BOB")["user"]["profile"]["email"] == "bob@yourco.com"
    with pytest.raises(SlackApiError) as not_found:
        client.users_lookupByEmail(email="eve@elsewhere.com")
    assert not_found.value.response["error"] == "users_not_found"
    with pytest.raises(SlackApiError) as unknown:
        client.users_info(user="U0NOBODY")
    assert unknown.value.response["error"] == "user_not_found"
    assert slack.calls_to("users.lookupByEmail")[0].params == {"email": "Ann@YourCo.com"}


def test_views(slack: SlackApiStandIn) -> None:
    client = client_for(slack)
    modal = {
        "type": "modal",
        "callback_id": "trash_lead",
        "private_metadata": "12:3",
        "title": {"type": "plain_text", "text": "Trash lead"},
        "blocks": [],
    }
    opened = client.views_open(trigger_id="1.2.3", view=modal)["view"]
    assert opened["id"].startswith("V") and opened["callback_id"] == "trash_lead"
    assert opened["private_metadata"] == "12:3" and opened["state"] == {"values": {}}
    updated = client.views_update(view_id=opened["id"], view={**modal, "private_metadata": "x"})
    assert updated["view"]["id"] == opened["id"] and updated["view"]["private_metadata"] == "x"
    home = client.views_publish(user_id="U0ANN", view={"type": "home", "blocks": []})["view"]
    assert home["type"] == "home" and "title" not in home
    assert slack.calls_to("views.publish")[0].params["view"]["type"] == "home"
    assert client.auth_test()["user_id"].startswith("U")
    assert client.api_call("reactions.add", json={"name": "eyes"})["ok"] is True


def test_without_a_token(slack: SlackApiStandIn) -> None:
    with pytest.raises(SlackApiError) as refused:
        WebClient(base_url=slack.url).auth_test()
    assert refused.value.response["error"] == "not_authed"


def test_rate_limit_then_success(slack: SlackApiStandIn) -> None:
    client = client_for(slack)
    slack.fail_next("chat.postMessage", status=429, retry_after=3, times=2)
    for _ in range(2):
        with pytest.raises(SlackApiError) as limited:
            client.chat_postMessage(channel="C1", text="x")
        assert limited.value.response.status_code == 429
        assert limited.value.response.headers["Retry-After"] == "3"
        assert limited.value.response["error"] == "ratelimited"
    assert client.chat_postMessage(channel="C1", text="x")["ok"]
    assert [c.status for c in slack.calls_to("chat.postMessage")] == [429, 429, 200]
    assert not slack.calls_to("chat.postMessage")[0].ok


def test_server_error_error_body_and_dropped_connection(slack: SlackApiStandIn) -> None:
    client = client_for(slack)
    slack.fail_next("chat.postMessage", status=503)
    with pytest.raises(SlackApiError) as unavailable:
        client.chat_postMessage(channel="C1", text="x")
    assert unavailable.value.response.status_code == 503
    slack.fail_next("chat.postMessage", status=200, error="channel_not_found")
    with pytest.raises(SlackApiError) as refused:
        client.chat_postMessage(channel="C1", text="x")
    assert refused.value.response.status_code == 200
    assert refused.value.response["error"] == "channel_not_found"
    slack.fail_next("chat.postMessage", status=0)
    with pytest.raises(OSError):
        client.chat_postMessage(channel="C1", text="x")
    assert client.chat_postMessage(channel="C1", text="x")["ok"]


def test_reset(slack: SlackApiStandIn) -> None:
    slack.users["ann@yourco.com"] = "U0ANN"
    slack.fail_next("auth.test", times=3)
    client_for(slack).chat_postMessage(channel="C1", text="x")
    slack.reset()
    assert slack.calls == [] and slack.messages == {}
    assert client_for(slack).auth_test()["ok"]
    assert slack.users == {"ann@yourco.com": "U0ANN"}


def test_async_client(slack: SlackApiStandIn) -> None:
    slack.users["ann@yourco.com"] = "U0ANN"

    async def run() -> None:
        client = AsyncWebClient(token=TOKEN, base_url=slack.url, retry_handlers=[])
        posted = await client.chat_postMessage(channel="C1", text="async", blocks=[])
        assert posted["ts"] == "1700000000.000100"
        assert (await client.users_lookupByEmail(email="ann@yourco.com"))["user"]["id"] == "U0ANN"
        assert (await client.views_publish(user_id="U0ANN", view={"type": "home", "blocks": []}))[
            "ok"
        ]
        slack.fail_next("chat.update", status=429, retry_after=2)
        with pytest.raises(SlackApiError) as limited:
            await client.chat_update(channel="C1", ts=posted["ts"], text="x")
        assert limited.value.response.status_code == 429
        assert limited.value.response.headers.get("Retry-After") == "2"

    asyncio.run(run())
    assert [c.method for c in slack.calls] == [
        "chat.postMessage",
        "users.lookupByEmail",
        "views.publish",
        "chat.update",
    ]


# ---- signed requests ---------------------------------------------------------------------


def test_signature_matches_slack_sdk() -> None:
    body = slash_command_body("qualify L-12")
    headers = sign(body, SECRET)
    verifier = SignatureVerifier(SECRET)
    assert verifier.is_valid_request(body, headers)
    timestamp = int(headers["X-Slack-Request-Timestamp"])
    assert headers["X-Slack-Signature"] == verifier.generate_signature(
        timestamp=str(timestamp), body=body
    )
    assert not verifier.is_valid_request(body + b"x", headers)
    assert not SignatureVerifier("other-secret").is_valid_request(body, headers)
    stale = sign(body, SECRET, timestamp=int(time.time()) - 600)
    assert not verifier.is_valid_request(body, stale)


def test_bodies_are_what_slack_posts() -> None:
    form = parse_qs(slash_command_body("trash L-12 no_budget", user_id="U0ANN").decode())
    assert form["command"] == ["/lead"] and form["text"] == ["trash L-12 no_budget"]
    assert form["user_id"] == ["U0ANN"] and form["team_id"] == ["T111"]
    assert form["response_url"][0].startswith("https://hooks.slack.com/commands/")
    body = interactivity_body(block_actions_payload("lead_qualify", "12:3", user_id="U0ANN"))
    payload = json.loads(parse_qs(body.decode())["payload"][0])
    assert payload["type"] == "block_actions" and payload["user"]["id"] == "U0ANN"
    assert payload["actions"][0]["action_id"] == "lead_qualify"
    assert payload["actions"][0]["value"] == "12:3"
    assert signed_headers(body, SECRET)["Content-Type"] == "application/x-www-form-urlencoded"
    event = event_body(app_home_opened_event("U0ANN"))
    assert json.loads(event)["event"]["type"] == "app_home_opened"
    assert signed_headers(event, SECRET)["Content-Type"] == "application/json"


def test_bolt_accepts_and_parses_the_signed_requests(slack: SlackApiStandIn) -> None:
    seen: dict[str, Any] = {}
    app = App(signing_secret=SECRET, client=client_for(slack), process_before_response=True)

    @app.command("/lead")
    def lead(ack: Any, command: dict[str, Any]) -> None:
        ack()
        seen["command"] = (command["user_id"], command["text"])

    @app.action("lead_qualify")
    def qualify(ack: Any, action: dict[str, Any], body: dict[str, Any]) -> None:
        ack()
        seen["action"] = (body["user"]["id"], action["value"], body["container"]["type"])

    @app.view("trash_lead")
    def trash(ack: Any, view: dict[str, Any]) -> None:
        ack()
        values = view["state"]["values"]
        seen["view"] = (view["private_metadata"], values["reason"]["reason"]["selected_option"])

    @app.event("app_home_opened")
    def home(event: dict[str, Any]) -> None:
        seen["event"] = (event["user"], event["tab"])

    modal = {
        "type": "modal",
        "callback_id": "trash_lead",
        "private_metadata": "12:3",
        "blocks": [
            {
                "type": "input",
                "block_id": "reason",
                "label": {"type": "plain_text", "text": "Reason"},
                "element": {
                    "type": "static_select",
                    "action_id": "reason",
                    "options": [{"text": {"type": "plain_text", "text": "Spam"}, "value": "spam"}],
                },
            }
        ],
    }
    bodies = [
        slash_command_body("mine", user_id="U0ANN"),
        interactivity_body(block_actions_payload("lead_qualify", "12:3", user_id="U0ANN")),
        interactivity_body(view_submission_payload(modal, {"reason": "spam"})),
        event_body(app_home_opened_event("U0ANN")),
    ]
    for body in bodies:
        response = app.dispatch(
            BoltRequest(body=body.decode(), headers=signed_headers(body, SECRET))
        )
        assert response.status == 200, response.body
    assert seen == {
        "command": ("U0ANN", "mine"),
        "action": ("U0ANN", "12:3", "message"),
        "view": ("12:3", {"text": {"type": "plain_text", "text": "Spam"}, "value": "spam"}),
        "event": ("U0ANN", "home"),
    }
    forged = slash_command_body("mine")
    response = app.dispatch(
        BoltRequest(body=forged.decode(), headers=signed_headers(forged, "wrong-secret"))
    )
    assert response.status == 401
    assert slack.calls_to("auth.test"), "bolt checked its token against the stand-in"


def test_async_bolt_accepts_the_signed_requests(slack: SlackApiStandIn) -> None:
    seen: list[str] = []

    async def run() -> None:
        client = AsyncWebClient(token=TOKEN, base_url=slack.url)
        app = AsyncApp(signing_secret=SECRET, client=client, process_before_response=True)

        @app.action("lead_trash")
        async def trash(ack: Any, action: dict[str, Any], client: AsyncWebClient) -> None:
            await ack()
            seen.append(action["value"])
            await client.views_open(trigger_id="1.2.3", view={"type": "modal", "blocks": []})

        body = interactivity_body(block_actions_payload("lead_trash", "12:3"))
        response = await app.async_dispatch(
            AsyncBoltRequest(body=body.decode(), headers=signed_headers(body, SECRET))
        )
        assert response.status == 200

    asyncio.run(run())
    assert seen == ["12:3"]
    assert slack.calls_to("views.open")[0].params["trigger_id"] == "1.2.3"
