"""Named queries of the reports: the roll-up (which leads the timeline touched, what a lead's
facts are made of, replacing them), the grouped figures each report reads, the dashboard links
and the hot-lead alert times."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, delete, exists, func, or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from storage.models import (
    Campaign,
    CampaignSend,
    CampaignStep,
    Lead,
    LeadAlert,
    LeadFact,
    Opportunity,
    Rep,
    ReportLink,
    TimelineEntry,
    TrackingEvent,
)

# --- the roll-up --------------------------------------------------------------------------------


def leads_in_timeline_after(session: Session, position: int, limit: int) -> tuple[set[int], int]:
    """The leads with timeline entries after id `position` (at most `limit` entries read),
    and the last entry id read (`position` when there were none)."""
    rows = session.exec(
        select(TimelineEntry.id, TimelineEntry.lead_id)
        .where(col(TimelineEntry.id) > position)
        .order_by(col(TimelineEntry.id))
        .limit(limit)
    ).all()
    if not rows:
        return set(), position
    return {lead_id for _, lead_id in rows}, max(entry_id for entry_id, _ in rows)


def last_timeline_id(session: Session) -> int:
    return session.exec(select(func.max(TimelineEntry.id))).one() or 0


def lead_ids_after(session: Session, after: int, limit: int) -> list[int]:
    """Lead ids in order, from after `after` (the rebuild walks every lead with these)."""
    return list(
        session.exec(
            select(Lead.id).where(col(Lead.id) > after).order_by(col(Lead.id)).limit(limit)
        ).all()
    )


def leads_for_facts(session: Session, ids: Iterable[int]) -> list[Any]:
    """The columns of each lead the facts are made of."""
    return list(
        session.exec(
            select(
                Lead.id,
                Lead.created_at,
                Lead.source,
                Lead.custom,
                Lead.owner_id,
                Lead.status,
                Lead.stage,
                Lead.merged_into_id,
            ).where(col(Lead.id).in_(list(ids)))
        ).all()
    )


def timeline_for_facts(session: Session, ids: Iterable[int]) -> list[Any]:
    """Every entry of these leads, oldest first: (lead_id, at, actor, kind, data)."""
    return list(
        session.exec(
            select(
                TimelineEntry.lead_id,
                TimelineEntry.at,
                TimelineEntry.actor,
                TimelineEntry.kind,
                TimelineEntry.data,
            )
            .where(col(TimelineEntry.lead_id).in_(list(ids)))
            .order_by(col(TimelineEntry.at), col(TimelineEntry.id))
        ).all()
    )


def opportunity_amounts(session: Session, ids: Iterable[int]) -> dict[int, float]:
    rows = session.exec(
        select(Opportunity.lead_id, func.sum(Opportunity.amount))
        .where(col(Opportunity.lead_id).in_(list(ids)))
        .group_by(col(Opportunity.lead_id))
    ).all()
    return {lead_id: float(total) for lead_id, total in rows if total is not None}


def reps_working_time(session: Session) -> list[Rep]:
    return list(session.exec(select(Rep)).all())


def replace_facts(session: Session, ids: Iterable[int], facts: Sequence[dict[str, Any]]) -> None:
    """The facts of leads `ids` become `facts` (a lead with no row in `facts` has none)."""
    ids = list(ids)
    if ids:
        session.exec(delete(LeadFact).where(col(LeadFact.lead_id).in_(ids)))  # type: ignore[call-overload]
    if facts:
        session.execute(LeadFact.__table__.insert(), list(facts))  # type: ignore[attr-defined]


def delete_all_facts(session: Session) -> None:
    session.exec(delete(LeadFact))  # type: ignore[call-overload]


# --- the figures --------------------------------------------------------------------------------


def _ones(condition: Any) -> Any:
    return func.sum(case((condition, 1), else_=0))


def _filtered(query: Any, since: datetime | None, until: datetime | None,
              source: str | None, owner_id: int | None) -> Any:  # fmt: skip
    if since is not None:
        query = query.where(col(LeadFact.arrived_at) >= since)
    if until is not None:
        query = query.where(col(LeadFact.arrived_at) < until)
    if source:
        query = query.where(or_(LeadFact.source == source, LeadFact.utm_source == source))
    if owner_id is not None:
        query = query.where(LeadFact.owner_id == owner_id)
    return query


def funnel_counts(session: Session, period: str, since: datetime | None, until: datetime | None,
                  source: str | None, owner_id: int | None) -> list[Any]:  # fmt: skip
    """(period start, leads, reached MQL, reached SQL, converted) per period."""
    bucket = getattr(LeadFact, period)
    query = select(
        bucket, func.count(), _ones(LeadFact.reached_mql), _ones(LeadFact.reached_sql),
        _ones(LeadFact.converted),
    ).group_by(bucket).order_by(bucket)  # fmt: skip
    return list(session.exec(_filtered(query, since, until, source, owner_id)).all())


def counts_by(session: Session, key: str, since: datetime | None, until: datetime | None,
              source: str | None, owner_id: int | None) -> list[Any]:  # fmt: skip
    """Per value of `key` (source, utm_source, utm_campaign, owner_id): leads, MQLs, SQLs,
    conversions, total seconds to convert, amount, worked, SLA misses."""
    column = getattr(LeadFact, key)
    query = select(
        column, func.count(), _ones(LeadFact.reached_mql), _ones(LeadFact.reached_sql),
        _ones(LeadFact.converted), func.sum(LeadFact.convert_seconds), func.sum(LeadFact.amount),
        _ones(LeadFact.worked), func.sum(LeadFact.sla_misses),
    ).group_by(column)  # fmt: skip
    return list(session.exec(_filtered(query, since, until, source, owner_id)).all())


def convert_times(session: Session, key: str, since: datetime | None, until: datetime | None,
                  source: str | None, owner_id: int | None) -> list[Any]:  # fmt: skip
    """(key value, seconds to convert) of every converted lead: the medians read these."""
    column = getattr(LeadFact, key)
    query = select(column, LeadFact.convert_seconds).where(
        col(LeadFact.converted), col(LeadFact.convert_seconds).is_not(None)
    )
    return list(session.exec(_filtered(query, since, until, source, owner_id)).all())


def touch_times(session: Session, since: datetime | None, until: datetime | None,
                source: str | None, owner_id: int | None) -> list[Any]:  # fmt: skip
    """(owner, source, wall seconds, working seconds) of every touched lead."""
    query = select(
        LeadFact.owner_id, LeadFact.source, LeadFact.touch_seconds, LeadFact.touch_work_seconds
    ).where(col(LeadFact.touch_seconds).is_not(None))
    return list(session.exec(_filtered(query, since, until, source, owner_id)).all())


def aging_counts(session: Session, edges: Sequence[datetime], source: str | None,
                 owner_id: int | None) -> list[tuple[int, int]]:  # fmt: skip
    """(open, untouched) open leads per age band: arrived after edges[0], between edges[0]
    and edges[1], …, and before the last edge."""
    bands: list[Any] = []
    untouched = col(LeadFact.touched_at).is_(None)
    arrived = col(LeadFact.arrived_at)
    conditions = [arrived >= edges[0]]
    conditions += [
        and_(arrived < newer, arrived >= older) for newer, older in itertools.pairwise(edges)
    ]
    conditions.append(arrived < edges[-1])
    for condition in conditions:
        bands += [_ones(condition), _ones(and_(condition, untouched))]
    query = select(*bands).where(col(LeadFact.is_open))
    row = session.exec(_filtered(query, None, None, source, owner_id)).one()
    values = [int(v or 0) for v in row]
    return [(values[i], values[i + 1]) for i in range(0, len(values), 2)]


def campaign_step_counts(session: Session, since: datetime | None,
                         until: datetime | None) -> list[Any]:  # fmt: skip
    """Per campaign and step: sent, bounced, human opens, clicks, replies, opt-outs (each a
    number of sends)."""
    sent = CampaignSend.state == "sent"
    bounced = exists().where(Lead.id == CampaignSend.lead_id, Lead.email_status == "bounced")

    def event(kind: str, verdicts: tuple[str, ...] | None) -> Any:
        query = exists().where(TrackingEvent.send_id == CampaignSend.id, TrackingEvent.kind == kind)
        if verdicts is not None:
            query = query.where(col(TrackingEvent.verdict).in_(verdicts))
        return query

    replied = exists().where(
        TimelineEntry.lead_id == CampaignSend.lead_id,
        TimelineEntry.kind == "email.reply",
        TimelineEntry.at > CampaignSend.sent_at,
    )
    query = (
        select(
            Campaign.name,
            CampaignStep.position,
            CampaignStep.template,
            _ones(sent),
            _ones(and_(sent, bounced)),
            _ones(event("open", ("human",))),
            _ones(event("click", ("human", "proxy"))),
            _ones(and_(sent, replied)),
            _ones(event("opt_out", None)),
        )
        .join(CampaignStep, col(CampaignStep.id) == CampaignSend.step_id)
        .join(Campaign, col(Campaign.id) == CampaignSend.campaign_id)
        .group_by(Campaign.name, CampaignStep.position, CampaignStep.template)
        .order_by(Campaign.name, CampaignStep.position)
    )
    if since is not None:
        query = query.where(or_(col(CampaignSend.sent_at).is_(None), CampaignSend.sent_at >= since))
    if until is not None:
        query = query.where(or_(col(CampaignSend.sent_at).is_(None), CampaignSend.sent_at < until))
    return list(session.exec(query).all())


def reps_by_id(session: Session) -> dict[int, Rep]:
    return {rep.id: rep for rep in session.exec(select(Rep)).all() if rep.id is not None}


# --- dashboard links ----------------------------------------------------------------------------


def add_link(session: Session, link: ReportLink) -> ReportLink:
    session.add(link)
    session.flush()
    return link


def link_by_id(session: Session, link_id: int) -> ReportLink | None:
    return session.get(ReportLink, link_id)


def links(session: Session) -> list[ReportLink]:
    return list(session.exec(select(ReportLink).order_by(col(ReportLink.id))).all())


def revoke_link(session: Session, link_id: int, actor: str, now: datetime) -> bool:
    """Revoke a link once; False when there is no such link or it was revoked already."""
    revoked = session.execute(
        update(ReportLink)
        .where(col(ReportLink.id) == link_id, col(ReportLink.revoked_at).is_(None))
        .values(revoked_at=now, revoked_by=actor)
        .returning(ReportLink.id)
    ).first()
    return revoked is not None


# --- hot-lead alerts ----------------------------------------------------------------------------


def claim_alert(session: Session, lead_id: int, now: datetime, quiet_since: datetime) -> bool:
    """Take the lead's alert slot: True when no alert went out since `quiet_since` (and this
    one is now recorded). A unique row per lead and a conditional update decide, so of two
    workers only one alerts."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    # RETURNING, not rowcount: whether a row was written, the same on both stores.
    inserted = session.execute(
        insert(LeadAlert)
        .values(lead_id=lead_id, last_at=now, alerts=1)
        .on_conflict_do_nothing()
        .returning(LeadAlert.lead_id)
    ).first()
    if inserted is not None:
        return True
    updated = session.execute(
        update(LeadAlert)
        .where(col(LeadAlert.lead_id) == lead_id, col(LeadAlert.last_at) <= quiet_since)
        .values(last_at=now, alerts=LeadAlert.alerts + 1)
        .returning(LeadAlert.lead_id)
    ).first()
    return updated is not None


