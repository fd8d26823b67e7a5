"""Named queries over nurture campaigns: segments, members, sends (claimed SKIP LOCKED) and
tracking events."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, update
from sqlalchemy import delete as sql_delete
from sqlmodel import Session, col, select

from storage.campaign_tables import (
    Campaign,
    CampaignMember,
    CampaignSend,
    CampaignStep,
    TrackingEvent,
    TrackingSpoolOffset,
)
from storage.inserts import insert_ignoring
from storage.models import Lead, Rep, TimelineEntry, utcnow
from storage.text import refused_in, storable_value

_SENDS = CampaignSend.__table__  # type: ignore[attr-defined]
_LEADS = Lead.__table__  # type: ignore[attr-defined]

# --- campaigns ---------------------------------------------------------------------------------


def add(session: Session, campaign: Campaign, steps: Iterable[tuple[str, int]]) -> Campaign:
    session.add(campaign)
    session.flush()
    assert campaign.id is not None
    for position, (template, delay) in enumerate(steps):
        session.add(
            CampaignStep(
                campaign_id=campaign.id, position=position, template=template, delay_seconds=delay
            )
        )
    session.flush()
    return campaign


def by_name(session: Session, name: str) -> Campaign | None:
    return session.exec(select(Campaign).where(Campaign.name == name)).first()


def by_id(session: Session, campaign_id: int) -> Campaign | None:
    return session.get(Campaign, campaign_id)


def listing(session: Session) -> Sequence[Campaign]:
    return session.exec(select(Campaign).order_by(col(Campaign.id))).all()


def active_ids(session: Session) -> list[int]:
    rows = session.exec(select(Campaign.id).where(Campaign.state == "active")).all()
    return [row for row in rows if row is not None]


def steps_of(session: Session, campaign_id: int) -> Sequence[CampaignStep]:
    query = select(CampaignStep).where(CampaignStep.campaign_id == campaign_id)
    return session.exec(query.order_by(col(CampaignStep.position))).all()


def step_by_id(session: Session, step_id: int) -> CampaignStep | None:
    return session.get(CampaignStep, step_id)


# --- segment and members -----------------------------------------------------------------------


def segment_candidates(
    session: Session, campaign_id: int, segment: dict[str, Any], now: datetime
) -> Sequence[Lead]:
    """Leads the segment's column filters match that are not in the campaign yet (tags are
    checked by the caller: they live in the JSON custom fields)."""
    query = _segment_query(select(Lead), campaign_id, segment, now)
    return session.exec(query.order_by(col(Lead.id))).all()


def segment_candidate_tags(
    session: Session, campaign_id: int, segment: dict[str, Any], now: datetime
) -> list[Any]:
    """`segment_candidates` as (id, custom) rows: what enrolling needs of each lead."""
    query = _segment_query(select(_LEADS.c.id, _LEADS.c.custom), campaign_id, segment, now)
    return list(session.execute(query.order_by(_LEADS.c.id)).all())


def _segment_query(query: Any, campaign_id: int, segment: dict[str, Any], now: datetime) -> Any:
    members = select(CampaignMember.lead_id).where(CampaignMember.campaign_id == campaign_id)
    query = (
        query.where(col(Lead.id).not_in(members))
        # "confirmed": a double opt-in form's address, once its owner clicked the mail's link
        # ("unconfirmed" ones wait for it).
        .where(col(Lead.email_status).in_(("ok", "confirmed")))
        .where(col(Lead.merged_into_id).is_(None))  # an alias of its survivor
        .where(col(Lead.erased_at).is_(None))  # a tombstone has no one to mail
    )
    if segment.get("stale"):  # a re-permission campaign: leads retention marked stale
        query = query.where(col(Lead.stale_since).is_not(None))
    for key, column in (
        ("status", Lead.status),
        ("grade", Lead.grade),
        ("stage", Lead.stage),
        ("source", Lead.source),
    ):
        values = segment.get(key) or []
        if values:
            query = query.where(col(column).in_(values))
    if segment.get("score_min") is not None:
        query = query.where(Lead.score >= segment["score_min"])
    if segment.get("score_max") is not None:
        query = query.where(Lead.score <= segment["score_max"])
    if segment.get("not_contacted_days") is not None:
        cutoff = now - timedelta(days=segment["not_contacted_days"])
        query = query.where(Lead.last_activity_at <= cutoff)
    return query


def enroll(session: Session, campaign_id: int, lead_ids: Iterable[int], due_at: datetime) -> int:
    rows = [
        {"campaign_id": campaign_id, "lead_id": lead_id, "state": "active", "next_position": 0,
         "next_due_at": due_at, "joined_at": utcnow()}
        for lead_id in lead_ids
    ]  # fmt: skip
    if not rows:
        return 0
    _insert_ignoring_duplicates(session, CampaignMember, rows)
    return len(rows)


def enroll_one(session: Session, campaign_id: int, lead_id: int, due_at: datetime) -> bool:
    """Put one lead in a campaign (by hand); False when it was a member already (the UNIQUE
    (campaign, lead) key decides, so two people doing it at once make one membership)."""
    before = session.exec(
        select(CampaignMember.id)
        .where(CampaignMember.campaign_id == campaign_id)
        .where(CampaignMember.lead_id == lead_id)
    ).first()
    enroll(session, campaign_id, [lead_id], due_at)
    return before is None


def claim_due_members(
    session: Session, campaign_ids: list[int], now: datetime, limit: int = 500
) -> Sequence[CampaignMember]:
    query = (
        select(CampaignMember)
        .where(col(CampaignMember.campaign_id).in_(campaign_ids))
        .where(CampaignMember.state == "active")
        .where(CampaignMember.next_due_at <= now)
        .order_by(col(CampaignMember.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return session.exec(query).all()


def members_in_state(
    session: Session, lead_ids: Iterable[int], state: str
) -> Sequence[CampaignMember]:
    query = select(CampaignMember).where(col(CampaignMember.lead_id).in_(list(lead_ids)))
    return session.exec(query.where(CampaignMember.state == state)).all()


def members_of_lead(session: Session, lead_ids: Iterable[int]) -> Sequence[CampaignMember]:
    return members_in_state(session, lead_ids, "active")


def stopped_members(session: Session, lead_ids: Iterable[int]) -> Sequence[CampaignMember]:
    return members_in_state(session, lead_ids, "stopped")


def plan_sends(session: Session, sends: Iterable[tuple[int, int, int, str]], at: datetime) -> None:
    """A pending send for each (campaign, step, lead, address), unless one exists: the UNIQUE
    (lead, step) key makes it at most one."""
    rows = [
        {"campaign_id": campaign_id, "step_id": step_id, "lead_id": lead_id, "address": address,
         "state": "pending", "attempts": 0, "next_attempt_at": at, "links": [],
         "created_at": utcnow()}
        for campaign_id, step_id, lead_id, address in sends
    ]  # fmt: skip
    if rows:
        _insert_ignoring_duplicates(session, CampaignSend, rows)


def last_reply_at(session: Session, lead_ids: list[int]) -> dict[int, datetime]:
    """When each of these leads last replied (an email.reply on its timeline)."""
    if not lead_ids:
        return {}
    query = (
        select(TimelineEntry.lead_id, func.max(TimelineEntry.at))
        .where(col(TimelineEntry.lead_id).in_(lead_ids))
        .where(TimelineEntry.kind == "email.reply")
        .group_by(col(TimelineEntry.lead_id))
    )
    return {lead_id: at for lead_id, at in session.exec(query).all()}


def _insert_ignoring_duplicates(session: Session, table: Any, rows: list[dict[str, Any]]) -> None:
    """INSERT … ON CONFLICT DO NOTHING of many rows as one executemany: the statement compiles
    once (one VALUES clause of hundreds of rows compiled anew every time cost more than the
    insert)."""
    if rows:
        insert_ignoring(session, table.__table__, rows)


# --- sends -------------------------------------------------------------------------------------


def claim_pending_sends(
    session: Session, now: datetime, limit: int, campaign_id: int | None = None
) -> Sequence[CampaignSend]:
    """Pending sends whose time has come, locked for this worker (SKIP LOCKED on PostgreSQL; on
    SQLite the transaction holds the one write lock)."""
    query = (
        select(CampaignSend)
        .where(CampaignSend.state == "pending")
        .where(CampaignSend.next_attempt_at <= now)
    )
    if campaign_id is not None:
        query = query.where(CampaignSend.campaign_id == campaign_id)
    # A paused or stopped campaign sends nothing, whoever claims (serve's scheduler or the CLI).
    query = query.where(col(CampaignSend.campaign_id).in_(_ACTIVE_CAMPAIGNS))
    query = query.order_by(col(CampaignSend.id)).limit(limit).with_for_update(skip_locked=True)
    return session.exec(query).all()


_ACTIVE_CAMPAIGNS = select(Campaign.id).where(Campaign.state == "active")


# The sender's claim and record, as plain rows and executemany UPDATEs: a batch is hundreds of
# sends, and loading and flushing them as ORM objects cost more than the SQL (and the render).
_MARK_SENDING = (
    update(_SENDS)
    .where(_SENDS.c.id == bindparam("send_id"))
    .values(state="sending", claimed_at=bindparam("at"), attempts=_SENDS.c.attempts + 1,
            message_id=bindparam("mid"), links=bindparam("urls"))
)  # fmt: skip
_SETTLE = (
    update(_SENDS)
    .where(_SENDS.c.id == bindparam("send_id"))
    .values(state=bindparam("new_state"), smtp_reply=bindparam("reply"),
            sent_at=bindparam("sent"), next_attempt_at=bindparam("next_at"))
)  # fmt: skip


def claim_due_sends(
    session: Session, now: datetime, limit: int, campaign_id: int | None = None
) -> list[Any]:
    """What `claim_pending_sends` locks, as rows (id, campaign_id, step_id, lead_id, address,
    attempts, message_id, next_attempt_at): pending, due, of an active campaign."""
    c = _SENDS.c
    query = (
        select(c.id, c.campaign_id, c.step_id, c.lead_id, c.address, c.attempts, c.message_id,
               c.next_attempt_at)
        .where(c.state == "pending")
        .where(c.next_attempt_at <= now)
        # A paused or stopped campaign sends nothing, whoever claims.
        .where(c.campaign_id.in_(_ACTIVE_CAMPAIGNS))
    )  # fmt: skip
    if campaign_id is not None:
        query = query.where(c.campaign_id == campaign_id)
    query = query.order_by(c.id).limit(limit).with_for_update(skip_locked=True)
    return list(session.execute(query).all())


def mail_rows(session: Session, lead_ids: Iterable[int]) -> dict[int, Any]:
    """The leads of a batch of sends as rows (every column, by attribute like a Lead)."""
    query = select(_LEADS).where(_LEADS.c.id.in_(list(lead_ids)))
    return {row.id: row for row in session.execute(query).all()}


def reps_by_ids(session: Session, rep_ids: Iterable[int]) -> dict[int, Rep]:
    ids = list(rep_ids)
    if not ids:
        return {}
    rows = session.exec(select(Rep).where(col(Rep.id).in_(ids))).all()
    return {rep.id: rep for rep in rows if rep.id is not None}


def mark_sending(session: Session, rows: list[tuple[int, datetime, str, list[str]]]) -> None:
    """(send id, claimed at, Message-ID, links) → `sending`, one more attempt: one UPDATE."""
    if rows:
        session.execute(
            _MARK_SENDING,
            [{"send_id": send_id, "at": at, "mid": mid,
              "urls": storable_value(urls) if refused_in(urls) else urls}
             for send_id, at, mid, urls in rows],
        )  # fmt: skip


def settle_sends(
    session: Session,
    rows: list[tuple[int, str, str, datetime | None, datetime]],
) -> None:
    """(send id, state, reply, sent at, next attempt at) for each send: one UPDATE."""
    if rows:
        session.execute(
            _SETTLE,
            [{"send_id": send_id, "new_state": state, "reply": storable_value(reply),
              "sent": sent, "next_at": next_at}
             for send_id, state, reply, sent, next_at in rows],
        )  # fmt: skip


def attempts_of(session: Session, send_ids: Iterable[int]) -> dict[int, tuple[int, datetime]]:
    """Each send's attempts so far and its next attempt time."""
    c = _SENDS.c
    query = select(c.id, c.attempts, c.next_attempt_at).where(c.id.in_(list(send_ids)))
    return {row.id: (row.attempts, row.next_attempt_at) for row in session.execute(query).all()}


