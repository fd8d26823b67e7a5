"""Named queries of the import journal, and the few batch reads an import makes instead of a
query per row: the stored leads of a batch's addresses, the rows it wrote onto existing leads,
and deleting the leads a revert takes back. Also the export's page of leads."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, insert, update
from sqlalchemy import inspect as sa_inspect
from sqlmodel import Session, col, select

from storage.engine import Store
from storage.lead_rows import LEAD_ROWS
from storage.models import (
    ImportLead,
    ImportRow,
    ImportRun,
    IntakeRecord,
    Lead,
    QueueItem,
    TimelineEntry,
)

# Tables an import may add rows to on a lead that existed before it, with their lead column.
WRITTEN_TABLES: dict[str, Any] = {"timeline": TimelineEntry, "assignment_queue": QueueItem}
CHUNK = 500  # ids per IN (...) list

# --- runs ------------------------------------------------------------------------------------


def add_run(session: Session, run: ImportRun) -> ImportRun:
    session.add(run)
    session.flush()
    return run


def run_by_id(session: Session, run_id: int, *, for_update: bool = False) -> ImportRun | None:
    query = select(ImportRun).where(ImportRun.id == run_id)
    if for_update:
        query = query.with_for_update()
    return session.exec(query.execution_options(populate_existing=True)).first()


def runs(session: Session, limit: int = 100) -> Sequence[ImportRun]:
    """The newest imports first."""
    return session.exec(select(ImportRun).order_by(col(ImportRun.id).desc()).limit(limit)).all()


def unfinished(session: Session, sha256: str) -> ImportRun | None:
    """The newest import of the file with this hash that did not finish (crash, Ctrl-C)."""
    query = (
        select(ImportRun)
        .where(ImportRun.file_sha256 == sha256)
        .where(col(ImportRun.state).in_(("running", "interrupted")))
        .order_by(col(ImportRun.id).desc())
    )
    return session.exec(query).first()


def save_run(session: Session, run: ImportRun) -> None:
    session.add(run)
    session.flush()


# --- the batch's reads -----------------------------------------------------------------------


def leads_by_emails(session: Session, emails: Collection[str]) -> dict[str, Lead]:
    """The oldest lead of each address (lower-cased), as `storage.leads.by_email` finds it one at
    a time; merged-away leads are returned as they are (the caller follows `merged_into_id`)."""
    found: dict[str, Lead] = {}
    wanted = sorted(set(emails))
    for start in range(0, len(wanted), CHUNK):
        query = (
            select(Lead)
            .where(col(Lead.email).in_(wanted[start : start + CHUNK]))
            .order_by(col(Lead.id))
        )
        for lead in session.exec(query):
            found.setdefault(lead.email, lead)
    return found


def high_water(session: Session) -> dict[str, int]:
    """The highest id of each table an import writes onto existing leads, before a batch."""
    return {
        name: int(session.exec(select(func.max(table.id))).one() or 0)
        for name, table in WRITTEN_TABLES.items()
    }


def written_since(
    session: Session, marks: dict[str, int], lead_ids: Collection[int]
) -> dict[int, dict[str, list[int]]]:
    """Ids above `marks` in the tables of WRITTEN_TABLES that point at `lead_ids`: what this
    transaction wrote onto them (what another one wrote is not visible before it commits)."""
    written: dict[int, dict[str, list[int]]] = {}
    ids = sorted(set(lead_ids))
    for name, table in WRITTEN_TABLES.items():
        for start in range(0, len(ids), CHUNK):
            query = (
                select(table.id, table.lead_id)
                .where(col(table.id) > marks.get(name, 0))
                .where(col(table.lead_id).in_(ids[start : start + CHUNK]))
            )
            for row_id, lead_id in session.exec(query):
                written.setdefault(lead_id, {}).setdefault(name, []).append(row_id)
    return written


def versions(session: Session, lead_ids: Collection[int]) -> dict[int, int]:
    ids = sorted(set(lead_ids))
    found: dict[int, int] = {}
    for start in range(0, len(ids), CHUNK):
        query = select(Lead.id, Lead.version).where(col(Lead.id).in_(ids[start : start + CHUNK]))
        found.update({lead_id: version for lead_id, version in session.exec(query)})
    return found


# --- the journal's leads and rows -----------------------------------------------------------


def journal_leads(
    session: Session, run_id: int, lead_ids: Collection[int]
) -> dict[int, ImportLead]:
    ids = sorted(set(lead_ids))
    found: dict[int, ImportLead] = {}
    for start in range(0, len(ids), CHUNK):
        query = (
            select(ImportLead)
            .where(ImportLead.import_id == run_id)
            .where(col(ImportLead.lead_id).in_(ids[start : start + CHUNK]))
        )
        found.update({entry.lead_id: entry for entry in session.exec(query)})
    return found


def add_journal_lead(session: Session, entry: ImportLead) -> None:
    session.add(entry)


def add_journal_leads(session: Session, rows: list[dict[str, Any]]) -> None:
    """Journal entries of leads a batch touched first, one executemany (in the order given:
    revert walks them newest first)."""
    if rows:
        session.execute(insert(ImportLead.__table__), rows)  # type: ignore[attr-defined]


def journal_page(session: Session, run_id: int, after_id: int, limit: int) -> Sequence[ImportLead]:
    """The journal's leads in reverse order of first touch, a page at a time (revert)."""
    query = select(ImportLead).where(ImportLead.import_id == run_id)
    if after_id:
        query = query.where(col(ImportLead.id) < after_id)
    return session.exec(query.order_by(col(ImportLead.id).desc()).limit(limit)).all()


