"""Reports benchmark: every report (and every dashboard chart) over a big store, on SQLite and
on PostgreSQL. It asserts nothing; it prints the store's size, how long building it took, and
each report's time over the default window (the last 90 days) and over all time.

The store is written in bulk: N leads spread over three years, ~10 timeline entries each (the
created, enquiry, assigned, MQL, work, note, open, click, qualify and convert entries a real
lead collects), and each lead's roll-up row derived from those entries by the roll-up's own
`derive` (what `leadbot report rebuild` writes). It then times `rebuild` itself over a sample
of leads, to give its rate.

The facts are written through the store's triggers (migration 0019), so the summaries the
reports read are the ones the triggers keep. Built stores are cached and reused: the SQLite file
and a PostgreSQL cluster of its own under --cache (default /work/cache/i17b; --fresh rebuilds).
Beside every wall time it prints the CPU seconds of this process and, on PostgreSQL, of the
server's processes, and the load average, so a figure taken on a busy machine can be judged.
Then (unless --no-http) it starts a real `leadbot serve` on each store and times the dashboard
as a manager opens it: GET /reports, which draws every chart, and each chart's CSV.

    .venv/bin/python bench/reports.py                      # 1,000,000 leads, both stores
    .venv/bin/python bench/reports.py --leads 200000 --stores sqlite
    .venv/bin/python bench/reports.py --database-url postgresql+psycopg://…/bench
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from sqlalchemy import insert, text

import storage.assignment
import storage.reports
from bot.reports import alerts, rollup
from bot.reports.dashboard import PANELS
from bot.reports.figures import REPORTS, Window
from bot.scoring import qualification
from storage.engine import Store
from storage.migrate import upgrade
from storage.models import Rep
from tests.services.bot import running_bot
from tests.services.ports import free_port, wait_for_port
from tests.services.postgres import _as_postgres_user, _pg_bin, create_database

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


def _sqlite_value(value):  # type: ignore[no-untyped-def]
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, dict | list):
        return json.dumps(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def write_rows(session, table: str, rows: list[dict]) -> None:  # type: ignore[no-untyped-def]
    """Rows in bulk through the driver (COPY on PostgreSQL): the store's triggers still fire."""
    if not rows:
        return
    columns = list(rows[0])
    raw = session.connection().connection.driver_connection
    if session.get_bind().dialect.name == "postgresql":
        names = ", ".join(f'"{c}"' for c in columns)
        with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([json.dumps(row[c]) if isinstance(row[c], dict | list) else row[c]
                                for c in columns])  # fmt: skip
        return
    marks = ", ".join("?" for _ in columns)
    raw.executemany(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
        [[_sqlite_value(row[c]) for c in columns] for row in rows],
    )


def build(stores: list[Store], leads: int, seed: int = 7) -> tuple[int, float]:
    """Write `leads` leads, their timeline and their roll-up rows into every store (generated
    once, written to each); (entries, seconds)."""
    rng = random.Random(seed)
    started = time.perf_counter()
    people = rollup.People({}, {})
    for store in stores:
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
        for store in stores:
            with store.transaction() as session:
                write_rows(session, "leads", lead_rows)
                write_rows(session, "timeline", timeline_rows)
                write_rows(session, "report_lead_facts", fact_rows)
        entries += len(timeline_rows)
        done = min(start + BATCH, leads)
        if done % (BATCH * 10) == 0 or done == leads:
            rate = done / (time.perf_counter() - started)
            print(f"  {done:,} leads, {entries:,} entries ({rate:,.0f} leads/s)", flush=True)
    for store in stores:
        finish(store)
    return entries, time.perf_counter() - started


def finish(store: Store) -> None:
    with store.transaction() as session:
        # The roll-up rows are written: the roll-up's cursor stands at the end of the timeline.
        cursor = storage.assignment.cursor_for_update(session, rollup.CURSOR)
        cursor.position = storage.reports.last_timeline_id(session)
        session.add(cursor)
    kept_up(store)
    with store.transaction() as session:
        if store.is_sqlite:
            session.execute(text("ANALYZE"))
        else:
            session.execute(text("ANALYZE"))
            for table in ("leads", "timeline", "report_lead_facts"):
                session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                                     f" (SELECT max(id) FROM {table}))")
                                if table != "report_lead_facts" else text("SELECT 1"))  # fmt: skip


def kept_up(store: Store) -> None:
    """The store as a serve that kept up with it leaves it: the scorer and the hot-lead alerts
    have read the whole timeline (the bulk build wrote it behind their backs), so a serve
    started on it for the HTTP figures answers instead of scoring three years of history."""
    with store.transaction() as session:
        last = storage.reports.last_timeline_id(session)
        for name in (qualification.CURSOR, alerts.TIMELINE_CURSOR):
            cursor = storage.assignment.cursor_for_update(session, name)
            cursor.position = max(cursor.position, last)
            session.add(cursor)


