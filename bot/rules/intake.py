"""The `[intake]` table of the rules file: what the intake checks (bot/leads/intake.py) hold.

Read by the one loader (bot/rules/file.py) like every other table, so a bad `[intake]` edit is
refused with its line and the last good rules stay in force. Field limits here are overrides:
a field left out keeps the length its declaration gives (bot/leads/fields.py); a name must be
a column of the lead (storage.models.Lead), so a typo is refused, not ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bot.rules.checks import Invalid, KeyPath

TABLE: KeyPath = ("intake",)
DOMAIN_KEYS = ("disposable_domains", "allowed_domains")
KEYS = (
    "disposable",
    "disposable_domains",
    "allowed_domains",
    "role_addresses",
    "max_chars",
    "flood_limit",
    "flood_window_minutes",
    "flood_by",
)
# What a mail's flood is counted on: one sender's address, or every sender at one company.
FLOOD_BY = ("address", "domain")


@dataclass(frozen=True)
class IntakeRules:
    """The defaults hold only what is clearly junk: disposable-mail addresses, values longer
    than a field holds, and a flood of more than 30 captures from one source (a mail's sender)
    in 10 minutes; role addresses (info@, sales@) and many people of one company make leads as
    they always did."""

    # Hold addresses at disposable-mail domains (the disposable-email-domains list, and more).
    disposable: bool = True
    disposable_domains: frozenset[str] = frozenset()
    # Never held as disposable, whatever the list says.
    allowed_domains: frozenset[str] = frozenset()
    # Hold role addresses (a desk, not a person: bot.leads.freemail.is_role_address).
    role_addresses: bool = False
    # Longest value per field, over the declared one (bot/leads/fields.py).
    max_chars: Mapping[str, int] = field(default_factory=dict)
    # More than `flood_limit` captures from one source key within the window are held; 0 = off.
    flood_limit: int = 30
    flood_window_minutes: float = 10.0
    # A mail's source key: the sender's address, or its company's domain (a bot writing from
    # random addresses at one domain); "domain" holds a busy company's people too.
    flood_by: str = "address"

    @property
    def flood_window(self) -> timedelta:
        return timedelta(minutes=self.flood_window_minutes)

    @classmethod
    def from_table(cls, table: Any) -> IntakeRules:
        """The parsed `[intake]` table; Invalid names a bad key by its path."""
        if not isinstance(table, Mapping):
            raise Invalid(TABLE, "[intake] must be a table")
        for key in table:
            if key not in KEYS:
                raise Invalid((*TABLE, key), f"unknown key; known: {', '.join(KEYS)}")
        default = cls()
        flags = {}
        for key in ("disposable", "role_addresses"):
            value = table.get(key, getattr(default, key))
            if not isinstance(value, bool):
                raise Invalid((*TABLE, key), "must be true or false")
            flags[key] = value
        domains = {key: _domains(table.get(key, []), key) for key in DOMAIN_KEYS}
        limit = table.get("flood_limit", default.flood_limit)
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise Invalid((*TABLE, "flood_limit"), "must be a whole number, 0 for no limit")
        window = table.get("flood_window_minutes", default.flood_window_minutes)
        if isinstance(window, bool) or not isinstance(window, int | float) or window <= 0:
            raise Invalid((*TABLE, "flood_window_minutes"), "must be a number above 0")
        flood_by = table.get("flood_by", default.flood_by)
        if flood_by not in FLOOD_BY:
            raise Invalid((*TABLE, "flood_by"), f"must be one of {', '.join(FLOOD_BY)}")
        return cls(
            **flags,
            **domains,
            max_chars=_max_chars(table.get("max_chars", {})),
            flood_limit=limit,
            flood_window_minutes=float(window),
            flood_by=flood_by,
        )


def _domains(value: Any, key: str) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise Invalid((*TABLE, key), 'must be a list of domains (["example.com"])')
    return frozenset(v.strip().strip(".").lower().lstrip("@") for v in value)


def _max_chars(value: Any) -> dict[str, int]:
    from storage.models import Lead

    if not isinstance(value, Mapping):
        raise Invalid((*TABLE, "max_chars"), "must be a table: field = characters")
    columns = set(Lead.model_fields)
    limits: dict[str, int] = {}
    for name, limit in value.items():
        path = (*TABLE, "max_chars", name)
        if name not in columns:
            raise Invalid(path, "not a lead field (bot/leads/fields.py)")
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise Invalid(path, "must be a whole number of characters, at least 1")
        limits[name] = limit
    return limits
