"""Hot-lead alerts end to end: a nurture email delivered through the real SMTP client to a
sink, opened twice in headless Chromium against the running `leadbot serve` (the pixel fires
each time), and the owner's Slack DM (the Web API stand-in) arrives once, with the card's
buttons; a third open within the hour sends nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select

from bot.nurture.opens import BURST_SECONDS
from bot.reports.alerts import TRACKING_CURSOR
from storage.engine import Store
from storage.models import Cursor, Rep, TrackingEvent
from tests.campaign_helpers import add_leads
from tests.e2e.test_nurture import campaign_folder, landing, sink, start_bot  # noqa: F401
from tests.fakes.slack_api import SlackApiStandIn, slack_api_server
from tests.fakes.smtp_sink import Sink
from tests.services.chromium import chromium_page

ANN = "U0ANN"


@pytest.fixture
def slack() -> Iterator[SlackApiStandIn]:
    with slack_api_server() as server:
        yield server


async def open_twice_then_once_more(html: Path, profile: Path, between) -> None:  # type: ignore[no-untyped-def]
    async with chromium_page(profile) as page:
        await page.navigate(html.as_uri())  # the load event waits for the pixel
        await page.navigate("about:blank")
        await page.navigate(html.as_uri())
        await asyncio.to_thread(between)
        await page.navigate("about:blank")
        await page.navigate(html.as_uri())


def test_second_open_alerts_the_owner_once(
    sqlite_url: str,
    tmp_path: Path,
    sink: Sink,  # noqa: F811  (the fixture, from test_nurture)
    landing: str,  # noqa: F811
    slack: SlackApiStandIn,
) -> None:
    store = Store(sqlite_url)
    add_leads(store, 1)
    with store.transaction() as session:
        rep = session.exec(select(Rep)).one()
        rep.slack_user_id = ANN
        session.add(rep)
    folder = campaign_folder(tmp_path, landing)
    bot = start_bot(tmp_path, sqlite_url, sink, LEADBOT_SLACK_BOT_TOKEN="xoxb-test-token",
                    LEADBOT_SLACK_SIGNING_SECRET="s3cret", LEADBOT_SLACK_API_URL=slack.url,
                    LEADBOT_SLACK_WORKERS="0")  # fmt: skip
    try:
        bot.cli("campaign", "create", "spring", "--templates", str(folder), "--step", "hello:0")
        assert bot.cli_json("campaign", "send", "spring")["sent"] == 1
        html = tmp_path / "email.html"
        html.write_text(sink.delivered[0].message().get_body(("html",)).get_content())
        dm = slack.dm_channel(ANN)

        def alerts() -> list:
            posts = [c.params for c in slack.calls_to("chat.postMessage") if c.ok]
            return [p for p in posts if p.get("channel") == dm and "call now" in p["text"]]

        second_open = [0.0]

        def after_the_second_open() -> None:
            second_open[0] = time.monotonic()
            bot.wait_until(alerts)
            # A third hit within the burst window would count as a scanner's, not a person's.
            bot.wait_until(lambda: time.monotonic() - second_open[0] > BURST_SECONDS)

        asyncio.run(open_twice_then_once_more(html, tmp_path / "chromium", after_the_second_open))
        [alert] = alerts()
        assert (
            alert["text"] == "Lead0 Doe of Acme opened 'hello' 2 times in the last hour — call now?"
        )
        actions = [b for b in alert["blocks"] if b["type"] == "actions"]
        assert actions and any(e.get("action_id") for e in actions[0]["elements"])

        def third_seen() -> bool:
            with store.reading() as session:
                opens = session.exec(select(TrackingEvent).where(TrackingEvent.kind == "open",
                                     TrackingEvent.verdict == "human")).all()  # fmt: skip
                cursor = session.get(Cursor, TRACKING_CURSOR)
                return len(opens) == 3 and cursor is not None and cursor.position >= max(
                    e.id for e in opens)  # fmt: skip

        bot.wait_until(third_seen)
        assert len(alerts()) == 1, "a third open within the hour sends nothing"
    finally:
        bot.stop()
        store.dispose()
