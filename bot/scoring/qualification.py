"""Marketing qualification: keep each lead's score and grade current, and queue the MQLs.

The scorer follows the timeline: a cursor remembers the last behaviour event it has seen
(`Scorer`), so events written by any part of leadbot (the inbound pipeline, nurture
tracking, the events API) re-score their lead within a tick, with no coupling between them. A
lead that passes the MQL thresholds (or enquired, when the rules let enquiries in) and has no
owner enters the assignment queue; the others stay with marketing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from sqlmodel import Session

import storage.assignment
import storage.leads
import storage.timeline
from bot.leads.refs import lead_label
from bot.rules.file import EVENT_KINDS, Rules, fingerprint
from bot.scoring.score import SCORING_KINDS, Evaluation, evaluate
from storage.engine import Store
from storage.models import Lead

CURSOR = "scoring"
# The cursor that holds the fingerprint of the rules the stored leads were last evaluated with.
RULES_CURSOR = "rules"
# Events `why` lists one by one (a Slack message holds 3,000 characters a section).
WHY_EVENTS = 15
QUEUE_STATUSES = ("new",)


def is_assignable(lead: Lead) -> bool:
    """Open, unowned, and not folded into another lead (a merged lead is an alias of its
    survivor, which is queued in its place)."""
    return lead.owner_id is None and lead.status in QUEUE_STATUSES and lead.merged_into_id is None


def evaluation_of(session: Session, lead: Lead, rules: Rules, now: datetime) -> Evaluation:
    assert lead.id is not None
    events = storage.assignment.events_of(session, lead.id, sorted(SCORING_KINDS))
    return evaluate(lead, events, rules, now)


def refresh(session: Session, lead: Lead, rules: Rules, now: datetime) -> Evaluation:
    """Store the lead's score and grade; mark it MQL and queue it when it qualifies."""
    assert lead.id is not None
    result = evaluation_of(session, lead, rules, now)
    lead.score = result.score.score
    # Score and grade change quietly (`why` explains them); only qualifying is an event.
    lead.grade = result.grade.grade
    if result.is_mql and lead.stage in ("subscriber", "lead"):
        lead.stage = "mql"
        storage.timeline.append(
            session,
            lead.id,
            actor="system",
            kind="mql",
            summary="marketing-qualified: " + "; ".join(result.reasons),
            data={"score": result.score.score, "grade": result.grade.grade},
        )
    session.add(lead)
    if result.enters_queue and is_assignable(lead):
        item = storage.assignment.enqueue(session, lead.id, now)
        if item is not None:
            storage.timeline.append(
                session,
                lead.id,
                actor="system",
                kind="queued",
                summary="waiting for a rep in the assignment queue",
                data={"reasons": list(result.reasons)},
            )
    return result


def queue_verdict(session: Session, lead: Lead, rules: Rules, now: datetime) -> str:
    """Whether the lead is in the assignment queue, and if not, why not (in words): what
    `assign explain` and `lead why` print, so that "offered 0" is never a riddle."""
    assert lead.id is not None
    item = storage.assignment.item_for_lead(session, lead.id)
    if item is not None and item.state != "done":
        return f"in the assignment queue ({item.state})"
    if lead.merged_into_id is not None:
        return (
            f"not queued: merged into {lead_label(lead.merged_into_id)}, "
            "which is queued in its place"
        )
    if lead.owner_id is not None:
        return f"not queued: it has an owner (R-{lead.owner_id})"
    if lead.status not in QUEUE_STATUSES:
        return (
            f"not queued: its status is {lead.status} and only new leads are queued "
            f"(hand it over with: leadbot lead assign {lead_label(lead.id)} REP)"
        )
    result = evaluation_of(session, lead, rules, now)
    if not result.enters_queue:
        return "not queued: not an MQL (" + "; ".join(result.reasons) + ")"
    return (
        "not queued yet: it qualifies (" + "; ".join(result.reasons) + ") and is queued on "
        "the next scoring pass (serve, or leadbot assign run)"
    )


def reevaluate_on_rules_change(store: Store, rules: Rules, now: datetime, batch: int = 500) -> int:
    """Re-score, re-grade and re-qualify every lead still in play when the rules differ from
    those the store last saw (a fingerprint in the cursors table), so that an edit that lets
    enquiries in, or lowers a threshold, reaches the leads already stored, not only new ones.
    The first run on a store only records the fingerprint. Returns how many leads were
    evaluated; two workers doing it at once do the same idempotent work."""
    mark = fingerprint(rules)
    with store.reading() as session:
        position = storage.assignment.cursor_position(session, RULES_CURSOR)
    if position == mark:
        return 0
    evaluated = 0
    if position != 0:
        after = 0
        while True:
            with store.transaction() as session:
                ids = storage.leads.ids_to_evaluate(session, after, batch)
                for lead_id in ids:
                    lead = storage.leads.by_id(session, lead_id, for_update=True)
                    if lead is not None:
                        refresh(session, lead, rules, now)
            if not ids:
                break
            evaluated += len(ids)
            after = ids[-1]
    with store.transaction() as session:
        cursor = storage.assignment.cursor_for_update(session, RULES_CURSOR)
        cursor.position = mark
        session.add(cursor)
    return evaluated


