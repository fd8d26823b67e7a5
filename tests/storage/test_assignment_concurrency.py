"""Two worker processes drain one assignment queue on PostgreSQL at the same time: 2,000 leads,
10 reps. No lead is offered twice, no rep goes over capacity, and round robin spreads evenly."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import func, insert, select

from storage.engine import Store
from storage.models import Assignment, Lead, QueueItem, Rep, utcnow

REPO = Path(__file__).resolve().parents[2]
LEADS = 2000
REPS = 10
# Nine reps take up to 210 leads, one only 120: 2,010 places for 2,000 leads, so the small one
# fills up and the other nine share the rest (about 209 each) without going over.
CAPACITY = [120] + [210] * (REPS - 1)

WORKER = """
import json, random, sys, time
from pathlib import Path
from bot.assignment.assigner import Assigner
from bot.rules.file import parse_rules
from storage.engine import Store

url, go, seed = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
rules = parse_rules('''
[[assignment.rule]]
name = "everyone"
pool = "all"
strategy = "round_robin"
''', "test")
store = Store(url)
assigner = Assigner(store, lambda: rules, rng=random.Random(seed))
assigner.refresh_views(assigner.clock())
while not go.exists():
    time.sleep(0.005)
result = assigner.drain()
print(json.dumps({"offered": result.offered, "waiting": result.waiting}))
store.dispose()
"""


def seed(store: Store) -> None:
    now = utcnow()
    with store.transaction() as session:
        session.execute(insert(Rep), [
            {"name": f"Rep {i}", "email": f"rep{i}@sales.test", "role": "rep", "active": True,
             "created_at": now, "capacity": CAPACITY[i], "timezone": "UTC", "working_hours": "",
             "working_days": "", "out_of_office": [], "paused": False, "skills": [],
             "languages": [], "territories": [], "weight": 1, "assigned_count": 0}
            for i in range(REPS)
        ])  # fmt: skip
        session.execute(insert(Lead), [
            {"email": f"lead{i}@acme.test", "reply_token": f"tok{i}", "custom": {},
             "enquiry": "", "status": "new", "stage": "mql", "source": "email",
             "created_at": now, "updated_at": now, "last_activity_at": now}
            for i in range(LEADS)
        ])  # fmt: skip
        lead_ids = session.execute(select(Lead.id)).scalars().all()
        session.execute(insert(QueueItem), [
            {"lead_id": lead_id, "enqueued_at": now, "state": "waiting", "tried": [], "hops": 0}
            for lead_id in lead_ids
        ])  # fmt: skip


def test_two_processes_never_assign_a_lead_twice_or_overfill_a_rep(
    postgres_url: str, tmp_path: Path
) -> None:
    store = Store(postgres_url)
    seed(store)
    go = tmp_path / "go"
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, postgres_url, str(go), str(n)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(2)
    ]
    time.sleep(1.0)  # both have imported and connected; then they start together
    go.touch()
    results = []
    for worker in workers:
        stdout, stderr = worker.communicate(timeout=120)
        assert worker.returncode == 0, stderr
        results.append(json.loads(stdout.strip().splitlines()[-1]))

    with store.reading() as session:
        offers = session.execute(select(Assignment.lead_id, Assignment.rep_id)).all()
        owners = dict(
            session.execute(select(Lead.id, Lead.owner_id)).all()  # type: ignore[arg-type]
        )
        states = Counter(session.execute(select(QueueItem.state)).scalars().all())
        capacity = dict(session.execute(select(Rep.id, Rep.capacity)).all())  # type: ignore[arg-type]
        timeline_assigned = session.execute(
            select(func.count()).select_from(Lead).where(Lead.owner_id.is_not(None))  # type: ignore[union-attr]
        ).scalar_one()
    store.dispose()

    # Both processes did a real share of the work, at the same time.
    assert sum(r["offered"] for r in results) == LEADS
    assert all(r["offered"] > LEADS // 10 for r in results), results
    # No lead offered twice, and each offer is the lead's owner.
    assert len(offers) == LEADS
    assert len({lead_id for lead_id, _ in offers}) == LEADS
    assert all(owners[lead_id] == rep_id for lead_id, rep_id in offers)
    assert states == {"offered": LEADS} and timeline_assigned == LEADS
    # No rep over capacity; the small one is full, the others share the rest evenly.
    per_rep = Counter(rep_id for _, rep_id in offers)
    assert all(per_rep[rep_id] <= capacity[rep_id] for rep_id in per_rep)
    small = min(capacity, key=capacity.get)  # type: ignore[arg-type]
    assert per_rep[small] == 120
    others = [n for rep_id, n in per_rep.items() if rep_id != small]
    assert len(others) == REPS - 1
    assert min(others) >= 200 and max(others) <= 210, per_rep
