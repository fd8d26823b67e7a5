"""The `[forms]` table of the rules file: the spam and flood limits of web-to-lead forms.

Read by the one loader (bot/rules/file.py) like every other table, so a bad `[forms]` edit is
refused with its line and the last good rules stay in force. A limit of 0 is off.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bot.rules.checks import Invalid, KeyPath

TABLE: KeyPath = ("forms",)
# key → (what it must be, the smallest value it may take)
KEYS: dict[str, tuple[type, float]] = {
    "min_fill_seconds": (float, 0),
    "token_max_age_minutes": (float, 1),
    "per_ip_limit": (int, 0),
    "per_address_limit": (int, 0),
    "per_form_limit": (int, 0),
    "window_minutes": (float, 0.1),
    "message_max_chars": (int, 1),
    "confirm_every_minutes": (float, 1),
}


@dataclass(frozen=True)
class FormRules:
    """A person takes seconds to fill a form, a bot milliseconds; a person sends a form a few
    times an hour, a flood hundreds. The defaults let every person through and hold the rest
    in the intake quarantine (kept, approvable), never dropped."""

    # A form posted sooner than this after its page was rendered is held ("too fast").
    min_fill_seconds: float = 2.0
    # A fill token older than this is refused (held, "token: expired").
    token_max_age_minutes: float = 24 * 60.0
    # More submissions than this within the window are held: from one client IP, for one
    # address, to one form.
    per_ip_limit: int = 20
    per_address_limit: int = 5
    per_form_limit: int = 0
    window_minutes: float = 10.0
    # The longest message (the enquiry) a form takes; lead fields keep their declared limits.
    message_max_chars: int = 5000
    # A confirmation mail (double opt-in) goes to one address at most this often.
    confirm_every_minutes: float = 60.0

    @property
    def window(self) -> timedelta:
        return timedelta(minutes=self.window_minutes)

    @classmethod
    def from_table(cls, table: Any) -> FormRules:
        """The parsed `[forms]` table; Invalid names a bad key by its path."""
        if not isinstance(table, Mapping):
            raise Invalid(TABLE, "[forms] must be a table")
        values: dict[str, Any] = {}
        for key, value in table.items():
            if key not in KEYS:
                raise Invalid((*TABLE, key), f"unknown key; known: {', '.join(KEYS)}")
            kind, minimum = KEYS[key]
            whole = isinstance(value, int) and not isinstance(value, bool)
            if (kind is int and not whole) or (
                kind is float and not (whole or isinstance(value, float))
            ):
                what = "a whole number" if kind is int else "a number"
                raise Invalid((*TABLE, key), f"must be {what}, not {value!r}")
            if value < minimum:
                raise Invalid((*TABLE, key), f"must be at least {minimum:g}")
            values[key] = kind(value)
        return cls(**values)
