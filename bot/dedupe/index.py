"""A stored lead as the matcher sees it, and its row in the blocking-key table.

Shared by matching (`duplicates`) and merging (`merging`): whenever a lead's fields change
through either, its company keys and blocking keys are recomputed here.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel import Session

import storage.duplicates
from bot.dedupe.match import Person, form_of, keys_of, prepare
from bot.leads import companies, fields
from storage.models import Lead


def person_of(lead: Lead) -> Person:
    """The lead as the matcher sees it, keyed by its id."""
    assert lead.id is not None
    return Person(key=lead.id, **{name: getattr(lead, name) for name in fields.MATCHED})


def index(session: Session, lead: Lead) -> None:
    """Store the lead's company keys and blocking keys; a merged-away lead has none."""
    assert lead.id is not None
    companies.refresh_keys(lead)
    session.add(lead)
    session.flush()
    if lead.merged_into_id is not None:
        storage.duplicates.drop_keys(session, lead.id)
        return
    prepared = prepare(person_of(lead))
    storage.duplicates.replace_keys(session, lead.id, keys_of(prepared))
    storage.duplicates.replace_form(session, lead.id, form_of(prepared))


def index_many(session: Session, leads: Iterable[Lead]) -> None:
    """`index` for a batch of leads, written with one statement per table (the scan's first
    indexing and its merges re-index thousands of leads)."""
    keys: dict[int, set[str]] = {}
    forms: dict[int, dict] = {}  # type: ignore[type-arg]
    merged: list[int] = []
    for lead in leads:
        assert lead.id is not None
        companies.refresh_keys(lead)
        session.add(lead)
        if lead.merged_into_id is not None:
            merged.append(lead.id)
            continue
        prepared = prepare(person_of(lead))
        keys[lead.id] = keys_of(prepared)
        forms[lead.id] = form_of(prepared)
    session.flush()
    storage.duplicates.drop_keys_of(session, merged)
    storage.duplicates.replace_keys_and_forms(session, keys, forms)
