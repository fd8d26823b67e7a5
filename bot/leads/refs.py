"""How people name a lead (`L-12`, `12`, or an email address) and an opportunity (`O-4`)."""

from __future__ import annotations

import re

from storage.models import Opportunity

LEAD_ID_RE = re.compile(r"^(?:L-?)?(\d+)$", re.IGNORECASE)
OPPORTUNITY_ID_RE = re.compile(r"^O-(\d+)$", re.IGNORECASE)


def opportunity_label(opportunity_id: int | None) -> str:
    return f"O-{opportunity_id}"


def parse_opportunity_ref(text: str) -> int | None:
    """The id in `O-4` (any case); None for anything else."""
    match = OPPORTUNITY_ID_RE.match(text.strip())
    return int(match.group(1)) if match else None


def opportunity_amount(opportunity: Opportunity) -> str:
    """`EUR 25,000.00`, or `25,000.00` when no currency was given; '' without an amount."""
    if opportunity.amount is None:
        return ""
    number = f"{opportunity.amount:,.2f}"
    return f"{opportunity.currency} {number}" if opportunity.currency else number


def lead_label(lead_id: int | None) -> str:
    return f"L-{lead_id}"


def parse_lead_ref(text: str) -> int | str:
    """An int id for `L-12`/`12`, the lower-cased address for an email, else ValueError."""
    text = text.strip().strip("<>")
    match = LEAD_ID_RE.match(text)
    if match:
        return int(match.group(1))
    if "@" in text and " " not in text:
        return text.lower()
    raise ValueError(f"{text!r} is not a lead: use its id (L-12) or its email address")
