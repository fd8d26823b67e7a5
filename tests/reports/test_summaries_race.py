"""Two processes rewrite report facts on PostgreSQL at the same time, each its own leads but
the same summary rows (same days, months, channels, owners and speed buckets): the triggers'
upserts (one writer of facts at a time, an advisory lock to its commit) lose no count and
deadlock nowhere, and the summaries give exactly the figures of a scan afterwards."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import storage.leads
import storage.reports
from bot.reports.figures import Window, _speeds_from_facts, _speeds_from_histograms
from storage.engine import Store
from storage.models import Lead

REPO = Path(__file__).resolve().parents[2]
LEADS_EACH = 12

WORKER = """
import random, sys, time
from datetime import UTC, datetime, timedelta
from pathlib import Path
import storage.reports
from bot.reports.rollup import periods
from storage.engine import Store
from storage.report_tables import speed_bucket

url, go, first, count = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(first)
store = Store(url)
while not go.exists():
    time.sleep(0.005)
for round in range(15):
    # the first round writes every lead's fact, the others rewrite four at a time
    mine = range(first, first + count)
    ids = list(mine) if round == 0 else rng.sample(mine, 4)
    facts = []
    for lead_id in ids:
        at = datetime(2026, 11, rng.choice((2, 3)), 9, tzinfo=UTC) + timedelta(minutes=lead_id)
        touch = float(rng.choice((600, 3600, 7200)) + lead_id)
        converted = rng.random() < 0.3
        facts.append({
            "lead_id": lead_id, "arrived_at": at, **periods(at.date()),
            "source": rng.choice(("email", "form")), "utm_source": "", "utm_campaign": "",
            "owner_id": None, "status": "converted" if converted else "working",
            "stage": "opportunity" if converted else "lead", "is_open": not converted,
            "reached_mql": converted, "reached_sql": converted, "converted": converted,
            "converted_at": at if converted else None,
            "convert_seconds": 86400.0 if converted else None,
            "amount": 100.0 if converted else None, "worked": True, "sla_misses": 0,
            "touch_from": at, "touched_at": at + timedelta(seconds=touch),
            "touch_seconds": touch, "touch_work_seconds": touch,
            "touch_bucket": speed_bucket(touch), "work_bucket": speed_bucket(touch),
        })
    with store.transaction() as session:
        storage.reports.replace_facts(session, ids, facts)
store.dispose()
print("ok")
"""


def test_two_writers_of_facts_keep_the_summaries_exact(postgres_url: str, tmp_path: Path) -> None:
    store = Store(postgres_url)
    with store.transaction() as session:
        ids = [
            storage.leads.add(session, Lead(email=f"r{n}@race.test", reply_token=f"race{n}")).id
            for n in range(2 * LEADS_EACH)
        ]
    assert ids[0] is not None
    go = tmp_path / "go"
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, postgres_url, str(go), str(first), str(LEADS_EACH)],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for first in (ids[0], ids[0] + LEADS_EACH)
    ]  # fmt: skip
    time.sleep(0.5)  # both connected and waiting: start them together
    go.touch()
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0 and out.strip() == "ok", err
    with store.reading() as session:
        for keys in ((), ("day",), ("source",), ("owner",), ("week", "source")):
            args = (session, keys, None, None, None, None)
            assert storage.reports.grouped_counts(*args) == storage.reports.grouped_counts(
                *args, summaries=False
            )
        whole = storage.reports.grouped_counts(session, (), None, None, None, None)
        assert whole[()][0] == len({i for i in ids})  # every lead has its one fact row
        window = Window(datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
        assert _speeds_from_histograms(session, window) == _speeds_from_facts(session, window)
    store.dispose()
