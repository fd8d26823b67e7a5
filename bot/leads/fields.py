"""The lead's person fields, declared once: what each holds, how long it may be, who reads it.

The `--json` shape, merge survivorship, capture's fill-the-gaps, intake's length limits and the
matcher's view of a lead all walk `PERSON_FIELDS`, so adding a field is: a line here, a migration
for its column, and the door that extracts it. Workflow attributes (status, stage, owner, score)
are not person fields: the lifecycle and scoring own them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LeadField:
    name: str
    label: str
    # Longest value a door may store; longer input is refused at intake, not cut silently.
    max_chars: int = 200
    # The de-duplication matcher compares it (bot.dedupe.match.Person has it).
    matched: bool = False


EMAIL = LeadField("email", "email", max_chars=320, matched=True)

# In the order of the `--json` shape (after "email").
PERSON_FIELDS: tuple[LeadField, ...] = (
    LeadField("first_name", "first name", matched=True),
    LeadField("last_name", "last name", matched=True),
    LeadField("company", "company", matched=True),
    LeadField("title", "title", matched=True),
    LeadField("phone", "phone", max_chars=64, matched=True),
    LeadField("website", "website", max_chars=500),
    LeadField("street", "street", matched=True),
    LeadField("city", "city", max_chars=100, matched=True),
    LeadField("state", "state", max_chars=100, matched=True),
    LeadField("postal_code", "postal code", max_chars=32, matched=True),
    LeadField("country", "country", max_chars=100, matched=True),
    LeadField("language", "language", max_chars=35),
    LeadField("industry", "industry", max_chars=100),
    LeadField("company_size", "company size", max_chars=32),
)
BY_NAME: dict[str, LeadField] = {f.name: f for f in (EMAIL, *PERSON_FIELDS)}
NAMES: tuple[str, ...] = tuple(f.name for f in PERSON_FIELDS)
# What the matcher compares, email included.
MATCHED: tuple[str, ...] = tuple(f.name for f in (EMAIL, *PERSON_FIELDS) if f.matched)
