"""One import: rows of a file through the one capture path, in batches, journaled for revert.

`run_import(store, path, options, rules)` reads the file (bot/imports/read.py), maps its columns
(bot/imports/columns.py) and, per batch of `BATCH` rows, in one transaction: loads the batch
matcher (bot/imports/batch.py), sends every good row through `bot.leads.capture.capture` with
the import's own source key and the flood check off (a broker file is one deliberate capture of
many people, not a flood), applies the consent, status and stage policy (bot/imports/policy.py),
scores and grades, writes the journal (which leads it created, each changed lead as it was
before, what it wrote onto them) and moves the run's `rows_done` on. A crash or Ctrl-C loses at
most the batch in flight, which rolls back whole: the store and the journal agree, and `--apply`
on the same file resumes after the last committed batch (or `import revert` takes it back).

A dry run is the same run in one transaction that is rolled back at the end: what it reports is
what `--apply` would do, row for row. On SQLite it runs on a copy of the store (SQLite's online
backup, a read), so that its long transaction does not hold the one write lock mail needs; on
PostgreSQL it holds the row locks of the stored leads it would update until it ends.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlmodel import Session

import storage.assignment
import storage.imports
import storage.outbox
import storage.timeline
from bot.imports import policy
from bot.imports.batch import BatchMatcher
from bot.imports.columns import ColumnMap, map_columns
from bot.imports.read import Row, Table, open_table, write_rows
from bot.imports.rows import Parsed, parse_row
from bot.leads import intake
from bot.leads.capture import Evidence, Source, capture_many
from bot.leads.refs import lead_label
from bot.rules.file import Rules
from bot.scoring.qualification import is_assignable
from bot.scoring.score import evaluate
from storage.engine import Store
from storage.import_tables import ImportRun
from storage.models import Lead, utcnow

BATCH = 500
# How many updates and bad rows a report lists in full (the journal and errors file keep all).
SAMPLE = 20
COUNTS = (
    "rows",
    "new",
    "updated",
    "unchanged",
    "merged",
    "flagged",
    "duplicates_in_file",
    "matched_store",
    "held",
    "bad",
    "queued",
)


def import_label(run_id: int | None) -> str:
    return f"I-{run_id}"


@dataclass(frozen=True)
class Options:
    """What a user asked of the import (`leadbot import` options, the REST API's fields)."""

    mapping: dict[str, str] = field(default_factory=dict)
    ignore: tuple[str, ...] = ()
    ignore_unknown: bool = False
    source: str = "csv"
    tags: tuple[str, ...] = ()
    overwrite: frozenset[str] = frozenset()
    keep: frozenset[str] = frozenset()
    queue: bool = False
    actor: str = "cli"

    def as_data(self) -> dict[str, Any]:
        return {
            "mapping": self.mapping,
            "ignore": list(self.ignore),
            "ignore_unknown": self.ignore_unknown,
            "source": self.source,
            "tags": list(self.tags),
            "overwrite": sorted(self.overwrite),
            "keep": sorted(self.keep),
            "queue": self.queue,
        }


@dataclass
class Report:
    """What an import did (or, dry, would do)."""

    # None for a dry run: its journal is rolled back with the rest.
    id: str | None
    dry_run: bool
    file: str
    format: str
    encoding: str
    delimiter: str
    columns: list[tuple[str, str, str]]
    counts: dict[str, int]
    state: str
    updates: list[dict[str, Any]] = field(default_factory=list)
    bad: list[dict[str, Any]] = field(default_factory=list)
    held: list[dict[str, Any]] = field(default_factory=list)
    errors_file: str | None = None
    resumed_from: int = 0

    def as_data(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "dry_run": self.dry_run,
            "file": self.file,
            "format": self.format,
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "columns": [{"column": c, "field": f, "how": h} for c, f, h in self.columns],
            "counts": self.counts,
            "state": self.state,
            "updates": self.updates,
            "bad": self.bad,
            "held": self.held,
            "errors_file": self.errors_file,
            "resumed_from": self.resumed_from,
        }


class ImportFailed(RuntimeError):
    """The file cannot be imported at all (unreadable, bad mapping); the message says why."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class _Run:
    """The state of one run across its batches."""

    def __init__(
        self, store: Store, run: ImportRun, options: Options, rules: Rules, dry_run: bool
    ) -> None:
        self.store, self.run, self.options, self.dry_run = store, run, options, dry_run
        label = import_label(run.id)
        self.label = label
        # The flood check counts captures per source key; an import is one deliberate capture
        # of many people, so its rows are keyed on the import and not counted as a flood.
        self.rules = replace(rules, intake=replace(rules.intake, flood_limit=0))
        if not options.queue:  # a merge re-scores its survivor: no enquiry queues it then
            self.rules = replace(self.rules, mql=replace(rules.mql, enquiries_enter_queue=False))
        self.source = Source(
            channel=options.source,
            actor=f"import:{label}",
            via=f"import {label} ({run.file_name})",
            key=f"import:{label}",
        )
        self.counts: Counter[str] = Counter({k: int(v) for k, v in run.counts.items()})
        self.created: set[int] = set()
        self.touched: set[int] = set()
        self.updates: list[dict[str, Any]] = []
        self.bad: list[dict[str, Any]] = []
        self.held: list[dict[str, Any]] = []
        self.now = utcnow()

    def batch(self, session: Session, parsed: list[Parsed]) -> None:
        """One batch, in the caller's transaction: its rows captured together
        (`capture_many`), then each row's consent/status/stage, score and journal row."""
        matcher = BatchMatcher(self.rules.match)
        befores: dict[int, dict[str, Any]] = {}
        batch_leads: set[int] = set()
        made: set[int] = set()  # the leads this batch's capture made (merged away or not)

        def before_change(lead: Lead) -> None:
            assert lead.id is not None
            if lead.id not in self.created and lead.id not in self.touched:
                befores.setdefault(lead.id, storage.imports.snapshot(lead))

        def on_new(lead: Lead) -> None:
            assert lead.id is not None
            made.add(lead.id)
            self.created.add(lead.id)
            batch_leads.add(lead.id)

        matcher.before_change = before_change
        matcher.on_new = on_new
        good = [p for p in parsed if p.draft is not None]
        drafts = [p.draft for p in good if p.draft is not None]
        matcher.load(session, drafts)
        marks = storage.imports.high_water(session)
        # The stored lead each address names now (None: new to the store), before any change.
        stored: dict[str, Lead | None] = {}
        for draft in drafts:
            if draft.address not in stored:
                stored[draft.address] = matcher.existing(session, draft.address)
                if stored[draft.address] is not None:
                    before_change(stored[draft.address])  # type: ignore[arg-type]

        def rolled_back() -> None:  # the batch's leads are gone: read it again
            self.created.difference_update(made)
            batch_leads.difference_update(made)
            made.clear()
            matcher.load(session, drafts)

        results = iter(
            capture_many(
                session,
                [(p.draft, self.source, self._evidence(p.row)) for p in good if p.draft],
                rules=self.rules,
                notify=False,
                matcher=matcher,
                overwrite=self.options.overwrite,
                keep=self.options.keep,
                rolled_back=rolled_back,
            )
        )
        landed: set[str] = set()  # addresses an earlier row of the batch landed on a lead
        rows: list[dict[str, Any]] = []
        for item in parsed:
            self.counts["rows"] += 1
            row = item.row
            if item.draft is None:
                self._bad(rows, row, item.reason, {"cells": row.cells})
                continue
            draft = item.draft
            result = next(results)
            if isinstance(result, Exception):
                # The store refused this row alone (capture_many retried it by itself): a bad
                # row with the error, in the errors file, and the others go in.
                reason = f"could not be stored: {type(result).__name__}: {result}"
                item.draft, item.reason = None, reason
                self._bad(rows, row, reason, {"cells": row.cells})
                continue
            existing = stored.get(draft.address)
            seen_before = draft.address in landed or (
                existing is not None
                and (
                    existing.id in self.created
                    or existing.id in self.touched
                    or existing.id in batch_leads
                )
            )
            if result.hold is not None:
                self.counts["held"] += 1
                reason = intake.reasons_text(result.hold.reasons)
                hold = intake.hold_label(result.hold.id)
                rows.append(self._row(row, "held", None, reason, {"hold": hold}))
                if len(self.held) < SAMPLE:
                    self.held.append({"line": row.line, "hold": hold, "reason": reason})
                continue
            lead = result.lead
            assert lead is not None and lead.id is not None
            landed.add(draft.address)
            changes = policy.apply_extras(session, lead, item.extras, created=result.created)
            changed = [*result.filled, *changes]
            if result.created:
                self.counts["new"] += 1
                self._score(session, lead, new=True)
            else:
                survivor_seen = (
                    lead.id in self.created or lead.id in self.touched or (lead.id in batch_leads)
                )
                if result.merged:
                    self.counts["merged"] += 1
                    seen_before = survivor_seen
                self.counts["duplicates_in_file" if seen_before else "matched_store"] += 1
                if changed or result.merged:
                    self._score(session, lead, new=False)
                action = "merged" if result.merged else ("updated" if changed else "unchanged")
                if not result.merged:
                    self.counts[action] += 1
                detail = {"lead": lead_label(lead.id), "fields": changed}
                if result.merged:
                    detail["duplicate"] = result.duplicate
                rows.append(self._row(row, action, lead.id, result.duplicate, detail))
                if changed and len(self.updates) < SAMPLE:
                    self.updates.append(
                        {
                            "line": row.line,
                            "lead": lead_label(lead.id),
                            "email": lead.email,
                            "fields": changed,
                        }
                    )
            if result.duplicate and not result.merged:
                self.counts["flagged"] += 1
                rows.append(self._row(row, "flagged", lead.id, result.duplicate, {}))
            batch_leads.add(lead.id)
        self._journal(session, befores, batch_leads, marks)
        storage.imports.add_rows(session, rows)
        self.run.rows_done += len(parsed)
        self.run.counts = dict(self.counts)
        storage.imports.save_run(session, self.run)

    def _evidence(self, row: Row) -> Evidence:
        return Evidence(
            "import.row",
            f"{self.run.file_name} line {row.line}",
            {"import": self.label, "line": row.line},
        )

    def _bad(
        self, rows: list[dict[str, Any]], row: Row, reason: str, detail: dict[str, Any]
    ) -> None:
        self.counts["bad"] += 1
        rows.append(self._row(row, "bad", None, reason, detail))
        if len(self.bad) < SAMPLE:
            self.bad.append({"line": row.line, "reason": reason})

    def _row(
        self, row: Row, action: str, lead_id: int | None, reason: str, detail: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "import_id": self.run.id,
            "row": row.number,
            "line": row.line,
            "action": action,
            "lead_id": lead_id,
            "reason": reason,
            "detail": detail,
        }

    def _score(self, session: Session, lead: Lead, *, new: bool) -> None:
        """Score and grade (an import row is no behaviour event: a new lead scores 0 until it
        does something), mark an MQL, and queue it only when the import was told to."""
        assert lead.id is not None
        # An import row is no behaviour event: the score stays what the timeline says (0 for a
        # new lead); the grade reads the fields the row filled.
        result = evaluate(lead, [], self.rules, self.now)
        if new:
            lead.score = result.score.score
        lead.grade = result.grade.grade
        if result.is_mql and lead.stage in ("subscriber", "lead"):
            lead.stage = "mql"
        session.add(lead)
        if self.options.queue and is_assignable(lead):
            item = storage.assignment.enqueue(session, lead.id, self.now)
            if item is not None:
                self.counts["queued"] += 1
                storage.timeline.append(
                    session,
                    lead.id,
                    actor=self.source.actor,
                    kind="queued",
                    summary=f"waiting for a rep in the assignment queue (import {self.label})",
                    data={"import": self.label},
                )

    def _journal(
        self,
        session: Session,
        befores: dict[int, dict[str, Any]],
        batch_leads: set[int],
        marks: dict[str, int],
    ) -> None:
        session.flush()
        ids = batch_leads | set(befores)
        versions = storage.imports.versions(session, ids)
        existing_ids = {i for i in ids if i not in self.created}
        written = storage.imports.written_since(session, marks, existing_ids)
        entries = storage.imports.journal_leads(session, self.run.id or 0, ids)
        fresh: list[dict[str, Any]] = []  # first touched in this batch: one executemany
        for lead_id in sorted(ids):
            entry = entries.get(lead_id)
            before = entry.before if entry is not None else befores.get(lead_id)
            merged = dict(entry.written or {}) if entry is not None else {}
            for table, row_ids in written.get(lead_id, {}).items():
                merged[table] = sorted({*merged.get(table, []), *row_ids})
            after = entry.after if entry is not None else {}
            if before is not None:
                lead = session.get(Lead, lead_id)
                if lead is not None:
                    now = storage.imports.snapshot(lead)
                    after = {k: v for k, v in now.items() if before.get(k) != v}
            version = versions.get(lead_id, entry.version if entry is not None else 0)
            if entry is None:
                fresh.append({"import_id": self.run.id or 0, "lead_id": lead_id,
                              "created": lead_id in self.created, "before": before,
                              "after": after, "version": version, "written": merged})  # fmt: skip
            else:
                entry.version, entry.written, entry.after = version, merged, after
                storage.imports.add_journal_lead(session, entry)
            if lead_id not in self.created:
                self.touched.add(lead_id)
        storage.imports.add_journal_leads(session, fresh)


def run_import(
    store: Store,
    path: Path,
    options: Options,
    rules: Rules,
    *,
    dry_run: bool = True,
    errors_path: Path | None = None,
    progress: Callable[[int, int, int], None] | None = None,
    batch_size: int = BATCH,
    stop_after: int | None = None,
    started: Callable[[str], None] | None = None,
) -> Report:
    """Import `path`: dry (the default) or for real. `progress(rows_done, position, total)`
    is called after each batch (position and total: bytes of a CSV, rows of a sheet).
    `stop_after` (tests) raises KeyboardInterrupt after that many batches, as Ctrl-C would.
    `started(import_id)` is called once the run is in the journal, before the first row: the
    REST API answers with the id then, and the caller polls `bot.imports.views.run_dict`."""
    try:
        table = open_table(path)
    except ValueError as error:
        raise ImportFailed(str(error)) from error
    with table:
        try:
            mapping = map_columns(
                table.header, options.mapping, options.ignore, ignore_unknown=options.ignore_unknown
            )
        except ValueError as error:
            raise ImportFailed(str(error)) from error
        sha = file_sha256(path)
        if dry_run:
            return _dry(
                store, table, mapping, options, rules, path, sha, errors_path, progress, batch_size
            )
        return _apply(
            started,
            store,
            table,
            mapping,
            options,
            rules,
            path,
            sha,
            errors_path,
            progress,
            batch_size,
            stop_after,
        )


def _new_run(table: Table, options: Options, path: Path, sha: str) -> ImportRun:
    return ImportRun(
        actor=options.actor,
        file_name=path.name,
        file_sha256=sha,
        file_size=path.stat().st_size,
        format=table.format,
        encoding=table.encoding,
        delimiter=table.delimiter,
        options=options.as_data(),
    )


def _batches(table: Table, mapping: ColumnMap, options: Options, size: int, skip: int = 0):  # type: ignore[no-untyped-def]
    batch: list[Parsed] = []
    for row in table.rows:
        if row.number <= skip:
            continue
        batch.append(parse_row(row, mapping, options.tags))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _dry(
    store: Store,
    table: Table,
    mapping: ColumnMap,
    options: Options,
    rules: Rules,
    path: Path,
    sha: str,
    errors_path: Path | None,
    progress: Callable[[int, int, int], None] | None,
    batch_size: int,
) -> Report:
    with tempfile.TemporaryDirectory(prefix="leadbot-dry-run-") as folder:
        copy = storage.imports.sqlite_copy(store, Path(folder) / "copy.db")
        try:
            return _dry_in(
                copy or store,
                table,
                mapping,
                options,
                rules,
                path,
                sha,
                errors_path,
                progress,
                batch_size,
            )
        finally:
            if copy is not None:
                copy.dispose()


def _dry_in(
    store: Store,
    table: Table,
    mapping: ColumnMap,
    options: Options,
    rules: Rules,
    path: Path,
    sha: str,
    errors_path: Path | None,
    progress: Callable[[int, int, int], None] | None,
    batch_size: int,
) -> Report:
    with store.transaction() as session:
        run = storage.imports.add_run(session, _new_run(table, options, path, sha))
        state = _Run(store, run, options, rules, dry_run=True)
        for parsed in _batches(table, mapping, options, batch_size):
            state.batch(session, parsed)
            _errors(errors_path, table.header, parsed, first=run.rows_done <= len(parsed))
            session.expunge_all()
            session.add(run)
            if progress:
                progress(run.rows_done, table.position(), table.total)
        report = _report(state, table, mapping, "dry run", errors_path)
        session.rollback()
    return report


def _apply(
    started: Callable[[str], None] | None,
    store: Store,
    table: Table,
    mapping: ColumnMap,
    options: Options,
    rules: Rules,
    path: Path,
    sha: str,
    errors_path: Path | None,
    progress: Callable[[int, int, int], None] | None,
    batch_size: int,
    stop_after: int | None,
) -> Report:
    with store.transaction() as session:
        run = storage.imports.unfinished(session, sha)
        resumed_from = 0
        if run is not None and run.options == options.as_data():
            resumed_from = run.rows_done
            run.state = "running"
        else:
            run = _new_run(table, options, path, sha)
        run = storage.imports.add_run(session, run)
        known = storage.imports.journal_page(session, run.id or 0, 0, 10**9) if resumed_from else []
        created = {e.lead_id for e in known if e.created}
        touched = {e.lead_id for e in known if not e.created}
    state = _Run(store, run, options, rules, dry_run=False)
    state.created, state.touched = created, touched
    run_id = run.id or 0  # a batch that fails expires `run` with its rolled-back transaction
    if started is not None:
        started(import_label(run_id))
    batches = 0
    try:
        for parsed in _batches(table, mapping, options, batch_size, skip=resumed_from):
            if stop_after is not None and batches >= stop_after:
                raise KeyboardInterrupt
            with store.transaction() as session:
                session.add(run)
                state.batch(session, parsed)
            _errors(
                errors_path,
                table.header,
                parsed,
                first=run.rows_done <= len(parsed) and not resumed_from,
            )
            batches += 1
            if progress:
                progress(run.rows_done, table.position(), table.total)
    except BaseException:
        with store.transaction() as session:
            fresh = storage.imports.run_by_id(session, run_id)
            if fresh is not None:
                fresh.state = "interrupted"
                storage.imports.save_run(session, fresh)
        raise
    with store.transaction() as session:
        run = storage.imports.run_by_id(session, run_id) or run
        run.state, run.finished_at = "done", utcnow()
        storage.imports.save_run(session, run)
        counts = run.counts
        summary = (
            f"import {import_label(run.id)} of {run.file_name}: {counts.get('rows', 0)} rows, "
            f"{counts.get('new', 0)} new, {counts.get('updated', 0)} updated, "
            f"{counts.get('merged', 0)} merged, {counts.get('held', 0)} held, "
            f"{counts.get('bad', 0)} bad"
        )
        storage.outbox.put(
            session,
            "import.done",
            payload={"import": import_label(run.id), "subject": summary, "counts": counts},
        )
    state.run = run
    report = _report(state, table, mapping, "done", errors_path)
    report.resumed_from = resumed_from
    return report


def _errors(path: Path | None, header: list[str], parsed: list[Parsed], *, first: bool) -> None:
    """Append the batch's bad rows to the errors file: the cells as they were, plus `reason`."""
    if path is None:
        return
    bad = [[*p.row.cells, p.reason] for p in parsed if p.draft is None]
    if first or not path.exists():
        with path.open("w", encoding="utf-8", newline="") as handle:
            write_rows(handle, [*header, "reason"], bad)
    elif bad:
        with path.open("a", encoding="utf-8", newline="") as handle:
            write_rows(handle, None, bad)


def _report(
    state: _Run, table: Table, mapping: ColumnMap, what: str, errors_path: Path | None
) -> Report:
    counts = {name: int(state.counts.get(name, 0)) for name in COUNTS}
    return Report(
        id=None if state.dry_run else import_label(state.run.id),
        dry_run=state.dry_run,
        file=state.run.file_name,
        format=table.format,
        encoding=table.encoding,
        delimiter=table.delimiter,
        columns=mapping.describe(table.header),
        counts=counts,
        state=what,
        updates=state.updates,
        bad=state.bad,
        held=state.held,
        errors_file=str(errors_path) if errors_path and counts["bad"] else None,
    )
