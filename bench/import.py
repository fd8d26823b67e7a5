"""Import benchmark: rows/s and peak RSS of `leadbot import FILE --apply` with matching on.

A store is filled with `--leads` synthetic leads (bench/dedupe.py's LeadFactory, written with
their blocking keys and normal forms the way capture writes them: bench/dedupe_store.py's
loader), then CSV files of `--rows` rows are imported into it through bot/imports (the same code
as the CLI, progress bar included): about 10% of the rows are stored leads again (their address,
a field more), 10% altered copies of stored leads under another address (the matcher's work:
merges and flags), 5% repeats of earlier rows of the file, the rest new people. Each size runs
in a process of its own, so its peak RSS is its own. It prints figures and asserts nothing.

    .venv/bin/python bench/import.py              # SQLite, 1M leads, then 100k and 1M rows
    .venv/bin/python bench/import.py --leads 100000 --rows 10000,100000
    .venv/bin/python bench/import.py --database-url postgresql://…/bench
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

AIM_ROWS_PER_S = 1_000_000 / 600  # 1M rows in under 10 minutes
AIM_RSS_GIB = 1.0
HEADER = ["Email", "First Name", "Last Name", "Company", "Job Title", "Phone", "Street", "City",
          "State", "Zip", "Country"]  # fmt: skip


def row_of(person) -> list[str]:  # type: ignore[no-untyped-def]
    return [person.email, person.first_name, person.last_name, person.company, person.title,
            person.phone, person.street, person.city, person.state, person.postal_code,
            person.country]  # fmt: skip


class UniqueFactory:
    """bench/dedupe.py's LeadFactory with one live lead per address, as the store's unique index
    `ux_leads_live_email` wants: an address drawn twice gets `+N` in its local part. The same
    seed and the same order of keys give the same people (the file's sample relies on it)."""

    def __init__(self, rng: random.Random, companies: int) -> None:
        from dedupe import LeadFactory

        self._factory = LeadFactory(rng, companies=companies)
        self.rng = self._factory.rng
        self._seen: set[str] = set()

    def lead(self, key: int):  # type: ignore[no-untyped-def]
        from dataclasses import replace

        person = self._factory.lead(key)
        address = person.email.lower()
        if address in self._seen:
            local, _, domain = address.partition("@")
            address = f"{local}+{key}@{domain}"
            person = replace(person, email=address)
        self._seen.add(address)
        return person

    def altered(self, person, key: int):  # type: ignore[no-untyped-def]
        return self._factory.altered(person, key)


def write_file(path: Path, rows: int, leads: int, seed: int) -> None:
    from dedupe import LeadFactory

    stored = UniqueFactory(random.Random(seed), companies=max(200, leads // 8))
    # The stored leads are the factory's first people (same seed); its first batch of 5,000
    # is drawn before anything else uses the generator, so it comes out the same here.
    sample = [stored.lead(key) for key in range(min(leads, 5_000))]
    rng = random.Random(seed + 1)
    fresh = LeadFactory(random.Random(seed + 2), companies=max(200, leads // 8))
    written: list[list[str]] = []
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for i in range(rows):
            roll = rng.random()
            if roll < 0.10 and sample:
                person = rng.choice(sample)
                row = row_of(person)
            elif roll < 0.20 and sample:
                row = row_of(fresh.altered(rng.choice(sample), leads + i))
            elif roll < 0.25 and written:
                row = rng.choice(written)
            else:
                row = row_of(fresh.lead(leads + i))
            if len(written) < 10_000:
                written.append(row)
            writer.writerow(row)


def one_run(url: str, path: Path) -> dict[str, object]:
    """Import `path` into the store at `url` (this process), timed."""
    from bot.imports.run import Options, run_import
    from bot.rules.file import default_rules
    from storage.engine import Store

    store = Store(url)
    started = time.perf_counter()
    last = [started]

    def progress(rows: int, position: int, total: int) -> None:
        now = time.perf_counter()
        if now - last[0] >= 30:
            last[0] = now
            print(f"    {rows:,} rows, {rows / (now - started):,.0f} rows/s", flush=True)

    report = run_import(store, path, Options(actor="bench"), default_rules(), dry_run=False,
                        progress=progress)  # fmt: skip
    took = time.perf_counter() - started
    store.dispose()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "rows": report.counts["rows"],
        "seconds": took,
        "counts": report.counts,
        "rss_gib": usage.ru_maxrss / (1 << 20),
        "cpu": usage.ru_utime + usage.ru_stime,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1_000_000, help="leads stored first")
    parser.add_argument("--rows", default="100000,1000000", help="file sizes, comma-separated")
    parser.add_argument("--database-url", help="default: a new SQLite file in a temp folder")
    parser.add_argument("--reuse", action="store_true",
                        help="the store at --database-url holds the leads already")  # fmt: skip
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print("RESULT " + json.dumps(one_run(args.child[0], Path(args.child[1]))), flush=True)
        return
    from dedupe_store import load

    from storage.engine import Store
    from storage.migrate import upgrade

    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{folder}/bench.db"
        upgrade(url)
        print(f"store: {url.split('@')[-1]}; {args.leads:,} leads stored first; matching on")
        if not args.reuse:
            store = Store(url)
            factory = UniqueFactory(random.Random(args.seed), companies=max(200, args.leads // 8))
            load(store, factory, args.leads, keep=0)
            if not store.is_sqlite:  # the loader wrote the ids: move PostgreSQL's sequence on
                from sqlalchemy import text

                with store.transaction() as session:
                    session.execute(text("SELECT setval(pg_get_serial_sequence('leads', 'id'), "
                                         "(SELECT max(id) FROM leads))"))  # fmt: skip
            store.dispose()
        for size in (int(text) for text in args.rows.split(",") if text):
            path = Path(folder) / f"import-{size}.csv"
            write_file(path, size, args.leads, args.seed)
            mib = path.stat().st_size / (1 << 20)
            print(f"  importing {size:,} rows ({mib:,.0f} MiB) …", flush=True)
            child = subprocess.run(
                [sys.executable, __file__, "--child", url, str(path)],
                capture_output=False, text=True, stdout=subprocess.PIPE, check=True,
                env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
            )  # fmt: skip
            lines = [line for line in child.stdout.splitlines() if line.startswith("RESULT ")]
            for line in child.stdout.splitlines():
                if not line.startswith("RESULT "):
                    print(line)
            result = json.loads(lines[-1].removeprefix("RESULT "))
            rate = result["rows"] / result["seconds"]
            counts = result["counts"]
            print(
                f"  {size:,} rows: {result['seconds']:,.0f} s, {rate:,.0f} rows/s "
                f"(aim ≥ {AIM_ROWS_PER_S:,.0f}; {result['rows'] / result['cpu']:,.0f} rows per "
                f"CPU second of this process, load average {os.getloadavg()[0]:.1f}), "
                f"peak RSS {result['rss_gib']:.2f} GiB "
                f"(aim < {AIM_RSS_GIB:g}); new {counts['new']:,}, updated {counts['updated']:,}, "
                f"merged {counts['merged']:,}, flagged {counts['flagged']:,}, "
                f"repeats {counts['duplicates_in_file']:,}, held {counts['held']:,}, "
                f"bad {counts['bad']:,}",
                flush=True,
            )


if __name__ == "__main__":
    main()