def alert_entries_after(session: Session, position: int, kinds: Sequence[str],
                        limit: int) -> tuple[list[TimelineEntry], int]:  # fmt: skip
    """Timeline entries of `kinds` after id `position`, and the last id looked at."""
    last = session.exec(
        select(func.max(TimelineEntry.id)).where(col(TimelineEntry.id) > position)
    ).one()
    if last is None:
        return [], position
    last = min(last, position + limit)
    entries = session.exec(
        select(TimelineEntry)
        .where(
            col(TimelineEntry.id) > position,
            col(TimelineEntry.id) <= last,
            col(TimelineEntry.kind).in_(list(kinds)),
        )
        .order_by(col(TimelineEntry.id))
    ).all()
    return list(entries), last


def lead_count(session: Session) -> int:
    return session.exec(select(func.count()).select_from(Lead)).one()


def leads_by_period_and_source(
    session: Session,
    period: str,
    since: datetime | None,
    until: datetime | None,
    source: str | None,
    owner_id: int | None,
) -> list[Any]:
    """(period start, source, leads) per period and source."""
    bucket = getattr(LeadFact, period)
    query = (
        select(bucket, LeadFact.source, func.count())
        .group_by(bucket, LeadFact.source)
        .order_by(bucket, LeadFact.source)
    )
    return list(session.exec(_filtered(query, since, until, source, owner_id)).all())


