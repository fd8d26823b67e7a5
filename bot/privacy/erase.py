"""Erasure: a person's data removed from every place it is kept, in the caller's one
transaction, leaving tombstones that keep the numbers.

Walks storage/personal_data.py: each personal column of each row about the person's lead
records (and of rows no lead owns that hold their address) is blanked, rows made only of
personal data are deleted. What is not personal stays, so every report counts the same: the
lead becomes a tombstone with its status, stage, source, owner, score, grade and dates. Pending
notifications about it are closed unsent; one `lead.erased` outbox item carries the Slack cards
to redraw ("erased on request") and is the webhook other systems hear, so an outage delays
those and loses none. On request, the address's keyed hash goes on the suppression list, and
the privacy log gets an entry naming the records and counts, never the data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import Session

import storage.leads
import storage.outbox
import storage.personal_data
import storage.privacy
import storage.timeline
from bot.leads.refs import lead_label
from bot.privacy.subject import Subject
from storage.models import utcnow

ERASED_KIND = "lead.erased"
ERASED_SUMMARY = "erased on request"


@dataclass
class Erasure:
    leads: list[str]
    rows: dict[str, int] = field(default_factory=dict)
    cards: list[str] = field(default_factory=list)
    log_id: int | None = None
    suppressed: bool = False


def erase(
    session: Session,
    subject: Subject,
    *,
    actor: str,
    reason: str,
    suppress: bool = True,
    action: str = "erase",
) -> Erasure:
    """Erase everything held about `subject`; `suppress` puts its addresses on the list."""
    lead_ids = set(subject.lead_ids)
    cards = {lead_id: storage.privacy.card_refs(session, {lead_id}) for lead_id in lead_ids}
    found: list[tuple[storage.personal_data.Place, list[object]]] = []
    for place in storage.personal_data.about_leads():
        rows: dict[int, object] = {}
        for address in sorted(subject.addresses) or [""]:
            for row in storage.personal_data.rows_of(session, place, lead_ids, address):
                rows[id(row)] = row
        found.append((place, list(rows.values())))
    storage.privacy.close_pending(session, lead_ids)
    storage.privacy.stop_campaigns(session, lead_ids)
    result = Erasure(
        leads=subject.labels, cards=sorted({c for refs in cards.values() for c in refs})
    )
    for place, rows in found:
        count = storage.personal_data.erase_rows(session, place, rows)
        if count:
            result.rows[place.name] = result.rows.get(place.name, 0) + count
    now = utcnow()
    for lead_id in sorted(lead_ids):
        lead = storage.leads.by_id(session, lead_id)
        if lead is not None:
            lead.erased_at = lead.erased_at or now
            lead.stale_since = None
            lead.version += 1
            session.add(lead)
    records = {"leads": result.leads, "rows": result.rows, "cards": len(result.cards)}
    result.log_id = storage.privacy.log(session, actor, action, reason, records)
    if suppress:
        for address in sorted(subject.addresses):
            storage.privacy.suppress(session, address, result.log_id)
        result.suppressed = bool(subject.addresses)
    for lead_id in sorted(lead_ids):
        storage.outbox.put(
            session,
            ERASED_KIND,
            lead_id=lead_id,
            payload={"lead": lead_label(lead_id), "cards": cards[lead_id], "reason": action,
                     "privacy_log": result.log_id},
        )  # fmt: skip
        # What is left on the tombstone's timeline, and the `lead.erased` webhook's cause. The
        # actor is "privacy", never the person or the operator's words.
        storage.timeline.append(
            session, lead_id, actor="privacy", kind="erased", summary=ERASED_SUMMARY,
            data={"privacy_log": result.log_id},
        )  # fmt: skip
    session.flush()
    return result
