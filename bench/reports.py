"""Reports benchmark: every report (and every dashboard chart) over a big store, on SQLite and
on PostgreSQL. It asserts nothing; it prints the store's size, how long building it took, and
each report's time over the default window (the last 90 days) and over all time.

The store is written in bulk: N leads spread over three years, ~10 timeline entries each (the
created, enquiry, assigned, MQL, work, note, open, click, qualify and convert entries a real
lead collects), and each lead's roll-up row derived from those entries by the roll-up's own
`derive` (what `leadbot report rebuild` writes). It then times `rebuild` itself over a sample
of leads, to give its rate.

    .venv/bin/python bench/reports.py                      # 1,000,000 leads, both stores
    .venv/bin/python bench/reports.py --leads 200000 --stores sqlite
    .venv/bin/python bench/reports.py --database-url postgresql+psycopg://…/bench
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert, text

import storage.assignment
import storage.reports
from bot.reports import rollup
from bot.reports.dashboard import PANELS
from bot.reports.figures import REPORTS, Window
from storage.engine import Store
from storage.migrate import upgrade
from storage.models import Lead, LeadFact, Rep, TimelineEntry
from tests.services.postgres import create_database, postgres_server

AIM_SECONDS = 1.0
BATCH = 10_000
SOURCES = ("email", "email", "email", "form", "api", "import")
UTM = ("", "", "newsletter", "google", "linkedin")
NOW = datetime(2026, 12, 1, tzinfo=UTC)
REPS = 40


def entries_of(lead_id: int, created: datetime, rng: random.Random, rep: int,
               stage: int) -> list[dict]:  # fmt: skip
    """~10 timeline entries of one lead; `stage` 0..3 says how far it went."""
    t = created
    rows = [
        {"lead_id": lead_id, "at": t, "actor": "system", "kind": "created", "summary": "created"},
        {"lead_id": lead_id, "at": t, "actor": f"email:l{lead_id}@x.example",
         "kind": "email.enquiry", "summary": "enquiry"},
        {"lead_id": lead_id, "at": t + timedelta(minutes=1), "actor": "system",
         "kind": "assigned", "summary": "assigned"},
    ]  # fmt: skip
    t += timedelta(minutes=rng.randint(5, 3000))
    rows.append({"lead_id": lead_id, "at": t, "actor": f"rep:rep{rep}", "kind": "status.work",
                 "summary": "work"})  # fmt: skip
    for kind in ("note", "email.opened", "email.clicked"):
        t += timedelta(hours=rng.randint(1, 48))
        rows.append({"lead_id": lead_id, "at": t, "actor": f"rep:rep{rep}" if kind == "note"
                     else "email:x", "kind": kind, "summary": kind})  # fmt: skip
    if stage >= 1:
        t += timedelta(hours=rng.randint(1, 48))
        rows.append({"lead_id": lead_id, "at": t, "actor": "system", "kind": "mql",
                     "summary": "mql"})  # fmt: skip
    if stage >= 2:
        t += timedelta(hours=rng.randint(1, 96))
        rows.append({"lead_id": lead_id, "at": t, "actor": f"rep:rep{rep}",
                     "kind": "status.qualify", "summary": "qualify"})  # fmt: skip
    if stage >= 3:
        t += timedelta(hours=rng.randint(1, 200))
        rows.append({"lead_id": lead_id, "at": t, "actor": f"rep:rep{rep}", "kind": "converted",
                     "summary": "converted"})  # fmt: skip
    while len(rows) < 10:
        t += timedelta(hours=rng.randint(1, 48))
        rows.append({"lead_id": lead_id, "at": t, "actor": "email:x", "kind": "email.opened",
                     "summary": "opened"})  # fmt: skip
    for row in rows:
        row["data"] = {}
    return rows


def build(store: Store, leads: int, seed: int = 7) -> tuple[int, float]:
    """Write `leads` leads, their timeline and their roll-up rows; (entries, seconds)."""
    rng = random.Random(seed)
    started = time.perf_counter()
    people = rollup.People({}, {})
    with store.transaction() as session:
        session.execute(insert(Rep), [
            {"id": i, "name": f"rep{i}", "email": f"rep{i}@acme.example", "role": "rep",
             "active": True, "signature": "", "created_at": NOW, "capacity": 50,
             "timezone": "UTC", "working_hours": "09:00-17:00", "working_days": "mon-fri",
             "out_of_office": [], "paused": False, "skills": [], "languages": [],
             "territories": [], "weight": 1, "assigned_count": 0}
            for i in range(1, REPS + 1)
        ])  # fmt: skip
        people = rollup.People.load(session)
    span = 3 * 365 * 24 * 3600
    entries = 0
    for start in range(0, leads, BATCH):
        lead_rows, timeline_rows, fact_rows = [], [], []
        for lead_id in range(start + 1, min(start + BATCH, leads) + 1):
            created = NOW - timedelta(seconds=rng.randint(0, span))
            rep = rng.randint(1, REPS)
            stage = rng.choices((0, 1, 2, 3), (60, 20, 10, 10))[0]
            status = ("working", "nurturing", "qualified", "converted")[stage]
            stage_name = ("lead", "mql", "sql", "opportunity")[stage]
            source = rng.choice(SOURCES)
            utm = rng.choice(UTM)
            custom = (
                {"utm_source": utm, "utm_campaign": f"{utm}-q{rng.randint(1, 4)}"} if utm else {}
            )
            lead_rows.append({
                "id": lead_id, "email": f"l{lead_id}@x{lead_id % 5000}.example", "first_name": "",
                "last_name": "", "company": "", "title": "", "phone": "", "website": "",
                "street": "", "city": "", "state": "", "postal_code": "", "country": "",
                "language": "", "industry": "", "company_size": "", "source": source,
                "custom": custom, "status": status, "stage": stage_name, "owner_id": rep,
                "company_domain": "", "company_key": "", "score": 0.0, "email_status": "ok",
                "reply_token": f"t{lead_id}", "enquiry": "", "version": 1, "created_at": created,
                "updated_at": created, "last_activity_at": created,
            })  # fmt: skip
            rows = entries_of(lead_id, created, rng, rep, stage)
            timeline_rows += rows
            lead = (lead_id, created, source, custom, rep, status, stage_name, None)
            tuples = [(r["lead_id"], r["at"], r["actor"], r["kind"], r["data"]) for r in rows]
            amount = float(rng.randint(1, 100) * 1000) if stage == 3 else None
            fact = rollup.derive(lead, sorted(tuples, key=lambda r: r[1]), people, amount)
            if fact is not None:
                fact_rows.append(fact)
        with store.transaction() as session:
            session.execute(insert(Lead), lead_rows)
            session.execute(insert(TimelineEntry), timeline_rows)
            session.execute(insert(LeadFact), fact_rows)
        entries += len(timeline_rows)
        done = min(start + BATCH, leads)
        if done % (BATCH * 10) == 0 or done == leads:
            rate = done / (time.perf_counter() - started)
            print(f"  {done:,} leads, {entries:,} entries ({rate:,.0f} leads/s)", flush=True)
    with store.transaction() as session:
        # The roll-up rows are written: the roll-up's cursor stands at the end of the timeline.
        cursor = storage.assignment.cursor_for_update(session, rollup.CURSOR)
        cursor.position = storage.reports.last_timeline_id(session)
        session.add(cursor)
    with store.transaction() as session:
        if store.is_sqlite:
            session.execute(text("ANALYZE"))
        else:
            session.execute(text("ANALYZE"))
            for table in ("leads", "timeline", "report_lead_facts"):
                session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                                     f" (SELECT max(id) FROM {table}))")
                                if table != "report_lead_facts" else text("SELECT 1"))  # fmt: skip
    return entries, time.perf_counter() - started


def timed(work) -> float:  # type: ignore[no-untyped-def]
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        work()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def measure(store: Store, label: str) -> None:
    windows = {
        "90 days": Window.default(NOW),
        "all time": Window(NOW - timedelta(days=4 * 365), NOW, by="month", now=NOW),
    }
    print(f"\n{label}: each report, median of 3 runs (aim: under {AIM_SECONDS:g} s)")
    print(f"  {'report':<22}{'90 days':>10}{'all time':>10}")
    worst = 0.0
    catch_up = timed(lambda: rollup.catch_up(store))
    print(f"  {'catch-up (no news)':<22}{catch_up:>9.3f}s")
    items = [(name, REPORTS[name]) for name in REPORTS] + [
        (f"chart:{name}", lambda s, w, n=name: PANELS[n](s, w)) for name in PANELS
    ]
    for name, report in items:
        times = []
        for window in windows.values():

            def run(report=report, window=window) -> None:  # type: ignore[no-untyped-def]
                with store.reading() as session:
                    report(session, window)

            times.append(timed(run))
        worst = max(worst, *times)
        print(f"  {name:<22}{times[0]:>9.3f}s{times[1]:>9.3f}s", flush=True)
    print(f"  slowest: {worst:.3f}s ({'within' if worst < AIM_SECONDS else 'OVER'} the aim)")
    sample = 20_000
    started = time.perf_counter()
    with store.transaction() as session:
        rollup.refresh(session, range(1, sample + 1))
    seconds = time.perf_counter() - started
    print(f"  rebuild rate: {sample / seconds:,.0f} leads/s from the timeline "
          f"({sample:,} leads in {seconds:.1f}s)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--database-url", default="", help="use this store (emptied) instead")
    args = parser.parse_args()
    with ExitStack() as stack:
        urls: list[tuple[str, str]] = []
        if args.database_url:
            urls.append((args.database_url.split(":", 1)[0], args.database_url))
        else:
            if "sqlite" in args.stores:
                folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
                urls.append(("SQLite", f"sqlite:///{folder / 'reports.db'}"))
            if "postgres" in args.stores:
                admin = stack.enter_context(postgres_server())
                urls.append(("PostgreSQL", create_database(admin, "leadbot_bench_reports")))
        for label, url in urls:
            upgrade(url)
            store = Store(url)
            print(f"{label}: building {args.leads:,} leads", flush=True)
            entries, seconds = build(store, args.leads)
            print(f"{label}: {args.leads:,} leads, {entries:,} timeline entries, built in "
                  f"{seconds:.0f}s")  # fmt: skip
            measure(store, label)
            store.dispose()


if __name__ == "__main__":
    main()
