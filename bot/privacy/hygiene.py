"""The hygiene report: what marketing should refresh. Bounced addresses; the colleagues of a
hard bounce (leads at a company domain where an address bounced: the domain may no longer
take mail, or people left); leads retention marked stale."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

import storage.privacy
from bot.leads.refs import lead_label
from storage.models import Lead


def _row(lead: Lead) -> dict[str, Any]:
    name = " ".join(part for part in (lead.first_name, lead.last_name) if part)
    return {
        "lead": lead_label(lead.id),
        "email": lead.email,
        "name": name,
        "company": lead.company,
        "status": lead.status,
        "last_activity_at": lead.last_activity_at.isoformat(),
    }


def report(session: Session) -> dict[str, list[dict[str, Any]]]:
    bounced = list(storage.privacy.bounced(session))
    domains = {lead.company_domain for lead in bounced if lead.company_domain}
    bounced_ids = {lead.id for lead in bounced}
    colleagues = [
        {**_row(lead), "domain": lead.company_domain}
        for lead in storage.privacy.at_domains(session, domains)
        if lead.id not in bounced_ids
    ]
    stale = [
        {**_row(lead), "stale_since": lead.stale_since.isoformat() if lead.stale_since else ""}
        for lead in storage.privacy.stale(session)
    ]
    return {"bounced": [_row(lead) for lead in bounced], "colleagues_of_bounces": colleagues,
            "stale": stale}  # fmt: skip
