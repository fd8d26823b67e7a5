"""The rows that hang off a lead, declared once: what a merge moves (and its undo moves back).
Export, erase and retention walk storage/personal_data.py, which declares every table and
text column as personal or kept.

Each entry names a table, its lead column, and whether a merge moves it to the survivor. A row
unique together with its lead (a lead is in a campaign once, is sent a step once) names that
column: a row whose twin the survivor already has stays behind. Rows a merge does not move are
derived from the lead (blocking keys, match forms: recomputed), are about the merge itself
(flags, merge records), or are work already done (outbox, assignment queue and log).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, update
from sqlmodel import Session, col, select

from storage.models import (
    Assignment,
    CampaignMember,
    CampaignSend,
    Contact,
    DuplicateFlag,
    FormConfirmation,
    FormSubmission,
    ImportLead,
    ImportRow,
    InboundMessage,
    IntakeRecord,
    LeadAlert,
    LeadBlockKey,
    LeadFact,
    LeadMatchForm,
    LeadMerge,
    Opportunity,
    OutboxItem,
    QueueItem,
    TimelineEntry,
    TrackingEvent,
    WebhookDelivery,
)


@dataclass(frozen=True)
class LeadRows:
    table: Any
    column: str
    moves_on_merge: bool = True
    unique_with: str | None = None


LEAD_ROWS: dict[str, LeadRows] = {
    "timeline": LeadRows(TimelineEntry, "lead_id"),
    "inbound_messages": LeadRows(InboundMessage, "lead_id"),
    "contacts": LeadRows(Contact, "lead_id"),
    "opportunities": LeadRows(Opportunity, "lead_id"),
    "tracking_events": LeadRows(TrackingEvent, "lead_id"),
    "campaign_members": LeadRows(CampaignMember, "lead_id", unique_with="campaign_id"),
    "campaign_sends": LeadRows(CampaignSend, "lead_id", unique_with="step_id"),
    "outbox": LeadRows(OutboxItem, "lead_id", moves_on_merge=False),
    "assignment_queue": LeadRows(QueueItem, "lead_id", moves_on_merge=False),
    "assignments": LeadRows(Assignment, "lead_id", moves_on_merge=False),
    "lead_block_keys": LeadRows(LeadBlockKey, "lead_id", moves_on_merge=False),
    "lead_match_forms": LeadRows(LeadMatchForm, "lead_id", moves_on_merge=False),
    "duplicate_flags": LeadRows(DuplicateFlag, "lead_id", moves_on_merge=False),
    "duplicate_flags_other": LeadRows(DuplicateFlag, "other_id", moves_on_merge=False),
    "lead_merges": LeadRows(LeadMerge, "merged_id", moves_on_merge=False),
    "lead_merges_survivor": LeadRows(LeadMerge, "survivor_id", moves_on_merge=False),
    # The held capture a lead was approved from: where it came from, kept as it was.
    "intake_records": LeadRows(IntakeRecord, "lead_id", moves_on_merge=False),
    # Web-form submissions are the person's (attribution, proof of consent): they move.
    "form_submissions": LeadRows(FormSubmission, "lead_id"),
    # Confirmation mails sent are work done, about the address they went to.
    "form_confirmations": LeadRows(FormConfirmation, "lead_id", moves_on_merge=False),
    # Webhook events about the lead: what was said to receivers stays as it was said.
    "webhook_deliveries": LeadRows(WebhookDelivery, "lead_id", moves_on_merge=False),
    # The import journal: which import created or changed the lead (its revert reads them).
    "import_leads": LeadRows(ImportLead, "lead_id", moves_on_merge=False),
    "import_rows": LeadRows(ImportRow, "lead_id", moves_on_merge=False),
    # The reports' roll-up row (derived: recomputed after a merge) and the last hot-lead alert.
    "report_lead_facts": LeadRows(LeadFact, "lead_id", moves_on_merge=False),
    "lead_alerts": LeadRows(LeadAlert, "lead_id", moves_on_merge=False),
}


def move(session: Session, src: int, dst: int) -> dict[str, list[int]]:
    """Point every row a merge moves from lead `src` at lead `dst`; the ids moved, per table
    (what `restore` needs to move them back)."""
    moved: dict[str, list[int]] = {}
    for name, rows in LEAD_ROWS.items():
        if not rows.moves_on_merge:
            continue
        table, column = rows.table, rows.column
        field = getattr(table, column)
        query = select(table.id).where(field == src)
        if rows.unique_with is not None:
            partner = getattr(table, rows.unique_with)
            taken = select(partner).where(field == dst)
            query = query.where(col(partner).not_in(taken))
        ids = list(session.exec(query).all())
        if ids:
            session.exec(update(table).where(col(table.id).in_(ids)).values({column: dst}))  # type: ignore[call-overload]
            moved[name] = ids
    return moved


def move_many(session: Session, targets: dict[int, int]) -> dict[int, dict[str, list[int]]]:
    """`move` for many merges at once (merged lead -> survivor): per table one SELECT of the
    rows of all merged leads and one UPDATE per survivor, instead of a SELECT per merge and
    table. The ids moved per merged lead and table, as `move` returns them."""
    moved: dict[int, dict[str, list[int]]] = {src: {} for src in targets}
    sources = sorted(targets)
    for name, rows in LEAD_ROWS.items():
        if not rows.moves_on_merge or not sources:
            continue
        table, column = rows.table, rows.column
        field = getattr(table, column)
        found: list[tuple[int, int, Any]] = []
        for start in range(0, len(sources), 500):
            chunk = sources[start : start + 500]
            partner_column = getattr(table, rows.unique_with) if rows.unique_with else None
            columns = [table.id, field] + ([partner_column] if partner_column is not None else [])
            result = session.exec(select(*columns).where(col(field).in_(chunk)))  # type: ignore[call-overload]
            pad = (None,) if partner_column is None else ()
            found += [(*tuple(row), *pad) for row in result]
        if not found:
            continue
        taken: set[tuple[int, Any]] = set()
        if rows.unique_with is not None:
            partner = getattr(table, rows.unique_with)
            survivors = sorted(set(targets.values()))
            for row in session.exec(select(field, partner).where(col(field).in_(survivors))):
                taken.add((row[0], row[1]))
        destination: dict[int, int] = {}
        for row_id, src, partner_value in found:
            dst = targets[src]
            if rows.unique_with is not None:
                if (dst, partner_value) in taken:
                    continue  # its twin is on the survivor already: it stays behind
                taken.add((dst, partner_value))
            destination[row_id] = dst
            moved[src].setdefault(name, []).append(row_id)
        row_ids = sorted(destination)
        for start in range(0, len(row_ids), 500):
            # one UPDATE per 500 rows, each row to its own survivor (CASE id WHEN … THEN …)
            chunk = {row_id: destination[row_id] for row_id in row_ids[start : start + 500]}
            session.exec(
                update(table)
                .where(col(table.id).in_(list(chunk)))
                .values({column: case(chunk, value=table.id)})
                .execution_options(synchronize_session="fetch")
            )  # type: ignore[call-overload]
    return moved


def restore(session: Session, moved: dict[str, list[int]], dst: int) -> None:
    """Point the rows a merge moved back at the lead they came from."""
    for name, ids in moved.items():
        rows = LEAD_ROWS[name]
        if ids:
            session.exec(
                update(rows.table).where(col(rows.table.id).in_(ids)).values({rows.column: dst})  # type: ignore[call-overload]
            )