def next_pending_at(session: Session, campaign_id: int | None = None) -> datetime | None:
    query = select(func.min(CampaignSend.next_attempt_at)).where(CampaignSend.state == "pending")
    if campaign_id is not None:
        query = query.where(CampaignSend.campaign_id == campaign_id)
    query = query.where(col(CampaignSend.campaign_id).in_(_ACTIVE_CAMPAIGNS))
    return session.exec(query).one()


def sends_by_ids(session: Session, send_ids: Iterable[int]) -> dict[int, CampaignSend]:
    rows = session.exec(select(CampaignSend).where(col(CampaignSend.id).in_(list(send_ids))))
    return {row.id: row for row in rows.all() if row.id is not None}


def send_by_id(session: Session, send_id: int) -> CampaignSend | None:
    return session.get(CampaignSend, send_id)


def mark_stale_sending_unknown(session: Session, claimed_before: datetime) -> int:
    """A send left in `sending` by a worker that died: it may have gone out, so it is not sent
    again; it is marked `unknown` for a person to look at."""
    result = session.execute(
        update(CampaignSend)
        .where(col(CampaignSend.state) == "sending")
        .where(col(CampaignSend.claimed_at) < claimed_before)
        .values(state="unknown", smtp_reply="worker stopped during delivery; not resent")
    )
    return result.rowcount or 0  # type: ignore[attr-defined]


