"""`leadbot dedupe scan`: duplicates across the whole store, in one batch.

1. Index: leads stored before de-duplication existed get their company and blocking keys.
2. Scan: every active lead goes through `dedupe.scan` (the in-memory block index: 100,000 leads
   in well under a minute), leaving out pairs a person declared "not a duplicate".
3. Review: pairs between the thresholds are flagged for a person ("possible duplicate", as on
   capture) and written, with the sure pairs, to a review list.
4. Apply (optional): each cluster of sure duplicates is merged into its oldest lead, every merge
   undoable like a manual one.

Progress goes to a callback per phase, so the CLI can draw bars and tests can stay quiet.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import storage.accounts
import storage.duplicates
import storage.leads
from bot.dedupe import merging, store_match
from bot.dedupe.index import index_many, person_of
from bot.dedupe.match import Match, Person, prepare, scan, score_prepared
from bot.leads import companies
from bot.leads.refs import lead_label
from bot.rules.dedupe import MatchRules
from bot.rules.file import Rules
from storage.engine import Store
from storage.models import Lead

PAGE = 1000
# Clusters merged in one transaction (each survivor re-indexed once, the batch in one write).
MERGE_BATCH_CLUSTERS = 200
# Progress callback: (phase, total, advance). The total is sent once, with advance 0.
Progress = Callable[[str, int, int], None]


@dataclass
class ScanReport:
    leads: int = 0
    indexed: int = 0
    clusters: list[list[int]] = field(default_factory=list)
    review: list[tuple[int, int, float]] = field(default_factory=list)
    flagged: int = 0
    merged: int = 0
    seconds: float = 0.0
    review_file: str | None = None

    @property
    def sure_pairs(self) -> int:
        return sum(len(group) - 1 for group in self.clusters)

    def as_dict(self) -> dict[str, object]:
        return {
            "leads": self.leads,
            "indexed": self.indexed,
            "clusters": [[lead_label(i) for i in group] for group in self.clusters],
            "sure_duplicates": self.sure_pairs,
            "review": [
                {"lead": lead_label(a), "other": lead_label(b), "score": round(s, 4)}
                for a, b, s in self.review
            ],
            "flagged": self.flagged,
            "merged": self.merged,
            "review_file": self.review_file,
            "seconds": round(self.seconds, 2),
        }


def _quiet(phase: str, total: int, advance: int) -> None:
    return None


def index_missing(store: Store, progress: Progress = _quiet) -> int:
    """Give every active lead without blocking keys its keys (and accounts their name keys)."""
    with store.reading() as session:
        total = storage.duplicates.active_lead_count(session) - (
            storage.duplicates.indexed_lead_count(session)
        )
    progress("index", max(total, 0), 0)
    done = 0
    while True:
        with store.transaction() as session:
            ids = storage.duplicates.unindexed_lead_ids(session, PAGE)
            index_many(session, storage.duplicates.leads_by_ids(session, ids))
        done += len(ids)
        progress("index", total, len(ids))
        if len(ids) < PAGE:
            break
    with store.transaction() as session:
        for account in storage.accounts.accounts_without_name_key(session):
            account.name_key = companies.company_key(account.name, account.domain or "")
            session.add(account)
    return done


def load_people(store: Store, progress: Progress = _quiet) -> list[Person]:
    with store.reading() as session:
        total = storage.duplicates.active_lead_count(session)
    progress("read", total, 0)
    people: list[Person] = []
    after = 0
    while True:
        with store.reading() as session:
            page = storage.duplicates.active_leads_page(session, after, PAGE)
            people.extend(person_of(lead) for lead in page)
        progress("read", total, len(page))
        if len(page) < PAGE:
            return people
        after = int(people[-1].key)


def run(
    store: Store,
    rules: Rules,
    *,
    apply: bool = False,
    review_file: Path | None = None,
    actor: str = "dedupe-scan",
    progress: Progress = _quiet,
) -> ScanReport:
    """Scan under `rules` (the [dedupe] table matches; merged survivors are scored again)."""
    started = time.perf_counter()
    report = ScanReport()
    report.indexed = index_missing(store, progress)
    people = load_people(store, progress)
    report.leads = len(people)
    with store.reading() as session:
        apart = storage.duplicates.not_duplicate_pairs(session)
        # the model in force (`dedupe train`), for the scan as for capture
        rules = replace(rules, match=store_match.with_model(session, rules.match))
    progress("scan", len(people), 0)
    found = scan(
        people,
        rules.match,
        keep_apart=apart,  # type: ignore[arg-type]
        progress=lambda n: progress("scan", len(people), n),
    )
    report.clusters = [sorted(int(k) for k in group) for group in found.clusters if len(group) > 1]
    report.review = [(int(a), int(b), s) for a, b, s in found.review]
    by_id = {int(p.key): p for p in people}
    report.flagged = _flag(store, report.review, by_id, rules.match, actor)
    if apply:
        report.merged = _merge_clusters(store, report.clusters, rules, actor, progress)
    if review_file is not None:
        _write_review(review_file, report, by_id, rules.match, applied=apply)
        report.review_file = str(review_file)
    report.seconds = time.perf_counter() - started
    return report


def _flag(
    store: Store,
    pairs: list[tuple[int, int, float]],
    by_id: dict[int, Person],
    rules: MatchRules,
    actor: str,
) -> int:
    """Flag each pair to review on its newer lead, as capture would have."""
    flagged = 0
    for start in range(0, len(pairs), PAGE):
        with store.transaction() as session:
            page = pairs[start : start + PAGE]
            present = {
                lead.id
                for lead in storage.duplicates.leads_by_ids(
                    session, [max(a, b) for a, b, _ in page]
                )
            }
            raised: list[tuple[int, Match]] = []
            for a, b, _ in page:
                newer, older = max(a, b), min(a, b)
                if newer not in present:
                    continue
                match = score_prepared(prepare(by_id[newer]), prepare(by_id[older]), rules)
                raised.append((newer, Match(older, match.score, match.verdict, match.reasons)))
            flagged += store_match.flag_many(session, raised, actor, found_by="scan")
    return flagged


def _merge_clusters(
    store: Store,
    clusters: list[list[int]],
    rules: Rules,
    actor: str,
    progress: Progress,
) -> int:
    """Merge each cluster into its oldest lead, up to `MERGE_BATCH` merges per transaction;
    each survivor is re-indexed and re-scored once, after its whole cluster, and the batch's
    survivors are re-indexed with one statement per table."""
    progress("merge", len(clusters), 0)
    merged = 0
    for start in range(0, len(clusters), MERGE_BATCH_CLUSTERS):
        batch = clusters[start : start + MERGE_BATCH_CLUSTERS]
        with store.transaction() as session, session.no_autoflush:
            # The merges write what they read back themselves (explicit flushes): without
            # autoflush the thousands of look-ups of a scan do not flush the session each time.
            ids = [lead_id for group in batch for lead_id in group]
            leads = {lead.id: lead for lead in storage.leads.by_ids_for_update(session, ids)}
            targets = {
                lead_id: group[0]
                for group in batch
                if group[0] in leads and leads[group[0]].merged_into_id is None
                for lead_id in group[1:]
                if lead_id in leads and leads[lead_id].merged_into_id is None
            }
            moved = storage.lead_rows.move_many(session, targets)
            survivors: list[Lead] = []
            folds: list[tuple[Lead, Lead, Match | None]] = []
            for group in batch:
                survivor = leads.get(group[0])
                folded = [leads[i] for i in group[1:] if i in targets]
                if survivor is None or not folded:
                    continue
                survivor_form = prepare(person_of(survivor))
                folds += [
                    (lead, survivor, score_prepared(prepare(person_of(lead)), survivor_form,
                                                    rules.match))
                    for lead in folded
                ]  # fmt: skip
                survivors.append(survivor)
                survivors += folded
                merged += len(folded)
            merging.merge_many(session, folds, actor, rules, moved)
            for group in batch:
                if group[0] in leads and any(i in targets for i in group[1:]):
                    merging.rescore(session, leads[group[0]], rules)
            index_many(session, survivors)
        progress("merge", len(clusters), len(batch))
    return merged


def _name(person: Person) -> str:
    return f"{person.first_name} {person.last_name}".strip()


def _write_review(
    path: Path, report: ScanReport, by_id: dict[int, Person], rules: MatchRules, applied: bool
) -> None:
    """The review list: sure pairs (each lead of a cluster against its oldest) and pairs to
    review, with both leads' names, addresses, companies and the reasons of the score."""
    rows: list[tuple[str, int, int]] = [
        ("merged" if applied else "sure", group[0], other)
        for group in report.clusters
        for other in group[1:]
    ]
    rows += [("review", min(a, b), max(a, b)) for a, b, _ in report.review]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["decision", "lead", "other", "percent", "lead_name", "lead_email",
                         "lead_company", "other_name", "other_email", "other_company",
                         "reasons"])  # fmt: skip
        for decision, older, newer in rows:
            a, b = by_id[newer], by_id[older]
            match = score_prepared(prepare(a), prepare(b), rules)
            writer.writerow([decision, lead_label(newer), lead_label(older), match.percent,
                             _name(a), a.email, a.company, _name(b), b.email, b.company,
                             "; ".join(match.reasons)])  # fmt: skip
