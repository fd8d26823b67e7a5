"""Whom a privacy request is about: `jane@acme.io` or `L-12`, turned into every lead record
that holds that person (merged aliases and the leads they were merged into included) and the
addresses to look for on rows no lead owns yet (a quarantined mail, a held capture)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

import storage.leads
import storage.personal_data
from bot.leads.refs import lead_label, parse_lead_ref


class NotFound(LookupError):
    """Nothing is held about this person; the message says so in words."""


@dataclass(frozen=True)
class Subject:
    query: str
    lead_ids: frozenset[int]
    addresses: frozenset[str]

    @property
    def labels(self) -> list[str]:
        return [lead_label(lead_id) for lead_id in sorted(self.lead_ids)]


def resolve(session: Session, query: str) -> Subject:
    """The person `query` names; NotFound when the store holds nothing about them."""
    text = query.strip()
    addresses: set[str] = set()
    ids: set[int] = set()
    try:
        ref = parse_lead_ref(text)
    except ValueError as exc:
        raise NotFound(f"{text!r} is neither an address nor a lead (L-12)") from exc
    if isinstance(ref, str):
        addresses.add(ref)
        ids.update(storage.personal_data.leads_by_address(session, ref))
    else:
        lead_id = ref
        lead = storage.leads.by_id(session, lead_id)
        if lead is None:
            raise NotFound(f"no lead {lead_label(lead_id)}")
        ids.add(lead_id)
        if lead.email:
            addresses.add(lead.email)
            ids.update(storage.personal_data.leads_by_address(session, lead.email))
    # Follow merges both ways until nothing new turns up: the records a merge joined are one
    # person's, and each of their addresses is that person's too.
    while True:
        found = set(ids)
        for lead_id in list(found):
            lead = storage.leads.by_id(session, lead_id)
            if lead is not None and lead.merged_into_id is not None:
                found.add(lead.merged_into_id)
        found = storage.personal_data.aliases(session, found)
        for lead_id in found - ids:
            lead = storage.leads.by_id(session, lead_id)
            if lead is not None and lead.email:
                addresses.add(lead.email)
                found.update(storage.personal_data.leads_by_address(session, lead.email))
        if found == ids:
            break
        ids = found
    subject = Subject(text, frozenset(ids), frozenset(addresses))
    if not ids and not _unowned_rows(session, subject):
        raise NotFound(f"nothing is held about {text}")
    return subject


def _unowned_rows(session: Session, subject: Subject) -> bool:
    return any(
        storage.personal_data.rows_of(session, place, set(), address)
        for place in storage.personal_data.about_leads()
        for address in subject.addresses
    )
