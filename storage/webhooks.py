"""Named queries over webhook endpoints and their deliveries (the webhook outbox).

`enqueue_for_entry` is called by storage.timeline.append for every timeline entry: the
entries that are webhook events (EVENT_OF_KIND) become one delivery per subscribed endpoint,
in the same transaction as the change the entry records, so an event is never lost to a crash
between the change and its announcement.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, or_
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from storage.api_tables import WebhookDelivery, WebhookEndpoint
from storage.models import Lead, TimelineEntry, utcnow

# The events receivers subscribe to, and the timeline kinds each one is made of.
EVENTS: tuple[str, ...] = (
    "lead.created", "lead.assigned", "lead.status_changed", "lead.converted", "lead.merged",
    "email.opened", "email.clicked", "lead.opted_out", "lead.erased",
)  # fmt: skip
EVENT_OF_KIND: dict[str, str] = {
    "created": "lead.created",
    "assigned": "lead.assigned",
    "converted": "lead.converted",
    "merged": "lead.merged",
    "email.opened": "email.opened",
    "email.clicked": "email.clicked",
    "email.opt_out": "lead.opted_out",
    # privacy erase: the lead is a tombstone now (bot/privacy/erase.py); the body holds no
    # personal data, so the other systems can erase the person too.
    "erased": "lead.erased",
}
# Every `status.<verb>` entry (work, qualify, nurture, trash, reopen, convert, unconvert).
STATUS_PREFIX = "status."
# What a delivery says of the lead: the lead as it is when the event happens.
LEAD_COLUMNS = (
    "email", "first_name", "last_name", "company", "title", "phone", "country", "source",
    "status", "stage", "score", "grade", "email_status", "trash_reason", "version",
)  # fmt: skip


def event_of(kind: str) -> str | None:
    if kind.startswith(STATUS_PREFIX):
        return "lead.status_changed"
    return EVENT_OF_KIND.get(kind)


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def enqueue_for_entry(session: Session, entry: TimelineEntry) -> int:
    """One pending delivery per endpoint subscribed to the entry's event; how many."""
    if event_of(entry.kind) is None:
        return 0
    with session.no_autoflush:  # the caller may hold rows it has not finished yet
        return _enqueue(session, entry, active_endpoints(session))


def enqueue_for_entries(session: Session, entries: Sequence[TimelineEntry]) -> int:
    """`enqueue_for_entry` for a batch, reading the endpoints once (a scan merges thousands)."""
    if not any(event_of(entry.kind) for entry in entries):
        return 0
    with session.no_autoflush:
        endpoints = active_endpoints(session)
        return sum(_enqueue(session, entry, endpoints) for entry in entries)


def _enqueue(session: Session, entry: TimelineEntry, active: Sequence[WebhookEndpoint]) -> int:
    event = event_of(entry.kind)
    if event is None:
        return 0
    with session.no_autoflush:
        endpoints = [e for e in active if event in (e.events or [])]
        if not endpoints:
            return 0
        lead = session.get(Lead, entry.lead_id)
    now = utcnow()
    snapshot: dict[str, Any] = {"id": f"L-{entry.lead_id}"}
    if lead is not None:
        snapshot.update({name: getattr(lead, name) for name in LEAD_COLUMNS})
        snapshot["owner"] = f"R-{lead.owner_id}" if lead.owner_id else None
        snapshot["merged_into"] = f"L-{lead.merged_into_id}" if lead.merged_into_id else None
        snapshot["updated_at"] = _iso(lead.updated_at)
    body = json.dumps(
        {
            "type": event,
            "timestamp": _iso(now),
            "data": {
                "lead": snapshot,
                "kind": entry.kind,
                "actor": entry.actor,
                "summary": entry.summary,
                "details": entry.data or {},
            },
        },
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )
    for endpoint in endpoints:
        assert endpoint.id is not None
        session.add(
            WebhookDelivery(
                endpoint_id=endpoint.id,
                lead_id=entry.lead_id,
                event_type=event,
                message_id=f"msg_{uuid.uuid4().hex}",
                body=body,
                created_at=now,
                next_attempt_at=now,
            )
        )
    return len(endpoints)


# --- endpoints ----------------------------------------------------------------------------------