def measure_http(label: str, url: str) -> None:
    """The dashboard as a manager opens it: GET /reports (every chart in one page) and each
    chart's CSV, from a real `leadbot serve` on the store; median of 3 each."""
    with tempfile.TemporaryDirectory() as folder, running_bot(Path(folder), url) as bot:
        found = re.search(r"/reports\?t=\S+", bot.cli("report", "link", "--days", "1").stdout)
        assert found is not None, "report link printed no link"
        page = found.group(0)
        print(f"\n{label} over HTTP (a real serve), median of 3; {load()}")
        with httpx.Client(base_url=bot.http_url, timeout=60) as client:

            def get(path: str) -> tuple[float, httpx.Response]:
                runs = []
                for _ in range(3):
                    started = time.perf_counter()
                    answer = client.get(path)
                    runs.append(time.perf_counter() - started)
                    answer.raise_for_status()
                return statistics.median(runs), answer

            wall, answer = get(page)
            worst = wall
            print(f"  {'GET /reports':<28}{wall:>8.3f}s  ({len(answer.content):,} bytes)")
            query = page.split("?", 1)[1]  # the page's own window: its defaults
            for name in PANELS:
                wall, _ = get(f"/reports/{name}.csv?{query}")
                worst = max(worst, wall)
                print(f"  GET {f'/reports/{name}.csv':<24}{wall:>8.3f}s")
        print(f"  slowest: {worst:.3f}s ({'within' if worst < AIM_SECONDS else 'OVER'} the aim)")


# The postmaster of the cluster measured (set by cached_postgres): its processes are counted.
POSTMASTER: list[int] = []


def server_cpu() -> float:
    """CPU seconds used so far by the measured cluster's processes (from /proc)."""
    if not POSTMASTER:
        return 0.0
    total = 0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as stat:
                values = stat.read().rsplit(")", 1)[1].split()
            if int(pid) in POSTMASTER or int(values[1]) in POSTMASTER:
                total += int(values[11]) + int(values[12])
        except (OSError, IndexError, ValueError):
            continue
    return total / tick


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def load() -> str:
    return "load " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def timed(work) -> tuple[float, float, float]:  # type: ignore[no-untyped-def]
    """Median wall seconds of 3 runs, and the CPU seconds (this process, PostgreSQL) per run."""
    runs = []
    cpu, server = own_cpu(), server_cpu()
    for _ in range(3):
        started = time.perf_counter()
        work()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs), (own_cpu() - cpu) / 3, (server_cpu() - server) / 3


def measure(store: Store, label: str, rebuild_sample: int) -> None:
    windows = {
        "90 days": Window.default(NOW),
        "all time": Window(NOW - timedelta(days=4 * 365), NOW, by="month", now=NOW),
    }
    print(f"\n{label}: each report, median of 3 runs (aim: under {AIM_SECONDS:g} s); "
          f"cpu = this process + PostgreSQL per run; {load()}")  # fmt: skip
    print(f"  {'report':<22}{'90 days':>10} {'cpu':>12}{'all time':>10} {'cpu':>12}")
    worst = 0.0
    wall, cpu, server = timed(lambda: rollup.catch_up(store))
    print(f"  {'catch-up (no news)':<22}{wall:>9.3f}s {cpu:>5.2f}+{server:<5.2f}s")
    items = [(name, REPORTS[name]) for name in REPORTS] + [
        (f"chart:{name}", lambda s, w, n=name: PANELS[n](s, w)) for name in PANELS
    ]
    for name, report in items:
        cells = []
        for window in windows.values():

            def run(report=report, window=window) -> None:  # type: ignore[no-untyped-def]
                with store.reading() as session:
                    report(session, window)

            wall, cpu, server = timed(run)
            worst = max(worst, wall)
            cells.append(f"{wall:>9.3f}s {cpu:>5.2f}+{server:<5.2f}s")
        print(f"  {name:<22}{cells[0]}{cells[1]}", flush=True)
    print(f"  slowest: {worst:.3f}s ({'within' if worst < AIM_SECONDS else 'OVER'} the aim); "
          f"{load()}")  # fmt: skip
    if rebuild_sample:
        started, cpu = time.perf_counter(), own_cpu()
        with store.transaction() as session:
            rollup.refresh(session, range(1, rebuild_sample + 1))
        seconds = time.perf_counter() - started
        print(f"  rebuild rate: {rebuild_sample / seconds:,.0f} leads/s from the timeline "
              f"({rebuild_sample:,} leads in {seconds:.1f}s, "
              f"cpu {own_cpu() - cpu:.1f}s)")  # fmt: skip


