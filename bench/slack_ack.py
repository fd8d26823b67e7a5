"""Slack ack benchmark: time from a signed request to Slack's ack, against a real `leadbot serve`.

With 10,000 leads in the store (spread over 20 reps), it sends `/lead mine` slash commands and
Qualify button clicks (each on a different lead, so each is a real transition) at 1 and 20
concurrent requests, and prints p50/p99 of the HTTP response, which is bolt's ack. Slack wants it
within 3 s; the aim is p99 under 200 ms. The Web API is the tests' local stand-in.

    .venv/bin/python bench/slack_ack.py
    .venv/bin/python bench/slack_ack.py --leads 10000 --requests 400 --stores sqlite postgres
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.leads.reply_address import new_reply_token
from storage.engine import Store
from storage.migrate import upgrade
from storage.models import Lead, Rep, utcnow
from tests.fakes.slack_api import slack_api_server
from tests.fakes.slack_signing import (
    block_actions_payload,
    interactivity_body,
    signed_headers,
    slash_command_body,
)
from tests.services.bot import running_bot
from tests.services.postgres import create_database, postgres_server

SECRET = "bench-signing-secret"
REPS = 20


def fill(url: str, leads: int) -> None:
    """Reps R-1…R-20 (Slack users U0REP1…) and `leads` leads owned round-robin."""
    upgrade(url)
    store = Store(url)
    now = utcnow()
    with store.transaction() as session:
        for n in range(1, REPS + 1):
            session.add(Rep(name=f"Rep {n}", email=f"rep{n}@sales.test", slack_user_id=f"U0REP{n}"))
        session.flush()
        rows = [
            {
                "email": f"lead{i}@company{i % 997}.test", "first_name": f"Lead{i}",
                "last_name": "Example", "company": f"Company {i % 997}", "source": "email",
                "status": "new", "stage": "lead", "owner_id": 1 + i % REPS, "custom": {},
                "reply_token": new_reply_token(), "enquiry": "Pricing please", "version": 1,
                "score": 0.0, "email_status": "ok", "created_at": now, "updated_at": now,
                "last_activity_at": now,
            }
            for i in range(leads)
        ]  # fmt: skip
        for start in range(0, len(rows), 2000):
            session.execute(insert(Lead), rows[start : start + 2000])
    store.dispose()


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


async def measure(http_url: str, bodies: list[bytes], concurrency: int) -> list[float]:
    latencies: list[float] = []
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=http_url, timeout=30) as client:

        async def one(body: bytes) -> None:
            async with gate:
                headers = signed_headers(body, SECRET)
                started = time.perf_counter()
                response = await client.post("/slack/events", content=body, headers=headers)
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    raise RuntimeError(f"HTTP {response.status_code}: {response.text}")

        await asyncio.gather(*(one(body) for body in bodies))
    return latencies


def run(url: str, leads: int, requests: int) -> list[tuple[str, int, float, float]]:
    fill(url, leads)
    results = []
    with (
        slack_api_server() as slack,
        tempfile.TemporaryDirectory() as workdir,
        running_bot(
            Path(workdir),
            url,
            LEADBOT_SLACK_BOT_TOKEN="xoxb-bench",
            LEADBOT_SLACK_SIGNING_SECRET=SECRET,
            LEADBOT_SLACK_API_URL=slack.url,
        ) as bot,
    ):
        next_lead = iter(range(1, leads + 1))
        for concurrency in (1, 20):
            mine = [
                slash_command_body("mine", user_id=f"U0REP{1 + i % REPS}",
                                   response_url=slack.response_url)
                for i in range(requests)
            ]  # fmt: skip
            clicks = []
            for _ in range(requests):
                lead_id = next(next_lead)
                owner = 1 + (lead_id - 1) % REPS
                payload = block_actions_payload(
                    "lead_qualify", f"{lead_id}:1", user_id=f"U0REP{owner}",
                    response_url=slack.response_url,
                )  # fmt: skip
                clicks.append(interactivity_body(payload))
            for kind, bodies in (("/lead mine", mine), ("Qualify click", clicks)):
                asyncio.run(measure(bot.http_url, bodies[:5], 1))  # warm up
                latencies = asyncio.run(measure(bot.http_url, bodies[5:], concurrency))
                results.append((kind, concurrency, statistics.median(latencies) * 1000,
                                percentile(latencies, 99) * 1000))  # fmt: skip
                print(f"  {kind:<14} {concurrency:>3} concurrent  p50 {results[-1][2]:7.1f} ms  "
                      f"p99 {results[-1][3]:7.1f} ms", flush=True)  # fmt: skip
                time.sleep(2)  # let the work after the acks finish before the next round
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--stores", nargs="+", default=["sqlite", "postgres"])
    args = parser.parse_args()
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        for name in args.stores:
            if name == "sqlite":
                url = f"sqlite:///{tmp}/bench.db"
            else:
                admin = stack.enter_context(postgres_server())
                url = create_database(admin, "leadbot_slack_bench")
            print(f"{name}: {args.leads} leads, {args.requests} requests per round", flush=True)
            run(url, args.leads, args.requests)


if __name__ == "__main__":
    main()