def release_sends(session: Session, send_ids: list[int]) -> None:
    """Claimed sends that were never handed to SMTP: back to pending, the attempt not counted."""
    session.execute(
        update(CampaignSend)
        .where(col(CampaignSend.id).in_(send_ids))
        .where(col(CampaignSend.state) == "sending")
        .values(state="pending", attempts=CampaignSend.attempts - 1, claimed_at=None)
    )


def sends_of(session: Session, campaign_id: int) -> Sequence[CampaignSend]:
    query = select(CampaignSend).where(CampaignSend.campaign_id == campaign_id)
    return session.exec(query.order_by(col(CampaignSend.id))).all()


def leads_and_owners(
    session: Session, lead_ids: Iterable[int]
) -> tuple[dict[int, Lead], dict[int, Rep]]:
    leads = {
        lead.id: lead
        for lead in session.exec(select(Lead).where(col(Lead.id).in_(list(lead_ids)))).all()
        if lead.id is not None
    }
    owner_ids = {lead.owner_id for lead in leads.values() if lead.owner_id is not None}
    reps = {
        rep.id: rep
        for rep in session.exec(select(Rep).where(col(Rep.id).in_(owner_ids))).all()
        if rep.id is not None
    }
    return leads, reps


# --- tracking ----------------------------------------------------------------------------------


