"""REST API benchmark: /api/v1 reads and creates, and webhook deliveries, against a real serve.

For each store (SQLite file, PostgreSQL) and each concurrency (1 and 20 clients, asyncio tasks
with a keep-alive httpx connection each), it seeds N leads, then for a fixed time reads one
lead with its timeline (GET /api/v1/leads/L-…), then creates leads through capture (POST
/api/v1/leads, new addresses), and prints requests/s with the p50/p99 of each request; GET
/healthz beside them is the floor, what the machine gives any route at that moment. Then it
commits M webhook events at once (email.opened on M leads, one transaction) and times how fast
serve's sender delivers them, signed, to a local receiver that verifies every signature with
the standardwebhooks library.

    .venv/bin/python bench/api.py                      # both stores, 1 and 20 clients
    .venv/bin/python bench/api.py --stores sqlite --seconds 10 --leads 10000

PostgreSQL is a throwaway cluster (as in the tests), or LEADBOT_TEST_POSTGRES_URL.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import storage.timeline
from bench.ingest import SERVE_IDLE_SECONDS, cpu_seconds, serve_pids
from storage.engine import Store
from storage.migrate import upgrade
from storage.models import Lead
from tests.fakes.webhook_receiver import Receiver
from tests.services.bot import RunningBot, running_bot
from tests.services.postgres import create_database, postgres_server

SCOPES = "leads:read,leads:write"
Request = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]


def seed(url: str, count: int) -> list[int]:
    store = Store(url)
    with store.transaction() as session:
        rows = [Lead(email=f"seed{i}@seed{i % 997}.test", company=f"Seed {i % 997}",
                     reply_token=uuid.uuid4().hex, source="csv") for i in range(count)]  # fmt: skip
        session.add_all(rows)
        session.flush()
        ids = [lead.id for lead in rows if lead.id is not None]
    store.dispose()
    return ids


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def hammer(
    bot: RunningBot, key: str, clients: int, seconds: float, request: Request
) -> tuple[float, list[float]]:
    """`clients` concurrent clients (asyncio tasks, each its own keep-alive connection: one
    thread, so the client's own GIL does not queue requests) send `request(client)` for
    `seconds`; requests/s and the times."""
    times: list[float] = []
    errors: list[str] = []

    async def one() -> None:
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=f"{bot.http_url}/api/v1", headers=headers,
                                     timeout=60) as c:  # fmt: skip
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                answer = await request(c)
                times.append(time.perf_counter() - start)
                if answer.status_code >= 300:
                    errors.append(f"{answer.status_code} {answer.text[:200]}")

    async def run() -> None:
        await asyncio.gather(*(one() for _ in range(clients)))

    deadline = time.perf_counter() + seconds
    began = time.perf_counter()
    asyncio.run(run())
    if errors:
        raise SystemExit(f"{len(errors)} requests failed, e.g. {errors[0]}")
    return len(times) / (time.perf_counter() - began), times


def report(store: str, clients: int, what: str, rate: float, times: list[float],
           cpu: float = 0.0) -> None:  # fmt: skip
    p50, p99 = statistics.median(times) * 1000, percentile(times, 0.99) * 1000
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{store:<9} {clients:>3} clients  {what:<7} {rate:8.0f} req/s   p50 {p50:6.1f} ms   "
          f"p99 {p99:6.1f} ms   ({len(times)} requests)   serve CPU {cpu:.2f} s   load {load}",
          flush=True)  # fmt: skip


def bench_store(name: str, url: str, args: argparse.Namespace) -> None:
    ids = seed(url, args.leads)
    with (
        tempfile.TemporaryDirectory() as workdir,
        # serve's default idle tick (the tests' 0.1 s makes every idle loop poll ten times a
        # second, CPU the answers need)
        running_bot(Path(workdir), url, LEADBOT_WORKER_IDLE_SECONDS=SERVE_IDLE_SECONDS) as bot,
    ):
        key = bot.cli("apikey", "create", "bench", "--scope", SCOPES, "--rate", "100000000")
        token = key.stdout.strip()

        async def read(c: httpx.AsyncClient) -> httpx.Response:
            return await c.get(f"/leads/L-{random.choice(ids)}")

        async def create(c: httpx.AsyncClient) -> httpx.Response:
            return await c.post("/leads", json={"email": new_address()})

        async def health(c: httpx.AsyncClient) -> httpx.Response:
            return await c.get(f"{bot.http_url}/healthz")

        # /healthz (no key, one small query) is the floor: what this machine gives any route.
        for clients in (1, 20):
            for what, request in (("healthz", health), ("reads", read), ("creates", create)):
                before = cpu_seconds(serve_pids(bot))
                rate, times = hammer(bot, token, clients, args.seconds, request)
                report(name, clients, what, rate, times, cpu_seconds(serve_pids(bot)) - before)
        bench_webhooks(name, url, bot, ids[: args.events])


def new_address() -> str:
    return f"{uuid.uuid4().hex[:12]}@{uuid.uuid4().hex[:10]}.test"


def bench_webhooks(name: str, url: str, bot: RunningBot, lead_ids: list[int]) -> None:
    receiver = Receiver()
    receiver.up()
    added = bot.cli_json("webhook", "add", receiver.url, "--events", "email.opened")
    receiver.secrets = [added["secret"]]
    store = Store(url)
    with store.transaction() as session:  # one transaction: every delivery is due at once
        for lead_id in lead_ids:
            storage.timeline.append(session, lead_id, actor="bench", kind="email.opened",
                                    summary="opened a nurture email")  # fmt: skip
    began = time.perf_counter()
    store.dispose()
    deadline = began + 300
    while len(receiver.unique()) < len(lead_ids):
        if time.perf_counter() > deadline:
            raise SystemExit(f"only {len(receiver.unique())} of {len(lead_ids)} delivered")
        time.sleep(0.01)
    seconds = time.perf_counter() - began
    receiver.down()
    bad = receiver.refused_signatures
    print(f"{name:<9} webhooks        {len(lead_ids) / seconds:8.0f} deliveries/s "
          f"({len(lead_ids)} events, {bad} bad signatures)", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", default="sqlite,postgres", help="sqlite,postgres")
    parser.add_argument("--leads", type=int, default=10_000, help="leads in the store first")
    parser.add_argument("--seconds", type=float, default=5.0, help="per measurement")
    parser.add_argument("--events", type=int, default=2000, help="webhook events to deliver")
    args = parser.parse_args()
    stores = args.stores.split(",")
    with ExitStack() as stack:
        if "sqlite" in stores:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            url = f"sqlite:///{folder / 'bench.db'}"
            upgrade(url)
            bench_store("sqlite", url, args)
        if "postgres" in stores:
            admin_url = stack.enter_context(postgres_server())
            url = create_database(admin_url, "leadbot_bench_api")
            upgrade(url)
            bench_store("postgres", url, args)


if __name__ == "__main__":
    main()