def add_rows(session: Session, rows: list[dict[str, Any]]) -> None:
    """Reported rows, one executemany (a broker file may have thousands of bad rows)."""
    if rows:
        session.execute(insert(ImportRow), rows)


def rows_of(
    session: Session, run_id: int, actions: Collection[str] | None = None, limit: int | None = None
) -> Sequence[ImportRow]:
    query = select(ImportRow).where(ImportRow.import_id == run_id)
    if actions:
        query = query.where(col(ImportRow.action).in_(list(actions)))
    query = query.order_by(col(ImportRow.row), col(ImportRow.id))
    if limit is not None:
        query = query.limit(limit)
    return session.exec(query).all()


def iter_rows(session: Session, run_id: int, actions: Collection[str]) -> Iterator[ImportRow]:
    """Every reported row of the actions, in pages (an errors file of a big import)."""
    last = 0
    while True:
        query = (
            select(ImportRow)
            .where(ImportRow.import_id == run_id)
            .where(col(ImportRow.action).in_(list(actions)))
            .where(col(ImportRow.id) > last)
            .order_by(col(ImportRow.id))
            .limit(1000)
        )
        page = session.exec(query).all()
        if not page:
            return
        yield from page
        last = page[-1].id or last


# --- revert ----------------------------------------------------------------------------------


def snapshot(lead: Lead) -> dict[str, Any]:
    """Every column of the lead as JSON data (times as ISO strings): what revert restores."""
    data: dict[str, Any] = {}
    for column in Lead.__table__.columns:  # type: ignore[attr-defined]
        value = getattr(lead, column.name)
        data[column.name] = value.isoformat() if isinstance(value, datetime) else value
    return data


def restore(session: Session, lead: Lead, data: dict[str, Any]) -> None:
    """Put back a snapshot exactly (version and times included)."""
    for column in Lead.__table__.columns:  # type: ignore[attr-defined]
        if column.name not in data or column.name == "id":
            continue
        value = data[column.name]
        if isinstance(getattr(lead, column.name), datetime) and isinstance(value, str):
            value = datetime.fromisoformat(value)
        setattr(lead, column.name, value)
    session.add(lead)


def delete_rows(session: Session, written: dict[str, list[int]]) -> None:
    """Delete rows by id, per table of WRITTEN_TABLES (what an import wrote onto a lead)."""
    for name, ids in written.items():
        table = WRITTEN_TABLES.get(name)
        if table is not None and ids:
            session.exec(delete(table).where(col(table.id).in_(ids)))  # type: ignore[call-overload]


def delete_intake(session: Session, source_key: str) -> int:
    """The intake records of an import's captures (passed ones; held ones still waiting)."""
    result = session.execute(
        delete(IntakeRecord)
        .where(col(IntakeRecord.source_key) == source_key)
        .where(col(IntakeRecord.state).in_(("passed", "held")))
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def delete_leads(session: Session, lead_ids: Collection[int]) -> None:
    """Delete leads and every row hanging off them (storage.lead_rows), as if never captured;
    the import journal keeps its rows, pointing at no lead."""
    ids = sorted(set(lead_ids))
    if not ids:
        return
    session.flush()
    for start in range(0, len(ids), CHUNK):  # one may be merged into another of them
        chunk = ids[start : start + CHUNK]
        session.exec(update(Lead).where(col(Lead.id).in_(chunk)).values(merged_into_id=None))  # type: ignore[call-overload]
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        for name, rows in LEAD_ROWS.items():
            field = getattr(rows.table, rows.column)
            if name == "import_leads":
                continue
            if name == "import_rows":
                session.exec(update(rows.table).where(col(field).in_(chunk)).values(lead_id=None))  # type: ignore[call-overload]
                continue
            session.exec(delete(rows.table).where(col(field).in_(chunk)))  # type: ignore[call-overload]
        session.exec(delete(ImportLead).where(col(ImportLead.lead_id).in_(chunk)))  # type: ignore[call-overload]
        session.exec(delete(Lead).where(col(Lead.id).in_(chunk)))  # type: ignore[call-overload]
    for lead_id in ids:  # the ORM must not write back objects it still holds
        obj = session.identity_map.get(sa_inspect(Lead).identity_key_from_primary_key((lead_id,)))
        if obj is not None:
            session.expunge(obj)


def forget_journal_lead(session: Session, entry: ImportLead) -> None:
    session.delete(entry)


# --- dry runs --------------------------------------------------------------------------------


def sqlite_copy(store: Store, path: Path) -> Store | None:
    """A copy of a SQLite store at `path` (SQLite's online backup: a read, which never blocks
    the writers), for a dry run to write into and throw away; None for PostgreSQL, where a
    rolled-back transaction blocks nobody but the writers of the rows it touched."""
    if not store.is_sqlite:
        return None
    import sqlite3

    source = store.engine.raw_connection()
    try:
        target = sqlite3.connect(path)
        try:
            source.driver_connection.backup(target)  # type: ignore[union-attr]
        finally:
            target.close()
    finally:
        source.close()
    return Store(f"sqlite:///{path}")


# --- export ----------------------------------------------------------------------------------


def leads_page(
    session: Session, after_id: int, limit: int, status: Collection[str] | None = None
) -> Sequence[Lead]:
    """Active leads with an id above `after_id`, in id order (export streams the store)."""
    query = select(Lead).where(col(Lead.merged_into_id).is_(None)).where(col(Lead.id) > after_id)
    if status:
        query = query.where(col(Lead.status).in_(list(status)))
    return session.exec(query.order_by(col(Lead.id)).limit(limit)).all()


def rep_emails(session: Session) -> dict[int, str]:
    from storage.models import Rep

    return {rep_id: email for rep_id, email in session.exec(select(Rep.id, Rep.email))}  # type: ignore[misc]
