"""Named queries over leads."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import bindparam, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage.models import Lead, utcnow

# Leads merged into another are kept as aliases but left out of lists, counts and searches.
ACTIVE = col(Lead.merged_into_id).is_(None)
MAX_MERGE_HOPS = 20


def add(session: Session, lead: Lead) -> Lead:
    session.add(lead)
    session.flush()
    return lead


def add_unless_taken(session: Session, lead: Lead) -> Lead | None:
    """Insert a new live lead, or None when its address is taken by a live lead meanwhile.

    The unique index `ux_leads_live_email` decides, not a look-up: on PostgreSQL the insert
    waits for a concurrent transaction that inserted the same address and fails once that one
    commits. The insert runs in a savepoint, so the loser's transaction goes on (and, in READ
    COMMITTED, its next `by_email` sees the winner's lead)."""
    try:
        with session.begin_nested():
            session.add(lead)
            session.flush()
    except IntegrityError as exc:
        if not any(name in str(exc.orig) for name in ("ux_leads_live_email", "leads.email")):
            raise  # another constraint: not a lost race
        return None  # the savepoint's rollback made `lead` transient again
    return lead


def by_id(session: Session, lead_id: int, *, for_update: bool = False) -> Lead | None:
    query = _BY_ID_FOR_UPDATE if for_update else _BY_ID
    return session.exec(query, params={"lead_id": lead_id}).first()


# Built once, with the id bound at execution: building the statement and its cache key on each
# call was a fifth of an API read's CPU (`GET /api/v1/leads/L-…` reads a lead by id each time).
_BY_ID = select(Lead).where(Lead.id == bindparam("lead_id"))
_BY_ID_FOR_UPDATE = _BY_ID.with_for_update()


def lock(session: Session, lead: Lead) -> Lead:
    """`lead` re-read under a row lock (PostgreSQL: FOR UPDATE; SQLite has one writer anyway):
    a capture that found it waits here for a concurrent erase and then sees the tombstone."""
    query = (
        select(Lead)
        .where(Lead.id == lead.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.exec(query).one()


def by_ids_for_update(session: Session, lead_ids: Collection[int]) -> Sequence[Lead]:
    """The leads of `lead_ids`, locked for update in id order (two scans lock alike), 500 a
    statement."""
    ids = sorted(set(lead_ids))
    found: list[Lead] = []
    for start in range(0, len(ids), 500):
        query = select(Lead).where(col(Lead.id).in_(ids[start : start + 500]))
        found += session.exec(query.order_by(col(Lead.id)).with_for_update()).all()
    return found


def by_email(session: Session, email: str) -> Lead | None:
    """The oldest lead for an address, matched case-insensitively (addresses are stored lower);
    an address of a merged-away lead gives the lead it was merged into."""
    query = select(Lead).where(Lead.email == email.strip().lower()).order_by(col(Lead.id))
    return surviving(session, session.exec(query.limit(1)).first())


def surviving(session: Session, lead: Lead | None) -> Lead | None:
    """`lead`, or the lead it was merged into (following chains of merges)."""
    hops = 0
    while lead is not None and lead.merged_into_id is not None and hops < MAX_MERGE_HOPS:
        lead = session.get(Lead, lead.merged_into_id)
        hops += 1
    return lead


def all_by_email(session: Session, email: str) -> Sequence[Lead]:
    return session.exec(select(Lead).where(Lead.email == email.strip().lower())).all()


def by_reply_token(session: Session, token: str) -> Lead | None:
    """The lead a reply address belongs to (the survivor, for a merged-away lead's address)."""
    return surviving(session, session.exec(select(Lead).where(Lead.reply_token == token)).first())


def listing(
    session: Session,
    *,
    status: str | None = None,
    owner_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Sequence[Lead]:
    query = select(Lead).where(ACTIVE)
    if status:
        query = query.where(Lead.status == status)
    if owner_id is not None:
        query = query.where(Lead.owner_id == owner_id)
    return session.exec(query.order_by(col(Lead.id)).offset(offset).limit(limit)).all()


OPEN_STATUSES = ("new", "working", "qualified")


def open_for_owner(session: Session, owner_id: int, limit: int = 50) -> Sequence[Lead]:
    """A rep's leads still to work, the longest-waiting first."""
    query = (
        select(Lead)
        .where(Lead.owner_id == owner_id)
        .where(col(Lead.status).in_(OPEN_STATUSES))
        .where(ACTIVE)
        .order_by(col(Lead.last_activity_at), col(Lead.id))
    )
    return session.exec(query.limit(limit)).all()


def unassigned(session: Session, limit: int = 50) -> Sequence[Lead]:
    """Open leads with no owner yet, oldest first: the assignment queue as reps see it."""
    query = (
        select(Lead)
        .where(col(Lead.owner_id).is_(None))
        .where(col(Lead.status).in_(OPEN_STATUSES))
        .where(ACTIVE)
        .order_by(col(Lead.id))
    )
    return session.exec(query.limit(limit)).all()


def search(session: Session, text: str, limit: int = 20) -> Sequence[Lead]:
    """Leads whose email, name or company contains `text` (case-insensitive)."""
    pattern = f"%{text.strip().lower()}%"
    full_name = func.lower(Lead.first_name + " " + Lead.last_name)
    query = (
        select(Lead)
        .where(
            col(Lead.email).like(pattern)
            | full_name.like(pattern)
            | func.lower(Lead.company).like(pattern)
        )
        .where(ACTIVE)
        .order_by(col(Lead.id).desc())
    )
    return session.exec(query.limit(limit)).all()


def counts_by(session: Session, column: str) -> dict[str, int]:
    """How many leads per value of `column` (status, source, stage, owner_id)."""
    field = getattr(Lead, column)
    rows = session.exec(select(field, func.count()).where(ACTIVE).group_by(field)).all()
    return {str(value): n for value, n in rows}


def count(session: Session) -> int:
    return session.exec(select(func.count()).select_from(Lead).where(ACTIVE)).one()


def touch(session: Session, lead: Lead) -> None:
    """Record a change: bump the version (stale cards lose) and the activity times."""
    now = utcnow()
    lead.version += 1
    lead.updated_at = now
    lead.last_activity_at = now
    session.add(lead)


def ids_to_evaluate(session: Session, after_id: int, limit: int = 500) -> list[int]:
    """Ids of leads still in play (not merged away, not converted or trashed) above `after_id`,
    in id order: what a rules change re-scores and re-grades, a batch at a time."""
    query = (
        select(Lead.id)
        .where(ACTIVE)
        .where(col(Lead.status).not_in(("converted", "trashed")))
        .where(col(Lead.id) > after_id)
        .order_by(col(Lead.id))
        .limit(limit)
    )
    return [lead_id for lead_id in session.exec(query).all() if lead_id is not None]


def count_with(session: Session, *, status: str | None = None) -> int:
    """How many leads `listing` would list with no limit (merged aliases left out)."""
    query = select(func.count()).select_from(Lead).where(ACTIVE)
    if status:
        query = query.where(Lead.status == status)
    return session.exec(query).one()
