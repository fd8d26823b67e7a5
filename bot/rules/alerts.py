"""The `[alerts]` table of the rules file: which behaviour makes a lead hot, and how often its
owner may hear of it (bot/reports/alerts.py sends the DM).

    [alerts]
    opens = 2                  # a person opens one email this many times (0 = off)
    click = true               # a person clicks a tracked link
    reply = true               # the lead replies
    pages = ["/pricing"]       # a page visit whose URL contains one of these
    quiet_minutes = 60         # at most one alert per lead in this time
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bot.rules.checks import Invalid, KeyPath

TABLE: KeyPath = ("alerts",)
KEYS = ("opens", "click", "reply", "pages", "quiet_minutes")


@dataclass(frozen=True)
class AlertRules:
    opens: int = 2
    click: bool = True
    reply: bool = True
    pages: tuple[str, ...] = ()
    quiet_minutes: float = 60.0

    @property
    def quiet(self) -> timedelta:
        return timedelta(minutes=self.quiet_minutes)

    @classmethod
    def from_table(cls, table: Any) -> AlertRules:
        """The parsed `[alerts]` table; Invalid names a bad key by its path."""
        if not isinstance(table, Mapping):
            raise Invalid(TABLE, "[alerts] must be a table")
        for key in table:
            if key not in KEYS:
                raise Invalid((*TABLE, key), f"unknown key; known: {', '.join(KEYS)}")
        default = cls()
        opens = table.get("opens", default.opens)
        if isinstance(opens, bool) or not isinstance(opens, int) or opens < 0:
            raise Invalid((*TABLE, "opens"), "must be a whole number, 0 for no open alerts")
        flags = {}
        for key in ("click", "reply"):
            value = table.get(key, getattr(default, key))
            if not isinstance(value, bool):
                raise Invalid((*TABLE, key), "must be true or false")
            flags[key] = value
        pages = table.get("pages", [])
        if not isinstance(pages, list) or not all(isinstance(p, str) and p.strip() for p in pages):
            raise Invalid((*TABLE, "pages"), 'must be a list of URL parts (["/pricing"])')
        quiet = table.get("quiet_minutes", default.quiet_minutes)
        if isinstance(quiet, bool) or not isinstance(quiet, int | float) or quiet < 0:
            raise Invalid((*TABLE, "quiet_minutes"), "must be a number of minutes, 0 or more")
        return cls(opens=opens, **flags, pages=tuple(p.strip() for p in pages),
                   quiet_minutes=float(quiet))  # fmt: skip
