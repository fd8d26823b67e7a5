"""Webhooks end to end: a real serve sends signed deliveries to a local receiver that verifies
each with the `standardwebhooks` library. The receiver is down (connection refused), then
answers 500, then comes back: every event arrives, each webhook-id once after de-duplication,
in order per lead; the failing receiver is reported, not switched off; a secret rotation sends
both signatures during its grace period; a replay repeats the webhook-id."""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import storage.reps
from bot.integrations.slack.notifier import SlackNotifier, recent_timeline
from bot.notify.dispatcher import OutboxDispatcher
from bot.notify.webhooks import add_endpoint, report_failing
from bot.public_links import PublicLinks
from storage.engine import Store
from storage.models import Rep, utcnow
from tests.fakes.slack_api import slack_api_server
from tests.fakes.webhook_receiver import Receiver
from tests.services.bot import RunningBot, running_bot

SETTINGS = {
    "LEADBOT_WEBHOOK_RETRY_BASE_SECONDS": "0.1",
    "LEADBOT_WEBHOOK_RETRY_MAX_SECONDS": "0.4",
    "LEADBOT_WEBHOOK_REPORT_AFTER_FAILURES": "3",
}


@pytest.fixture(scope="module")
def bot(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBot]:
    workdir = tmp_path_factory.mktemp("webhooks")
    shutil.copy(sqlite_template, workdir / "leadbot.db")
    with running_bot(workdir, f"sqlite:///{workdir / 'leadbot.db'}", **SETTINGS) as running:
        yield running


@pytest.fixture(scope="module")
def api(bot: RunningBot) -> Iterator[httpx.Client]:
    key = bot.cli("apikey", "create", "hooks", "--scope", "leads:read,leads:write").stdout.strip()
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=f"{bot.http_url}/api/v1", headers=headers, timeout=30) as client:
        yield client


def wait_until(bot: RunningBot, predicate: Any, timeout: float = 60.0) -> Any:
    """Poll with a deadline long enough for a loaded CI machine (it returns as soon as true)."""
    return bot.wait_until(predicate, timeout=timeout)


def act(api: httpx.Client, lead: str, verb: str, *args: str) -> None:
    answer = api.post(f"/leads/{lead}/actions", json={"verb": verb, "args": list(args)})
    assert answer.status_code == 200, answer.text


def deliveries(bot: RunningBot, webhook: str) -> list[dict[str, Any]]:
    return list(reversed(bot.cli_json("webhook", "deliveries", webhook, "--limit", "1000")))


def test_every_event_arrives_once_in_order_per_lead_after_the_receiver_was_down(
    bot: RunningBot, api: httpx.Client
) -> None:
    receiver = Receiver()  # not listening yet: connection refused
    bot.cli("reps", "add", "Ada Admin", "ada@yourco.test", "--role", "admin")
    added = bot.cli_json("webhook", "add", receiver.url)
    webhook, receiver.secrets = added["id"], [added["secret"]]
    leads = []
    for n in range(3):
        body = {"email": f"{uuid.uuid4().hex[:8]}@buyer{n}-{uuid.uuid4().hex[:6]}.test"}
        made = api.post("/leads", json=body)
        assert made.status_code == 201, made.text
        leads.append(made.json()["lead"]["id"])
    for lead in leads:
        act(api, lead, "work")
        act(api, lead, "note", "no webhook for a note")
        act(api, lead, "qualify")
        act(api, lead, "assign", "ada@yourco.test")
    act(api, leads[0], "convert", "Big deal", "12k")
    # Down: tries fail with connection refused, the receiver is reported (log, list, admins).
    wait_until(bot, lambda: bot.cli_json("webhook", "list")[0]["state"] == "failing")
    listed = wait_until(
        bot, lambda: [w for w in bot.cli_json("webhook", "list") if w["consecutive_failures"] >= 3]
    )[0]
    assert "Connect" in listed["last_error"] and listed["pending"] > 0
    assert bot.cli_json("webhook", "deliveries", "--failed")
    wait_until(bot, lambda: "is failing" in bot.log() and "webhook.failing" in bot.log())
    # Then it answers 500 for a while: still failing, nothing given up.
    receiver.failing()
    wait_until(bot, lambda: receiver.answered_500 >= 3)
    assert bot.cli_json("webhook", "list")[0]["state"] == "failing"
    # Back: everything arrives.
    receiver.well()
    stored = wait_until(
        bot,
        lambda: (
            (rows := deliveries(bot, webhook))
            and all(d["state"] == "delivered" for d in rows)
            and rows
        ),
    )
    got = receiver.unique()
    assert receiver.refused_signatures == 0
    assert [item.webhook_id for item in got] and len(got) == len(stored)
    assert {item.webhook_id for item in got} == {d["webhook_id"] for d in stored}
    for lead in leads:  # per lead, the order they happened in
        sent = [d["webhook_id"] for d in stored if d["lead"] == lead]
        arrived = [i.webhook_id for i in got if i.payload["data"]["lead"]["id"] == lead]
        assert arrived == sent
        kinds = [i.payload["type"] for i in got if i.payload["data"]["lead"]["id"] == lead]
        assert kinds[0] == "lead.created"
        assert kinds.count("lead.status_changed") >= 2 and "lead.assigned" in kinds
    first = [i.payload for i in got if i.payload["data"]["lead"]["id"] == leads[0]]
    assert "lead.converted" in [p["type"] for p in first]
    statuses = [p["data"]["details"].get("to") for p in first if p["type"] == "lead.status_changed"]
    assert statuses[:3] == ["working", "qualified", "converted"]
    healthy = bot.cli_json("webhook", "list")[0]
    assert healthy["state"] == "ok" and healthy["pending"] == 0 and healthy["last_success_at"]
    # Replay: the same webhook-id again (the receiver drops it as a repeat).
    replayed = stored[0]
    bot.cli("webhook", "replay", str(replayed["id"]))
    wait_until(bot, lambda: [i.webhook_id for i in receiver.accepted].count(
        replayed["webhook_id"]) == 2)  # fmt: skip
    assert len(receiver.unique()) == len(stored)
    receiver.down()


