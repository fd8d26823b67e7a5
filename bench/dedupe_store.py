"""Dedupe benchmark against the real store: match one new lead against N stored leads in SQL.

`bench/dedupe.py` measures the matcher on its in-memory index; this measures what capture
really runs: `store_match.find_matches` reading the `lead_block_keys` table of a SQLite file or
a PostgreSQL database holding N synthetic leads (the same `LeadFactory`, default 1,000,000),
with their blocking keys and normal forms written the way capture writes them. It prints the
load rate, then p50/p99 of one match over the probes (half altered copies of stored leads, half
new people) and how many key rows one match read. It asserts nothing.

    .venv/bin/python bench/dedupe_store.py                          # SQLite file, 1M leads
    .venv/bin/python bench/dedupe_store.py --leads 100000 --scan   # and the batch scan
    .venv/bin/python bench/dedupe_store.py --database-url postgresql://…/bench
    .venv/bin/python bench/dedupe_store.py --database-url sqlite:///big.db --reuse  # again
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from dedupe import AIM_MATCH_P99_MS, AIM_SCAN_1M_S, LeadFactory, percentile, progress
from sqlalchemy import insert

import storage.duplicates
from bot.dedupe import scan as dedupe_scan
from bot.dedupe import store_match
from bot.dedupe.match import MatchRules, Person, blocking_keys, form_of, keys_of, prepare
from bot.leads import companies
from bot.rules.file import default_rules
from storage.engine import Store
from storage.migrate import upgrade
from storage.models import Lead, LeadBlockKey, LeadMatchForm

BATCH = 5_000


def lead_row(person: Person, now: datetime) -> dict[str, object]:
    domain = companies.email_company_domain(person.email)
    return {
        "id": int(person.key) + 1,
        "email": person.email.lower(),
        "first_name": person.first_name,
        "last_name": person.last_name,
        "company": person.company,
        "title": person.title,
        "phone": person.phone,
        "website": "",
        "street": person.street,
        "city": person.city,
        "state": person.state,
        "postal_code": person.postal_code,
        "country": person.country,
        "language": "",
        "industry": "",
        "company_size": "",
        "source": "csv",
        "custom": {},
        "status": "new",
        "stage": "lead",
        "company_domain": domain,
        "company_key": companies.company_key(person.company, domain),
        "score": 0.0,
        "email_status": "ok",
        "reply_token": f"bench{int(person.key):09d}",
        "enquiry": "",
        "version": 1,
        "created_at": now,
        "updated_at": now,
        "last_activity_at": now,
    }


def load(
    store: Store, factory: LeadFactory, leads: int, keep: int, insert_rows: bool = True
) -> list[Person]:
    """Insert `leads` synthetic leads and their blocking keys; a sample of `keep` of them.
    Without `insert_rows` the same leads are only generated (a store kept from an earlier run
    with the same seed holds them already)."""
    now = datetime.now(UTC)
    sample: list[Person] = []
    rng = factory.rng
    started, cpu = time.perf_counter(), _cpu()
    keys_written = 0
    seen: set[str] = set()
    with progress() as bar:
        task = bar.add_task("storing leads", total=leads)
        for start in range(0, leads, BATCH):
            people = [factory.lead(key) for key in range(start, min(start + BATCH, leads))]
            # One live lead per address (the store's unique index): a generated address that
            # is taken already (a namesake at one company, a second info@) is left empty.
            people = [p if _fresh(p.email, seen) else replace(p, email="") for p in people]
            if not insert_rows:
                _sample(sample, people, keep, rng)
                bar.update(task, completed=min(start + BATCH, leads))
                continue
            rows = [lead_row(person, now) for person in people]
            prepared = [prepare(replace(person, key=int(person.key) + 1)) for person in people]
            key_rows = [{"lead_id": p.key, "key": key} for p in prepared for key in keys_of(p)]
            form_rows = [{"lead_id": p.key, "form": form_of(p)} for p in prepared]
            keys_written += len(key_rows)
            with store.transaction() as session:
                session.execute(insert(Lead), rows)
                session.execute(insert(LeadBlockKey), key_rows)
                session.execute(insert(LeadMatchForm), form_rows)
            _sample(sample, people, keep, rng)
            bar.update(task, completed=min(start + BATCH, leads))
    took = time.perf_counter() - started
    print(
        f"  stored {leads:,} leads and {keys_written:,} key rows in {took:.0f} s "
        f"({leads / took:,.0f} leads/s; {_cpu() - cpu:.0f} CPU s; {_load()})"
    )
    return sample


def _cpu() -> float:
    """CPU seconds of this process so far (user + system): a wall figure on a shared machine is
    judged beside it and the load average."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def _fresh(email: str, seen: set[str]) -> bool:
    address = email.lower()
    if address in seen:
        return False
    seen.add(address)
    return True


