"""Assignment benchmark: 100 rules, 200 reps, 100,000 open leads already owned, then N waiting
leads offered one transaction each, as `leadbot serve` does.

It prints assignments per second and the p50/p99 of one decision (rule match → filters →
strategy, in memory) and of one whole assignment (claim the queue row, decide, lock the rep and
count its open leads, write lead + timeline + outbox + log, commit), per store.

    .venv/bin/python bench/assign.py                       # SQLite and PostgreSQL, 2,000 offers
    .venv/bin/python bench/assign.py --stores sqlite --offers 5000

Most rules put conditions that the benchmark's leads miss (country, industry, size), so a decision
walks ~100 rules before the last one matches: the worst case of first-match-wins. The pool of the
last rule is every rep, picked least loaded (the strategy that reads every candidate's load).
PostgreSQL is a throwaway cluster (as in the tests), or LEADBOT_TEST_POSTGRES_URL.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from sqlalchemy import insert, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.assignment.assigner import Assigner
from bot.rules.file import parse_rules
from storage.engine import Store
from storage.migrate import upgrade
from storage.models import Lead, QueueItem, Rep, utcnow
from tests.services.postgres import create_database, postgres_server

COUNTRIES = ["US", "DE", "FR", "GB", "JP", "BR", "IN", "CA", "AU", "ES"]
INDUSTRIES = ["software", "banking", "retail", "health", "energy", "telecom"]


def rules_text(rules: int, reps: int) -> str:
    parts = ['[territories]\nnowhere = ["ZZ"]\n']
    for n in range(rules - 1):
        kind = n % 4
        if kind == 0:
            when = f'{{ country = ["Q{n}"] }}'
        elif kind == 1:
            when = f'{{ industry = ["industry {n}"], country = ["US"] }}'
        elif kind == 2:
            when = f"{{ company_size_min = {100_000 + n} }}"
        else:
            when = '{ territory = "nowhere" }'
        pool = ", ".join(f'"rep{(n * 7 + k) % reps}@sales.test"' for k in range(5))
        parts.append(
            f'[[assignment.rule]]\nname = "rule {n}"\nwhen = {when}\npool = [{pool}]\n'
            f'strategy = "round_robin"\nsla_minutes = 30\n'
        )
    parts.append(
        '[[assignment.rule]]\nname = "everyone"\npool = "all"\nstrategy = "least_loaded"\n'
    )
    return "\n".join(parts)


def seed(store: Store, reps: int, open_leads: int, offers: int) -> None:
    now = utcnow()
    rng = random.Random(7)
    with store.transaction() as session:
        session.execute(insert(Rep), [
            {"name": f"Rep {i}", "email": f"rep{i}@sales.test", "role": "rep", "active": True,
             "created_at": now, "capacity": 10_000, "timezone": rng.choice(
                 ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo"]),
             "working_hours": "", "working_days": "", "out_of_office": ["2020-01-01"],
             "paused": False, "skills": ["x"], "languages": ["en", "de"], "territories": [],
             "weight": 1 + i % 3, "assigned_count": 0}
            for i in range(reps)
        ])  # fmt: skip
        rep_ids = session.execute(select(Rep.id)).scalars().all()

    def leads(start: int, count: int, owned: bool) -> list[dict]:
        return [
            {"email": f"lead{n}@acme{n % 997}.test", "reply_token": f"tok{n}", "custom": {},
             "enquiry": "", "status": "new", "stage": "mql", "source": "email",
             "country": COUNTRIES[n % len(COUNTRIES)], "industry": INDUSTRIES[n % 6],
             "company_size": str(10 + n % 500), "language": "en", "grade": "B",
             "owner_id": rng.choice(rep_ids) if owned else None,
             "created_at": now, "updated_at": now, "last_activity_at": now}
            for n in range(start, start + count)
        ]  # fmt: skip

    for start in range(0, open_leads, 10_000):
        with store.transaction() as session:
            session.execute(insert(Lead), leads(start, min(10_000, open_leads - start), True))
    with store.transaction() as session:
        session.execute(insert(Lead), leads(open_leads, offers, False))
        waiting = (
            session.execute(
                select(Lead.id).where(Lead.owner_id.is_(None))  # type: ignore[union-attr]
            )
            .scalars()
            .all()
        )
        session.execute(insert(QueueItem), [
            {"lead_id": lead_id, "enqueued_at": now, "state": "waiting", "tried": [], "hops": 0}
            for lead_id in waiting
        ])  # fmt: skip


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def run(url: str, name: str, args: argparse.Namespace) -> None:
    upgrade(url)
    store = Store(url)
    started = time.perf_counter()
    seed(store, args.reps, args.open_leads, args.offers)
    print(f"{name}: seeded {args.reps} reps, {args.open_leads:,} open leads and {args.offers:,} "
          f"waiting in {time.perf_counter() - started:.1f} s")  # fmt: skip
    rules = parse_rules(rules_text(args.rules, args.reps), "bench")
    assert len(rules.rules) == args.rules
    assigner = Assigner(store, lambda: rules, rng=random.Random(1), batch=1)
    gc.collect()
    gc.freeze()  # as `serve` does after start: what lives as long as the process is not scanned
    now = assigner.clock()
    assigner.refresh_views(now)
    whole: list[float] = []
    began = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        offered, _ = assigner.assign_waiting(rules, now)
        if not offered:
            break
        whole.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - began
    decisions = list(assigner.decision_seconds)
    ms = 1000
    print(
        f"{name}: {len(whole):,} assignments in {elapsed:.2f} s = {len(whole) / elapsed:,.0f}/s; "
        f"decision p50 {statistics.median(decisions) * ms:.2f} ms, "
        f"p99 {percentile(decisions, 99) * ms:.2f} ms; "
        f"whole assignment p50 {statistics.median(whole) * ms:.2f} ms, "
        f"p99 {percentile(whole, 99) * ms:.2f} ms"
    )
    store.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--rules", type=int, default=100)
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--open-leads", type=int, default=100_000)
    parser.add_argument("--offers", type=int, default=2_000)
    args = parser.parse_args()
    stores = args.stores.split(",")
    with ExitStack() as stack:
        if "sqlite" in stores:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            run(f"sqlite:///{folder / 'bench.db'}", "sqlite", args)
        if "postgres" in stores:
            admin = stack.enter_context(postgres_server())
            run(create_database(admin, "leadbot_bench_assign"), "postgres", args)


if __name__ == "__main__":
    main()