def test_a_rotated_secret_keeps_the_old_one_valid_for_the_grace_period(
    bot: RunningBot, api: httpx.Client
) -> None:
    receiver = Receiver()
    receiver.up()
    added = bot.cli_json("webhook", "add", receiver.url, "--events", "lead.created")
    old = added["secret"]
    receiver.secrets = [old]
    rotated = bot.cli_json("webhook", "rotate-secret", added["id"], "--grace-hours", "1")
    new = rotated["secret"]
    assert new != old and rotated["rotating_until"]
    receiver.secrets = [old, new]
    assert api.post("/leads", json={"email": f"{uuid.uuid4().hex}@rot.test"}).status_code == 201
    item = wait_until(bot, lambda: receiver.unique())[0]
    assert item.verified_with == [old, new]  # both signatures: either secret verifies
    assert len(item.headers["webhook-signature"].split(" ")) == 2
    # Grace over (rotated again with none): only the newest secret signs.
    newest = bot.cli_json("webhook", "rotate-secret", added["id"], "--grace-hours", "0")["secret"]
    receiver.secrets = [old, new, newest]
    assert api.post("/leads", json={"email": f"{uuid.uuid4().hex}@rot2.test"}).status_code == 201
    later = wait_until(bot, lambda: receiver.unique()[1:])[0]
    assert later.verified_with == [newest]
    assert int(later.headers["webhook-timestamp"]) <= time.time() + 1
    bot.cli("webhook", "remove", added["id"])
    assert added["id"] not in [w["id"] for w in bot.cli_json("webhook", "list")]
    receiver.down()


def test_bad_endpoints_are_refused_with_what_is_allowed(bot: RunningBot) -> None:
    for args, words in (
        (["ftp://example.test/x"], "not an http(s) URL"),
        (["http://example.test/x", "--events", "lead.exploded"], "lead.created"),
        (["http://example.test/x", "--secret", "hunter2"], "whsec_"),
    ):
        result = bot.cli("webhook", "add", *args, check=False)
        assert result.returncode == 2 and words in result.stderr


def test_a_failing_receiver_is_reported_to_each_admin_in_slack(store: Store) -> None:
    """The report goes through the outbox: a DM to every active admin, the URL escaped."""
    with store.transaction() as session:
        admin = storage.reps.add(session, Rep(name="Ada", email="ada@yourco.test",
                                              role="admin", slack_user_id="U0ADA"))  # fmt: skip
        storage.reps.add(session, Rep(name="Bo", email="bo@yourco.test", slack_user_id="U0BO"))
        endpoint = add_endpoint(session, "http://hooks.test/<!channel>", ["lead.created"])
        endpoint.consecutive_failures, endpoint.failing_since = 5, utcnow()
        endpoint.last_error = "HTTP 500"
        report_failing(session, endpoint)
        assert admin.id is not None
    with slack_api_server() as slack:
        notifier = SlackNotifier("xoxb-test", base_url=slack.url,
                                 links=PublicLinks("http://leadbot.test", "k"),
                                 timeline_for=recent_timeline(store))  # fmt: skip
        assert OutboxDispatcher(store, notifier).drain_once() == 1
        (opened,) = slack.calls_to("conversations.open")
        assert opened.params == {"users": "U0ADA"}
        (post,) = slack.calls_to("chat.postMessage")
    text = post.params["text"]
    assert "is failing" in text and "5 failed tries" in text and "HTTP 500" in text
    assert "&lt;!channel&gt;" in text and "<!channel>" not in text
