"""Reps work leads from Slack: the real `leadbot serve` with slack-bolt, signed requests built
from Slack's real payloads, and a local stand-in of the Slack Web API that records every call."""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

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
# Each test's leads carry a surname and a mail domain of their own, so that on the shared store
# no test's lead is a possible duplicate of another's.
SURNAMES = (
    "Doe", "Okafor", "Lindqvist", "Moreau", "Tanaka", "Novak", "Haddad", "Ferreira",
    "Kowalski", "Brennan", "Sato", "Ivanova", "Mbeki", "Castillo", "Rossi", "Quint",
)  # fmt: skip
_teams = itertools.count()
_response_urls = itertools.count()


@dataclass(frozen=True)
class Rep:
    name: str
    email: str
    user_id: str


@dataclass(frozen=True)
class Team:
    """One test's own reps (Ann and Bob) and what its leads are called, on the shared serve."""

    ann: Rep
    bob: Rep
    surname: str
    domain: str

    @property
    def jane(self) -> str:
        return f"Jane {self.surname}"

    def email(self, local: str = "jane") -> str:
        return f"{local}@{self.domain}"


@pytest.fixture(scope="module")
def slack_api() -> Iterator[SlackApiStandIn]:
    with slack_api_server() as server:
        yield server


@pytest.fixture(scope="module")
def bot(
    module_database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    slack_api: SlackApiStandIn,
) -> Iterator[RunningBot]:
    """One serve for the module's tests (on each store): none of them restarts it or changes its
    settings, and each brings its own reps, leads and response_url (see `team`, `slack`)."""
    workdir = tmp_path_factory.mktemp("slack-serve")
    settings = {
        "LEADBOT_SLACK_BOT_TOKEN": "xoxb-test-token",
        "LEADBOT_SLACK_SIGNING_SECRET": SECRET,
        "LEADBOT_SLACK_API_URL": slack_api.url,
        "LEADBOT_PUBLIC_URL": "https://leads.example.test",
        # Leads are assigned by hand here: enquiries wait for the MQL thresholds.
        "LEADBOT_RULES": str(manual_routing(workdir)),
    }
    with running_bot(workdir, module_database_url, **settings) as running:
        running.cli("reps", "add", "Meg Fox", "meg@sales.test", "--role", "manager")
        # The Slack worker is a process of its own: on a busy machine its first answer waits for
        # it to start. One answer here, so that the tests' waits are for their own work.
        warm_up = slack_api.url.replace("/api/", "/response/T111/warm-up")
        post(running, slash_command_body("help", user_id="U0WARM", response_url=warm_up))
        wait_for(lambda: [c for c in slack_api.calls_to("response_url")
                          if c.path == urlsplit(warm_up).path], timeout=60)  # fmt: skip
        yield running


@pytest.fixture
def slack(slack_api: SlackApiStandIn) -> SlackApiStandIn:
    """The module's stand-in as this test sees it: the calls made from now on, and the replies
    to a response_url of its own (a reply the serve still owes an earlier test goes there)."""
    slack_api.mark()
    path = f"/response/T111/{next(_response_urls)}"
    slack_api.response_url = slack_api.url.replace("/api/", path)
    return slack_api


@pytest.fixture
def team(bot: RunningBot, slack: SlackApiStandIn) -> Team:
    """Reps Ann and Bob of this test alone (their Slack ids, emails, DMs) on the shared serve."""
    n = next(_teams)
    ann = Rep("Ann Lee", f"ann{n}@sales.test", f"{ANN}{n}")
    bob = Rep("Bob Ray", f"bob{n}@sales.test", f"{BOB}{n}")
    for rep in (ann, bob):
        slack.users[rep.email] = rep.user_id
        bot.cli("reps", "add", rep.name, rep.email)
    return Team(ann, bob, SURNAMES[n % len(SURNAMES)], f"acme{n}.test")


def post(bot: RunningBot, body: bytes, timestamp: int | None = None,
         secret: str = SECRET) -> httpx.Response:  # fmt: skip
    headers = signed_headers(body, secret, timestamp)
    return httpx.post(f"{bot.http_url}/slack/events", content=body, headers=headers, timeout=10)


