"""The reports' roll-up: one row of facts per live lead (storage.report_tables.LeadFact),
derived from the lead and its whole timeline, so that every report groups a million small rows
instead of scanning ten million timeline entries.

It is kept up to date incrementally: `catch_up` reads the timeline after its cursor and derives
again every lead that gained an entry. Merging, un-merging and un-converting each write an
entry on both leads concerned, so right after one the merged-away lead has no row (it counts
once, in its survivor, whose row now includes the moved history) and an un-converted lead is
not converted. `rebuild` derives every lead from scratch (`leadbot report rebuild`).

A "human touch" is what a person did to the lead after it arrived (or was reopened): a rep's or
an operator's status change, note or conversion (CLI and Slack alike), or a rep's email to it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel import Session

import storage.assignment
import storage.reports
from bot.leads.lifecycle import Status
from bot.reports.worktime import WorkingTime
from storage.engine import Store
from storage.report_tables import speed_bucket

CURSOR = "reports.rollup"
# Timeline entries read per transaction: small enough that a catch-up never holds a long lock.
BATCH = 2000
# Entries read again behind the cursor when it moves: on PostgreSQL a transaction that took a
# lower id may commit after a higher one was read; its lead is derived on the next move.
OVERLAP = 200
HUMAN_ACTORS = ("rep:", "cli:")
TOUCH_KINDS = frozenset({"note", "converted", "unconverted", "email.rep"})
OPEN_STATUSES = frozenset({Status.NEW, Status.WORKING, Status.NURTURING, Status.QUALIFIED})


@dataclass(frozen=True)
class People:
    """The reps as the roll-up needs them: their working time by id, their ids by name (the
    timeline names a rep `rep:<name>`)."""

    working: dict[int, WorkingTime]
    by_name: dict[str, int]

    @classmethod
    def load(cls, session: Session) -> People:
        reps = storage.reports.reps_working_time(session)
        working = {
            rep.id: WorkingTime(
                rep.timezone, rep.working_hours, rep.working_days, tuple(rep.out_of_office)
            )
            for rep in reps
            if rep.id is not None
        }
        return cls(working, {rep.name: rep.id for rep in reps if rep.id is not None})


def is_touch(actor: str, kind: str) -> bool:
    if kind == "email.rep":
        return True
    return actor.startswith(HUMAN_ACTORS) and (kind.startswith("status.") or kind in TOUCH_KINDS)


def derive(lead: Any, entries: Sequence[Any], people: People,
           amount: float | None) -> dict[str, Any] | None:  # fmt: skip
    """The facts of one lead (a row of storage.reports.leads_for_facts) from its timeline
    entries (lead_id, at, actor, kind, data), oldest first; None for a merged-away lead."""
    lead_id, created_at, source, custom, owner_id, status, stage, merged_into = lead
    if merged_into is not None:
        return None
    utm_source = str((custom or {}).get("utm_source", "") or "")
    utm_campaign = str((custom or {}).get("utm_campaign", "") or "")
    reached_mql = stage in ("mql", "sql", "opportunity")
    reached_sql = stage in ("sql", "opportunity")
    converted_at: datetime | None = None
    worked = False
    sla_misses = 0
    touch_from = created_at
    touched: tuple[datetime, str] | None = None
    for _, at, actor, kind, data in entries:
        data = data or {}
        if not utm_source and data.get("utm_source"):
            utm_source = str(data["utm_source"])
        if not utm_campaign and data.get("utm_campaign"):
            utm_campaign = str(data["utm_campaign"])
        if isinstance(data.get("utm"), dict):
            utm_source = utm_source or str(data["utm"].get("source", "") or "")
            utm_campaign = utm_campaign or str(data["utm"].get("campaign", "") or "")
        if kind == "mql":
            reached_mql = True
        elif kind == "status.qualify":
            reached_mql = reached_sql = True
        elif kind == "converted":
            reached_mql = reached_sql = True
            converted_at = at
        elif kind == "assignment.sla_missed":
            sla_misses += 1
        if kind.startswith("status.") and actor.startswith(HUMAN_ACTORS):
            worked = True
        if kind == "status.reopen":
            # A reopened lead is measured from its reopening, to the next touch after it.
            touch_from, touched = at, None
            continue
        if touched is None and at >= touch_from and is_touch(actor, kind):
            touched = (at, actor)
    converted = status == Status.CONVERTED and converted_at is not None
    fact: dict[str, Any] = {
        "lead_id": lead_id,
        "arrived_at": created_at,
        **periods(created_at.date()),
        "source": source or "",
        "utm_source": utm_source[:200],
        "utm_campaign": utm_campaign[:200],
        "owner_id": owner_id,
        "status": status,
        "stage": stage,
        "is_open": status in OPEN_STATUSES,
        "reached_mql": reached_mql,
        "reached_sql": reached_sql,
        "converted": converted,
        "converted_at": converted_at if converted else None,
        "convert_seconds": (converted_at - created_at).total_seconds()
        if converted and converted_at
        else None,
        "amount": amount if converted else None,
        "worked": worked,
        "sla_misses": sla_misses,
        "touch_from": touch_from,
        "touched_at": None,
        "touch_seconds": None,
        "touch_work_seconds": None,
        "touch_bucket": None,
        "work_bucket": None,
    }
    if touched is not None:
        at, actor = touched
        rep_id = owner_id if owner_id is not None else people.by_name.get(actor[4:])
        hours = people.working.get(rep_id) if rep_id is not None else None
        wall = max(0.0, (at - touch_from).total_seconds())
        fact["touched_at"] = at
        fact["touch_seconds"] = wall
        fact["touch_work_seconds"] = (
            hours.seconds_between(touch_from, at) if hours is not None else wall
        )
        fact["touch_bucket"] = speed_bucket(wall)
        fact["work_bucket"] = speed_bucket(fact["touch_work_seconds"])
    return fact


def periods(day: date) -> dict[str, date]:
    return {
        "day": day,
        "week": day - timedelta(days=day.weekday()),
        "month": day.replace(day=1),
    }


def refresh(session: Session, lead_ids: Iterable[int], people: People | None = None) -> int:
    """Derive the facts of these leads again, in the caller's transaction."""
    ids = sorted(set(lead_ids))
    if not ids:
        return 0
    people = people or People.load(session)
    leads = storage.reports.leads_for_facts(session, ids)
    entries: dict[int, list[Any]] = {}
    for row in storage.reports.timeline_for_facts(session, ids):
        entries.setdefault(row[0], []).append(row)
    amounts = storage.reports.opportunity_amounts(session, ids)
    facts = [
        fact
        for lead in leads
        if (fact := derive(lead, entries.get(lead[0], []), people, amounts.get(lead[0])))
        is not None
    ]
    storage.reports.replace_facts(session, ids, facts)
    return len(ids)


