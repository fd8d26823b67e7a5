"""Web-form benchmark: POST /f/NAME → committed submission → lead, against a real `leadbot serve`.

For each store (SQLite file, PostgreSQL) and each concurrency (1 and 20 clients, each on its own
keep-alive HTTP connection), it posts N distinct JSON submissions (distinct people, each with
its own fill token rendered ten seconds before), times every answer (202), then waits until
every submission is processed. It prints submissions accepted per second, the p50/p99 of the
answer, leads per second (first POST to last lead), the p50/p99 of the time from the commit of
a submission to its lead, and checks every submission became a lead. It also prints the CPU
time serve spent per POST and the form worker per lead (from /proc), which a busy machine does
not inflate: 1000 / (serve CPU ms) is what one core can accept per second.

    .venv/bin/python bench/forms.py                   # both stores, 1 and 20 clients, 1000 posts
    .venv/bin/python bench/forms.py --stores sqlite --submissions 3000 --clients 20

The per-IP and per-address limits are off for the run (one machine posts everything); the
other checks run as in production. PostgreSQL is a throwaway cluster, or
LEADBOT_TEST_POSTGRES_URL.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.ingest import SERVE_IDLE_SECONDS, percentile, person
from bot.forms import definitions
from bot.forms.tokens import FormTokens
from storage.engine import Store
from storage.migrate import upgrade
from tests.services.bot import children_of, running_bot
from tests.services.postgres import create_database, postgres_server

LANDING = "https://yourco.example/demo?utm_source=bench&utm_campaign=q4"
RULES = """
[forms]
per_ip_limit = 0
per_address_limit = 0
"""


def bodies(form_id: int, count: int, secret: str) -> list[dict[str, str]]:
    tokens = FormTokens(secret, clock=lambda: time.time() - 10)
    out = []
    for n in range(count):
        name, company, domain = person(n)
        first, last = name.split(" ", 1)
        out.append({"_token": tokens.fill_token(form_id), "email": f"{first.lower()}@{domain}",
                    "first_name": first, "last_name": last, "company": company,
                    "message": f"A demo for {n % 50 + 2} people, please.",
                    "_page": LANDING})  # fmt: skip
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used (from /proc: it does not count waiting for a core,
    so it reads the same on a busy machine as on an idle one)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_once(database_url: str, clients: int, count: int) -> dict[str, float]:
    upgrade(database_url)
    with tempfile.TemporaryDirectory(prefix="leadbot-bench-") as workdir:
        (Path(workdir) / "rules.toml").write_text(RULES)
        store = Store(database_url)
        with store.transaction() as session:
            form = definitions.create(session, "bench", ["email:required", "first_name",
                                      "last_name", "company", "message"],
                                      redirect="https://yourco.example/thanks")  # fmt: skip
            assert form.id is not None
            form_id = form.id
        # serve's default idle tick: a shorter one makes every loop poll the store and costs
        # serve's process the CPU its answers need (accepted posts wake the worker anyway).
        with running_bot(Path(workdir), database_url, LEADBOT_SLACK_WORKERS="0",
                         LEADBOT_WORKER_IDLE_SECONDS=SERVE_IDLE_SECONDS,
                         LEADBOT_RULES=str(Path(workdir) / "rules.toml")) as bot:  # fmt: skip
            payloads = bodies(form_id, count, bot.env["LEADBOT_SECRET_KEY"])
            url = f"{bot.http_url}/f/bench"
            latencies: list[float] = []
            lock = threading.Lock()
            next_index = iter(range(count))

            def client() -> None:
                with httpx.Client(timeout=30) as http:
                    while True:
                        with lock:
                            n = next(next_index, None)
                        if n is None:
                            return
                        started = time.perf_counter()
                        answer = http.post(url, json=payloads[n])
                        elapsed = time.perf_counter() - started
                        if answer.status_code != 202:
                            raise RuntimeError(f"POST answered {answer.status_code} {answer.text}")
                        with lock:
                            latencies.append(elapsed)

            assert bot.process is not None
            serve_pid = bot.process.pid
            serve_cpu = cpu_seconds(serve_pid)
            started = time.perf_counter()
            threads = [threading.Thread(target=client) for _ in range(clients)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            posted_at = time.perf_counter()
            serve_cpu = cpu_seconds(serve_pid) - serve_cpu
            with store.engine.connect() as connection:
                while True:
                    # Spooled posts (a SQLite store) reach form_submissions when moved.
                    settled = connection.execute(
                        text("select count(*) from form_submissions where state <> 'queued'")
                    ).scalar_one()
                    connection.commit()
                    if settled >= count:
                        break
                    time.sleep(0.02)
                finished = time.perf_counter()
                # the form worker (and serve's other children): what processing cost in CPU
                worker_cpu = sum(cpu_seconds(pid) for pid in children_of(serve_pid))
                rows = connection.execute(
                    text("select received_at, processed_at, state, lead_id from form_submissions")
                ).all()
                leads = connection.execute(text("select count(*) from leads")).scalar_one()
        store.dispose()
    done = [r for r in rows if r.state == "done" and r.lead_id is not None]
    if len(done) != count or leads != count:
        states = sorted({r.state for r in rows})
        raise RuntimeError(f"{len(done)} done ({states}), {leads} leads for {count} submissions")
    to_lead = [_seconds(r.processed_at) - _seconds(r.received_at) for r in rows]
    return {
        "accepted": count / (posted_at - started),
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "leads": count / (finished - started),
        "lead_p50_ms": statistics.median(to_lead) * 1000,
        "lead_p99_ms": percentile(to_lead, 99) * 1000,
        "serve_cpu_ms": serve_cpu / count * 1000,
        "worker_cpu_ms": worker_cpu / count * 1000,
    }


def _seconds(value: object) -> float:
    """A stored time as epoch seconds (SQLite hands back text, PostgreSQL a datetime)."""
    from datetime import datetime

    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    assert isinstance(moment, datetime)
    return moment.timestamp()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=1000)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 20])
    parser.add_argument("--stores", nargs="+", default=["sqlite", "postgres"])
    args = parser.parse_args()

    print(f"{'store':<10} {'clients':>7} {'posts':>6} {'accepted/s':>11} {'p50 ms':>7} "
          f"{'p99 ms':>7} {'leads/s':>8} {'to lead p50 ms':>15} "
          f"{'to lead p99 ms':>15} {'serve CPU ms/post':>18} "
          f"{'worker CPU ms/lead':>19}")  # fmt: skip
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="leadbot-bench-db-") as tmp:
        admin_url = stack.enter_context(postgres_server()) if "postgres" in args.stores else ""
        for store_name in args.stores:
            for clients in args.clients:
                if store_name == "sqlite":
                    url = f"sqlite:///{tmp}/forms-{clients}.db"
                else:
                    url = create_database(admin_url, f"leadbot_forms_bench_{clients}")
                r = run_once(url, clients, args.submissions)
                print(f"{store_name:<10} {clients:>7} {args.submissions:>6} "
                      f"{r['accepted']:>11.0f} "
                      f"{r['p50_ms']:>7.1f} {r['p99_ms']:>7.1f} {r['leads']:>8.0f} "
                      f"{r['lead_p50_ms']:>15.0f} {r['lead_p99_ms']:>15.0f} "
                      f"{r['serve_cpu_ms']:>18.2f} {r['worker_cpu_ms']:>19.1f}"
                      f"   load {' '.join(f'{x:.1f}' for x in os.getloadavg())}",
                      flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
