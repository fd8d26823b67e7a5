"""Privacy benchmark: export and erase of one person in a store of N other leads.

Loads N leads (each with a timeline entry and a processed mail of its own), then a person with
one lead record, `--entries` timeline entries and `--mails` mails of `--mail-kb` KiB, and times
`privacy export` (resolve + bundle) and `privacy erase` (one transaction) of that person, and
a capture of the erased address through a form (the suppression check in intake). It prints
the figures and asserts nothing.

    .venv/bin/python bench/privacy.py                         # SQLite file, 100,000 leads
    .venv/bin/python bench/privacy.py --leads 10000 --database-url postgresql+psycopg://…/bench
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert

from bot.leads.capture import Draft, Evidence, Source, capture
from bot.privacy import erase, export
from bot.privacy.subject import resolve
from bot.rules.file import default_rules
from storage.engine import Store
from storage.migrate import upgrade
from storage.models import InboundMessage, Lead, TimelineEntry, utcnow

BATCH = 5_000
ADDRESS = "bench.person@bench-privacy.test"


def load(store: Store, leads: int) -> None:
    now = utcnow()
    for start in range(0, leads, BATCH):
        ids = range(start + 1, min(leads, start + BATCH) + 1)
        with store.transaction() as session:
            session.execute(insert(Lead), [
                {"id": i, "email": f"p{i}@example{i % 997}.test", "first_name": f"P{i}",
                 "reply_token": f"t{i:015d}", "custom": {}, "enquiry": "hello", "status": "new",
                 "stage": "lead", "source": "email", "created_at": now, "updated_at": now,
                 "last_activity_at": now}
                for i in ids
            ])  # fmt: skip
            session.execute(insert(InboundMessage), [
                {"channel": "smtp", "mail_from": f"p{i}@example{i % 997}.test",
                 "from_address": f"p{i}@example{i % 997}.test", "rcpt_tos": [], "raw": b"x" * 512,
                 "size": 512, "state": "done", "lead_id": i, "received_at": now, "subject": "hi",
                 "attempts": 1}
                for i in ids
            ])  # fmt: skip
            session.execute(insert(TimelineEntry), [
                {"lead_id": i, "at": now, "actor": "system", "kind": "created",
                 "summary": "lead created", "data": {}}
                for i in ids
            ])  # fmt: skip
        print(f"\rloaded {ids[-1]:,} leads", end="", file=sys.stderr)
    print(file=sys.stderr)


def person(store: Store, entries: int, mails: int, mail_kb: int) -> None:
    form = Source("form", "form:bench", "the bench form")
    with store.transaction() as session:
        result = capture(session, Draft.of(ADDRESS, first_name="Bench", company="Bench Co"),
                         form, Evidence("form.post", "Bench"), rules=default_rules())  # fmt: skip
        assert result.lead is not None and result.lead.id is not None
        lead_id = result.lead.id
        session.execute(insert(TimelineEntry), [
            {"lead_id": lead_id, "at": utcnow(), "actor": f"email:{ADDRESS}",
             "kind": "email.reply", "summary": f"reply {n}", "data": {"excerpt": "x" * 200}}
            for n in range(entries)
        ])  # fmt: skip
        session.execute(insert(InboundMessage), [
            {"channel": "smtp", "mail_from": ADDRESS, "from_address": ADDRESS, "rcpt_tos": [],
             "raw": b"y" * (mail_kb * 1024), "size": mail_kb * 1024, "state": "done",
             "lead_id": lead_id, "received_at": utcnow(), "subject": "re", "attempts": 1}
            for _ in range(mails)
        ])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--entries", type=int, default=200)
    parser.add_argument("--mails", type=int, default=20)
    parser.add_argument("--mail-kb", type=int, default=64)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="leadbot-bench-privacy-")
    url = args.database_url or f"sqlite:///{folder}/bench.db"
    upgrade(url)
    store = Store(url, "bench-secret")
    load(store, args.leads)
    person(store, args.entries, args.mails, args.mail_kb)

    started = time.perf_counter()
    with store.transaction() as session:
        bundle = export.bundle(session, resolve(session, ADDRESS))
    exported = time.perf_counter() - started
    rows = sum(len(rows) for rows in bundle["places"].values())

    started = time.perf_counter()
    with store.transaction() as session:
        result = erase.erase(session, resolve(session, ADDRESS), actor="bench", reason="bench")
    erased = time.perf_counter() - started

    started = time.perf_counter()
    with store.transaction() as session:
        again = capture(session, Draft.of(ADDRESS), Source("form", "form:bench", "the form"),
                        Evidence("form.post", "again"), rules=default_rules())  # fmt: skip
    refused = time.perf_counter() - started
    assert again.held
    store.dispose()

    backend = url.split(":", 1)[0]
    print(f"store: {backend}, {args.leads:,} other leads (each with a mail and an entry)")
    print(f"person: {args.entries} timeline entries, {args.mails} mails of {args.mail_kb} KiB")
    print(f"export: {rows} rows in {exported * 1000:.0f} ms")
    erased_rows = sum(result.rows.values())
    print(f"erase:  {erased_rows} rows in {erased * 1000:.0f} ms (one transaction)")
    print(f"capture of the erased address held ('erased on request') in {refused * 1000:.1f} ms")


if __name__ == "__main__":
    main()
