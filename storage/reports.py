"""Named queries of the reports: the roll-up (which leads the timeline touched, what a lead's
facts are made of, replacing them), the grouped figures each report reads, the dashboard links
and the hot-lead alert times."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, case, delete, exists, func, or_, text, update
from sqlmodel import Session, col, select

from storage.inserts import insert_ignoring
from storage.models import (
    Campaign,
    CampaignSend,
    CampaignStep,
    Lead,
    LeadAlert,
    LeadFact,
    Opportunity,
    Rep,
    ReportCampaignCounts,
    ReportDayCounts,
    ReportLink,
    ReportMonthCounts,
    ReportTouchHistogram,
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
    return session.exec(_LAST_TIMELINE_ID).one() or 0


def last_tracking_id(session: Session) -> int:
    return session.exec(_LAST_TRACKING_ID).one() or 0


# Built once: the roll-up's and the alert scan's look-first checks run on every tick.
_LAST_TIMELINE_ID = select(func.max(TimelineEntry.id))
_LAST_TRACKING_ID = select(func.max(TrackingEvent.id))


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
    counts = grouped_counts(session, (period,), since, until, source, owner_id)
    return [(key[0], int(v[0]), int(v[1]), int(v[2]), int(v[3]))
            for key, v in sorted(counts.items())]  # fmt: skip


def counts_by(session: Session, key: str, since: datetime | None, until: datetime | None,
              source: str | None, owner_id: int | None) -> list[Any]:  # fmt: skip
    """Per value of `key` (source, utm_source, utm_campaign, owner_id): leads, MQLs, SQLs,
    conversions, total seconds to convert, amount, worked, SLA misses."""
    name = "owner" if key == "owner_id" else key
    counts = grouped_counts(session, (name,), since, until, source, owner_id)
    return [(value, int(v[0]), int(v[1]), int(v[2]), int(v[3]), float(v[4]), float(v[5]),
             int(v[6]), int(v[7])) for (value,), v in counts.items()]  # fmt: skip


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
    bounds: list[tuple[datetime | None, datetime | None]] = [(edges[0], None)]
    bounds += [(older, newer) for newer, older in itertools.pairwise(edges)]
    bounds.append((None, edges[-1]))
    bands = []
    for since, until in bounds:
        counts = grouped_counts(session, (), since, until, source, owner_id).get((), None)
        bands.append((int(counts[8]), int(counts[9])) if counts else (0, 0))
    return bands


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
    # RETURNING, not rowcount: whether a row was written, the same on both stores.
    inserted = insert_ignoring(session, LeadAlert.__table__,  # type: ignore[attr-defined]
                               {"lead_id": lead_id, "last_at": now, "alerts": 1},
                               returning="lead_id").first()  # fmt: skip
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
    counts = grouped_counts(session, (period, "source"), since, until, source, owner_id)
    return [(key[0], key[1], int(v[0])) for key, v in sorted(counts.items())]


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


# --- the figures from the summaries (migration 0019) --------------------------------------------
#
# A window [since, until) is cut into whole periods (days or months), read from a summary the
# triggers keep, and the partial periods at its edges, read from the facts; the two are added.
# Which summary serves depends on what is grouped and filtered: one that holds every column
# asked for, else the facts alone (a rep's leads by day: a few thousand rows).

COUNTERS = ("leads", "mqls", "sqls", "converted", "convert_seconds", "amount", "worked",
            "sla_misses", "open", "open_untouched")  # fmt: skip
_FACT_KEYS = {"day": "day", "week": "week", "month": "month", "source": "source",
              "utm_source": "utm_source", "utm_campaign": "utm_campaign",
              "owner": "owner_id"}  # fmt: skip


def _fact_counters() -> list[Any]:
    return [
        func.count(),
        _ones(LeadFact.reached_mql),
        _ones(LeadFact.reached_sql),
        _ones(LeadFact.converted),
        func.coalesce(func.sum(LeadFact.convert_seconds), 0.0),
        func.coalesce(func.sum(LeadFact.amount), 0.0),
        _ones(LeadFact.worked),
        func.coalesce(func.sum(LeadFact.sla_misses), 0),
        _ones(LeadFact.is_open),
        _ones(and_(col(LeadFact.is_open), col(LeadFact.touched_at).is_(None))),
    ]


def _summary_for(keys: Sequence[str], owner_id: int | None) -> tuple[Any, str] | None:
    """The summary holding every key (and the owner when filtered by one), and its grain."""
    wanted = set(keys) | ({"owner"} if owner_id is not None else set())
    if wanted & {"day", "week"}:
        return (ReportDayCounts, "day") if not wanted & {"owner", "utm_campaign"} else None
    if "utm_campaign" in wanted:
        return (ReportCampaignCounts, "month") if "owner" not in wanted else None
    return ReportMonthCounts, "month"


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _start_of(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _floor(moment: datetime, grain: str) -> date:
    day = _utc(moment).astimezone(UTC).date()
    return day.replace(day=1) if grain == "month" else day


def _next(day: date, grain: str) -> date:
    if grain == "day":
        return day + timedelta(days=1)
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def split_window(since: datetime | None, until: datetime | None, grain: str
                 ) -> tuple[list[tuple[datetime | None, datetime | None]],
                            tuple[date | None, date | None] | None]:  # fmt: skip
    """The partial periods at the edges of [since, until) (read from the facts) and the whole
    periods [first, end) between them (read from a summary; None = unbounded)."""
    first: date | None = None
    end: date | None = None
    edges: list[tuple[datetime | None, datetime | None]] = []
    if since is not None:
        first = _floor(since, grain)
        if _start_of(first) < _utc(since):
            first = _next(first, grain)
    if until is not None:
        end = _floor(until, grain)
    if first is not None and end is not None and first >= end:
        return [(since, until)], None
    if since is not None and first is not None and _utc(since) < _start_of(first):
        edges.append((since, _start_of(first)))
    if until is not None and end is not None and _start_of(end) < _utc(until):
        edges.append((_start_of(end), until))
    return edges, (first, end)


def _source_filter(table: Any, source: str | None) -> Any:
    return or_(table.source == source, table.utm_source == source)


_DAY_KEYS = frozenset({"day", "week", "source", "utm_source"})


def grouped_counts(session: Session, keys: Sequence[str], since: datetime | None,
                   until: datetime | None, source: str | None, owner_id: int | None,
                   summaries: bool = True,
                   days_only: bool = False) -> dict[tuple[Any, ...], list[float]]:  # fmt: skip
    """Per value of `keys` (day, week, month, source, utm_source, utm_campaign, owner), the
    COUNTERS of the live leads that arrived in [since, until), of one source and one owner when
    given: whole periods from a summary, the rest from the facts (all of it with
    `summaries=False`, which the tests compare against). Owner None = unassigned."""
    totals: dict[tuple[Any, ...], list[float]] = {}

    def add(rows: Iterable[Any]) -> None:
        for row in rows:
            key = tuple(row[: len(keys)])
            values = totals.setdefault(key, [0] * len(COUNTERS))
            for i, value in enumerate(row[len(keys):]):  # fmt: skip
                values[i] += value or 0

    by_day = summaries and owner_id is None and set(keys) <= _DAY_KEYS
    summary = _summary_for(keys, owner_id) if summaries else None
    if days_only:
        summary = (ReportDayCounts, "day") if by_day else None
    edges: list[tuple[datetime | None, datetime | None]] = [(since, until)]
    if summary is not None:
        table, grain = summary
        edges, whole = split_window(since, until, grain)
        if whole is not None:
            columns = [getattr(table, key) for key in keys]
            if "owner" in keys:
                at = keys.index("owner")
                owner = table.owner
                columns[at] = case((owner == 0, None), else_=owner)
            query = select(*columns, *[func.sum(getattr(table, c)) for c in COUNTERS])
            period = getattr(table, grain)
            if whole[0] is not None:
                query = query.where(period >= whole[0])
            if whole[1] is not None:
                query = query.where(period < whole[1])
            if source:
                query = query.where(_source_filter(table, source))
            if owner_id is not None:
                query = query.where(table.owner == owner_id)
            if keys:
                query = query.group_by(*[getattr(table, key) for key in keys])
            add(session.exec(query).all())
    for low, high in edges:
        if summary is not None and summary[1] == "month" and by_day:
            # a partial month: its whole days from the day summary, the rest from the facts
            part = grouped_counts(session, keys, low, high, source, None, days_only=True)
            add((*key, *values) for key, values in part.items())
            continue
        columns = [getattr(LeadFact, _FACT_KEYS[key]) for key in keys]
        query = select(*columns, *_fact_counters())
        if keys:
            query = query.group_by(*columns)
        add(session.exec(_filtered(query, low, high, source, owner_id)).all())
    return {key: values for key, values in totals.items() if values[0]}


def convert_times_all(session: Session, since: datetime | None, until: datetime | None,
                      source: str | None, owner_id: int | None) -> list[Any]:  # fmt: skip
    """(source, utm_source, utm_campaign, seconds to convert) of every converted lead, as plain
    tuples (Core, not ORM rows: at 390,000 leads the ORM's rows were half the report's time)."""
    query = select(LeadFact.source, LeadFact.utm_source, LeadFact.utm_campaign,
                   LeadFact.convert_seconds).where(
        col(LeadFact.converted), col(LeadFact.convert_seconds).is_not(None)
    )  # fmt: skip
    filtered = _filtered(query, since, until, source, owner_id)
    return [tuple(row) for row in session.connection().execute(filtered)]


SPEED_COLUMNS = {"wall": ("touch_bucket", "touch_seconds"),
                 "work": ("work_bucket", "touch_work_seconds")}  # fmt: skip


def touch_histograms(session: Session, since: datetime | None, until: datetime | None
                     ) -> dict[tuple[str, str, str], dict[int, int]]:  # fmt: skip
    """Per (metric, dim, key): how many touched leads that arrived in [since, until) fall in
    each speed bucket (dim "all", "rep" with key the owner id or "", "source")."""
    out: dict[tuple[str, str, str], dict[int, int]] = {}

    def add(metric: str, dim: str, key: str, bucket: int, n: int) -> None:
        buckets = out.setdefault((metric, dim, key), {})
        buckets[int(bucket)] = buckets.get(int(bucket), 0) + int(n)

    edges, whole = split_window(since, until, "month")
    if whole is not None:
        table = ReportTouchHistogram
        query = select(table.metric, table.dim, table.key, table.bucket, func.sum(table.n))
        if whole[0] is not None:
            query = query.where(col(table.month) >= whole[0])
        if whole[1] is not None:
            query = query.where(col(table.month) < whole[1])
        query = query.group_by(table.metric, table.dim, table.key, table.bucket)
        for metric, dim, key, bucket, n in session.exec(query).all():
            if n:
                add(metric, dim, key, bucket, n)
    for low, high in edges:
        query = (
            select(LeadFact.owner_id, LeadFact.source, LeadFact.touch_bucket,
                   LeadFact.work_bucket, func.count())
            .where(col(LeadFact.touch_bucket).is_not(None))
            .group_by(LeadFact.owner_id, LeadFact.source, LeadFact.touch_bucket,
                      LeadFact.work_bucket)
        )  # fmt: skip
        for owner_id, source, wall, work, n in session.exec(
            _filtered(query, low, high, None, None)
        ).all():
            rep = "" if owner_id is None else str(owner_id)
            for metric, bucket in (("wall", wall), ("work", work)):
                for dim, key in (("all", ""), ("rep", rep), ("source", source)):
                    add(metric, dim, key, bucket, n)
    return out


_FAR_PAST = datetime(1970, 1, 1, tzinfo=UTC)
_FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)


def _nth_part(metric: str, dim: str, unassigned: bool, n: int) -> str:
    """One lookup as a scalar subquery; its parameters are suffixed with `n`."""
    bucket_column, value_column = SPEED_COLUMNS[metric]
    rep = " AND owner_id IS NULL" if unassigned else f" AND owner_id = :key{n}"
    group = {"all": "", "source": f" AND source = :key{n}", "rep": rep}[dim]
    return (
        f"SELECT {n} AS at, (SELECT {value_column} FROM report_lead_facts"
        f" WHERE {bucket_column} = :bucket{n}{group} AND arrived_at >= :since"
        f" AND arrived_at < :until ORDER BY {value_column} LIMIT 1 OFFSET :offset{n}) AS value"
    )


def nth_touches(session: Session, lookups: Sequence[tuple[str, str, str, int, int]],
                since: datetime | None, until: datetime | None) -> list[float | None]:  # fmt: skip
    """For each (metric, dim, key, bucket, offset): the offset-th smallest span (0 = the
    smallest) of the group's touched leads in that speed bucket, among those that arrived in
    [since, until). Each lookup walks one small index range (ix_report_facts_touch_* and
    _work_*: in the bucket, by span); a hundred go to the store in one statement."""
    moment = LeadFact.__table__.c.arrived_at.type  # type: ignore[attr-defined]
    found: list[float | None] = []
    for start in range(0, len(lookups), 100):
        chunk = lookups[start : start + 100]
        parts: list[str] = []
        params: dict[str, Any] = {"since": since or _FAR_PAST, "until": until or _FAR_FUTURE}
        for n, (metric, dim, key, bucket, offset) in enumerate(chunk):
            parts.append(_nth_part(metric, dim, dim == "rep" and key == "", n))
            params[f"bucket{n}"], params[f"offset{n}"] = bucket, offset
            if dim == "source":
                params[f"key{n}"] = key
            elif dim == "rep" and key != "":
                params[f"key{n}"] = int(key)
        statement = text(" UNION ALL ".join(parts)).bindparams(
            bindparam("since", type_=moment), bindparam("until", type_=moment)
        )
        values = {int(at): value for at, value in session.execute(statement, params).all()}
        found += [float(values[n]) if values.get(n) is not None else None
                  for n in range(len(chunk))]  # fmt: skip
    return found
