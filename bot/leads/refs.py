"""How people name a lead: `L-12`, `12`, or an email address."""

from __future__ import annotations

import re

LEAD_ID_RE = re.compile(r"^(?:L-?)?(\d+)$", re.IGNORECASE)


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
