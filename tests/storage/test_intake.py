"""The intake records on a real store: migration 0007, the flood count, one decision per hold
(also under two processes approving at once on PostgreSQL), the inbox's quarantine closed."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select, text

import storage.inbox
import storage.intake
from bot.leads.capture import Draft, Evidence, Source, capture
from bot.rules.file import default_rules
from storage.engine import Store
from storage.migrate import upgrade
from storage.models import InboundMessage, IntakeRecord, Lead, TimelineEntry, utcnow
from tests.services.postgres import create_database

REPO = Path(__file__).resolve().parents[2]


def test_migration_0007_adds_the_table_to_a_store_with_data_and_goes_back(
    postgres_admin_url: str, tmp_path: Path
) -> None:
    for url in (f"sqlite:///{tmp_path / 'old.db'}",
                create_database(postgres_admin_url, "leadbot_upgrade_0006")):  # fmt: skip
        upgrade(url, "0006")
        store = Store(url)
        with store.transaction() as session:
            session.execute(text(
                "insert into inbound_messages (received_at, channel, mail_from, rcpt_tos, raw, "
                "size, state, subject, from_address, attempts) values ('2026-01-01 00:00:00+00',"
                " 'smtp', 'a@b.test', '[]', 'x', 1, 'done', '', '', 1)"
            ))  # fmt: skip
        store.dispose()
        upgrade(url)
        store = Store(url)
        with store.transaction() as session:
            [message_id] = session.execute(select(InboundMessage.id)).scalars().all()
            held = IntakeRecord(channel="email", state="held", inbound_message_id=message_id)
            storage.intake.add(session, held)
        with store.reading() as session:
            [record] = session.execute(select(IntakeRecord)).scalars().all()
            assert (record.state, record.reasons, record.note) == ("held", [], "")
        store.dispose()
        upgrade(url, "0006")  # the downgrade drops the table, and upgrading again works
        upgrade(url)


def test_the_flood_count_is_per_key_and_window(store: Store) -> None:
    now = utcnow()
    with store.transaction() as session:
        for minutes, key in ((1, "acme.io"), (5, "acme.io"), (30, "acme.io"), (1, "other.io")):
            at = now - timedelta(minutes=minutes)
            storage.intake.add(session, IntakeRecord(channel="email", source_key=key, at=at))
    with store.reading() as session:
        assert storage.intake.count_since(session, "acme.io", now - timedelta(minutes=10)) == 2
        assert storage.intake.count_since(session, "acme.io", now - timedelta(hours=1)) == 3
        assert storage.intake.count_since(session, "nobody.io", now - timedelta(hours=1)) == 0


def test_a_hold_is_decided_once(store: Store) -> None:
    with store.transaction() as session:
        record = storage.intake.add(session, IntakeRecord(channel="email", state="held"))
        passed = storage.intake.add(session, IntakeRecord(channel="email"))
        assert record.id is not None and passed.id is not None
    with store.transaction() as session:
        assert storage.intake.decide(session, record.id, "rejected", "cli:ann", "spam")
        assert not storage.intake.decide(session, record.id, "approved", "cli:bob")
        assert not storage.intake.decide(session, passed.id, "approved", "cli:bob")
        assert not storage.intake.decide(session, 999, "approved", "cli:bob")
    with store.reading() as session:
        decided = storage.intake.by_id(session, record.id)
        assert decided is not None
        assert (decided.state, decided.decided_by, decided.note) == ("rejected", "cli:ann", "spam")
        assert storage.intake.held(session) == []


def test_a_quarantined_mail_is_rejected_once_and_kept(store: Store) -> None:
    with store.transaction() as session:
        message = storage.inbox.enqueue(session, InboundMessage(channel="smtp", raw=b"x"))
        done = storage.inbox.enqueue(session, InboundMessage(channel="smtp", raw=b"y"))
        assert message.id is not None and done.id is not None
        storage.inbox.quarantine(session, message, "Unprocessable: no sender address")
    with store.transaction() as session:
        assert storage.intake.reject_message(session, message.id, "cli:ann", "junk")
        assert not storage.intake.reject_message(session, message.id, "cli:ann")
        assert not storage.intake.reject_message(session, done.id, "cli:ann")  # queued, not ours
    with store.reading() as session:
        kept = storage.inbox.by_id(session, message.id)
        assert kept is not None
        assert (kept.state, kept.reason, kept.raw) == (
            "rejected",
            "rejected by cli:ann: junk",
            b"x",
        )
        assert kept.error == "Unprocessable: no sender address"


HOLDS = 12

APPROVER = """
import json, sys, time
from pathlib import Path
from bot.rules.file import default_rules
from bot.leads.capture import NotHeld, approve
from storage.engine import Store

url, go, name, ids = sys.argv[1], Path(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])
store = Store(url)
while not go.exists():
    time.sleep(0.005)
approved, refused = [], []
for hold_id in ids:
    try:
        with store.transaction() as session:
            approve(session, hold_id, f"cli:{name}", rules=default_rules())
            time.sleep(0.05)  # hold the row while the other process tries the same hold
        approved.append(hold_id)
    except NotHeld:
        refused.append(hold_id)
print(json.dumps({"approved": approved, "refused": refused}))
store.dispose()
"""


def test_two_processes_approving_the_same_holds_make_one_lead_each(
    postgres_url: str, tmp_path: Path
) -> None:
    store = Store(postgres_url)
    source = Source("email", "email:x", "an email to leads@acme.test", "mailinator.com")
    with store.transaction() as session:
        ids = [
            capture(session, Draft.of(f"buyer{n}@mailinator.com", first_name=f"B{n}"), source,
                    Evidence("email.enquiry", f"Enquiry {n}"), rules=default_rules()).hold.id  # type: ignore[union-attr]
            for n in range(HOLDS)
        ]  # fmt: skip
    go = tmp_path / "go"
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", APPROVER, postgres_url, str(go), name, json.dumps(ids)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("ann", "bob")
    ]
    time.sleep(1.0)  # both have imported and connected; then they start together
    go.touch()
    results = []
    for worker in workers:
        stdout, stderr = worker.communicate(timeout=120)
        assert worker.returncode == 0, stderr
        results.append(json.loads(stdout.strip().splitlines()[-1]))

    with store.reading() as session:
        leads = session.execute(select(func.count()).select_from(Lead)).scalar_one()
        approvals = session.execute(
            select(TimelineEntry.actor).where(TimelineEntry.kind == "intake.approved")
        ).scalars().all()  # fmt: skip
        records = [(r.state, r.lead_id is not None, r.decided_by)
                   for r in session.execute(select(IntakeRecord)).scalars().all()]  # fmt: skip
    store.dispose()

    # Every hold was tried by both at once; each was approved by exactly one of them.
    approved = sorted(results[0]["approved"] + results[1]["approved"])
    refused = sorted(results[0]["refused"] + results[1]["refused"])
    assert approved == sorted(ids) and refused == sorted(ids)
    assert leads == HOLDS and len(approvals) == HOLDS
    assert all(state == "approved" and has_lead for state, has_lead, _ in records)
    assert {by for _, _, by in records} <= {"cli:ann", "cli:bob"}
