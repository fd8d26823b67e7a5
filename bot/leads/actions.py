"""What people do to a lead: move it through the lifecycle, add a note. Every channel calls these.

Each action writes the lead and its timeline entry in the caller's transaction, and bumps the
lead's version so a second click on a stale card (expected_version) is refused.
"""

from __future__ import annotations

import re

from sqlmodel import Session

import storage.assignment
import storage.leads
import storage.outbox
import storage.reps
import storage.timeline
from bot.leads import lifecycle
from bot.leads.refs import lead_label, parse_lead_ref
from storage.models import Lead, Rep, utcnow


class LeadNotFound(Exception):
    pass


class StaleLead(Exception):
    """The lead changed since the caller looked at it (a second click on an old card)."""


class BadArguments(ValueError):
    pass


class RepNotFound(Exception):
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


def assign(session: Session, lead: Lead, rep: Rep, actor: str) -> Lead:
    """Give the lead to a rep; the rep is told through the outbox (a card in Slack)."""
    assert lead.id is not None
    previous = lead.owner_id
    lead.owner_id = rep.id
    storage.leads.touch(session, lead)
    storage.timeline.append(
        session,
        lead.id,
        actor=actor,
        kind="assigned",
        summary=f"assigned to {rep.name}",
        data={"rep_id": rep.id, "previous_rep_id": previous},
    )
    storage.outbox.put(
        session,
        "lead.assigned",
        lead_id=lead.id,
        rep_id=rep.id,
        payload={"lead": lead_label(lead.id)},
    )
    return lead


def release(session: Session, lead: Lead, actor: str, why: str) -> Lead:
    """Take the lead from its owner and put it back in the assignment queue (a rep left)."""
    assert lead.id is not None
    previous = lead.owner_id
    lead.owner_id = None
    storage.leads.touch(session, lead)
    storage.timeline.append(
        session,
        lead.id,
        actor=actor,
        kind="unassigned",
        summary=f"back in the assignment queue: {why}",
        data={"previous_rep_id": previous},
    )
    storage.assignment.enqueue(session, lead.id, utcnow())
    return lead


def find_rep(session: Session, ref: str) -> Rep:
    """A rep named by Slack mention (<@U123|jane>), email, R-3 / 3, or name."""
    text = ref.strip()
    mention = re.fullmatch(r"<@([A-Z0-9]+)(?:\|[^>]*)?>", text)
    rep = None
    if mention:
        rep = storage.reps.by_slack_user(session, mention.group(1))
    elif "@" in text and not text.startswith("@"):
        rep = storage.reps.by_email(session, text)
    elif re.fullmatch(r"(?i)R-?\d+", text) or text.isdigit():
        rep = storage.reps.by_id(session, int(re.sub(r"\D", "", text)))
    else:
        rep = storage.reps.by_name(session, text.lstrip("@"))
    if rep is None:
        raise RepNotFound(f"no rep {ref}")
    return rep


def add_note(session: Session, lead: Lead, actor: str, text: str) -> Lead:
    text = text.strip()
    if not text:
        raise BadArguments("a note needs some text")
    storage.leads.touch(session, lead)
    assert lead.id is not None
    storage.timeline.append(session, lead.id, actor=actor, kind="note", summary=text)
    return lead


def edit(
    session: Session,
    lead: Lead,
    actor: str,
    *,
    fields: dict[str, str] | None = None,
    add_tags: list[str] | None = None,
    remove_tags: list[str] | None = None,
) -> Lead:
    """Set person fields (bot/leads/fields.py) and tags (custom["tags"], what a campaign
    segment's --tag matches) by hand; one timeline entry says what changed from what."""
    from bot.leads.fields import BY_NAME, NAMES

    changes: dict[str, object] = {}
    for name, value in (fields or {}).items():
        declared = BY_NAME.get(name)
        if declared is None or name == "email":
            raise BadArguments(f"no field {name!r}; fields: {', '.join(NAMES)}")
        value = value.strip()
        if len(value) > declared.max_chars:
            raise BadArguments(f"{name} holds at most {declared.max_chars} characters")
        if name == "country" and value and not re.fullmatch(r"[A-Za-z]{2}", value):
            raise BadArguments(f"country is a two-letter ISO 3166 code (DE, US), not {value!r}")
        if name == "country":
            value = value.upper()
        if getattr(lead, name) != value:
            changes[name] = {"from": getattr(lead, name), "to": value}
            setattr(lead, name, value)
    raw = (lead.custom or {}).get("tags", [])
    tags = [t.strip() for t in (raw.split(",") if isinstance(raw, str) else raw) if t.strip()]
    before = list(tags)
    for tag in add_tags or []:
        tag = tag.strip().lower()
        if not tag or "," in tag:
            raise BadArguments(f"a tag is one word or phrase without commas, not {tag!r}")
        if tag not in [t.lower() for t in tags]:
            tags.append(tag)
    drop = {t.strip().lower() for t in remove_tags or []}
    tags = [t for t in tags if t.lower() not in drop]
    if tags != before:
        changes["tags"] = {"from": before, "to": tags}
        lead.custom = {**(lead.custom or {}), "tags": tags}
    if not changes:
        return lead
    storage.leads.touch(session, lead)
    assert lead.id is not None
    storage.timeline.append(
        session,
        lead.id,
        actor=actor,
        kind="edited",
        summary="edited: "
        + ", ".join(
            f"{name} {change['from']!r} → {change['to']!r}"  # type: ignore[index]
            for name, change in changes.items()
        ),
        data=changes,
    )
    return lead
