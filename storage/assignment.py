"""Named queries of the assignment queue, the assignment log, reps' loads and the job cursors.

Claims take rows with `SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL, so two workers never take
the same queue row; a chosen rep's row is locked (`FOR UPDATE`) while its open leads are counted,
so two workers cannot both fill its last free place. SQLite ignores the locking clauses: its one
writer (BEGIN IMMEDIATE) serialises the same work.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, func
from sqlmodel import Session, col, select

from storage.inserts import insert_ignoring
from storage.leads import OPEN_STATUSES
from storage.models import Assignment, Cursor, Lead, QueueItem, Rep, TimelineEntry

# --- the queue -------------------------------------------------------------------------------


def item_for_lead(session: Session, lead_id: int) -> QueueItem | None:
    return session.exec(select(QueueItem).where(QueueItem.lead_id == lead_id)).first()


def enqueue(session: Session, lead_id: int, now: datetime) -> QueueItem | None:
    """Put a lead in the queue (waiting); None when it is there already (waiting or offered)."""
    item = item_for_lead(session, lead_id)
    if item is not None and item.state in ("waiting", "offered"):
        return None
    if item is None:
        item = QueueItem(lead_id=lead_id, enqueued_at=now)
    item.state, item.enqueued_at, item.retry_at = "waiting", now, None
    item.offered_to = item.offered_at = item.due_at = None
    item.tried, item.hops = [], 0
    session.add(item)
    session.flush()
    return item


def claim_waiting(session: Session, now: datetime, limit: int = 1) -> Sequence[QueueItem]:
    """Waiting items due for a decision, oldest first, locked for this worker."""
    query = (
        select(QueueItem)
        .where(QueueItem.state == "waiting")
        .where(col(QueueItem.retry_at).is_(None) | (col(QueueItem.retry_at) <= now))
        .order_by(col(QueueItem.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return session.exec(query).all()


def claim_overdue_offers(session: Session, now: datetime, limit: int = 50) -> Sequence[QueueItem]:
    """Offered items whose response time ran out, locked for this worker."""
    query = (
        select(QueueItem)
        .where(QueueItem.state == "offered")
        .where(col(QueueItem.due_at) <= now)
        .order_by(col(QueueItem.due_at), col(QueueItem.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return session.exec(query).all()


def listing(session: Session, state: str | None = None, limit: int = 100) -> Sequence[QueueItem]:
    query = select(QueueItem)
    if state:
        query = query.where(QueueItem.state == state)
    return session.exec(query.order_by(col(QueueItem.id)).limit(limit)).all()


def counts_by_state(session: Session) -> dict[str, int]:
    rows = session.exec(select(QueueItem.state, func.count()).group_by(QueueItem.state)).all()
    return {state: n for state, n in rows}


def withdraw_offers(session: Session, rep_id: int) -> int:
    """Offers waiting on a rep who is leaving go back to waiting, for someone else; the count."""
    items = session.exec(
        select(QueueItem)
        .where(QueueItem.state == "offered")
        .where(QueueItem.offered_to == rep_id)
        .with_for_update()
    ).all()
    for item in items:
        item.state, item.retry_at = "waiting", None
        item.offered_to = item.offered_at = item.due_at = None
        session.add(item)
    session.flush()
    return len(items)


def wake_waiting(session: Session) -> None:
    """Look at every waiting lead again at once (a rep came back, capacity changed, …)."""
    for item in session.exec(
        select(QueueItem)
        .where(QueueItem.state == "waiting")
        .where(col(QueueItem.retry_at).is_not(None))
    ).all():
        item.retry_at = None
        session.add(item)


# --- reps and their loads --------------------------------------------------------------------


def reps(session: Session) -> Sequence[Rep]:
    return session.exec(select(Rep).order_by(col(Rep.id))).all()


def rep_for_update(session: Session, rep_id: int) -> Rep | None:
    """The rep's row, locked until the transaction ends, read afresh (not from the session);
    None while another transaction holds it (SKIP LOCKED: the caller picks someone else)."""
    query = (
        select(Rep)
        .where(Rep.id == rep_id)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    return session.exec(query).first()


def open_loads(session: Session) -> dict[int, int]:
    """Open leads per owner."""
    rows = session.exec(
        select(Lead.owner_id, func.count())
        .where(col(Lead.owner_id).is_not(None))
        .where(col(Lead.status).in_(OPEN_STATUSES))
        .group_by(col(Lead.owner_id))
    ).all()
    return {owner: n for owner, n in rows if owner is not None}


def open_load(session: Session, rep_id: int) -> int:
    return session.exec(
        select(func.count())
        .select_from(Lead)
        .where(Lead.owner_id == rep_id)
        .where(col(Lead.status).in_(OPEN_STATUSES))
    ).one()


def offers_since(session: Session, since: datetime) -> dict[int, int]:
    """Offers per rep since `since` (weighted round robin balances these)."""
    rows = session.exec(
        select(Assignment.rep_id, func.count())
        .where(Assignment.at >= since)
        .group_by(col(Assignment.rep_id))
    ).all()
    return {rep_id: n for rep_id, n in rows}


# --- the assignment log ----------------------------------------------------------------------


def record(session: Session, assignment: Assignment) -> Assignment:
    session.add(assignment)
    return assignment


def for_lead(session: Session, lead_id: int) -> Sequence[Assignment]:
    query = select(Assignment).where(Assignment.lead_id == lead_id).order_by(col(Assignment.id))
    return session.exec(query).all()


def recent_per_rep(session: Session, per_rep: int) -> Sequence[Assignment]:
    """The last `per_rep` assignments of every rep, newest first within each rep."""
    ranked = select(
        Assignment.id,
        func.row_number()
        .over(
            partition_by=Assignment.rep_id,
            order_by=(col(Assignment.at).desc(), col(Assignment.id).desc()),
        )
        .label("rank"),
    ).subquery()
    query = (
        select(Assignment)
        .join(ranked, col(Assignment.id) == ranked.c.id)
        .where(ranked.c.rank <= per_rep)
        .order_by(col(Assignment.rep_id), col(Assignment.at).desc(), col(Assignment.id).desc())
    )
    return session.exec(query).all()


def assignments_total(session: Session) -> dict[int, int]:
    rows = session.exec(
        select(Assignment.rep_id, func.count()).group_by(col(Assignment.rep_id))
    ).all()
    return {rep_id: n for rep_id, n in rows}


# --- behaviour events and the scorer's cursor ------------------------------------------------


def cursor_for_update(session: Session, name: str) -> Cursor:
    """The named cursor, created at 0 if missing, locked until the transaction ends."""
    insert_ignoring(session, Cursor.__table__, {"name": name, "position": 0})  # type: ignore[attr-defined]
    query = (
        select(Cursor)
        .where(Cursor.name == name)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.exec(query).one()


def cursor_position(session: Session, name: str) -> int:
    position = session.exec(_CURSOR_POSITION, params={"name": name}).first()
    return position or 0


def has_due_waiting(session: Session, now: datetime) -> bool:
    return session.exec(_DUE_WAITING, params={"now": now}).first() is not None


def has_overdue_offers(session: Session, now: datetime) -> bool:
    return session.exec(_OVERDUE_OFFERS, params={"now": now}).first() is not None


def entries_after(
    session: Session, after_id: int, kinds: Sequence[str], limit: int
) -> Sequence[tuple[int, int]]:
    """(entry id, lead id) of timeline entries of `kinds` newer than `after_id`, oldest first."""
    params = {"after": after_id, "kinds": list(kinds), "limit": limit}
    rows = session.exec(_ENTRIES_AFTER, params=params).all()
    return [(entry_id, lead_id) for entry_id, lead_id in rows if entry_id]


# The scorer's and the assigner's look-first checks run on every tick of serve's loops, busy or
# idle: built once, with the values bound at execution (building them each time was most of an
# idle tick's CPU).
_CURSOR_POSITION = select(Cursor.position).where(Cursor.name == bindparam("name"))
_DUE_WAITING = (
    select(QueueItem.id)
    .where(QueueItem.state == "waiting")
    .where(col(QueueItem.retry_at).is_(None) | (col(QueueItem.retry_at) <= bindparam("now")))
    .limit(1)
)
_OVERDUE_OFFERS = (
    select(QueueItem.id)
    .where(QueueItem.state == "offered")
    .where(col(QueueItem.due_at) <= bindparam("now"))
    .limit(1)
)
_ENTRIES_AFTER = (
    select(TimelineEntry.id, TimelineEntry.lead_id)
    .where(col(TimelineEntry.id) > bindparam("after"))
    .where(col(TimelineEntry.kind).in_(bindparam("kinds", expanding=True)))
    .order_by(col(TimelineEntry.id))
    .limit(bindparam("limit"))
)


def events_of(session: Session, lead_id: int, kinds: Sequence[str]) -> Sequence[TimelineEntry]:
    query = (
        select(TimelineEntry)
        .where(TimelineEntry.lead_id == lead_id)
        .where(col(TimelineEntry.kind).in_(kinds))
        .order_by(col(TimelineEntry.at), col(TimelineEntry.id))
    )
    return session.exec(query).all()


def acted_since(session: Session, lead_id: int, since: datetime) -> bool:
    """Whether someone moved the lead or wrote a note on it since `since`."""
    query = (
        select(func.count())
        .select_from(TimelineEntry)
        .where(TimelineEntry.lead_id == lead_id)
        .where(col(TimelineEntry.at) >= since)
        .where((TimelineEntry.kind == "note") | col(TimelineEntry.kind).startswith("status."))
    )
    return session.exec(query).one() > 0
