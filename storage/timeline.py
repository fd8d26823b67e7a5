"""Named queries over the append-only lead timeline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

import storage.webhooks
from storage.models import TimelineEntry


def append(
    session: Session,
    lead_id: int,
    *,
    actor: str,
    kind: str,
    summary: str,
    data: dict[str, Any] | None = None,
    inbound_message_id: int | None = None,
) -> TimelineEntry:
    entry = TimelineEntry(
        lead_id=lead_id,
        actor=actor,
        kind=kind,
        summary=summary,
        data=data or {},
        inbound_message_id=inbound_message_id,
    )
    session.add(entry)
    # A timeline entry that is a webhook event is queued for the receivers in this transaction.
    storage.webhooks.enqueue_for_entry(session, entry)
    return entry


def append_many(session: Session, entries: list[dict[str, Any]]) -> list[TimelineEntry]:
    """`append` for many entries (each a dict of `append`'s keywords and `lead_id`): the
    webhook endpoints are read once for the batch, not once per entry."""
    rows = [TimelineEntry(**{"data": {}, **entry}) for entry in entries]
    session.add_all(rows)
    storage.webhooks.enqueue_for_entries(session, rows)
    return rows


def for_lead(session: Session, lead_id: int, limit: int | None = None) -> Sequence[TimelineEntry]:
    query = _FOR_LEAD if limit is None else _FOR_LEAD.limit(limit)
    return session.exec(query, params={"lead_id": lead_id}).all()


# Built once (as storage.leads.by_id's): every API read and Slack card lists a lead's timeline.
_FOR_LEAD = (
    select(TimelineEntry)
    .where(TimelineEntry.lead_id == bindparam("lead_id"))
    .order_by(col(TimelineEntry.at), col(TimelineEntry.id))
)
