"""`leadbot dedupe scan` on a real store: the shared dedupe corpus as leads stored before
de-duplication existed, scanned, reviewed and merged, then measured against its truth."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

from sqlmodel import select

import storage.duplicates
import storage.leads
import storage.timeline
from bot.dedupe import scan
from bot.dedupe.match import pair_metrics
from bot.leads.reply_address import new_reply_token
from bot.rules.file import default_rules
from storage.engine import Store
from storage.models import DuplicateFlag, Lead, LeadBlockKey, LeadMerge
from tests.corpora import CORPORA

CORPUS = CORPORA / "dedupe" / "csv_example_input_with_true_ids.csv"
COLUMNS = {"Site name": "company", "Address": "street", "Zip": "postal_code", "Phone": "phone",
           "Email Address": "email"}  # fmt: skip


def load_corpus(store: Store) -> dict[int, str]:
    """Every corpus row as a lead, the way a CSV import before de-duplication stored them (no
    blocking keys); lead id -> true cluster id."""
    truth: dict[int, str] = {}
    with CORPUS.open(newline="", encoding="utf-8", errors="replace") as handle:
        rows = list(csv.DictReader(handle))
    leads = []
    for row in rows:
        values = {field: (row[column] or "").strip() for column, field in COLUMNS.items()}
        leads.append(
            Lead(email=values.pop("email").lower(), source="csv", reply_token=new_reply_token(),
                 **values)
        )  # fmt: skip
    with store.transaction() as session:
        session.add_all(leads)
        session.flush()  # one batch of INSERTs, ids in row order, rather than one per row
        entries = []
        for row, lead in zip(rows, leads, strict=True):
            assert lead.id is not None
            entries.append(
                {"lead_id": lead.id, "actor": "csv", "kind": "created", "summary": "row"}
            )
            truth[lead.id] = row["True Id"]
        storage.timeline.append_many(session, entries)
    return truth


def clusters_in_store(store: Store) -> list[set[int]]:
    """Each surviving lead with the leads merged into it."""
    groups: dict[int, set[int]] = defaultdict(set)
    with store.reading() as session:
        for lead in session.exec(select(Lead)).all():
            assert lead.id is not None
            root = storage.leads.surviving(session, lead)
            assert root is not None and root.id is not None
            groups[root.id].add(lead.id)
    return list(groups.values())


def test_scan_indexes_flags_writes_the_review_list_and_applies_on_the_corpus(
    store: Store, tmp_path: Path
) -> None:
    truth = load_corpus(store)
    review = tmp_path / "review.csv"
    report = scan.run(store, default_rules(), review_file=review)
    assert report.leads == report.indexed == len(truth) == 3_337
    with store.reading() as session:
        assert storage.duplicates.indexed_lead_count(session) == len(truth)
        flags = [flag.found_by for flag in session.exec(select(DuplicateFlag)).all()]
        assert session.exec(select(LeadMerge)).all() == []  # without --apply nothing merges
    assert len(flags) == report.flagged == len(report.review) > 0
    assert set(flags) == {"scan"}
    with review.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == report.sure_pairs + len(report.review)
    assert {row["decision"] for row in rows} == {"sure", "review"}
    assert all(row["reasons"] and row["lead"].startswith("L-") for row in rows)

    applied = scan.run(store, default_rules(), apply=True)
    assert applied.indexed == 0 and applied.flagged == 0  # a second scan adds nothing twice
    assert applied.merged == report.sure_pairs
    # Measured against the corpus truth, what the store now holds as one lead per person:
    true_clusters: dict[str, set[int]] = defaultdict(set)
    for lead_id, cluster_id in truth.items():
        true_clusters[cluster_id].add(lead_id)
    precision, recall, f1 = pair_metrics(clusters_in_store(store), true_clusters.values())
    assert precision >= 0.95 and f1 >= 0.92, (precision, recall, f1)
    with store.reading() as session:
        # every row's timeline entry is still there, on its survivor
        assert len(session.exec(select(storage.timeline.TimelineEntry)).all()) >= len(truth)
        merged = session.exec(select(Lead).where(Lead.merged_into_id != None)).all()  # noqa: E711
        assert len(merged) == applied.merged
        keys_of_merged = session.exec(
            select(LeadBlockKey).where(LeadBlockKey.lead_id == merged[0].id)
        ).all()
        assert keys_of_merged == []
    again = scan.run(store, default_rules(), apply=True)
    assert (again.merged, again.clusters) == (0, [])
