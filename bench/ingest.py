"""Ingest benchmark: SMTP DATA → committed lead, against a real `leadbot serve` process.

For each store (SQLite file, PostgreSQL) and each concurrency (1 and 20 senders), it sends N
distinct enquiries over persistent SMTP connections, times every DATA → 250 reply, and waits
until every message is processed. It prints messages per second (first DATA to last committed
lead) and the p50/p99 of the 250 reply.

    .venv/bin/python bench/ingest.py                    # both stores, 1 and 20 senders, 1000 mails
    .venv/bin/python bench/ingest.py --stores sqlite --messages 3000

PostgreSQL is a throwaway cluster (as in the tests), or LEADBOT_TEST_POSTGRES_URL.
"""

from __future__ import annotations

import argparse
import smtplib
import statistics
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from storage.engine import Store
from storage.migrate import upgrade
from tests.services.bot import running_bot
from tests.services.postgres import create_database, postgres_server

BODY = """Hello,

we are {n} people in sales and would like a demo of your product next week.

Kind regards,
{name}
Sales Director
{company} Ltd
Tel: +44 20 7946 {n:04d}
"""
# Distinct people at distinct companies (de-duplication would rightly merge look-alikes).
FIRST = ("Sam", "Ann", "Raj", "Mia", "Tom", "Eva", "Lou", "Kim", "Ben", "Zoe", "Ali", "Ida",
         "Max", "Ada", "Jon", "Liv", "Ray", "Sue", "Ned", "Fay")  # fmt: skip
LAST = ("Archer", "Baxter", "Carver", "Dalton", "Ellison", "Fletcher", "Garner", "Hollis",
        "Ingram", "Jarvis", "Keller", "Lowell", "Mercer", "Norris", "Oakley", "Porter", "Quincy",
        "Radley", "Sutton", "Thorne", "Upton", "Vance", "Walsh", "Yardley", "Zeller")  # fmt: skip
PREFIX = ("", "Mac", "Fitz", "Van ", "De ", "O'", "St ", "Le ")
WORDS = ("Amber", "Birch", "Cobalt", "Delta", "Ember", "Falcon", "Granite", "Harbor", "Indigo",
         "Juniper", "Kestrel", "Lumen", "Meridian", "Nimbus", "Onyx", "Pioneer", "Quartz",
         "Raven", "Summit", "Tundra", "Umber", "Vertex", "Willow", "Zenith")  # fmt: skip


def person(n: int) -> tuple[str, str, str]:
    """Name, company and domain of sender n: one name per sender for n < 20 * 25 * 8 = 4,000."""
    first, rest = FIRST[n % len(FIRST)], n // len(FIRST)
    last, rest = LAST[rest % len(LAST)], rest // len(LAST)
    last = PREFIX[rest % len(PREFIX)] + last
    word1, word2 = WORDS[rest % len(WORDS)], WORDS[(rest // len(WORDS) + n) % len(WORDS)]
    company = f"{word1} {word2} {last[:3]}{first[:2]}"
    return f"{first} {last}", company, f"{word1}-{word2}-{n}.co.uk".lower()


def build_message(n: int) -> bytes:
    name, company, domain = person(n)
    message = EmailMessage()
    message["From"] = f"{name} <{name.split()[0].lower()}@{domain}>"
    message["To"] = "leads@acme-leads.test"
    message["Subject"] = f"Demo request {n}"
    message["Message-ID"] = make_msgid(domain=domain)
    message.set_content(BODY.format(n=n % 10000, name=name, company=company))
    return message.as_bytes()


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


def run_once(database_url: str, senders: int, messages: int) -> dict[str, float]:
    upgrade(database_url)
    with (
        tempfile.TemporaryDirectory(prefix="leadbot-bench-") as workdir,
        running_bot(Path(workdir), database_url, LEADBOT_WORKER_IDLE_SECONDS="0.05") as bot,
    ):
        store = Store(database_url)
        payloads = [build_message(n) for n in range(messages)]
        latencies: list[float] = []
        lock = threading.Lock()
        next_index = iter(range(messages))

        def sender() -> None:
            with smtplib.SMTP("127.0.0.1", bot.smtp_port, timeout=30) as client:
                client.ehlo()
                while True:
                    with lock:
                        n = next(next_index, None)
                    if n is None:
                        return
                    client.mail("sender@example.test")
                    client.rcpt("leads@acme-leads.test")
                    started = time.perf_counter()
                    code, reply = client.data(payloads[n])
                    elapsed = time.perf_counter() - started
                    if code != 250:
                        raise RuntimeError(f"DATA answered {code} {reply!r}")
                    with lock:
                        latencies.append(elapsed)

        started = time.perf_counter()
        threads = [threading.Thread(target=sender) for _ in range(senders)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        sent_at = time.perf_counter()
        with store.engine.connect() as connection:
            while True:
                done = connection.execute(
                    text("select count(*) from inbound_messages where state <> 'queued'")
                ).scalar_one()
                connection.commit()
                if done >= messages:
                    break
                time.sleep(0.02)
            finished = time.perf_counter()
            leads = connection.execute(text("select count(*) from leads")).scalar_one()
        store.dispose()
        if leads != messages:
            raise RuntimeError(f"{leads} leads for {messages} messages")
        return {
            "rate": messages / (finished - started),
            "accept_rate": messages / (sent_at - started),
            "p50_ms": statistics.median(latencies) * 1000,
            "p99_ms": percentile(latencies, 99) * 1000,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--senders", type=int, nargs="+", default=[1, 20])
    parser.add_argument("--stores", nargs="+", default=["sqlite", "postgres"])
    args = parser.parse_args()

    print(f"{'store':<10} {'senders':>7} {'msgs':>6} {'leads/s':>9} {'accepted/s':>11} "
          f"{'250 p50 ms':>11} {'250 p99 ms':>11}")  # fmt: skip
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="leadbot-bench-db-") as tmp:
        admin_url = stack.enter_context(postgres_server()) if "postgres" in args.stores else ""
        for store_name in args.stores:
            for senders in args.senders:
                if store_name == "sqlite":
                    url = f"sqlite:///{tmp}/bench-{senders}.db"
                else:
                    url = create_database(admin_url, f"leadbot_bench_{senders}")
                result = run_once(url, senders, args.messages)
                print(f"{store_name:<10} {senders:>7} {args.messages:>6} {result['rate']:>9.0f} "
                      f"{result['accept_rate']:>11.0f} {result['p50_ms']:>11.1f} "
                      f"{result['p99_ms']:>11.1f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