def person_tracking_after(session: Session, position: int, limit: int) -> tuple[list[Any], int]:
    """A person's opens and clicks (tracking events) after id `position`, with the email's
    campaign and step: (id, send_id, lead_id, kind, link_index, at, campaign, template); and
    the last id looked at."""
    last = session.exec(
        select(func.max(TrackingEvent.id)).where(col(TrackingEvent.id) > position)
    ).one()
    if last is None:
        return [], position
    last = min(last, position + limit)
    rows = session.exec(
        select(TrackingEvent.id, TrackingEvent.send_id, TrackingEvent.lead_id, TrackingEvent.kind,
               TrackingEvent.link_index, TrackingEvent.at, Campaign.name, CampaignStep.template)
        .join(CampaignSend, col(CampaignSend.id) == TrackingEvent.send_id)
        .join(CampaignStep, col(CampaignStep.id) == CampaignSend.step_id)
        .join(Campaign, col(Campaign.id) == TrackingEvent.campaign_id)
        .where(col(TrackingEvent.id) > position, col(TrackingEvent.id) <= last,
               col(TrackingEvent.kind).in_(("open", "click")),
               col(TrackingEvent.verdict) == "human")
        .order_by(col(TrackingEvent.id))
    ).all()  # fmt: skip
    return list(rows), last


def human_open_times(session: Session, send_id: int) -> list[datetime]:
    """When a person opened this email, oldest first."""
    return list(
        session.exec(
            select(TrackingEvent.at)
            .where(TrackingEvent.send_id == send_id, TrackingEvent.kind == "open",
                   TrackingEvent.verdict == "human")
            .order_by(col(TrackingEvent.at))
        ).all()
    )  # fmt: skip


def send_link(session: Session, send_id: int, index: int | None) -> str:
    send = session.get(CampaignSend, send_id)
    if send is None or index is None or not 0 <= index < len(send.links):
        return ""
    return send.links[index]
