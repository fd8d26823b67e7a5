"""The one way a lead is born or updated, whatever the door: mail, form, API or import.

A door turns what it received into a `Draft` (the person's fields), a `Source` (the channel and
who, as the timeline names them) and `Evidence` (what they sent: the timeline entry of the
enquiry), then calls `capture` inside its transaction. Capture decides create-or-update (the same
address, or the address of a lead merged into another, lands on the existing lead), de-duplicates
a new lead against the store, links its company, writes the timeline and queues the
notification, so every channel validates, matches and notifies the same way. Scoring, grading,
the MQL decision and assignment then run on the timeline, whatever the door was.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session

import storage.leads
import storage.outbox
import storage.timeline
from bot.dedupe import store_match
from bot.dedupe.index import index
from bot.leads import companies, fields
from bot.leads.refs import lead_label
from bot.leads.reply_address import new_reply_token
from bot.rules.file import Rules
from storage.models import Lead


class BadDraft(ValueError):
    """The draft cannot become a lead (no usable address, …); the message says why."""


@dataclass(frozen=True)
class Draft:
    """What a door knows about one person: the address and the declared fields it found."""

    email: str
    values: Mapping[str, str] = field(default_factory=dict)
    enquiry: str = ""
    # How each field was found (the mail extractor's reasons), kept on the "created" entry.
    found: tuple[str, ...] = ()

    @classmethod
    def of(
        cls, email: str, *, enquiry: str = "", found: tuple[str, ...] = (), **values: str
    ) -> Draft:
        unknown = sorted(set(values) - set(fields.NAMES))
        if unknown:
            raise TypeError(f"not lead fields: {', '.join(unknown)} (bot.leads.fields)")
        return cls(email, {k: v for k, v in values.items() if v}, enquiry, found)

    @property
    def address(self) -> str:
        return self.email.strip().lower()


@dataclass(frozen=True)
class Source:
    """Where a capture came from: the channel (the lead's `source` when it is created), the
    actor the timeline names (`email:ann@example.com`, `form:contact`), and the door in words
    for the "lead created from …" entry."""

    channel: str
    actor: str
    via: str


@dataclass(frozen=True)
class Evidence:
    """What the person sent, as the timeline keeps it: the entry kind (`email.enquiry`), its
    title (the subject, the form's name) and data (excerpt, message id, …)."""

    kind: str
    title: str
    data: Mapping[str, Any] = field(default_factory=dict)
    inbound_message_id: int | None = None


@dataclass
class Captured:
    """What capture did. `lead` is where the enquiry landed: the survivor when the new lead
    was merged into a duplicate."""

    lead: Lead
    created: bool
    filled: tuple[str, ...] = ()
    # What de-duplication did with a new lead ("merged into L-7 (92%: …)"), for the card.
    duplicate: str = ""
    merged: bool = False


def capture(
    session: Session,
    draft: Draft,
    source: Source,
    evidence: Evidence,
    *,
    rules: Rules,
    dedupe: bool = True,
    notify: bool = True,
) -> Captured:
    """Create or update the lead `draft` describes, in the caller's transaction."""
    address = draft.address
    if not address or "@" not in address:
        raise BadDraft("no sender address to make a lead of")
    existing = storage.leads.by_email(session, address)
    if existing is None:
        result = _create(session, draft, source, evidence)
        if dedupe:
            _dedupe_new(session, result, rules)
    else:
        result = _update(session, existing, draft, source, evidence)
        if dedupe and result.filled:
            index(session, result.lead)  # a filled gap changes its matching keys
    if notify:
        _notify(session, result, evidence)
    return result


def _create(session: Session, draft: Draft, source: Source, evidence: Evidence) -> Captured:
    lead = storage.leads.add(
        session,
        Lead(
            email=draft.address,
            **{name: value for name, value in draft.values.items() if name in fields.NAMES},
            source=source.channel,
            enquiry=draft.enquiry,
            reply_token=new_reply_token(),
        ),
    )
    assert lead.id is not None
    storage.timeline.append(
        session,
        lead.id,
        actor="system",
        kind="created",
        summary=f"lead created from {source.via}",
        data={"found": list(draft.found)},
        inbound_message_id=evidence.inbound_message_id,
    )
    _record(session, lead, source, evidence, "enquiry")
    return Captured(lead, created=True)


def _update(
    session: Session, lead: Lead, draft: Draft, source: Source, evidence: Evidence
) -> Captured:
    """A known person wrote again: fill the gaps, keep what a person set."""
    filled = tuple(
        name for name in fields.NAMES if draft.values.get(name) and not getattr(lead, name)
    )
    for name in filled:
        setattr(lead, name, draft.values[name])
    if draft.enquiry:
        lead.enquiry = draft.enquiry
    storage.leads.touch(session, lead)
    _record(session, lead, source, evidence, "new enquiry", {"filled": list(filled)})
    return Captured(lead, created=False, filled=filled)


def _dedupe_new(session: Session, result: Captured, rules: Rules) -> None:
    """Merge a new lead into a sure duplicate (the enquiry lands on the existing lead), flag it
    against likely ones, then link it to its company's account."""
    lead = result.lead
    decision = store_match.on_capture(session, lead, rules, actor="system")
    if decision.survivor is not None and decision.match is not None:
        assert decision.survivor.id is not None
        result.lead, result.created, result.merged = decision.survivor, False, True
        result.duplicate = decision.match.describe(lead_label(decision.survivor.id))
        return
    if decision.flagged:
        best = decision.flagged[0]
        result.duplicate = best.describe(lead_label(int(best.key)))
    companies.link(session, lead)


def _record(
    session: Session,
    lead: Lead,
    source: Source,
    evidence: Evidence,
    what: str,
    extra: dict[str, Any] | None = None,
) -> None:
    assert lead.id is not None
    storage.timeline.append(
        session,
        lead.id,
        actor=source.actor,
        kind=evidence.kind,
        summary=f"{what}: {evidence.title or '(no subject)'}",
        data={**evidence.data, **(extra or {})},
        inbound_message_id=evidence.inbound_message_id,
    )


def _notify(session: Session, result: Captured, evidence: Evidence) -> None:
    """A new lead is announced; a known one's owner hears of the new enquiry."""
    lead = result.lead
    assert lead.id is not None
    payload = {"lead": lead_label(lead.id), "subject": evidence.title, "outcome": "enquiry"}
    if result.duplicate:
        payload["duplicate"] = result.duplicate
    if result.created:
        storage.outbox.put(session, "lead.new", lead_id=lead.id, payload=payload)
    elif lead.owner_id is not None:
        storage.outbox.put(
            session, "lead.enquiry", lead_id=lead.id, rep_id=lead.owner_id, payload=payload
        )