def slash(bot: RunningBot, slack: SlackApiStandIn, text: str, user: str) -> httpx.Response:
    body = slash_command_body(text, user_id=user, response_url=slack.response_url)
    return post(bot, body)


def click(
    bot: RunningBot,
    slack: SlackApiStandIn,
    action_id: str,
    value: str,
    user: str,
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
    """What the serve said through the current response_url."""
    path = urlsplit(slack.response_url).path
    return [call.params for call in slack.calls_to("response_url") if call.path == path]


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
) -> str:
    """Mail an enquiry to the serve; the lead's reference (L-n) once it is stored."""
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
    return bot.wait_until(lambda: lead_ref(bot, email))


def lead_ref(bot: RunningBot, email: str) -> str | None:
    shown = bot.cli("leads", "show", email, "--json", check=False)
    return json.loads(shown.stdout)["id"] if shown.returncode == 0 else None


def number(ref: str) -> int:
    return int(ref.removeprefix("L-"))


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


def test_requests_not_signed_by_slack_are_refused(
    bot: RunningBot, slack: SlackApiStandIn, team: Team
) -> None:
    body = slash_command_body("mine", user_id=team.ann.user_id, response_url=slack.response_url)
    assert post(bot, body, secret="not-the-secret").status_code == 401
    assert post(bot, body, timestamp=int(time.time()) - 600).status_code == 401  # replayed
    assert replies(slack) == []


def test_wrong_commands_answer_privately_with_usage(
    bot: RunningBot, slack: SlackApiStandIn, team: Team
) -> None:
    assert slash(bot, slack, "frobnicate L-1", user=team.ann.user_id).status_code == 200
    assert slash(bot, slack, "trash", user=team.ann.user_id).status_code == 200
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
    bot: RunningBot, slack: SlackApiStandIn, team: Team
) -> None:
    ann, bob = team.ann.user_id, team.bob.user_id
    lead = lead_from_email(bot, name=f"<!channel> Jane <http://evil.test|{team.surname}>",
                           email=team.email())  # fmt: skip
    bot.cli("lead", "assign", lead, team.ann.email)

    card = card_posted_to(slack, ann)
    raw = json.dumps(card["blocks"])
    assert "<!channel>" not in raw and "<http://evil.test" not in raw
    version = bot.cli_json("leads", "show", lead)["version"]
    value = f"{number(lead)}:{version}"
    assert buttons(card["blocks"])["lead_qualify"] == value
    channel, ts = (
        card["channel"],
        wait_for(lambda: slack.calls_to("chat.postMessage")[-1].response["ts"]),
    )

    # Bob may read but not act; Ann qualifies; a double click on the stale card is refused.
    assert click(bot, slack, "lead_qualify", value, user=bob).status_code == 200
    wait_for(lambda: replies(slack))
    assert "belongs to Ann Lee" in replies(slack)[-1]["text"]
    assert bot.cli_json("leads", "show", lead)["status"] == "new"

    assert click(bot, slack, "lead_qualify", value, user=ann, message_ts=ts, channel=channel
                 ).status_code == 200  # fmt: skip
    bot.wait_until(lambda: bot.cli_json("leads", "show", lead)["status"] == "qualified")
    click(bot, slack, "lead_qualify", value, user=ann, message_ts=ts, channel=channel)
    wait_for(lambda: "changed meanwhile" in replies(slack)[-1]["text"])
    timeline = bot.cli_json("leads", "show", lead)["timeline"]
    assert [e["kind"] for e in timeline].count("status.qualify") == 1
    assert [e["actor"] for e in timeline if e["kind"] == "status.qualify"] == ["rep:Ann Lee"]

    # The card was redrawn in place: no Qualify button any more.
    updated = wait_for(lambda: [c.params for c in slack.calls_to("chat.update")
                                if c.params.get("ts") == ts])  # fmt: skip
    assert "lead_qualify" not in buttons(updated[-1]["blocks"])
    assert "lead_convert" in buttons(updated[-1]["blocks"])
    # Ann is now linked to her Slack id (matched by email on first contact).
    reps = {rep["email"]: rep["slack_user_id"] for rep in bot.cli_json("reps", "list")}
    assert reps[team.ann.email] == ann