class Scorer:
    """Follows the timeline and re-scores each lead that has a new behaviour event.

    The cursor is a timeline id, kept in the store. Ids are handed out when a row is written, not
    when its transaction commits, so on PostgreSQL an entry may become visible after one with a
    higher id. The stored cursor therefore moves only past ids first seen HOLDBACK_SECONDS ago;
    the entries above it are read again on the next ticks. Scoring a lead again changes nothing
    (score and grade are recomputed, a lead is queued once), and only ids this scorer has not seen
    before count as work, so re-reading never keeps the loop busy."""

    HOLDBACK_SECONDS = 5.0

    def __init__(self, store: Store, clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.clock = clock
        self.seen: dict[int, float] = {}  # entry id above the stored cursor → first seen at

    def pending(self) -> bool:
        """Whether any entry lies above the stored cursor (a read, no lock)."""
        with self.store.reading() as session:
            position = storage.assignment.cursor_position(session, CURSOR)
            return bool(
                storage.assignment.entries_after(session, position, sorted(SCORING_KINDS), 1)
            )

    def run(self, rules: Rules, now: datetime, limit: int = 500) -> int:
        """Re-score the leads with new behaviour events; returns how many had new ones.

        It looks in a read first and takes a write transaction only for entries it has not
        scored yet, or to move the cursor: on SQLite a write holds the one write lock that the
        SMTP listener and the inbox worker need (re-scoring every lead above the cursor on each
        tick of the loop cut ingest from ~180 to ~20 leads/s)."""
        with self.store.reading() as session:
            position = storage.assignment.cursor_position(session, CURSOR)
            entries = storage.assignment.entries_after(
                session, position, sorted(SCORING_KINDS), limit
            )
        if not entries:
            return 0
        tick = self.clock()
        fresh = list(
            dict.fromkeys(lead_id for entry_id, lead_id in entries if entry_id not in self.seen)
        )
        seen = dict(self.seen)
        for entry_id, _ in entries:
            seen.setdefault(entry_id, tick)
        settled = [entry_id for entry_id, first in seen.items()
                   if tick - first >= self.HOLDBACK_SECONDS]  # fmt: skip
        if len(entries) == limit:  # a backlog: move on, or a long history never ends
            settled.append(entries[-1][0])
        target = max([position, *settled])
        if not fresh and target <= position:
            return 0
        with self.store.transaction() as session:
            cursor = storage.assignment.cursor_for_update(session, CURSOR)
            for lead_id in fresh:
                lead = storage.leads.by_id(session, lead_id, for_update=True)
                if lead is not None:
                    refresh(session, lead, rules, now)
            if target > cursor.position:
                cursor.position = target
                session.add(cursor)
            position = cursor.position
        self.seen = {k: v for k, v in seen.items() if k > position}
        return len(fresh)


def why_text(session: Session, lead: Lead, rules: Rules, now: datetime) -> str:
    """`lead why`: the events and rules behind the score, the grade and the MQL decision."""
    result = evaluation_of(session, lead, rules, now)
    card = result.score
    names = {kind: name for name, kind in EVENT_KINDS.items()}
    lines = [
        f"{lead_label(lead.id)} {lead.email}: score {card.score:g}, grade {result.grade.grade}"
        f" ({'MQL' if result.is_mql else 'not an MQL'}; rules from {rules.source})",
        f"score: events with half-life {card.half_life_days:g} days",
    ]
    shown = card.events[-WHY_EVENTS:]
    if len(card.events) > len(shown):
        lines.append(f"  … {len(card.events) - len(shown)} earlier events, worth "
                     f"{sum(e.value for e in card.events[:-WHY_EVENTS]):.2f} now")  # fmt: skip
    for event in shown:
        lines.append(
            f"  {event.at:%Y-%m-%d %H:%M} {names.get(event.kind, event.kind):<10} "
            f"{event.points:+g} → {event.value:.2f} now"
        )
    if not card.events:
        lines.append("  no scored events yet")
    lines.append(f"grade {result.grade.grade}: {result.grade.points:g} fit points")
    lines += [f"  {reason}" for reason in result.grade.reasons]
    thresholds = ", ".join(f"{k} ≥ {v:g}" for k, v in rules.grading.thresholds.items())
    lines.append(f"  thresholds: {thresholds}, else D")
    lines.append("mql: " + "; ".join(result.reasons))
    lines.append("queue: " + queue_verdict(session, lead, rules, now))
    return "\n".join(lines)


# Behaviour events that may be reported from outside (the others come from mail and tracking).
EXTERNAL_EVENTS = ("page.visit", "form.post", "email.opened", "email.clicked")


def record_event(
    session: Session,
    lead: Lead,
    kind: str,
    *,
    detail: str = "",
    at: datetime | None = None,
    actor: str = "api",
) -> None:
    """Append a behaviour event to the lead's timeline; the scorer counts it within a tick."""
    if kind not in EXTERNAL_EVENTS:
        raise ValueError(f"kind must be one of {', '.join(EXTERNAL_EVENTS)}")
    assert lead.id is not None
    entry = storage.timeline.append(
        session,
        lead.id,
        actor=actor,
        kind=kind,
        summary=f"{kind}: {detail}" if detail else kind,
        data={"detail": detail},
    )
    if at is not None:
        entry.at = at
