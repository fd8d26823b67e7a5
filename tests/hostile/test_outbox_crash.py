"""The outbox killed mid-send (issue 11, item 7): a dispatcher process posts cards to a slow
Slack stand-in (200 ms per chat.postMessage) and is killed with SIGKILL after a few; another one
finishes the job. Each card is posted at least once and, per crash, at most one twice (the one
in flight), on both stores."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from sqlmodel import select

import storage.outbox
import storage.reps
from bot.leads.reply_address import new_reply_token
from storage.engine import Store
from storage.models import Lead, OutboxItem, Rep
from tests.fakes.slack_api import slack_api_server

REPO = Path(__file__).resolve().parents[2]
CARDS = 8

DISPATCHER = """
import sys
from bot.integrations.slack.notifier import SlackNotifier, owner_names, recent_timeline
from bot.notify.dispatcher import OutboxDispatcher
from bot.public_links import PublicLinks
from storage.engine import Store

url, slack_url = sys.argv[1], sys.argv[2]
store = Store(url)
notifier = SlackNotifier("xoxb-test-token", base_url=slack_url,
                         links=PublicLinks("http://leadbot.test", "test-secret"),
                         timeline_for=recent_timeline(store), owner_name_for=owner_names(store))
while OutboxDispatcher(store, notifier).drain_once(batch=20):
    pass
store.dispose()
"""


def seed(store: Store) -> None:
    with store.transaction() as session:
        rep = storage.reps.add(session, Rep(name="Ann Lee", email="ann@yourco.com",
                                            slack_user_id="U0ANN"))  # fmt: skip
        for n in range(CARDS):
            lead = Lead(email=f"card{n}@acme.test", first_name=f"Card{n:02d}",
                        reply_token=new_reply_token(), owner_id=rep.id)  # fmt: skip
            session.add(lead)
            session.flush()
            storage.outbox.put(session, "lead.assigned", lead_id=lead.id, rep_id=rep.id,
                               payload={"lead": f"L-{lead.id}"})  # fmt: skip


def dispatcher(url: str, slack_url: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", DISPATCHER, url, slack_url], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def test_a_killed_dispatcher_reposts_at_most_the_card_in_flight(database_url: str) -> None:
    store = Store(database_url)
    seed(store)
    with slack_api_server() as slack:
        slack.users["ann@yourco.com"] = "U0ANN"
        slack.latency["chat.postMessage"] = 0.2
        first = dispatcher(database_url, slack.url)
        deadline = time.monotonic() + 30
        while len(slack.calls_to("chat.postMessage")) < 4:
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the dispatcher posted nothing"
            time.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.communicate()
        second = dispatcher(database_url, slack.url)
        _, stderr = second.communicate(timeout=60)
        assert second.returncode == 0, stderr
        posted = Counter(
            name
            for call in slack.calls_to("chat.postMessage")
            for name in {f"Card{n:02d}" for n in range(CARDS)}
            if name in json.dumps(call.params)
        )
    with store.reading() as session:
        states = Counter(session.exec(select(OutboxItem.state)).all())
    store.dispose()
    assert states == {"sent": CARDS}
    assert set(posted) == {f"Card{n:02d}" for n in range(CARDS)}
    assert sum(posted.values()) - CARDS <= 1, posted  # one crash: at most one card twice
