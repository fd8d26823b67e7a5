"""Changing a lead's person fields by hand (the API's PATCH): declared fields only, each within
its length, recorded on the timeline with what it was before."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlmodel import Session

import storage.leads
import storage.timeline
from bot.dedupe.index import index
from bot.leads import fields
from bot.leads.actions import BadArguments, StaleLead
from bot.leads.refs import lead_label
from storage.models import Lead

# Besides the person fields: custom fields, kept as the caller gives them (a JSON object).
CUSTOM = "custom"


def update_fields(
    session: Session,
    lead: Lead,
    values: Mapping[str, Any],
    actor: str,
    *,
    expected_version: int | None = None,
) -> list[str]:
    """Set the given fields; the names of those that changed. Unknown names, values that are
    not text and values longer than their field are refused before anything changes."""
    if lead.merged_into_id is not None:
        raise BadArguments(
            f"{lead_label(lead.id)} was merged into {lead_label(lead.merged_into_id)}: "
            "change that lead"
        )
    if expected_version is not None and lead.version != expected_version:
        raise StaleLead(f"{lead_label(lead.id)} changed meanwhile (version {lead.version})")
    unknown = sorted(set(values) - set(fields.NAMES) - {CUSTOM})
    if unknown:
        raise BadArguments(
            f"unknown fields: {', '.join(unknown)}; fields: {', '.join((*fields.NAMES, CUSTOM))}"
        )
    for name, value in values.items():
        if name == CUSTOM:
            if not isinstance(value, dict):
                raise BadArguments("custom is a JSON object")
            continue
        if not isinstance(value, str):
            raise BadArguments(f"{name} is text")
        limit = fields.BY_NAME[name].max_chars
        if len(value) > limit:
            raise BadArguments(f"{name} holds {limit} characters at most")
    changed: dict[str, dict[str, Any]] = {}
    for name, value in values.items():
        before = getattr(lead, name)
        new = {**(before or {}), **value} if name == CUSTOM else value.strip()
        if new != before:
            changed[name] = {"from": before, "to": new}
            setattr(lead, name, new)
    if changed:
        storage.leads.touch(session, lead)
        assert lead.id is not None
        storage.timeline.append(
            session,
            lead.id,
            actor=actor,
            kind="fields.updated",
            summary=f"changed {', '.join(changed)}",
            data={"changed": changed},
        )
        index(session, lead)  # the matching keys follow the fields
    return list(changed)
