"""Delivering campaign steps to a real SMTP sink: once per (lead, step), retries, failures,
crash recovery, suppression by address, and two workers on PostgreSQL."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import storage.campaigns
import storage.timeline
from bot.nurture import campaigns
from bot.nurture.send import PROCESS_NAME, CampaignSender
from storage.engine import Store
from storage.models import Lead
from tests.campaign_helpers import add_campaign, add_leads, make_next_steps_due
from tests.fakes.smtp_sink import Sink
from tests.nurture.conftest import settings_for


def sender_for(store: Store, sink: Sink, **kwargs: object) -> CampaignSender:
    return CampaignSender(store, settings_for(store.url, sink), **kwargs)  # type: ignore[arg-type]


def states(store: Store, campaign_id: int) -> list[tuple[str, int, str | None]]:
    with store.reading() as session:
        return [(s.state, s.attempts, s.smtp_reply)
                for s in storage.campaigns.sends_of(session, campaign_id)]  # fmt: skip


def test_each_due_step_goes_out_once_personalized(store: Store, sink: Sink) -> None:
    lead_ids = add_leads(store, 3)
    add_leads(store, 1, status="working", domain="elsewhere.io")  # not in the segment
    campaign_id = add_campaign(store)
    totals = asyncio.run(sender_for(store, sink).run())
    assert totals["sent"] == 3
    assert sorted(sink.recipients()) == ["lead0@acme.io", "lead1@acme.io", "lead2@acme.io"]
    again = asyncio.run(sender_for(store, sink).run())  # step 2 is three days away
    assert again["sent"] == 0 and len(sink.delivered) == 3

    message = next(d for d in sink.delivered if d.rcpt_tos == ["lead0@acme.io"])
    assert message.mail_from == "leads@acme-leads.test"  # bounces come back to the inbox
    parsed = message.message()
    assert parsed["Subject"] == "Lead0, three ways teams like Acme route leads faster"
    assert parsed["From"] == "Ann Lee <news@acme-leads.test>"
    assert parsed["To"] == "Lead0 Doe <lead0@acme.io>"
    with store.reading() as session:
        lead = session.get(Lead, lead_ids[0])
        assert lead is not None
        assert parsed["Reply-To"] == f"Ann Lee <leads+{lead.reply_token}@acme-leads.test>"
    assert "Head of Sales" in parsed.get_body(("plain",)).get_content()
    sends = states(store, campaign_id)
    assert [s[0] for s in sends] == ["sent"] * 3
    assert all(reply and reply.startswith("250") for _, _, reply in sends)

    # three days later the follow-up is due, once
    make_next_steps_due(store, campaign_id)
    with store.transaction() as session:
        report = campaigns.plan_due(session, [campaign_id])
    assert report.planned == 3
    asyncio.run(sender_for(store, sink).run())
    assert len(sink.delivered) == 6
    subjects = {d.message()["Subject"] for d in sink.delivered}
    assert "Still thinking it over, Lead2?" in subjects


def test_a_refused_email_is_retried_then_failed_with_the_smtp_reply(
    store: Store, sink: Sink
) -> None:
    add_leads(store, 1)
    campaign_id = add_campaign(store)
    sink.refuse_with = "451 4.3.0 Try again later"
    totals = asyncio.run(sender_for(store, sink, max_attempts=3).run(wait_for_retries=True))
    assert totals["failed"] == 1 and totals["retry"] == 2
    assert states(store, campaign_id) == [("failed", 3, "451 4.3.0 Try again later")]
    assert sink.delivered == []


def test_a_permanent_refusal_fails_at_once(store: Store, sink: Sink) -> None:
    add_leads(store, 1)
    campaign_id = add_campaign(store)
    sink.refuse_with = "550 5.1.1 No such user"
    asyncio.run(sender_for(store, sink).run(wait_for_retries=True))
    assert states(store, campaign_id) == [("failed", 1, "550 5.1.1 No such user")]


def test_a_send_left_mid_delivery_by_a_dead_worker_is_never_resent(
    store: Store, sink: Sink
) -> None:
    add_leads(store, 2)
    campaign_id = add_campaign(store)
    crashed = sender_for(store, sink)
    crashed.plan()
    outgoing, _ = crashed.claim()  # claimed and marked sending; the worker dies here
    assert len(outgoing) == 2
    totals = asyncio.run(sender_for(store, sink, stale_seconds=0).run(wait_for_retries=True))
    assert totals["sent"] == 0 and sink.delivered == []
    assert [s[0] for s in states(store, campaign_id)] == ["unknown", "unknown"]


def test_a_template_that_does_not_render_is_failed_never_sent(
    store: Store, sink: Sink, tmp_path: Path
) -> None:
    (tmp_path / "oops.subject.j2").write_text("Hi")
    (tmp_path / "oops.txt.j2").write_text("{{ lead.custom.missing }}")
    (tmp_path / "oops.html.j2").write_text("<p>hi</p>")
    add_leads(store, 1)
    campaign_id = add_campaign(store, steps=(("oops", 0),), template_dir=str(tmp_path))
    asyncio.run(sender_for(store, sink).run())
    [(state, attempts, reply)] = states(store, campaign_id)
    assert (state, attempts) == ("failed", 0) and "missing" in (reply or "")
    assert sink.delivered == []


def test_an_opted_out_address_is_not_mailed_whatever_lead_record_carries_it(
    store: Store, sink: Sink
) -> None:
    [first] = add_leads(store, 1)
    [second] = add_leads(store, 1, domain="elsewhere.test")
    # A second lead record for lead0@acme.io: the store keeps one live lead per address, so the
    # opted-out record is the alias of a merge and the live one took its address.
    with store.transaction() as session:
        lead, live = session.get(Lead, first), session.get(Lead, second)
        assert lead is not None and live is not None
        lead.email_status, lead.merged_into_id = "opted_out", second
        session.add(lead)
        session.flush()
        live.email = "lead0@acme.io"
        session.add(live)
    campaign_id = add_campaign(store)
    asyncio.run(sender_for(store, sink).run())
    assert sink.delivered == []
    with store.reading() as session:
        members = storage.campaigns.stopped_members(session, [first + 1])
        assert [m.stopped_reason for m in members] == ["opted_out"]
    assert campaigns.Segment().to_dict()["status"] == ["nurturing"]
    assert states(store, campaign_id) == []


def test_a_reply_stops_the_sequence(store: Store, sink: Sink) -> None:
    [lead_id] = add_leads(store, 1)
    campaign_id = add_campaign(store)
    asyncio.run(sender_for(store, sink).run())
    with store.transaction() as session:
        storage.timeline.append(session, lead_id, actor="email:lead0@acme.io",
                                kind="email.reply", summary="reply: thanks")  # fmt: skip
    make_next_steps_due(store, campaign_id)
    with store.transaction() as session:
        report = campaigns.plan_due(session, [campaign_id])
    assert report.planned == 0 and report.stopped == {"replied": 1}
    with store.reading() as session:
        campaign = storage.campaigns.by_id(session, campaign_id)
        assert campaign is not None
        assert campaigns.stats(session, campaign)["replied"] == 1


@pytest.mark.postgres
def test_two_workers_on_postgresql_never_send_one_step_twice(postgres_url: str, sink: Sink) -> None:
    setup = Store(postgres_url)
    add_leads(setup, 120)
    campaign_id = add_campaign(setup)
    setup.dispose()
    totals: list[dict[str, int]] = []
    start = threading.Barrier(2)

    def worker() -> None:
        store = Store(postgres_url)
        sender = sender_for(store, sink, connections=2)
        sender.batch = 10  # small claims, so the two workers interleave
        start.wait()
        totals.append(dict(asyncio.run(sender.run())))
        store.dispose()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    recipients = sink.recipients()
    assert len(recipients) == 120 and len(set(recipients)) == 120
    assert sum(t.get("sent", 0) for t in totals) == 120
    check = Store(postgres_url)
    assert [s[0] for s in states(check, campaign_id)] == ["sent"] * 120
    check.dispose()


def sender_processes(sender: CampaignSender, count: int) -> CampaignSender:
    sender.processes, sender.pending_per_process = count, 1  # processes even for a few emails
    return sender


@pytest.mark.postgres
def test_sender_processes_on_postgresql_never_send_one_step_twice(
    postgres_url: str, sink: Sink
) -> None:
    store = Store(postgres_url)
    add_leads(store, 60)
    campaign_id = add_campaign(store)
    # Two sender processes claiming batches of 5 from the same table, and this process
    # claiming alongside them (a second `campaign send`, or serve's scheduler).
    sender = sender_processes(sender_for(store, sink, connections=2, batch=5), 2)
    other = sender_for(Store(postgres_url), sink, connections=1, batch=5)
    seen: list[str] = []

    async def both() -> list[Counter[str]]:
        return list(await asyncio.gather(sender.run(progress=seen.append), other.drain()))

    totals = asyncio.run(both())
    recipients = sink.recipients()
    assert len(recipients) == 60 and len(set(recipients)) == 60
    assert sum(t["sent"] for t in totals) == 60 and seen.count("sent") == totals[0]["sent"]
    assert totals[0]["sent"] > 0
    assert [s[0] for s in states(store, campaign_id)] == ["sent"] * 60
    other.store.dispose()
    store.dispose()


def test_a_sender_process_killed_mid_batch_leaves_unknown_never_resent(
    sqlite_url: str, sink: Sink
) -> None:
    store = Store(sqlite_url)
    add_leads(store, 40)
    campaign_id = add_campaign(store)
    sink.delay = 0.05  # a slow relay: a batch takes a while
    # This process and two sender processes; the two are killed mid-batch, then this one,
    # which waits for that, sends the rest.
    sender = sender_processes(sender_for(store, sink, connections=1, batch=5), 3)
    killed = threading.Event()
    drain = sender.drain

    async def drain_once_they_are_dead(*args: Any, **kwargs: Any) -> Counter[str]:
        while not killed.is_set():
            await asyncio.sleep(0.01)
        return await drain(*args, **kwargs)

    sender.drain = drain_once_they_are_dead  # type: ignore[method-assign]
    done: list[Counter[str]] = []
    running = threading.Thread(target=lambda: done.append(asyncio.run(sender.run())))
    running.start()
    deadline = time.monotonic() + 60
    children: list[multiprocessing.process.BaseProcess] = []
    in_flight = 0
    while time.monotonic() < deadline and not (len(sink.delivered) >= 4 and in_flight):
        children = [p for p in multiprocessing.active_children() if p.name == PROCESS_NAME]
        in_flight = Counter(s[0] for s in states(store, campaign_id))["sending"]
        time.sleep(0.01)
    assert len(children) == 2 and in_flight
    for child in children:  # mid-batch: claimed, handed to SMTP or not, not recorded
        os.kill(child.pid or 0, signal.SIGKILL)
    killed.set()
    running.join(60)
    assert not running.is_alive() and done
    before = Counter(s[0] for s in states(store, campaign_id))
    # What the dead had claimed stays `sending`; everything else went out.
    assert before["sending"] >= 1 and before["sent"] + before["sending"] == 40
    # The next run calls the dead processes' claims unknown and sends none of them again.
    again = asyncio.run(sender_for(store, sink, stale_seconds=0).run())
    assert again["sent"] == 0
    after = Counter(s[0] for s in states(store, campaign_id))
    assert after == {"sent": before["sent"], "unknown": before["sending"]}
    recipients = sink.recipients()
    assert len(recipients) == len(set(recipients))  # nobody twice
    assert after["sent"] <= len(recipients) <= 40
    store.dispose()