def _sample(sample: list[Person], people: list[Person], keep: int, rng: random.Random) -> None:
    """Reservoir sampling: every stored lead equally likely to be altered into a probe."""
    for person in people:
        if len(sample) < keep:
            sample.append(person)
        elif (j := rng.randrange(int(person.key) + 1)) < keep:
            sample[j] = person


def probe_lead(person: Person, lead_id: int) -> Lead:
    return Lead(
        id=lead_id,
        email=person.email,
        first_name=person.first_name,
        last_name=person.last_name,
        company=person.company,
        title=person.title,
        phone=person.phone,
        street=person.street,
        city=person.city,
        state=person.state,
        postal_code=person.postal_code,
        country=person.country,
        reply_token="probe",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--probes", type=int, default=1_000)
    parser.add_argument("--database-url", help="default: a new SQLite file in a temp folder")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="the store at --database-url holds the leads of an earlier run (same --leads, --seed)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--scan", action="store_true", help="then time `leadbot dedupe scan` over the store"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{folder}/bench.db"
        upgrade(url)
        store = Store(url)
        rules = MatchRules()
        factory = LeadFactory(random.Random(args.seed), companies=max(200, args.leads // 8))
        print(f"store: {url.split('@')[-1]}; match one new lead against {args.leads:,} leads")
        wanted = args.probes // 2
        sample = load(store, factory, args.leads, wanted, insert_rows=not args.reuse)
        probes = [(factory.altered(p, args.leads + i), p.key) for i, p in enumerate(sample)]
        probes += [
            (factory.lead(args.leads + wanted + i), None) for i in range(args.probes - wanted)
        ]
        timings: list[float] = []
        rows_read = found = 0
        cpu, wall = _cpu(), time.perf_counter()
        for n, (person, original) in enumerate(probes):
            lead = probe_lead(person, 10 * args.leads + n)
            with store.reading() as session:
                t0 = time.perf_counter()
                matches = store_match.find_matches(session, lead, rules)
                timings.append((time.perf_counter() - t0) * 1000)
                sizes = storage.duplicates.block_sizes(
                    session, blocking_keys(person), cap=rules.max_block_size
                )
            rows_read += sum(n for n in sizes.values() if n <= rules.max_block_size)
            if original is not None and matches and matches[0].key == int(original) + 1:
                found += 1
        p50, p99 = percentile(timings, 50), percentile(timings, 99)
        cpu, wall = _cpu() - cpu, time.perf_counter() - wall
        print(
            f"  match ({len(probes):,} probes): p50 {p50:.2f} ms  p99 {p99:.2f} ms  "
            f"max {max(timings):.2f} ms   aim: p99 < {AIM_MATCH_P99_MS:.0f} ms "
            f"[{'met' if p99 < AIM_MATCH_P99_MS else 'NOT met'} at {args.leads:,} leads]"
        )
        print(
            f"  per match: {rows_read / len(probes):,.0f} key rows read on average "
            f"(of {args.leads:,} leads); altered copies found: {found}/{wanted}"
        )
        print(f"  the probes took {wall:.1f} s wall, {cpu:.1f} CPU s (with the block-size look-ups"
              f" beside them); {_load()}")  # fmt: skip
        if args.scan:
            scan(store, rules, args.leads)


def scan(store: Store, rules: MatchRules, leads: int) -> None:
    """What `leadbot dedupe scan` (without --apply) takes over the stored leads."""
    started, cpu = time.perf_counter(), _cpu()
    report = dedupe_scan.run(store, replace(default_rules(), match=rules))
    took, cpu = time.perf_counter() - started, _cpu() - cpu
    print(
        f"  dedupe scan of {report.leads:,} stored leads: {took:.1f} s "
        f"({report.sure_pairs:,} sure duplicates, {len(report.review):,} pairs flagged for "
        f"review; {cpu:.0f} CPU s; {_load()})   aim: 1M < {AIM_SCAN_1M_S:.0f} s"
    )


if __name__ == "__main__":
    main()