def test_trash_asks_for_the_reason_in_a_modal(
    bot: RunningBot, slack: SlackApiStandIn, team: Team
) -> None:
    ann = team.ann.user_id
    lead = lead_from_email(bot, name=team.jane, email=team.email())
    bot.cli("lead", "assign", lead, team.ann.email)
    slash(bot, slack, f"trash {lead}", user=ann)
    opened = wait_for(lambda: slack.calls_to("views.open"))
    view = opened[0].params["view"]
    assert view["callback_id"] == "trash_lead"

    empty = view_submission_payload(view, {}, user_id=ann)
    answer = post(bot, interactivity_body(empty))
    assert answer.json()["response_action"] == "errors"  # no reason picked: the modal says so

    submitted = view_submission_payload(view, {"reason": "no_budget", "comment": "next year"},
                                        user_id=ann)  # fmt: skip
    assert post(bot, interactivity_body(submitted)).status_code == 200
    bot.wait_until(lambda: bot.cli_json("leads", "show", lead)["status"] == "trashed")
    shown = bot.cli_json("leads", "show", lead)
    assert shown["trash_reason"] == "no_budget"
    assert shown["timeline"][-1]["summary"] == "trash: new → trashed (No budget): next year"


def test_convert_through_the_modal_then_unconvert(
    bot: RunningBot, slack: SlackApiStandIn, team: Team
) -> None:
    ann = team.ann.user_id
    lead = lead_from_email(bot, name=team.jane, email=team.email())
    bot.cli("lead", "assign", lead, team.ann.email)
    version = bot.cli_json("leads", "show", lead)["version"]
    click(bot, slack, "lead_convert", f"{number(lead)}:{version}", user=ann)
    view = wait_for(lambda: slack.calls_to("views.open"))[0].params["view"]
    assert view["callback_id"] == "convert_lead"
    submitted = view_submission_payload(
        view,
        {"opportunity": "Acme pilot", "amount": "12000", "close_date": "2027-01-31",
         "stage": "proposal"},
        user_id=ann,
    )  # fmt: skip
    assert post(bot, interactivity_body(submitted)).status_code == 200
    bot.wait_until(lambda: bot.cli_json("leads", "show", lead)["status"] == "converted")
    converted = bot.cli_json("leads", "show", lead)["timeline"][-1]
    assert converted["kind"] == "converted"
    assert re.search(r"opportunity O-\d+ Acme pilot \(12,000\.00\)", converted["summary"])

    slash(bot, slack, f"unconvert {lead}", user=ann)
    bot.wait_until(lambda: bot.cli_json("leads", "show", lead)["status"] == "nurturing")


def test_mine_lists_the_reps_leads_and_home_shows_them(
    bot: RunningBot, slack: SlackApiStandIn, team: Team
) -> None:
    ann = team.ann.user_id
    lead = lead_from_email(bot, name=team.jane, email=team.email())
    bot.cli("lead", "assign", lead, team.ann.email)
    slash(bot, slack, "mine", user=ann)
    [reply] = wait_for(lambda: replies(slack))
    assert reply["text"] == "1 open leads for Ann Lee"
    assert f"*{lead}* {team.jane}" in json.dumps(reply["blocks"])

    assert post(bot, event_body(app_home_opened_event(user_id=ann))).status_code == 200
    [published] = wait_for(lambda: [call for call in slack.calls_to("views.publish")
                                    if call.params["user_id"] == ann])  # fmt: skip
    assert published.params["view"]["type"] == "home"
    assert f"*{lead}* {team.jane}" in json.dumps(published.params["view"])


def test_a_slack_outage_delays_the_card_and_never_doubles_it(
    bot: RunningBot, slack: SlackApiStandIn, team: Team
) -> None:
    ann = team.ann.user_id
    # A 5xx first (the dispatcher's own backoff: 5 s after a first attempt, 10 s after a
    # second), then a 429 whose Retry-After it follows instead.
    slack.fail_next("chat.postMessage", status=500, channel=ann)
    slack.fail_next("chat.postMessage", status=429, retry_after=1, channel=ann)
    lead = lead_from_email(bot, name=team.jane, email=team.email())
    bot.cli("lead", "assign", lead, team.ann.email)

    def attempts() -> list[int]:  # Ann's, whatever the serve still posts for earlier tests
        to_ann = (ann, slack.dm_channel(ann))
        return [c.status for c in slack.calls_to("chat.postMessage")
                if c.params.get("channel") in to_ann]  # fmt: skip

    wait_for(lambda: 200 in attempts(), timeout=30)
    time.sleep(1.0)  # give a wrongly repeated delivery the chance to show
    assert attempts() == [500, 429, 200]