@contextmanager
def cached_postgres(folder: Path) -> Iterator[str]:
    """A PostgreSQL cluster kept in `folder` between runs (its databases are the cache)."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    data, sockets = folder / "data", folder / "run"
    sockets.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        shutil.chown(sockets, "postgres")
    if not data.exists():
        subprocess.run(_as_postgres_user([initdb, "-D", str(data), "-U", "leadbot",
                                          "--auth=trust", "-E", "UTF8", "--no-sync"]),
                       check=True, capture_output=True)  # fmt: skip
    port = free_port()
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(_as_postgres_user([pg_ctl, "-D", str(data), "-o", options, "-l",
                                      str(folder / "log"), "-w", "start"]),
                   check=True, capture_output=True)  # fmt: skip
    try:
        wait_for_port(port)
        POSTMASTER.append(int((data / "postmaster.pid").read_text().split()[0]))
        yield f"postgresql+psycopg://leadbot@127.0.0.1:{port}/postgres"
    finally:
        POSTMASTER.clear()
        subprocess.run(_as_postgres_user([pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"]),
                       capture_output=True)  # fmt: skip


def built(store: Store) -> int:
    """How many leads a cached store holds (0 when it is empty or was not finished)."""
    with store.reading() as session:
        finished = storage.assignment.cursor_position(session, rollup.CURSOR)
        return storage.reports.lead_count(session) if finished else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--database-url", default="", help="use this store (emptied) instead")
    parser.add_argument("--cache", default="/work/cache/i17b", help="where built stores are kept")
    parser.add_argument("--fresh", action="store_true", help="build the cached stores again")
    parser.add_argument(
        "--rebuild-sample",
        type=int,
        default=5000,
        help="leads derived again from the timeline to time it (0: skip)",
    )
    parser.add_argument(
        "--as-is",
        action="store_true",
        help="measure the cached store as far as its build got (no building)",
    )
    parser.add_argument(
        "--no-http",
        dest="http",
        action="store_false",
        help="skip the dashboard over HTTP (a real serve on each store)",
    )
    args = parser.parse_args()
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        urls: list[tuple[str, str]] = []
        if args.database_url:
            urls.append((args.database_url.split(":", 1)[0], args.database_url))
        else:
            if "sqlite" in args.stores:
                path = cache / f"reports-{args.leads}.db"
                if args.fresh and path.exists():
                    path.unlink()
                urls.append(("SQLite", f"sqlite:///{path}"))
            if "postgres" in args.stores:
                admin = stack.enter_context(cached_postgres(cache / "postgres"))
                name = f"reports_{args.leads}"
                url = admin.rsplit("/", 1)[0] + f"/{name}"
                probe = Store(admin)
                with probe.reading() as session:
                    exists = session.execute(
                        text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
                    ).first()
                probe.dispose()
                if args.fresh or not exists:
                    url = create_database(admin, name)
                urls.append(("PostgreSQL", url))
        stores: list[tuple[str, Store]] = []
        for label, url in urls:
            upgrade(url)
            stores.append((label, Store(url)))
        empty = []
        for label, store in stores:
            if args.as_is:
                finish(store)  # the roll-up's cursor at the end of what was written, ANALYZE
                with store.reading() as session:
                    have = storage.reports.lead_count(session)
                    entries = storage.reports.last_timeline_id(session)
                print(f"{label}: the cached store as far as it was built: {have:,} leads, "
                      f"{entries:,} timeline entries")  # fmt: skip
                continue
            have = built(store)
            if have and have != args.leads:
                raise SystemExit(f"{label}: the cached store holds {have:,} leads; --fresh")
            if not have:
                empty.append((label, store))
            else:
                kept_up(store)
                print(f"{label}: the cached store of {have:,} leads")
        if empty:
            names = " and ".join(label for label, _ in empty)
            print(f"{names}: building {args.leads:,} leads; {load()}", flush=True)
            cpu = own_cpu()
            entries, seconds = build([store for _, store in empty], args.leads)
            print(f"{names}: {args.leads:,} leads, {entries:,} timeline entries, built in "
                  f"{seconds:.0f}s (cpu {own_cpu() - cpu:.0f}s here); {load()}")  # fmt: skip
        for (label, store), (_, url) in zip(stores, urls, strict=True):
            measure(store, label, args.rebuild_sample)
            store.dispose()
            if args.http:
                measure_http(label, url)


if __name__ == "__main__":
    main()
