"""Capture benchmark: CPU milliseconds per new lead, de-duplicated among N stored, scored, graded
and queued: one mail at a time (`capture`) beside batches (`capture_many`).

A store of `--leads` synthetic leads (bench/import.py's loader: blocking keys and normal forms
as capture writes them) is built once and kept (`--store`, reused when it exists). Each mode
runs on a fresh copy of it, in a process of its own: `--mails` new people, each as the mail
extractor hands them to capture (name, company, title and phone from a signature; the sender's
address; the subject and an excerpt), with the mail channel's intake checks (flood counted on
the sender's address). Per lead: intake checks, create, de-duplicate, company link, timeline,
outbox; then `bot.scoring.qualification.refresh` (score, grade, MQL, assignment queue), as the
scorer does after the inbox worker (`refresh_many` for a batch). Modes:

- `one`: a transaction per mail, `capture` then `refresh` (the inbox worker today);
- `batch`: `capture_many` over `--batch` mails in one transaction, then `refresh` of each lead,
  with the store-backed matcher (what a drain has without a batch matcher);
- `batch+matcher`: the same with the import's batch matcher (bot/imports/batch.py), which reads
  the batch's blocks once.

CPU is this process's (user + system): on SQLite that is all of it; on PostgreSQL the server's
own CPU comes on top and is not counted. Prints figures, asserts nothing.

    .venv/bin/python bench/capture.py                       # 100,000 leads, 2,000 mails
    .venv/bin/python bench/capture.py --leads 20000 --mails 500 --modes one,batch+matcher
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

AIM_MS = 3.0
MODES = ("one", "batch", "batch+matcher")


def bench_import():  # type: ignore[no-untyped-def]
    """bench/import.py as a module (its name is a keyword): its store loader and factory."""
    spec = importlib.util.spec_from_file_location("bench_import", ROOT / "bench" / "import.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build(path: Path, leads: int, seed: int) -> None:
    from dedupe_store import load

    from storage.engine import Store
    from storage.migrate import upgrade

    url = f"sqlite:///{path}"
    upgrade(url)
    store = Store(url)
    factory = bench_import().UniqueFactory(random.Random(seed), companies=max(200, leads // 8))
    load(store, factory, leads, keep=0)
    store.dispose()


def mails(count: int, leads: int, seed: int) -> list[dict[str, str]]:
    """New people (none of them stored), as the mail extractor would find them."""
    from dedupe import LeadFactory

    fresh = LeadFactory(random.Random(seed + 2), companies=max(200, leads // 8))
    found = []
    for i in range(count):
        person = fresh.lead(leads + i)
        found.append({"email": person.email.lower(), "first_name": person.first_name,
                      "last_name": person.last_name, "company": person.company,
                      "title": person.title, "phone": person.phone})  # fmt: skip
    return found


def one_run(url: str, mode: str, people: list[dict[str, str]], batch: int) -> dict[str, float]:
    """Capture `people` into the store at `url` (this process) in `mode`, timed."""
    from bot.imports.batch import BatchMatcher
    from bot.leads import intake
    from bot.leads.capture import Captured, Draft, Evidence, Source, capture, capture_many
    from bot.rules.file import default_rules
    from bot.scoring.qualification import refresh, refresh_many
    from storage.engine import Store
    from storage.models import utcnow

    rules = default_rules()
    store = Store(url)

    def item(person: dict[str, str]) -> tuple[Draft, Source, Evidence]:
        address = person["email"]
        values = {k: v for k, v in person.items() if k != "email"}
        draft = Draft.of(address, enquiry="Could you send pricing for 40 seats?",
                         found=("name, title, company and phone from the signature",),
                         **values)  # fmt: skip
        source = Source("email", f"email:{address}", "an email to leads@localhost",
                        intake.address_key(address, rules.intake))  # fmt: skip
        evidence = Evidence("email.enquiry", "Pricing", {"excerpt": "Could you send pricing"})
        return draft, source, evidence

    items = [item(person) for person in people]
    made = 0
    started, cpu = time.perf_counter(), time.process_time()
    if mode == "one":
        for draft, source, evidence in items:
            with store.transaction() as session:
                result = capture(session, draft, source, evidence, rules=rules)
                if result.lead is not None:
                    refresh(session, result.lead, rules, utcnow())
                    made += result.created
    else:
        for start in range(0, len(items), batch):
            chunk = items[start : start + batch]
            with store.transaction() as session:
                matcher = None
                if mode == "batch+matcher":
                    matcher = BatchMatcher(rules.match)
                    matcher.load(session, [draft for draft, _, _ in chunk])
                options = {"matcher": matcher} if matcher is not None else {}
                results = capture_many(session, chunk, rules=rules, **options)
                captured = [r for r in results if isinstance(r, Captured) and r.lead]
                refresh_many(session, [r.lead for r in captured if r.lead], rules, utcnow())
                made += sum(r.created for r in captured)
    took, spent = time.perf_counter() - started, time.process_time() - cpu
    store.dispose()
    return {"mails": len(items), "created": made, "seconds": took, "cpu": spent,
            "rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1 << 20)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000, help="leads stored first")
    parser.add_argument("--mails", type=int, default=2_000, help="new leads captured per mode")
    parser.add_argument("--batch", type=int, default=100, help="mails per capture_many")
    parser.add_argument("--modes", default=",".join(MODES), help=f"of {', '.join(MODES)}")
    parser.add_argument("--store", type=Path, help="SQLite file of the stored leads (kept; "
                        "default: bench-capture-N.db in the temp folder)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        url, mode, people_file, batch = args.child
        people = json.loads(Path(people_file).read_text())
        print("RESULT " + json.dumps(one_run(url, mode, people, int(batch))), flush=True)
        return
    kept = args.store or Path(tempfile.gettempdir()) / f"bench-capture-{args.leads}.db"
    if not kept.exists():
        print(f"building {args.leads:,} stored leads in {kept} (kept for the next runs) …")
        build(kept, args.leads, args.seed)
    people = mails(args.mails, args.leads, args.seed)
    print(f"store: {args.leads:,} leads (SQLite); {args.mails:,} new people per mode, "
          f"each with a signature; batches of {args.batch}")  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        people_file = Path(folder) / "people.json"
        people_file.write_text(json.dumps(people))
        for mode in (m.strip() for m in args.modes.split(",") if m.strip()):
            copy = Path(folder) / f"{mode}.db"
            shutil.copy(kept, copy)
            child = subprocess.run(
                [sys.executable, __file__, "--child", f"sqlite:///{copy}", mode,
                 str(people_file), str(args.batch)],
                text=True, stdout=subprocess.PIPE, check=True,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )  # fmt: skip
            line = [x for x in child.stdout.splitlines() if x.startswith("RESULT ")][-1]
            result = json.loads(line.removeprefix("RESULT "))
            per_lead = 1000 * result["cpu"] / result["mails"]
            print(
                f"  {mode:>14}: {per_lead:5.2f} ms CPU per lead (aim < {AIM_MS:g}), "
                f"{result['mails'] / result['seconds']:,.0f} leads/s wall "
                f"({result['seconds']:.1f} s, CPU {result['cpu']:.1f} s, "
                f"load average {os.getloadavg()[0]:.1f}); created {result['created']:,}, "
                f"peak RSS {result['rss_gib']:.2f} GiB",
                flush=True,
            )
            copy.unlink()


if __name__ == "__main__":
    main()
