"""The weekly digest over the known history, on both stores: last week against the week
before, queued once per week, and posted as text to the digest channel through the outbox."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import select

from bot.integrations.slack.notifier import SlackNotifier, owner_names, recent_timeline
from bot.notify.dispatcher import OutboxDispatcher
from bot.public_links import PublicLinks
from bot.reports import digest, rollup
from storage.engine import Store
from storage.models import OutboxItem
from tests.fakes.slack_api import slack_api_server
from tests.reports.history import build

WEDNESDAY = datetime(2026, 11, 18, 9, 0, tzinfo=UTC)


def test_the_digest_compares_two_weeks_and_goes_out_once(store: Store) -> None:
    build(store)
    rollup.catch_up(store)
    with store.reading() as session:
        assert digest.text(session, WEDNESDAY) == "\n".join([
            "Leads, week of 2026-11-09",
            "New leads: 1 (week before: 3)",  # the merged lead counts once
            "MQLs: 0 (week before: 2)",
            "Conversions: 0 (week before: 1)",  # the un-converted one is none
            "Conversion ratio: 0.0% (week before: 33.3%)",
            "Median speed to lead: 4h 00m (week before: 2h 00m)",
        ])  # fmt: skip
    with store.transaction() as session:
        assert digest.due(session, WEDNESDAY)
    with store.transaction() as session:
        assert not digest.due(session, datetime(2026, 11, 22, tzinfo=UTC))  # same week
    with store.transaction() as session:
        assert digest.due(session, datetime(2026, 11, 23, 8, tzinfo=UTC))  # the next Monday
    with slack_api_server() as slack:
        notifier = SlackNotifier(
            "xoxb-test-token", base_url=slack.url, links=PublicLinks("https://leads.test", "k"),
            timeline_for=recent_timeline(store), owner_name_for=owner_names(store),
            digest_channel="C0DIGEST",
        )  # fmt: skip
        OutboxDispatcher(store, notifier, 5).drain_once()
        posts = [c.params for c in slack.calls_to("chat.postMessage") if c.ok]
        assert [p["channel"] for p in posts] == ["C0DIGEST", "C0DIGEST"]
        assert posts[0]["text"].startswith("Leads, week of 2026-11-09")
    with store.reading() as session:
        states = session.exec(select(OutboxItem.state).where(OutboxItem.kind == digest.KIND)).all()
    assert list(states) == ["sent", "sent"]