def pending(session: Session) -> bool:
    """Whether the timeline gained entries past the cursor: a read, so an idle tick of serve's
    loop takes no write lock."""
    position = storage.assignment.cursor_position(session, CURSOR)
    return storage.reports.last_timeline_id(session) > position


def step(session: Session, batch: int = BATCH) -> int:
    """Fold the next `batch` timeline entries into the facts; how many leads were derived."""
    cursor = storage.assignment.cursor_for_update(session, CURSOR)
    ids, last = storage.reports.leads_in_timeline_after(session, cursor.position, batch)
    if last == cursor.position:
        return 0
    behind, _ = storage.reports.leads_in_timeline_after(
        session, max(0, cursor.position - OVERLAP), min(OVERLAP, cursor.position)
    )
    refresh(session, ids | behind)
    cursor.position = last
    session.add(cursor)
    return max(len(ids), 1)


def catch_up(store: Store, batch: int = BATCH) -> int:
    """Fold everything the timeline gained into the facts; how many leads were derived."""
    total = 0
    while True:
        with store.transaction() as session:
            done = step(session, batch)
        if not done:
            return total
        total += done


def rebuild(store: Store, progress: Callable[[int, int], None] | None = None,
            batch: int = BATCH) -> int:  # fmt: skip
    """Derive every lead's facts from its timeline again; `progress(done, total)` is told as
    it goes. Entries appended meanwhile are folded in by the catch-up that follows."""
    with store.transaction() as session:
        cursor = storage.assignment.cursor_for_update(session, CURSOR)
        cursor.position = storage.reports.last_timeline_id(session)
        session.add(cursor)
        storage.reports.delete_all_facts(session)
        total = storage.reports.lead_count(session)
    done, after = 0, 0
    while True:
        with store.transaction() as session:
            ids = storage.reports.lead_ids_after(session, after, batch)
            if not ids:
                break
            refresh(session, ids, People.load(session))
        after = ids[-1]
        done += len(ids)
        if progress is not None:
            progress(done, total)
    catch_up(store)
    return done
