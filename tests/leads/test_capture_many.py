"""The batch capture (`capture_many`) on real stores: it ends where capture item by item ends,
an item the store refuses fails alone, and two PostgreSQL processes capturing the same
addresses in batches at once make one lead per address and lose no enquiry."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

import storage.accounts
import storage.reps
from bot.leads.capture import Captured, Draft, Evidence, Source, capture, capture_many
from bot.rules.file import default_rules
from storage.engine import Store
from storage.models import (
    Account,
    DuplicateFlag,
    IntakeRecord,
    Lead,
    LeadBlockKey,
    LeadMatchForm,
    LeadMerge,
    OutboxItem,
    Rep,
    TimelineEntry,
)
from tests.conftest import _WORKER
from tests.factories import add_indexed_lead
from tests.services.postgres import create_database

REPO = Path(__file__).resolve().parents[2]
COLUMNS = [column.name for column in Lead.__table__.columns]  # type: ignore[attr-defined]
FORM = Source("form", "form:contact", "the form contact", key="form:contact")
JANE = {"first_name": "Jane", "last_name": "Doe", "company": "Acme Robotics",
        "phone": "+1 415 555 0134", "street": "1 Market St", "city": "Boston"}  # fmt: skip


def post(title: str, **data: object) -> Evidence:
    return Evidence("form.post", title, {"fields": data})


@pytest.fixture(params=["sqlite", "postgres"])
def two_stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    """Two empty stores of one kind: one for item-by-item capture, one for the batch."""
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        urls = []
        for name in ("one", "batch"):
            path = tmp_path / f"{name}.db"
            path.write_bytes(template.read_bytes())
            urls.append(f"sqlite:///{path}")
    else:
        admin = request.getfixturevalue("postgres_admin_url")
        template = request.getfixturevalue("postgres_template")
        urls = [
            create_database(admin, f"leadbot_many_{_WORKER}_{name}", template=template)
            for name in ("one", "batch")
        ]
    stores = (Store(urls[0]), Store(urls[1]))
    yield stores
    for store in stores:
        store.dispose()


def seed(store: Store) -> None:
    """What the batch meets: a stored Jane (a sure duplicate comes), a stored lead with an
    owner (an enquiry notifies the rep), an account (a new lead links to it)."""
    with store.transaction() as session:
        rep = storage.reps.add(session, Rep(name="Rita", email="rita@sales.test"))
        add_indexed_lead(session, "jane@acme-robotics.io", **JANE)
        owned = add_indexed_lead(session, "olga@globex.io", first_name="Olga", company="Globex")
        owned.owner_id = rep.id
        storage.accounts.add(
            session, Account(name="Initech", domain="initech.io", name_key="initech")
        )


def items() -> list[tuple[Draft, Source, Evidence]]:
    return [
        (Draft.of("Ann@Example.io", first_name="Ann", enquiry="A demo"), FORM, post("Demo")),
        (Draft.of("jane.doe@acme-robotics.io", **JANE), FORM, post("Pricing")),  # sure dup
        (Draft.of("ann@example.io", title="CTO"), FORM, post("Again")),  # the batch's own lead
        (Draft.of("olga@globex.io", title="COO"), FORM, post("Renewal")),  # stored, owned
        (Draft.of("info@example.io"), FORM, post("Role")),  # held: a role address
        (
            Draft.of("jdoe@gmail.com", first_name="Jane", last_name="Doe", company="Acme Robotics"),
            FORM,
            post("Likely"),
        ),
        (Draft.of("peter@initech.io", first_name="Peter"), FORM, post("Account")),
        (Draft.of("x@mailinator.com"), FORM, post("Disposable")),  # held
        (Draft.of("jane.doe@acme-robotics.io", city="Cambridge"), FORM, post("Merged")),
        (
            Draft.of("bob@bob.io", first_name="Bob"),
            Source("email", "email:bob@bob.io", "an email"),
            post("Mail"),
        ),
    ]


def dump(store: Store) -> dict[str, Any]:
    """The store's content as capture leaves it, by address rather than by generated id or
    time (the batch inserts its new leads in address order, so their ids differ): leads, their
    timelines, intake records, outbox, keys, forms, flags and merges."""
    with store.reading() as session:
        leads = {lead.id: lead for lead in session.exec(select(Lead)).scalars()}
        email = {lead_id: lead.email for lead_id, lead in leads.items()}
        skip = {"id", "reply_token", "created_at", "updated_at", "last_activity_at"}
        rows = sorted(
            (
                {c: getattr(lead, c) for c in COLUMNS if c not in skip}
                | {"merged_into_id": email.get(lead.merged_into_id)}
                for lead in leads.values()
            ),
            key=lambda row: (row["email"], row["merged_into_id"] or ""),
        )
        timeline: dict[str, list[tuple[str, str, str]]] = {}
        for e in session.exec(select(TimelineEntry).order_by(TimelineEntry.id)).scalars():
            summary = re.sub(r"L-(\d+)", lambda m: f"L-{email[int(m[1])]}", e.summary)
            timeline.setdefault(email[e.lead_id], []).append((e.kind, e.actor, summary))
        return {
            "leads": rows,
            "timeline": {k: sorted(v) for k, v in timeline.items()},
            "intake": sorted(
                (r.state, r.channel, r.source_key, email.get(r.lead_id), json.dumps(r.reasons))
                for r in session.exec(select(IntakeRecord)).scalars()
            ),
            "outbox": sorted(
                (
                    o.kind,
                    email.get(o.lead_id),
                    o.rep_id,
                    o.payload.get("subject"),
                    "duplicate" in o.payload,
                )
                for o in session.exec(select(OutboxItem)).scalars()
            ),
            "keys": sorted(
                (email[k.lead_id], k.key) for k in session.exec(select(LeadBlockKey)).scalars()
            ),
            "forms": sorted(
                (email[f.lead_id], json.dumps({**f.form, "key": None}, sort_keys=True))
                for f in session.exec(select(LeadMatchForm)).scalars()
            ),
            "flags": sorted(
                (email[f.lead_id], email[f.other_id], f.state, f.score)
                for f in session.exec(select(DuplicateFlag)).scalars()
            ),
            "merges": sorted(
                (email[m.survivor_id], email[m.merged_id], m.score)
                for m in session.exec(select(LeadMerge)).scalars()
            ),
        }


def outcome(result: Captured | Exception) -> tuple[Any, ...]:
    if isinstance(result, Exception):
        return ("error", str(result))
    return (
        result.lead.email if result.lead else None,
        result.created,
        result.filled,
        result.merged,
        result.duplicate.split(" (")[0],
        result.held,
    )


def test_a_batch_ends_as_capture_item_by_item_ends(two_stores: tuple[Store, Store]) -> None:
    one, batch = two_stores
    rules = default_rules()
    for store in two_stores:
        seed(store)
    with one.transaction() as session:
        singles = [capture(session, *item, rules=rules) for item in items()]
    with batch.transaction() as session:
        many = capture_many(session, items(), rules=rules)
    assert [outcome(r) for r in many] == [outcome(r) for r in singles]
    expected, got = dump(one), dump(batch)
    for part in expected:  # one part at a time: a difference is read at once
        assert got[part] == expected[part], part
    kinds = {outcome(r)[1:4] for r in many}
    assert (True, (), False) in kinds and (False, (), True) in kinds  # made and merged
    assert any(r.held for r in many if isinstance(r, Captured))


class Unstorable:
    """A value the store's JSON column cannot hold: what a door's bug would hand capture."""


def test_an_item_the_store_refuses_fails_alone_and_the_rest_is_captured(store: Store) -> None:
    rules = default_rules()
    batch = [
        (Draft.of(f"p{i}@example.io", first_name=f"P{i}"), FORM, post(f"Hello {i}"))
        for i in range(5)
    ]
    batch[2] = (batch[2][0], FORM, Evidence("form.post", "Bad", {"value": Unstorable()}))
    with store.transaction() as session:
        results = capture_many(session, batch, rules=rules)
    assert [isinstance(r, Captured) for r in results] == [True, True, False, True, True]
    assert "not JSON serializable" in str(results[2])  # the item's own error, for its quarantine
    with store.reading() as session:
        emails = sorted(session.exec(select(Lead.email)).scalars())
        entries = session.exec(select(func.count()).select_from(TimelineEntry)).scalar_one()
        records = session.exec(select(func.count()).select_from(IntakeRecord)).scalar_one()
    assert emails == ["p0@example.io", "p1@example.io", "p3@example.io", "p4@example.io"]
    assert (entries, records) == (8, 4)  # created + enquiry each; nothing of the bad item


def race(url: str, go: Path, seed: int, n: int) -> dict[str, Any]:
    """One racer: the same batches of 10 addresses as the other, in the opposite order
    within each batch (so they collide on every batch), started when `go` appears."""
    order = [
        i
        for start in range(0, n, 10)
        for i in (range(start, start + 10) if seed == 0 else range(start + 9, start - 1, -1))
    ]
    source = Source("api", f"api:worker{seed}", f"worker {seed}")
    store = Store(url)
    with store.reading() as session:
        session.connection()  # connected and ready: say so, then wait for the start
    (go.parent / f"ready{seed}").touch()
    deadline = time.monotonic() + 60
    while not go.exists():
        assert time.monotonic() < deadline, "no start"
        time.sleep(0.002)
    results: list[Captured | Exception] = []
    for start in range(0, n, 10):
        batch = [
            (Draft.of(f"racer{i}@firm{i}.io", first_name=f"W{seed}"), source,
             Evidence("api.post", f"from worker {seed}"))
            for i in order[start : start + 10]
        ]  # fmt: skip
        with store.transaction() as session:
            results += capture_many(session, batch, rules=default_rules())
    store.dispose()
    return {
        "errors": [str(r) for r in results if not isinstance(r, Captured)],
        "created": sum(r.created for r in results if isinstance(r, Captured)),
    }


WORKER = """
import json, sys
from pathlib import Path
from tests.leads.test_capture_many import race
print(json.dumps(race(sys.argv[1], Path(sys.argv[2]), 1, int(sys.argv[3]))))
"""


@pytest.mark.postgres
def test_two_processes_capturing_the_same_addresses_make_one_lead_each(
    postgres_url: str, tmp_path: Path
) -> None:
    n = 40
    go = tmp_path / "go"
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER, postgres_url, str(go), str(n)],
        cwd=REPO, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not (tmp_path / "ready1").exists():
        assert time.monotonic() < deadline and worker.poll() is None, "the worker did not start"
        time.sleep(0.01)
    go.touch()  # the worker is connected and waiting: this process and it start at once
    outputs = [race(postgres_url, go, 0, n), json.loads(worker.communicate(timeout=120)[0])]
    assert worker.returncode == 0
    assert [o["errors"] for o in outputs] == [[], []]
    assert sum(o["created"] for o in outputs) == n  # each address made once, by one of them
    store = Store(postgres_url)
    with store.reading() as session:
        per_address = Counter(session.exec(select(Lead.email)).scalars())
        enquiries = Counter(
            session.exec(
                select(TimelineEntry.lead_id).where(TimelineEntry.kind == "api.post")
            ).scalars()
        )
        names = set(session.exec(select(Lead.first_name)).scalars())
    store.dispose()
    assert len(per_address) == n and set(per_address.values()) == {1}
    assert sorted(enquiries.values()) == [2] * n  # both enquiries of each address kept
    assert names <= {"W0", "W1"}