def add_endpoint(session: Session, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    session.add(endpoint)
    session.flush()
    return endpoint


def endpoint_by_id(session: Session, endpoint_id: int) -> WebhookEndpoint | None:
    return session.get(WebhookEndpoint, endpoint_id)


def active_endpoints(session: Session) -> Sequence[WebhookEndpoint]:
    query = select(WebhookEndpoint).where(col(WebhookEndpoint.removed_at).is_(None))
    return session.exec(query.order_by(col(WebhookEndpoint.id))).all()


def pending_counts(session: Session) -> dict[int, int]:
    rows = session.exec(
        select(WebhookDelivery.endpoint_id, func.count())
        .where(WebhookDelivery.state == "pending")
        .group_by(WebhookDelivery.endpoint_id)
    ).all()
    return {endpoint_id: n for endpoint_id, n in rows}


# --- deliveries ---------------------------------------------------------------------------------


def claim_due(
    session: Session, now: datetime, lease: timedelta, limit: int = 50
) -> list[tuple[WebhookDelivery, WebhookEndpoint]]:
    """Due deliveries, at most one per endpoint and lead (the oldest pending: per lead, events go
    out in order), leased to this sender until `now + lease`."""
    earlier = aliased(WebhookDelivery)
    blocked = exists().where(
        and_(
            earlier.endpoint_id == WebhookDelivery.endpoint_id,
            earlier.lead_id == WebhookDelivery.lead_id,
            earlier.state == "pending",
            col(earlier.id) < col(WebhookDelivery.id),
        )
    )
    query = (
        select(WebhookDelivery)
        .where(WebhookDelivery.state == "pending")
        .where(col(WebhookDelivery.next_attempt_at) <= now)
        .where(
            or_(
                col(WebhookDelivery.locked_until).is_(None), col(WebhookDelivery.locked_until) < now
            )
        )
        .where(~blocked)
        # A removed endpoint's deliveries are kept, and no longer sent.
        .where(
            col(WebhookDelivery.endpoint_id).in_(
                select(WebhookEndpoint.id).where(col(WebhookEndpoint.removed_at).is_(None))
            )
        )
        .order_by(col(WebhookDelivery.id))
        .limit(limit)
        .with_for_update(skip_locked=True, of=WebhookDelivery)  # type: ignore[arg-type]
    )
    deliveries = list(session.exec(query).all())
    endpoints = {e.id: e for e in session.exec(select(WebhookEndpoint)).all()}
    claimed = []
    for delivery in deliveries:
        delivery.locked_until = now + lease
        session.add(delivery)
        claimed.append((delivery, endpoints[delivery.endpoint_id]))
    return claimed


def any_due(session: Session, now: datetime) -> bool:
    """Whether a claim would find anything: read first, so an idle sender takes no write lock."""
    query = (
        select(WebhookDelivery.id)
        .where(WebhookDelivery.state == "pending")
        .where(col(WebhookDelivery.next_attempt_at) <= now)
        .limit(1)
    )
    return session.exec(query).first() is not None


def delivery_by_id(session: Session, delivery_id: int) -> WebhookDelivery | None:
    return session.get(WebhookDelivery, delivery_id)


def deliveries(
    session: Session,
    *,
    endpoint_id: int | None = None,
    state: str | None = None,
    failed_only: bool = False,
    limit: int = 100,
) -> Sequence[WebhookDelivery]:
    """Newest first. `failed_only`: given up on, or pending after at least one failed try."""
    query = select(WebhookDelivery)
    if endpoint_id is not None:
        query = query.where(WebhookDelivery.endpoint_id == endpoint_id)
    if state:
        query = query.where(WebhookDelivery.state == state)
    if failed_only:
        query = query.where(
            or_(
                WebhookDelivery.state == "failed",
                and_(WebhookDelivery.state == "pending", col(WebhookDelivery.attempts) > 0),
            )
        )
    return session.exec(query.order_by(col(WebhookDelivery.id).desc()).limit(limit)).all()


def for_endpoint_in_order(session: Session, endpoint_id: int) -> Sequence[WebhookDelivery]:
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    return session.exec(query.order_by(col(WebhookDelivery.id))).all()


def count_pending(session: Session) -> int:
    query = select(func.count()).select_from(WebhookDelivery)
    return session.exec(query.where(WebhookDelivery.state == "pending")).one()
