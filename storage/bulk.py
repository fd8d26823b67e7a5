"""The set-based statements of a batch capture (bot.leads.capture.capture_many): many rows in one
INSERT … RETURNING, and the batch's reads in one query each instead of one per lead.

SQLAlchemy's "insertmanyvalues" turns an executemany with RETURNING into multi-row INSERTs on
SQLite (≥ 3.35) and PostgreSQL alike, with the ids in the order of the rows
(`sort_by_parameter_order`), so the caller can pair each id with the row it gave.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, or_
from sqlmodel import Session, col, select

from storage.models import (
    Account,
    DuplicateFlag,
    IntakeRecord,
    Lead,
    LeadBlockKey,
    LeadMatchForm,
    OutboxItem,
    QueueItem,
    TimelineEntry,
)
from storage.privacy_tables import SuppressedAddress

CHUNK = 500  # values per IN (...) list

# Every column of a new lead, from the model's own defaults (the caller overlays its values).
_LEAD_COLUMNS = tuple(c.name for c in Lead.__table__.columns if c.name != "id")  # type: ignore[attr-defined]


def lead_defaults(now: datetime) -> dict[str, Any]:
    """A new lead's row as `Lead()` would make it (times `now`), to copy and fill per lead."""
    proto = Lead(email="", reply_token="")
    row = {name: getattr(proto, name) for name in _LEAD_COLUMNS}
    row.update(created_at=now, updated_at=now, last_activity_at=now)
    return row


def insert_leads(session: Session, rows: Sequence[dict[str, Any]]) -> list[Lead]:
    """Insert new leads in one statement and return them as ORM objects, in the order of `rows`.

    No ON CONFLICT: an address a concurrent transaction took meanwhile fails the statement
    with the unique index's IntegrityError (`ux_leads_live_email`), and the caller retries
    its items one at a time, where a lost race updates the winner's lead."""
    if not rows:
        return []
    table = Lead.__table__  # type: ignore[attr-defined]
    result = session.execute(
        insert(table).returning(table.c.id, sort_by_parameter_order=True), list(rows)
    )
    ids = [row_id for (row_id,) in result]
    found = {lead.id: lead for lead in _leads_by_ids(session, ids)}
    return [found[row_id] for row_id in ids]


def _leads_by_ids(session: Session, ids: Sequence[int]) -> list[Lead]:
    leads: list[Lead] = []
    for start in range(0, len(ids), CHUNK):
        query = select(Lead).where(col(Lead.id).in_(ids[start : start + CHUNK]))
        leads.extend(session.exec(query))
    return leads


