"""What people do to a lead: move it through the lifecycle, add a note. Every channel calls these.

Each action writes the lead and its timeline entry in the caller's transaction, and bumps the
lead's version so a second click on a stale card (expected_version) is refused.
"""

from __future__ import annotations

from sqlmodel import Session

import storage.leads
import storage.timeline
from bot.leads import lifecycle
from bot.leads.refs import lead_label, parse_lead_ref
from storage.models import Lead


class LeadNotFound(Exception):
    pass


class StaleLead(Exception):
    """The lead changed since the caller looked at it (a second click on an old card)."""


class BadArguments(ValueError):
    pass


def find_lead(session: Session, ref: str, *, for_update: bool = False) -> Lead:
    key = parse_lead_ref(ref)
    lead = (
        storage.leads.by_id(session, key, for_update=for_update)
        if isinstance(key, int)
        else storage.leads.by_email(session, key)
    )
    if lead is None:
        raise LeadNotFound(f"no lead {ref}")
    return lead


def transition(
    session: Session,
    lead: Lead,
    verb: str,
    actor: str,
    *,
    reason: str | None = None,
    comment: str = "",
    expected_version: int | None = None,
) -> Lead:
    if expected_version is not None and lead.version != expected_version:
        raise StaleLead(f"{lead_label(lead.id)} changed meanwhile; it is now {lead.status}")
    move = lifecycle.check(verb, lead.status)
    data: dict[str, object] = {"from": lead.status, "to": move.target.value}
    if verb == "trash":
        if reason not in lifecycle.TRASH_REASONS:
            raise BadArguments(
                f"trash needs a reason, one of: {', '.join(lifecycle.TRASH_REASONS)}"
            )
        lead.trash_reason = reason
        data["reason"] = reason
    summary = f"{verb}: {lead.status} → {move.target.value}"
    if reason:
        summary += f" ({lifecycle.TRASH_REASONS.get(reason, reason)})"
    if comment:
        summary += f": {comment}"
        data["comment"] = comment
    lead.status = move.target.value
    if move.stage is not None:
        data["stage"] = move.stage.value
        lead.stage = move.stage.value
    storage.leads.touch(session, lead)
    assert lead.id is not None
    storage.timeline.append(
        session, lead.id, actor=actor, kind=f"status.{verb}", summary=summary, data=data
    )
    return lead


def add_note(session: Session, lead: Lead, actor: str, text: str) -> Lead:
    text = text.strip()
    if not text:
        raise BadArguments("a note needs some text")
    storage.leads.touch(session, lead)
    assert lead.id is not None
    storage.timeline.append(session, lead.id, actor=actor, kind="note", summary=text)
    return lead