def add_events(session: Session, events: Iterable[TrackingEvent]) -> None:
    session.add_all(list(events))


EVENT_COLUMNS = ("send_id", "campaign_id", "lead_id", "kind", "verdict", "verdict_reason",
                 "link_index", "user_agent", "at")  # fmt: skip
INSERT_EVENTS = (
    f"INSERT INTO tracking_events ({', '.join(EVENT_COLUMNS)}) "
    f"VALUES ({', '.join(['%s'] * len(EVENT_COLUMNS))})"
)


def insert_events(session: Session, rows: list[tuple[Any, ...]]) -> None:
    """Many tracking events (tuples in EVENT_COLUMNS order, `at` an aware UTC datetime) in one
    DB-API executemany: the pixel's batches are thousands of rows, and SQLAlchemy's per-row
    parameter processing would cost more than the insert itself."""
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        # The text form SQLAlchemy's DateTime keeps on SQLite (UTC, no offset).
        rows = [
            (*row[:-1], row[-1].astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds"))
            for row in rows
        ]
        connection.exec_driver_sql(INSERT_EVENTS.replace("%s", "?"), rows)
    else:
        connection.exec_driver_sql(INSERT_EVENTS, rows)


def recent_event_times(
    session: Session, send_ids: Iterable[int], kind: str, since: datetime
) -> dict[int, list[datetime]]:
    """When each send was last hit (`kind`) since `since`: what a burst is judged by."""
    query = (
        select(TrackingEvent.send_id, TrackingEvent.at)
        .where(col(TrackingEvent.send_id).in_(list(send_ids)))
        .where(TrackingEvent.kind == kind)
        .where(TrackingEvent.at >= since)
    )
    times: dict[int, list[datetime]] = {}
    for send_id, at in session.exec(query).all():
        times.setdefault(send_id, []).append(at)
    return times


def first_events(
    session: Session, send_ids: Iterable[int], verdict: str
) -> dict[tuple[int, str, int | None], datetime]:
    """The earliest stored event with `verdict` per (send, kind, link index) of these sends:
    one query for a whole batch of hits instead of one per hit."""
    ids = list(send_ids)
    if not ids:
        return {}
    query = (
        select(
            TrackingEvent.send_id,
            TrackingEvent.kind,
            TrackingEvent.link_index,
            func.min(TrackingEvent.at),
        )
        .where(col(TrackingEvent.send_id).in_(ids))
        .where(TrackingEvent.verdict == verdict)
        .group_by(
            col(TrackingEvent.send_id), col(TrackingEvent.kind), col(TrackingEvent.link_index)
        )
    )
    return {(send_id, kind, index): at for send_id, kind, index, at in session.exec(query).all()}


def events_of(session: Session, campaign_id: int) -> Sequence[TrackingEvent]:
    query = select(TrackingEvent).where(TrackingEvent.campaign_id == campaign_id)
    return session.exec(query.order_by(col(TrackingEvent.id))).all()


def statuses_by_address(session: Session, addresses: Iterable[str]) -> dict[str, str]:
    """The worst email status any lead record with each address has (bounced > opted_out > ok)."""
    rank = {"ok": 0, "opted_out": 1, "bounced": 2}
    found: dict[str, str] = {}
    query = select(Lead.email, Lead.email_status).where(col(Lead.email).in_(list(addresses)))
    for email, status in session.exec(query).all():
        if rank.get(status, 0) >= rank.get(found.get(email, "ok"), 0):
            found[email] = status
    return found


def replied_lead_ids(session: Session, first_sent: dict[int, datetime]) -> set[int]:
    """Of these leads, those with a reply on their timeline after their first email here."""
    replies = last_reply_at(session, list(first_sent))
    return {lead_id for lead_id, at in replies.items() if at >= first_sent[lead_id]}


def count_pending(session: Session, campaign_id: int | None = None) -> int:
    query = select(func.count()).select_from(CampaignSend).where(CampaignSend.state == "pending")
    if campaign_id is not None:
        query = query.where(CampaignSend.campaign_id == campaign_id)
    return session.exec(query).one()


# --- pausing, stopping, retrying, deleting ----------------------------------------------------


def stop_all(session: Session, campaign_id: int, reason: str) -> tuple[int, int]:
    """Stop every active member and skip every pending send; (members, sends) it changed."""
    members = session.execute(
        update(CampaignMember)
        .where(col(CampaignMember.campaign_id) == campaign_id)
        .where(col(CampaignMember.state) == "active")
        .values(state="stopped", stopped_reason=reason)
    )
    sends = session.execute(
        update(CampaignSend)
        .where(col(CampaignSend.campaign_id) == campaign_id)
        .where(col(CampaignSend.state) == "pending")
        .values(state="skipped", smtp_reply=f"not sent: {reason}")
    )
    return (members.rowcount or 0, sends.rowcount or 0)  # type: ignore[attr-defined]


def requeue(session: Session, campaign_id: int, now: datetime, *, failed: bool) -> int:
    """Sends waiting out a retry backoff become due now; with `failed`, failed sends are pending
    again with their attempts counted afresh. Returns how many sends it changed."""
    waiting = session.execute(
        update(CampaignSend)
        .where(col(CampaignSend.campaign_id) == campaign_id)
        .where(col(CampaignSend.state) == "pending")
        .where(col(CampaignSend.next_attempt_at) > now)
        .values(next_attempt_at=now)
    )
    changed = waiting.rowcount or 0  # type: ignore[attr-defined]
    if failed:
        again = session.execute(
            update(CampaignSend)
            .where(col(CampaignSend.campaign_id) == campaign_id)
            .where(col(CampaignSend.state) == "failed")
            .values(state="pending", attempts=0, next_attempt_at=now, claimed_at=None)
        )
        changed += again.rowcount or 0  # type: ignore[attr-defined]
    return changed


def has_mailed(session: Session, campaign_id: int) -> bool:
    """Whether any email of the campaign went out (or may have): its links are in inboxes."""
    query = (
        select(CampaignSend.id)
        .where(CampaignSend.campaign_id == campaign_id)
        .where(col(CampaignSend.state).in_(("sent", "sending", "unknown")))
    )
    return session.exec(query.limit(1)).first() is not None


def delete(session: Session, campaign_id: int) -> None:
    """Remove a campaign that never mailed anyone, with its steps, members and planned sends."""
    for table in (TrackingEvent, CampaignSend, CampaignMember, CampaignStep):
        session.execute(sql_delete(table).where(col(table.campaign_id) == campaign_id))
    session.execute(sql_delete(Campaign).where(col(Campaign.id) == campaign_id))


def members_and_sends(
    session: Session, campaign_id: int
) -> tuple[Sequence[CampaignMember], dict[int, CampaignSend], dict[int, Lead]]:
    """The members (in joining order), each one's latest send by lead id, and their leads."""
    members = session.exec(
        select(CampaignMember)
        .where(CampaignMember.campaign_id == campaign_id)
        .order_by(col(CampaignMember.id))
    ).all()
    latest: dict[int, CampaignSend] = {}
    for send in sends_of(session, campaign_id):
        latest[send.lead_id] = send  # ordered by id: the last one wins
    leads, _ = leads_and_owners(session, {m.lead_id for m in members})
    return members, latest, leads


# --- the hit spool's offsets -------------------------------------------------------------------


def lock_spool_offset(session: Session, segment: str) -> int:
    """How far `segment` has been written, its row locked until commit (made at 0 if new): two
    writers draining one segment take turns, so no hit is written twice."""
    _insert_ignoring_duplicates(
        session, TrackingSpoolOffset, [{"segment": segment, "offset": 0, "updated_at": utcnow()}]
    )
    query = select(TrackingSpoolOffset).where(TrackingSpoolOffset.segment == segment)
    row = session.exec(query.with_for_update()).one()
    return row.offset


def set_spool_offset(session: Session, segment: str, offset: int) -> None:
    session.execute(
        update(TrackingSpoolOffset)
        .where(col(TrackingSpoolOffset.segment) == segment)
        .values(offset=offset, updated_at=utcnow())
    )


def drop_spool_offset(session: Session, segment: str) -> None:
    session.execute(
        sql_delete(TrackingSpoolOffset).where(col(TrackingSpoolOffset.segment) == segment)
    )