def lock_leads(session: Session, lead_ids: Collection[int]) -> dict[int, Lead]:
    """The leads re-read under row locks (PostgreSQL: FOR UPDATE, in id order so that two
    batches lock in the same order; SQLite has one writer anyway): what `storage.leads.lock`
    does for one lead, for a batch."""
    ids = sorted(set(lead_ids))
    found: dict[int, Lead] = {}
    for start in range(0, len(ids), CHUNK):
        query = (
            select(Lead)
            .where(col(Lead.id).in_(ids[start : start + CHUNK]))
            .order_by(col(Lead.id))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        found.update({lead.id: lead for lead in session.exec(query) if lead.id is not None})
    return found


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


def insert_timeline(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Timeline entries (lead_id, at, actor, kind, summary, data, inbound_message_id), one
    executemany. Webhook deliveries are the caller's (storage.webhooks.enqueue_for_entry, at
    the moment each entry happens)."""
    if rows:
        session.execute(insert(TimelineEntry.__table__), list(rows))  # type: ignore[attr-defined]


def insert_outbox(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Outbox items (kind, lead_id, rep_id, payload, created_at, next_attempt_at)."""
    if rows:
        session.execute(insert(OutboxItem.__table__), list(rows))  # type: ignore[attr-defined]


def insert_intake(session: Session, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Passed intake records (at, channel, source_key, lead_id, inbound_message_id), their ids
    in the order of `rows`."""
    if not rows:
        return []
    table = IntakeRecord.__table__  # type: ignore[attr-defined]
    full = [
        {"state": "passed", "reasons": [], "draft": {}, "source": {}, "evidence": {}, "note": "",
         "decided_by": None, "decided_at": None, **row}
        for row in rows
    ]  # fmt: skip
    result = session.execute(
        insert(table).returning(table.c.id, sort_by_parameter_order=True), full
    )
    return [row_id for (row_id,) in result]


def counts_since(session: Session, source_keys: Collection[str], since: datetime) -> dict[str, int]:
    """Intake records per source key at or after `since` (one GROUP BY for a batch's keys)."""
    keys = sorted(set(source_keys))
    counts: dict[str, int] = {}
    for start in range(0, len(keys), CHUNK):
        query = (
            select(IntakeRecord.source_key, func.count())
            .where(col(IntakeRecord.source_key).in_(keys[start : start + CHUNK]))
            .where(col(IntakeRecord.at) >= since)
            .group_by(col(IntakeRecord.source_key))
        )
        counts.update({key: int(n) for key, n in session.exec(query)})
    return counts


def any_suppressed(session: Session) -> bool:
    """Whether the suppression list holds anything (an empty one needs no secret key)."""
    return session.exec(select(SuppressedAddress.digest).limit(1)).first() is not None


def suppressed_digests(session: Session, digests: Collection[str]) -> set[str]:
    """Which of `digests` (storage.privacy.digest of each address) are on the suppression list."""
    wanted = sorted(set(digests))
    found: set[str] = set()
    for start in range(0, len(wanted), CHUNK):
        query = select(SuppressedAddress.digest).where(
            col(SuppressedAddress.digest).in_(wanted[start : start + CHUNK])
        )
        found.update(session.exec(query))
    return found


def replace_keys_many(
    session: Session,
    keys: dict[int, Collection[str]],
    forms: dict[int, dict[str, Any]],
    *,
    fresh: Collection[int] = (),
) -> None:
    """Make `keys[lead_id]` and `forms[lead_id]` the blocking keys and normal form of each lead
    (storage.duplicates.replace_keys / replace_form for a batch). Leads in `fresh` were
    inserted in this batch and have none to delete."""
    old = sorted(set(keys) - set(fresh))
    for start in range(0, len(old), CHUNK):
        chunk = old[start : start + CHUNK]
        session.execute(delete(LeadBlockKey).where(col(LeadBlockKey.lead_id).in_(chunk)))
        session.execute(delete(LeadMatchForm).where(col(LeadMatchForm.lead_id).in_(chunk)))
    key_rows = [
        {"lead_id": lead_id, "key": key}
        for lead_id, lead_keys in keys.items()
        for key in sorted(set(lead_keys))
    ]
    if key_rows:
        session.execute(insert(LeadBlockKey.__table__), key_rows)  # type: ignore[attr-defined]
    form_rows = [{"lead_id": lead_id, "form": form} for lead_id, form in forms.items()]
    if form_rows:
        session.execute(insert(LeadMatchForm.__table__), form_rows)  # type: ignore[attr-defined]


def accounts_for(
    session: Session, domains: Collection[str], keys: Collection[str], prefixes: Collection[str]
) -> list[Account]:
    """Every account a batch's company lookups may find (bot.leads.companies.find_account): by
    domain, by name key, or whose name key starts with one of `prefixes`; oldest first. An
    empty accounts table answers with one cheap query."""
    if session.exec(select(Account.id).limit(1)).first() is None:
        return []
    clauses = []
    if domains:
        clauses.append(col(Account.domain).in_(sorted({d.lower() for d in domains})))
    if keys:
        clauses.append(col(Account.name_key).in_(sorted(set(keys))))
    for prefix in sorted(set(prefixes)):
        clauses.append(col(Account.name_key).like(prefix.replace("%", "").replace("_", "") + "%"))
    if not clauses:
        return []
    return list(session.exec(select(Account).where(or_(*clauses)).order_by(col(Account.id))))


def events_of(
    session: Session, lead_ids: Collection[int], kinds: Sequence[str]
) -> dict[int, list[TimelineEntry]]:
    """`storage.assignment.events_of` for a batch of leads: their entries of `kinds`, oldest
    first, in one query per 500 leads."""
    ids = sorted(set(lead_ids))
    found: dict[int, list[TimelineEntry]] = {lead_id: [] for lead_id in ids}
    for start in range(0, len(ids), CHUNK):
        query = (
            select(TimelineEntry)
            .where(col(TimelineEntry.lead_id).in_(ids[start : start + CHUNK]))
            .where(col(TimelineEntry.kind).in_(kinds))
            .order_by(col(TimelineEntry.at), col(TimelineEntry.id))
        )
        for entry in session.exec(query):
            found[entry.lead_id].append(entry)
    return found


def queue_items(session: Session, lead_ids: Collection[int]) -> dict[int, QueueItem]:
    """The assignment-queue item of each lead that has one."""
    ids = sorted(set(lead_ids))
    found: dict[int, QueueItem] = {}
    for start in range(0, len(ids), CHUNK):
        query = select(QueueItem).where(col(QueueItem.lead_id).in_(ids[start : start + CHUNK]))
        found.update({item.lead_id: item for item in session.exec(query)})
    return found


def insert_flags(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Duplicate flags of new leads (lead_id, other_id, score, reasons, found_by, created_at):
    the unique pair index still decides."""
    if rows:
        full = [{"state": "open", "decided_by": None, "decided_at": None, **row} for row in rows]
        session.execute(insert(DuplicateFlag.__table__), full)  # type: ignore[attr-defined]
