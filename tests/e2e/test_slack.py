"""Reps work leads from Slack: the real `leadbot serve` with slack-bolt, signed requests built
from Slack's real payloads, and a local stand-in of the Slack Web API that records every call."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.slack_api import SlackApiStandIn, slack_api_server
from tests.fakes.slack_signing import (
    app_home_opened_event,
    block_actions_payload,
    event_body,
    interactivity_body,
    signed_headers,
    slash_command_body,
    view_submission_payload,
)
from tests.services.bot import RunningBot, manual_routing, running_bot

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
ANN, BOB = "U0ANN", "U0BOB"


@pytest.fixture
def slack() -> Iterator[SlackApiStandIn]:
    with slack_api_server() as server:
        server.users.update({"ann@sales.test": ANN, "bob@sales.test": BOB})
        yield server


@pytest.fixture
def bot(database_url: str, tmp_path: Path, slack: SlackApiStandIn) -> Iterator[RunningBot]:
    settings = {
        "LEADBOT_SLACK_BOT_TOKEN": "xoxb-test-token",
        "LEADBOT_SLACK_SIGNING_SECRET": SECRET,
        "LEADBOT_SLACK_API_URL": slack.url,
        "LEADBOT_PUBLIC_URL": "https://leads.example.test",
        # Leads are assigned by hand here: enquiries wait for the MQL thresholds.
        "LEADBOT_RULES": str(manual_routing(tmp_path)),
    }
    with running_bot(tmp_path, database_url, **settings) as running:
        running.cli("reps", "add", "Ann Lee", "ann@sales.test")
        running.cli("reps", "add", "Bob Ray", "bob@sales.test")
        running.cli("reps", "add", "Meg Fox", "meg@sales.test", "--role", "manager")
        yield running


def post(bot: RunningBot, body: bytes, timestamp: int | None = None,
         secret: str = SECRET) -> httpx.Response:  # fmt: skip
    headers = signed_headers(body, secret, timestamp)
    return httpx.post(f"{bot.http_url}/slack/events", content=body, headers=headers, timeout=10)


def slash(bot: RunningBot, slack: SlackApiStandIn, text: str, user: str = ANN) -> httpx.Response:
    body = slash_command_body(text, user_id=user, response_url=slack.response_url)
    return post(bot, body)


def click(
    bot: RunningBot,
    slack: SlackApiStandIn,
    action_id: str,
    value: str,
    user: str = ANN,
    message_ts: str = "1700000000.000100",
    channel: str = "D0ANN",
) -> httpx.Response:
    payload = block_actions_payload(
        action_id,
        value,
        user_id=user,
        message_ts=message_ts,
        channel_id=channel,
        response_url=slack.response_url,
    )
    return post(bot, interactivity_body(payload))


def replies(slack: SlackApiStandIn) -> list[dict[str, Any]]:
    return [call.params for call in slack.calls_to("response_url")]


def wait_for(predicate: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met")


def lead_from_email(
    bot: RunningBot,
    name: str = "Jane Doe",
    email: str = "jane@acme.test",
    body: str = "Can you send pricing?",
    subject: str = "Pricing please",
) -> None:
    import smtplib
    from email.message import EmailMessage
    from email.utils import formataddr

    message = EmailMessage()
    message["From"] = formataddr((name, email))
    message["To"] = "leads@acme-leads.test"
    message["Subject"] = subject
    message.set_content(f"{body}\n\nThanks,\n{name}")
    with smtplib.SMTP("127.0.0.1", bot.smtp_port) as client:
        client.send_message(message)
    bot.wait_until(lambda: bot.cli_json("leads", "list"))


def card_posted_to(slack: SlackApiStandIn, user: str) -> dict[str, Any]:
    channel = slack.dm_channel(user)
    posts = wait_for(lambda: [c for c in slack.calls_to("chat.postMessage") if c.ok
                              and c.params.get("channel") == channel])  # fmt: skip
    assert len(posts) == 1
    return posts[0].params


def buttons(blocks: list[dict[str, Any]]) -> dict[str, str]:
    return {
        element["action_id"]: element.get("value", "")
        for block in blocks if block["type"] == "actions"
        for element in block["elements"]
    }  # fmt: skip


def test_requests_not_signed_by_slack_are_refused(bot: RunningBot, slack: SlackApiStandIn) -> None:
    body = slash_command_body("mine", user_id=ANN, response_url=slack.response_url)
    assert post(bot, body, secret="not-the-secret").status_code == 401
    assert post(bot, body, timestamp=int(time.time()) - 600).status_code == 401  # replayed
    assert replies(slack) == []


def test_wrong_commands_answer_privately_with_usage(
    bot: RunningBot, slack: SlackApiStandIn
) -> None:
    assert slash(bot, slack, "frobnicate L-1").status_code == 200
    assert slash(bot, slack, "trash").status_code == 200
    wait_for(lambda: len(replies(slack)) == 2)
    # Two commands, two replies: each answers its own, in whichever order the worker finished.
    unknown, trash = sorted(replies(slack), key=lambda reply: reply["text"].startswith("usage"))
    assert unknown["response_type"] == "ephemeral"
    assert unknown["text"].startswith("unknown verb 'frobnicate'")
    assert trash["text"].startswith("usage: trash <lead> <reason>")


def test_a_stranger_is_told_how_to_become_a_rep(bot: RunningBot, slack: SlackApiStandIn) -> None:
    slack.users["eve@elsewhere.test"] = "U0EVE"
    slash(bot, slack, "mine", user="U0EVE")
    [reply] = wait_for(lambda: replies(slack))
    assert "not a leadbot rep yet" in reply["text"] and "eve@elsewhere.test" in reply["text"]


def test_assigned_rep_gets_an_escaped_card_and_works_it_with_buttons(
    bot: RunningBot, slack: SlackApiStandIn
) -> None:
    lead_from_email(bot, name="<!channel> Jane <http://evil.test|Doe>")
    bot.cli("lead", "assign", "L-1", "ann@sales.test")

    card = card_posted_to(slack, ANN)
    raw = json.dumps(card["blocks"])
    assert "<!channel>" not in raw and "<http://evil.test" not in raw
    version = bot.cli_json("leads", "show", "L-1")["version"]
    assert buttons(card["blocks"])["lead_qualify"] == f"1:{version}"
    channel, ts = (
        card["channel"],
        wait_for(lambda: slack.calls_to("chat.postMessage")[-1].response["ts"]),
    )

    # Bob may read but not act; Ann qualifies; a double click on the stale card is refused.
    assert click(bot, slack, "lead_qualify", f"1:{version}", user=BOB).status_code == 200
    wait_for(lambda: replies(slack))
    assert "belongs to Ann Lee" in replies(slack)[-1]["text"]
    assert bot.cli_json("leads", "show", "L-1")["status"] == "new"

    assert click(bot, slack, "lead_qualify", f"1:{version}", message_ts=ts, channel=channel
                 ).status_code == 200  # fmt: skip
    bot.wait_until(lambda: bot.cli_json("leads", "show", "L-1")["status"] == "qualified")
    click(bot, slack, "lead_qualify", f"1:{version}", message_ts=ts, channel=channel)
    wait_for(lambda: "changed meanwhile" in replies(slack)[-1]["text"])
    timeline = bot.cli_json("leads", "show", "L-1")["timeline"]
    assert [e["kind"] for e in timeline].count("status.qualify") == 1
    assert [e["actor"] for e in timeline if e["kind"] == "status.qualify"] == ["rep:Ann Lee"]

    # The card was redrawn in place: no Qualify button any more.
    updated = wait_for(lambda: [c.params for c in slack.calls_to("chat.update")
                                if c.params.get("ts") == ts])  # fmt: skip
    assert "lead_qualify" not in buttons(updated[-1]["blocks"])
    assert "lead_convert" in buttons(updated[-1]["blocks"])
    # Ann is now linked to her Slack id (matched by email on first contact).
    reps = {rep["email"]: rep["slack_user_id"] for rep in bot.cli_json("reps", "list")}
    assert reps["ann@sales.test"] == ANN


def test_trash_asks_for_the_reason_in_a_modal(bot: RunningBot, slack: SlackApiStandIn) -> None:
    lead_from_email(bot)
    bot.cli("lead", "assign", "L-1", "ann@sales.test")
    slash(bot, slack, "trash L-1")
    opened = wait_for(lambda: slack.calls_to("views.open"))
    view = opened[0].params["view"]
    assert view["callback_id"] == "trash_lead"

    empty = view_submission_payload(view, {}, user_id=ANN)
    answer = post(bot, interactivity_body(empty))
    assert answer.json()["response_action"] == "errors"  # no reason picked: the modal says so

    submitted = view_submission_payload(view, {"reason": "no_budget", "comment": "next year"},
                                        user_id=ANN)  # fmt: skip
    assert post(bot, interactivity_body(submitted)).status_code == 200
    bot.wait_until(lambda: bot.cli_json("leads", "show", "L-1")["status"] == "trashed")
    shown = bot.cli_json("leads", "show", "L-1")
    assert shown["trash_reason"] == "no_budget"
    assert shown["timeline"][-1]["summary"] == "trash: new → trashed (No budget): next year"


def test_convert_through_the_modal_then_unconvert(bot: RunningBot, slack: SlackApiStandIn) -> None:
    lead_from_email(bot)
    bot.cli("lead", "assign", "L-1", "ann@sales.test")
    version = bot.cli_json("leads", "show", "L-1")["version"]
    click(bot, slack, "lead_convert", f"1:{version}")
    view = wait_for(lambda: slack.calls_to("views.open"))[0].params["view"]
    assert view["callback_id"] == "convert_lead"
    submitted = view_submission_payload(
        view,
        {"opportunity": "Acme pilot", "amount": "12000", "close_date": "2027-01-31",
         "stage": "proposal"},
        user_id=ANN,
    )  # fmt: skip
    assert post(bot, interactivity_body(submitted)).status_code == 200
    bot.wait_until(lambda: bot.cli_json("leads", "show", "L-1")["status"] == "converted")
    converted = bot.cli_json("leads", "show", "L-1")["timeline"][-1]
    assert converted["kind"] == "converted"
    assert "opportunity O-1 Acme pilot (12,000.00)" in converted["summary"]

    slash(bot, slack, "unconvert L-1")
    bot.wait_until(lambda: bot.cli_json("leads", "show", "L-1")["status"] == "nurturing")


def test_mine_lists_the_reps_leads_and_home_shows_them(
    bot: RunningBot, slack: SlackApiStandIn
) -> None:
    lead_from_email(bot)
    bot.cli("lead", "assign", "L-1", "ann@sales.test")
    slash(bot, slack, "mine")
    [reply] = wait_for(lambda: replies(slack))
    assert reply["text"] == "1 open leads for Ann Lee"
    assert "*L-1* Jane Doe" in json.dumps(reply["blocks"])

    assert post(bot, event_body(app_home_opened_event(user_id=ANN))).status_code == 200
    [published] = wait_for(lambda: slack.calls_to("views.publish"))
    assert published.params["user_id"] == ANN
    assert published.params["view"]["type"] == "home"
    assert "*L-1* Jane Doe" in json.dumps(published.params["view"])


def test_a_slack_outage_delays_the_card_and_never_doubles_it(
    bot: RunningBot, slack: SlackApiStandIn
) -> None:
    slack.fail_next("chat.postMessage", status=429, retry_after=1)
    slack.fail_next("chat.postMessage", status=500)
    lead_from_email(bot)
    bot.cli("lead", "assign", "L-1", "ann@sales.test")
    wait_for(lambda: any(c.ok for c in slack.calls_to("chat.postMessage")), timeout=30)
    time.sleep(1.0)  # give a wrongly repeated delivery the chance to show
    attempts = [c.status for c in slack.calls_to("chat.postMessage")]
    assert attempts == [429, 500, 200]


def test_open_in_full_is_a_signed_private_page(bot: RunningBot, slack: SlackApiStandIn) -> None:
    hostile = "<script>alert(1)</script>"
    lead_from_email(bot, body=f"Pricing? {hostile}", subject=f"Hi {hostile}")
    lead_from_email(bot, name="Other Person", email="other@acme.test")
    bot.cli("lead", "assign", "L-1", "ann@sales.test")
    card = card_posted_to(slack, ANN)
    [url] = [
        element["url"]
        for block in card["blocks"] if block["type"] == "actions"
        for element in block["elements"] if element["action_id"] == "lead_open"
    ]  # fmt: skip
    assert url.startswith("https://leads.example.test/leads/1?t=")
    local = url.replace("https://leads.example.test", bot.http_url)

    page = httpx.get(local, timeout=10)
    assert page.status_code == 200
    assert page.headers["cache-control"] == "private, no-store"
    assert "Pricing? &lt;script&gt;alert(1)&lt;/script&gt;" in page.text  # the enquiry
    assert "enquiry: Hi &lt;script&gt;" in page.text  # the timeline
    assert "<script>" not in page.text
    assert "assigned to Ann Lee" in page.text  # the timeline

    token = url.partition("?t=")[2]
    assert httpx.get(f"{bot.http_url}/leads/2?t={token}", timeout=10).status_code == 403
    assert httpx.get(f"{bot.http_url}/leads/1?t={token[:-2]}xx", timeout=10).status_code == 403
    assert httpx.get(f"{bot.http_url}/leads/1", timeout=10).status_code == 403


def test_a_possible_duplicate_is_merged_and_unmerged_from_slack(
    bot: RunningBot, slack: SlackApiStandIn
) -> None:
    lead_from_email(bot, email="jane@acme.test", body="Pricing for Acme please")
    lead_from_email(bot, email="jane.doe.77@gmail.com", body="Pricing please")
    bot.wait_until(lambda: len(bot.cli_json("leads", "list")) == 2)
    assert bot.cli_json("leads", "show", "L-2")["duplicates"][0]["other"] == "L-1"
    bot.cli("lead", "assign", "L-1", "ann@sales.test")
    bot.cli("lead", "assign", "L-2", "ann@sales.test")
    card = wait_for(lambda: [c.params for c in slack.calls_to("chat.postMessage")
                             if "L-2" in json.dumps(c.params.get("blocks"))])[-1]  # fmt: skip
    assert "`/lead merge L-2 L-1` or `/lead notdup L-2 L-1`" in json.dumps(card["blocks"])

    slash(bot, slack, "merge L-2")
    slash(bot, slack, "merge L-2 L-1", user=BOB)  # Bob owns neither lead
    wait_for(lambda: len(replies(slack)) == 2)
    usage, refused = replies(slack)
    assert usage["text"].startswith("usage: merge <lead> <into lead>")
    assert "L-2 belongs to Ann Lee" in refused["text"]

    slash(bot, slack, "merge L-2 L-1")
    merged = wait_for(lambda: [r for r in replies(slack) if "merged into" in r.get("text", "")])
    assert merged[0]["text"].startswith("L-2 merged into L-1")
    assert [lead["id"] for lead in bot.cli_json("leads", "list")] == ["L-1"]
    slash(bot, slack, "unmerge L-2")
    bot.wait_until(lambda: len(bot.cli_json("leads", "list")) == 2)
