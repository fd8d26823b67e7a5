"""The Slack notifier driven by the real outbox dispatcher, against the Web API stand-in, on
SQLite and PostgreSQL: a card is posted once, a 429 waits for Retry-After, a 5xx backs off."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session

import storage.leads
import storage.outbox
import storage.reps
import storage.timeline
from bot.imports.run import Options, run_import
from bot.integrations.slack.blocks import lead_card, lead_card_text
from bot.integrations.slack.notifier import (
    SlackDeliveryError,
    SlackNotifier,
    owner_names,
    recent_timeline,
)
from bot.notify.dispatcher import OutboxDispatcher, RetryLater, backoff_seconds
from bot.public_links import PublicLinks
from bot.rules.file import default_rules
from storage.engine import Store
from storage.models import Lead, OutboxItem, Rep
from tests.fakes.slack_api import SlackApiStandIn, slack_api_server

PUBLIC_URL = "http://leadbot.test"
LINKS = PublicLinks(PUBLIC_URL, "test-secret")
TOKEN = "xoxb-test-token"


@dataclass
class World:
    store: Store
    slack: SlackApiStandIn
    rep_id: int
    lead_id: int

    def notifier(self, channel: str | None = None) -> SlackNotifier:
        return SlackNotifier(
            TOKEN,
            base_url=self.slack.url,
            links=LINKS,
            timeline_for=recent_timeline(self.store),
            owner_name_for=owner_names(self.store),
            channel=channel,
        )

    def dispatcher(self, channel: str | None = None) -> OutboxDispatcher:
        return OutboxDispatcher(self.store, self.notifier(channel))

    def put(self, kind: str = "lead.assigned", *, rep: bool = True, lead: bool = True) -> int:
        with self.store.transaction() as session:
            item = storage.outbox.put(
                session,
                kind,
                lead_id=self.lead_id if lead else None,
                rep_id=self.rep_id if rep else None,
                payload={"lead": f"L-{self.lead_id}"},
            )
            session.flush()
            assert item.id is not None
            return item.id

    def item(self, item_id: int) -> OutboxItem:
        with self.store.transaction() as session:
            item = session.get(OutboxItem, item_id)
            assert item is not None
            return item

    def make_due(self, item_id: int) -> None:
        with self.store.transaction() as session:
            item = session.get(OutboxItem, item_id)
            assert item is not None
            item.next_attempt_at = datetime.now(UTC) - timedelta(seconds=1)
            session.add(item)


def add_lead(session: Session, owner: Rep | None, token: str, email: str = "jane@acme.io") -> Lead:
    lead = storage.leads.add(
        session,
        Lead(
            email=email,
            first_name="Jane",
            last_name="<!channel>",
            company="Acme Inc",
            title="CTO",
            reply_token=token,
            enquiry="Can you send pricing for 40 seats?",
            owner_id=owner.id if owner else None,
            score=15,
            grade="B",
        ),
    )
    assert lead.id is not None
    for kind, summary in (
        ("created", "lead created from email"),
        ("scored", "+15 enquiry"),
        ("graded", "grade B"),
        ("assigned", "assigned to Ann Lee"),
    ):
        storage.timeline.append(session, lead.id, actor="system", kind=kind, summary=summary)
    return lead


@pytest.fixture
def world(store: Store) -> Iterator[World]:
    with store.transaction() as session:
        rep = storage.reps.add(
            session, Rep(name="Ann Lee", email="ann@yourco.com", slack_user_id="U0ANN")
        )
        lead = add_lead(session, rep, "tok-jane")
        assert rep.id is not None and lead.id is not None
        ids = (rep.id, lead.id)
    with slack_api_server() as slack:
        yield World(store, slack, *ids)


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def expected_card(world: World) -> tuple[list[dict[str, object]], str]:
    with world.store.transaction() as session:
        lead = storage.leads.by_id(session, world.lead_id)
        assert lead is not None
        timeline = list(storage.timeline.for_lead(session, world.lead_id))[-3:]
    return lead_card(lead, timeline, "Ann Lee", LINKS), lead_card_text(lead)


def unsigned(blocks: object) -> object:
    """The blocks with the signed link's token left out: it carries the second it was signed
    in, and the card was signed a moment before the expected one."""
    return json.loads(re.sub(r"\?t=[^\"]+", "?t=…", json.dumps(blocks)))


def test_posts_the_card_to_the_reps_dm_once(world: World) -> None:
    item_id = world.put()
    dispatcher = world.dispatcher()
    assert dispatcher.drain_once() == 1

    opened = world.slack.calls_to("conversations.open")
    assert [call.params for call in opened] == [{"users": "U0ANN"}]
    dm = opened[0].response["channel"]["id"]
    (post,) = world.slack.calls_to("chat.postMessage")
    blocks, text = expected_card(world)
    assert post.params["channel"] == dm
    assert unsigned(post.params["blocks"]) == unsigned(blocks)
    assert post.params["text"] == text
    assert post.token == TOKEN
    assert [b["type"] for b in post.params["blocks"]] == [
        "header",
        "section",
        "section",
        "context",
        "actions",
    ]
    assert "&lt;!channel&gt;" in text and "<!channel>" not in str(post.params)
    events = [el["text"] for el in post.params["blocks"][3]["elements"]]
    assert [e.split(" · ", 2)[2] for e in events] == [
        "+15 enquiry",
        "grade B",
        "assigned to Ann Lee",
    ]
    owner_field = post.params["blocks"][1]["fields"][-1]["text"]
    assert owner_field == "*Owner*\nAnn Lee"

    item = world.item(item_id)
    assert item.state == "sent" and item.attempts == 1
    assert item.delivery_ref == f"{dm}:{post.response['ts']}"

    assert dispatcher.drain_once() == 0
    assert world.dispatcher().drain_once() == 0
    assert len(world.slack.calls_to("chat.postMessage")) == 1


def test_rate_limited_waits_for_retry_after_then_sends_once(world: World) -> None:
    item_id = world.put()
    world.slack.fail_next("chat.postMessage", status=429, retry_after=1)
    dispatcher = world.dispatcher()
    before = datetime.now(UTC)
    assert dispatcher.drain_once() == 1
    after = datetime.now(UTC)

    item = world.item(item_id)
    assert item.state == "pending" and item.attempts == 1
    retry_at = aware(item.next_attempt_at)
    assert before + timedelta(seconds=1) <= retry_at <= after + timedelta(seconds=1)
    assert item.last_error is not None and "rate limited" in item.last_error
    assert item.delivery_ref is None
    assert dispatcher.drain_once() == 0, "not due before Retry-After"

    world.make_due(item_id)
    assert dispatcher.drain_once() == 1
    failed, good = world.slack.calls_to("chat.postMessage")
    assert (failed.status, good.status) == (429, 200)
    # The retry is the same message; only its link is signed afresh (the token carries the second).
    assert unsigned(failed.params) == unsigned(good.params)
    item = world.item(item_id)
    assert item.state == "sent" and item.attempts == 2
    assert item.delivery_ref == f"{good.response['channel']}:{good.response['ts']}"

    assert dispatcher.drain_once() == 0
    assert len(world.slack.calls_to("chat.postMessage")) == 2


@pytest.mark.parametrize(
    ("status", "error", "expected"),
    [
        (500, None, "HTTP 500"),
        (503, None, "HTTP 503"),
        (200, "channel_not_found", "channel_not_found"),
        (0, None, ""),  # the connection dropped
    ],
)
def test_failures_back_off(world: World, status: int, error: str | None, expected: str) -> None:
    item_id = world.put()
    world.slack.fail_next("chat.postMessage", status=status, error=error)
    dispatcher = world.dispatcher()
    before = datetime.now(UTC)
    assert dispatcher.drain_once() == 1
    after = datetime.now(UTC)

    item = world.item(item_id)
    assert item.state == "pending" and item.attempts == 1
    backoff = timedelta(seconds=backoff_seconds(1))
    assert before + backoff <= aware(item.next_attempt_at) <= after + backoff
    assert item.last_error is not None and expected in item.last_error
    assert dispatcher.drain_once() == 0

    world.make_due(item_id)
    assert dispatcher.drain_once() == 1
    assert world.item(item_id).state == "sent"
    assert [c.ok for c in world.slack.calls_to("chat.postMessage")] == [False, True]


def test_conversations_open_rate_limited(world: World) -> None:
    item_id = world.put()
    world.slack.fail_next("conversations.open", status=429, retry_after=7)
    assert world.dispatcher().drain_once() == 1
    item = world.item(item_id)
    assert item.state == "pending"
    assert aware(item.next_attempt_at) > datetime.now(UTC) + timedelta(seconds=5)
    assert world.slack.calls_to("chat.postMessage") == []


def test_no_recipient_is_skipped(world: World) -> None:
    unassigned = world.put("lead.new", rep=False)
    assert world.dispatcher().drain_once() == 1
    item = world.item(unassigned)
    assert item.state == "sent" and item.delivery_ref == "skipped:no-recipient"
    assert world.slack.calls == []


def test_no_lead_is_skipped(world: World) -> None:
    item_id = world.put("digest", lead=False)
    assert world.dispatcher().drain_once() == 1
    assert world.item(item_id).delivery_ref == "skipped:no-lead"
    assert world.slack.calls == []


def test_unassigned_and_off_slack_go_to_the_channel(world: World) -> None:
    with world.store.transaction() as session:
        bob = storage.reps.add(session, Rep(name="Bob", email="bob@yourco.com"))
        # One live lead per address (a unique index): the second Jane writes from elsewhere.
        lead = add_lead(session, None, "tok-queue", email="jane@acme-labs.io")
        assert bob.id is not None and lead.id is not None
        new_item = storage.outbox.put(session, "lead.new", lead_id=lead.id)
        bobs_item = storage.outbox.put(
            session, "lead.assigned", lead_id=world.lead_id, rep_id=bob.id
        )
        session.flush()
        ids = (new_item.id, bobs_item.id)
    assert world.dispatcher(channel="C0LEADS").drain_once() == 2
    posts = world.slack.calls_to("chat.postMessage")
    assert [p.params["channel"] for p in posts] == ["C0LEADS", "C0LEADS"]
    assert world.slack.calls_to("conversations.open") == []
    assert "*Owner*\n_unassigned_" in [f["text"] for f in posts[0].params["blocks"][1]["fields"]]
    assert "*Owner*\nAnn Lee" in [f["text"] for f in posts[1].params["blocks"][1]["fields"]]
    for item_id, post in zip(ids, posts, strict=True):
        assert item_id is not None
        assert world.item(item_id).delivery_ref == f"C0LEADS:{post.response['ts']}"


def test_update_card_in_place(world: World) -> None:
    item_id = world.put()
    notifier = world.notifier()
    assert OutboxDispatcher(world.store, notifier).drain_once() == 1
    ref = world.item(item_id).delivery_ref
    assert ref is not None
    channel, ts = ref.split(":")
    new_blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "qualified"}}]
    notifier.update_card(ref, new_blocks, "L-1 qualified")
    (update,) = world.slack.calls_to("chat.update")
    assert update.params == {
        "channel": channel,
        "ts": ts,
        "blocks": new_blocks,
        "text": "L-1 qualified",
    }
    assert world.slack.messages[(channel, ts)]["blocks"] == new_blocks

    world.slack.fail_next("chat.update", status=429, retry_after=2)
    with pytest.raises(RetryLater) as limited:
        notifier.update_card(ref, new_blocks, "again")
    assert limited.value.seconds == 2
    with pytest.raises(SlackDeliveryError, match="message_not_found"):
        notifier.update_card(f"{channel}:1.000001", new_blocks, "gone")
    with pytest.raises(ValueError):
        notifier.update_card("not-a-ref", new_blocks, "x")


def test_the_dm_channel_is_opened_once(world: World) -> None:
    notifier = world.notifier()
    first, second = world.put(), world.put()
    assert OutboxDispatcher(world.store, notifier).drain_once() == 2
    assert len(world.slack.calls_to("conversations.open")) == 1
    refs = {world.item(first).delivery_ref, world.item(second).delivery_ref}
    assert len(refs) == 2


def test_an_import_summary_goes_to_the_leads_channel_escaped(world: World, tmp_path: Path) -> None:
    """A real import's one `import.done` notification: posted once to the leads channel, its
    file name (outside text) escaped, its counts as fields; with no channel it is skipped."""
    path = tmp_path / "<!channel> *brokers*.csv"
    path.write_text("email,first_name\nbo@globex.test,Bo\nkim@initech.test,Kim\n,nobody\n")
    report = run_import(world.store, path, Options(), default_rules(), dry_run=False)
    assert world.dispatcher().drain_once() == 1  # one summary, no lead.new per imported lead
    assert world.slack.calls_to("chat.postMessage") == []  # no leads channel: skipped
    with world.store.transaction() as session:
        done = [i for i in storage.outbox.listing(session) if i.kind == "import.done"]
        assert [item.delivery_ref for item in done] == ["skipped:no-recipient"]
        storage.outbox.put(session, "import.done", payload=done[0].payload)
    assert world.dispatcher(channel="C0LEADS").drain_once() == 1
    (post,) = world.slack.calls_to("chat.postMessage")
    assert post.params["channel"] == "C0LEADS"
    text = post.params["text"]
    assert text.startswith(f"import {report.id} of &lt;!channel&gt; ")
    assert "<!channel>" not in str(post.params) and "brokers" in text
    assert "3 rows, 2 new, 0 updated, 0 merged, 0 held, 1 bad" in text
    fields = [f["text"] for f in post.params["blocks"][1]["fields"]]
    assert fields == ["*rows*\n3", "*new*\n2", "*updated*\n0", "*merged*\n0", "*held*\n0",
                      "*bad*\n1"]  # fmt: skip
