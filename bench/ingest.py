"""Ingest benchmark: SMTP DATA → 250 → lead → the rep's notification, beside the fsync ceiling.

In one run it measures:

- the **ceiling**: a bare aiosmtpd listener (a process of its own) that writes each mail to a
  file of its own and fsyncs it before its 250: what any Python listener that keeps what it
  acknowledges can do on this disk;
- **leadbot** (a real `leadbot serve` process) on a SQLite file and on PostgreSQL (with 1 and 2
  inbox workers): accepted/s and the 250's p50/p99 at 1, 4 and 20 senders (persistent SMTP
  connections, N distinct people, each mail with a signature), then leads drained per second
  (first DATA to the last message processed);
- the time from the 250 to the rep's notification (the lead's first outbox item sent), p50/p99,
  with mails offered at a steady `--offered` per second.

Beside each wall-clock figure it prints the CPU seconds of the measured processes (serve and its
worker processes, or the ceiling listener; read from /proc, which waiting for a core does not
inflate) and the load average, so a figure from a busy machine can be judged.

    .venv/bin/python bench/ingest.py                                  # everything, 600 mails
    .venv/bin/python bench/ingest.py --stores sqlite --senders 1 4 --messages 300
    .venv/bin/python bench/ingest.py --stores postgres-spool   # PostgreSQL behind a spool file

PostgreSQL is a throwaway cluster (as in the tests), or LEADBOT_TEST_POSTGRES_URL.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import smtplib
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.config import Settings
from storage.engine import Store
from storage.migrate import upgrade
from tests.services.bot import RunningBot, children_of, running_bot
from tests.services.ports import free_port, wait_for_port
from tests.services.postgres import create_database, postgres_server

# The benches run serve on its default idle tick, as production does (the tests' 0.1 s makes
# every idle loop poll the store ten times a second, CPU the doors' answers need).
SERVE_IDLE_SECONDS = str(Settings.model_fields["worker_idle_seconds"].default)

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
TO = "leads@acme-leads.test"


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
    message["To"] = TO
    message["Subject"] = f"Demo request {n}"
    message["Message-ID"] = make_msgid(domain=domain)
    message.set_content(BODY.format(n=n % 10000, name=name, company=company))
    return message.as_bytes()


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU these processes have used, from /proc."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


# --- the ceiling: a bare aiosmtpd listener that fsyncs each mail ---------------------------


def ceiling_main(port: int, directory: str) -> None:
    """The ceiling listener's process: 250 once the mail's own file is fsynced."""
    from aiosmtpd.smtp import SMTP

    counter = iter(range(10**9))

    def keep(data: bytes) -> None:
        fd = os.open(f"{directory}/{next(counter)}.eml", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)

    class Handler:
        async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
            await asyncio.to_thread(keep, envelope.original_content)  # type: ignore[attr-defined]
            return "250 2.0.0 OK"

    async def main() -> None:
        loop = asyncio.get_running_loop()
        await loop.create_server(lambda: SMTP(Handler(), hostname="ceiling"), "127.0.0.1", port)
        await asyncio.Event().wait()

    asyncio.run(main())


@contextmanager
def ceiling_listener(directory: Path) -> Iterator[tuple[int, int]]:
    port = free_port()
    process = subprocess.Popen([sys.executable, __file__, "--ceiling-server", str(port),
                                str(directory)])  # fmt: skip
    try:
        wait_for_port(port, timeout=30)
        yield port, process.pid
    finally:
        process.terminate()
        process.wait(10)


# --- senders ---------------------------------------------------------------------------------


@dataclass
class Sent:
    seconds: float  # first DATA to the last 250
    latencies: list[float]
    started: float  # time.time() of the first DATA


def send(port: int, payloads: list[bytes], senders: int, offered: float = 0.0) -> Sent:
    """Send every payload over `senders` persistent connections; with `offered`, mail n leaves
    no earlier than n / offered seconds after the start (a steady arrival rate)."""
    latencies: list[float] = []
    lock = threading.Lock()
    next_index = iter(range(len(payloads)))
    errors: list[BaseException] = []
    go = threading.Barrier(senders + 1)
    begin = [0.0]

    def sender() -> None:
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
                client.ehlo()
                go.wait()
                while True:
                    with lock:
                        n = next(next_index, None)
                    if n is None:
                        return
                    if offered:
                        delay = begin[0] + n / offered - time.perf_counter()
                        if delay > 0:
                            time.sleep(delay)
                    client.mail("sender@example.test")
                    client.rcpt(TO)
                    started = time.perf_counter()
                    code, reply = client.data(payloads[n])
                    elapsed = time.perf_counter() - started
                    if code != 250:
                        raise RuntimeError(f"DATA answered {code} {reply!r}")
                    with lock:
                        latencies.append(elapsed)
        except BaseException as exc:
            errors.append(exc)
            raise

    threads = [threading.Thread(target=sender) for _ in range(senders)]
    for thread in threads:
        thread.start()
    go.wait()
    wall_start = time.time()
    begin[0] = started = time.perf_counter()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"a sender failed: {errors[0]!r}")
    return Sent(time.perf_counter() - started, latencies, wall_start)


def accept_row(label: str, senders: int, sent: Sent, cpu: float, count: int) -> str:
    p50 = statistics.median(sent.latencies) * 1000
    p99 = percentile(sent.latencies, 99) * 1000
    return (f"{label:<22} {senders:>7} {count:>6} {count / sent.seconds:>10.0f} {p50:>8.1f} "
            f"{p99:>8.1f} {cpu:>8.2f}")  # fmt: skip


# --- leadbot ---------------------------------------------------------------------------------


def processed(store: Store) -> int:
    with store.engine.connect() as connection:
        return connection.execute(
            text("select count(*) from inbound_messages where state <> 'queued'")
        ).scalar_one()


def wait_processed(store: Store, total: int, timeout: float = 900.0) -> float:
    """Wait until `total` messages are processed; the time.time() when they were."""
    deadline = time.monotonic() + timeout
    while processed(store) < total:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{processed(store)} of {total} processed after {timeout}s")
        time.sleep(0.02)
    return time.time()


def _epoch(value: object) -> float:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    assert isinstance(moment, datetime)
    if moment.tzinfo is None:
        from datetime import UTC

        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def notification_delays(store: Store, since_id: int) -> list[float]:
    """Per lead of the mails after `since_id`: its first outbox item sent, minus the 250."""
    with store.engine.connect() as connection:
        rows = connection.execute(
            text(
                "select m.received_at, min(o.sent_at) from inbound_messages m"
                " join outbox o on o.lead_id = m.lead_id"
                " where m.id > :since and o.sent_at is not null"
                " group by m.id, m.received_at"
            ),
            {"since": since_id},
        ).all()
    return [_epoch(sent) - _epoch(received) for received, sent in rows]


def wait_notified(store: Store, since_id: int, count: int, timeout: float = 300.0) -> list[float]:
    deadline = time.monotonic() + timeout
    while True:
        delays = notification_delays(store, since_id)
        if len(delays) >= count or time.monotonic() > deadline:
            return delays
        time.sleep(0.05)


def max_inbound_id(store: Store) -> int:
    with store.engine.connect() as connection:
        return connection.execute(text("select coalesce(max(id), 0) from inbound_messages")
                                  ).scalar_one()  # fmt: skip


def serve_pids(bot: RunningBot) -> list[int]:
    assert bot.process is not None
    return [bot.process.pid, *children_of(bot.process.pid)]


def run_leadbot(
    label: str,
    url: str,
    workers: int,
    args: argparse.Namespace,
    ceiling: dict[int, float],
    spooled: bool = False,
) -> None:
    upgrade(url)
    with tempfile.TemporaryDirectory(prefix="leadbot-bench-") as workdir:
        # PostgreSQL with a spool file: the doors commit there, as on SQLite (LEADBOT_SPOOL).
        spool = {"LEADBOT_SPOOL": f"{workdir}/leadbot.spool"} if spooled else {}
        with running_bot(Path(workdir), url, LEADBOT_INBOX_WORKERS=str(workers),
                         LEADBOT_SLACK_WORKERS="0", LEADBOT_WORKER_IDLE_SECONDS=args.idle,
                         **spool) as bot:  # fmt: skip
            run_phases(label, url, bot, args, ceiling)


def run_phases(
    label: str, url: str, bot: RunningBot, args: argparse.Namespace, ceiling: dict[int, float]
) -> None:
    """Each sender count in turn on one serve, then the paced run for the notification time."""
    store = Store(url)
    first = 0
    total = 0
    for senders in args.senders:
        payloads = [build_message(first + n) for n in range(args.messages)]
        first += args.messages
        pids = serve_pids(bot)
        cpu_before = cpu_seconds(pids)
        sent = send(bot.smtp_port, payloads, senders)
        accept_cpu = cpu_seconds(pids) - cpu_before
        total += len(payloads)
        done_at = wait_processed(store, total)
        all_cpu = cpu_seconds(serve_pids(bot)) - cpu_before
        drained = len(payloads) / (done_at - sent.started)
        share = len(payloads) / sent.seconds / ceiling[senders] * 100 if ceiling else 0
        print(accept_row(label, senders, sent, accept_cpu, len(payloads))
              + f" {drained:>8.0f} {all_cpu / len(payloads) * 1000:>11.1f}"
              f" {share:>9.0f}%   load {load_average()}", flush=True)  # fmt: skip
    if args.offered:
        since = max_inbound_id(store)
        payloads = [build_message(first + n) for n in range(args.paced)]
        sent = send(bot.smtp_port, payloads, 4, offered=args.offered)
        delays = wait_notified(store, since, len(payloads))
        missing = len(payloads) - len(delays)
        print(f"{label:<22} 250→notification at {args.offered:.0f} mails/s offered "
              f"({len(payloads)} mails, {len(payloads) / sent.seconds:.0f}/s sent): "
              f"p50 {statistics.median(delays) * 1000:.0f} ms, "
              f"p99 {percentile(delays, 99) * 1000:.0f} ms"
              f"{f', {missing} not notified' if missing else ''}   load {load_average()}",
              flush=True)  # fmt: skip
    store.dispose()


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--ceiling-server":
        ceiling_main(int(sys.argv[2]), sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=600, help="mails per sender count")
    parser.add_argument("--senders", type=int, nargs="+", default=[1, 4, 20])
    parser.add_argument("--stores", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                        help="inbox workers on PostgreSQL (SQLite runs one)")  # fmt: skip
    parser.add_argument("--offered", type=float, default=100.0,
                        help="mails/s for the 250→notification run (0: no such run)")  # fmt: skip
    parser.add_argument("--paced", type=int, default=300, help="mails in that run")
    parser.add_argument("--idle", default=SERVE_IDLE_SECONDS,
                        help="LEADBOT_WORKER_IDLE_SECONDS of serve (its default)")  # fmt: skip
    args = parser.parse_args()

    print(f"{time.strftime('%H:%M:%S')} load {load_average()} on {os.cpu_count()} cores")
    print(f"{'':<22} {'senders':>7} {'mails':>6} {'accepted/s':>10} {'250 p50':>8} "
          f"{'250 p99':>8} {'CPU s':>8} {'leads/s':>8} {'CPU ms/lead':>11} "
          f"{'of ceiling':>10}")  # fmt: skip
    print(f"{'':<22} {'':>7} {'':>6} {'':>10} {'ms':>8} {'ms':>8} {'(accept)':>8}")
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="leadbot-bench-db-") as tmp:
        ceiling: dict[int, float] = {}
        mails = Path(tmp) / "ceiling"
        mails.mkdir()
        with ceiling_listener(mails) as (port, pid):
            for senders in args.senders:
                payloads = [build_message(n) for n in range(args.messages)]
                before = cpu_seconds([pid])
                sent = send(port, payloads, senders)
                ceiling[senders] = len(payloads) / sent.seconds
                print(accept_row("ceiling (fsync/mail)", senders, sent,
                                 cpu_seconds([pid]) - before, len(payloads))
                      + f"   load {load_average()}", flush=True)  # fmt: skip
        wants_pg = any(name.startswith("postgres") for name in args.stores)
        admin_url = stack.enter_context(postgres_server()) if wants_pg else ""
        for store_name in args.stores:
            for workers in [1] if store_name == "sqlite" else args.workers:
                if store_name == "sqlite":
                    url = f"sqlite:///{tmp}/bench.db"
                else:
                    name = store_name.replace("-", "_")
                    url = create_database(admin_url, f"leadbot_bench_{name}_w{workers}")
                label = f"{store_name}, {workers} worker{'s' if workers > 1 else ''}"
                run_leadbot(label, url, workers, args, ceiling, store_name == "postgres-spool")
    print(f"{time.strftime('%H:%M:%S')} load {load_average()}")


if __name__ == "__main__":
    main()