def test_open_in_full_is_a_signed_private_page(
    bot: RunningBot, slack: SlackApiStandIn, team: Team
) -> None:
    hostile = "<script>alert(1)</script>"
    lead = lead_from_email(bot, name=team.jane, email=team.email(), body=f"Pricing? {hostile}",
                           subject=f"Hi {hostile}")  # fmt: skip
    other = lead_from_email(bot, name="Other Person", email=team.email("other"))
    bot.cli("lead", "assign", lead, team.ann.email)
    card = card_posted_to(slack, team.ann.user_id)
    [url] = [
        element["url"]
        for block in card["blocks"] if block["type"] == "actions"
        for element in block["elements"] if element["action_id"] == "lead_open"
    ]  # fmt: skip
    assert url.startswith(f"https://leads.example.test/leads/{number(lead)}?t=")
    local = url.replace("https://leads.example.test", bot.http_url)

    page = httpx.get(local, timeout=10)
    assert page.status_code == 200
    assert page.headers["cache-control"] == "private, no-store"
    assert "Pricing? &lt;script&gt;alert(1)&lt;/script&gt;" in page.text  # the enquiry
    assert "enquiry: Hi &lt;script&gt;" in page.text  # the timeline
    assert "<script>" not in page.text
    assert "assigned to Ann Lee" in page.text  # the timeline

    token = url.partition("?t=")[2]
    page_of = f"{bot.http_url}/leads/{number(lead)}"
    assert httpx.get(f"{bot.http_url}/leads/{number(other)}?t={token}", timeout=10
                     ).status_code == 403  # fmt: skip
    assert httpx.get(f"{page_of}?t={token[:-2]}xx", timeout=10).status_code == 403
    assert httpx.get(page_of, timeout=10).status_code == 403


def test_a_possible_duplicate_is_merged_and_unmerged_from_slack(
    bot: RunningBot, slack: SlackApiStandIn, team: Team
) -> None:
    ann, bob = team.ann.user_id, team.bob.user_id
    first = lead_from_email(bot, name=team.jane, email=team.email(),
                            body="Pricing for Acme please")  # fmt: skip
    second = lead_from_email(bot, name=team.jane, body="Pricing please",
                             email=f"jane.{team.surname.lower()}.77@gmail.com")  # fmt: skip

    def refs() -> list[str]:
        emails = {team.email(), f"jane.{team.surname.lower()}.77@gmail.com"}
        return [lead["id"] for lead in bot.cli_json("leads", "list") if lead["email"] in emails]

    assert refs() == [first, second]
    assert bot.cli_json("leads", "show", second)["duplicates"][0]["other"] == first
    bot.cli("lead", "assign", first, team.ann.email)
    bot.cli("lead", "assign", second, team.ann.email)
    card = wait_for(lambda: [c.params for c in slack.calls_to("chat.postMessage")
                             if second in json.dumps(c.params.get("blocks"))])[-1]  # fmt: skip
    assert (f"`/lead merge {second} {first}` or `/lead notdup {second} {first}`"
            in json.dumps(card["blocks"]))  # fmt: skip

    slash(bot, slack, f"merge {second}", user=ann)
    slash(bot, slack, f"merge {second} {first}", user=bob)  # Bob owns neither lead
    wait_for(lambda: len(replies(slack)) == 2)
    usage, refused = replies(slack)
    assert usage["text"].startswith("usage: merge <lead> <into lead>")
    assert f"{second} belongs to Ann Lee" in refused["text"]

    slash(bot, slack, f"merge {second} {first}", user=ann)
    merged = wait_for(lambda: [r for r in replies(slack) if "merged into" in r.get("text", "")])
    assert merged[0]["text"].startswith(f"{second} merged into {first}")
    assert refs() == [first]
    slash(bot, slack, f"unmerge {second}", user=ann)
    bot.wait_until(lambda: len(refs()) == 2)
