"""The `[dedupe]` table of the rules file: what de-duplication (bot/dedupe/) weighs and decides.

The matcher's rules live here, beside the scoring and assignment rules, so that the rules file
has one loader (bot/rules/file.py) and bot/rules/ depends on no part of the domain that applies
them. A bad value raises `Invalid` with its path, so the loader reports it with its line like
any other table's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from bot.rules.checks import Invalid, KeyPath, number, unknown

# Blocks with more members than this carry no signal and are skipped.
MAX_BLOCK_SIZE = 500
# At most this many candidates (ranked by the blocks they share) are scored per lead.
MAX_CANDIDATES = 64

SURVIVORSHIP = ("newest", "source_priority")

FIELDS = (
    "name",
    "company",
    "email",
    "domain",
    "phone",
    "title",
    "street",
    "city",
    "state",
    "postal_code",
    "country",
)

# Fields whose exact-agreement weight [dedupe.pin] may fix (bot.dedupe.model.LEVELS).
PIN_FIELDS = (
    "first_name", "last_name", "email", "phone", "company", "domain", "street", "city",
    "postal_code", "state", "country", "title",
)  # fmt: skip

TABLE: KeyPath = ("dedupe",)
_FRACTIONS = ("auto_merge", "review", "name_floor", "different_person_cap")
_COUNTS = ("max_block_size", "max_candidates")


@dataclass
class MatchRules:
    """Weights per field, the two thresholds, and the limits of blocking.

    The weights say how much a field tells one person apart: name, personal email and street
    most, company less (token_set_ratio is lenient, and colleagues share it), phone little (a
    person has several numbers and colleagues share a switchboard, so a different number is weak
    evidence), city, state, country and title least. With them, two leads that agree on company
    and street but not on phone score 6/7 = 0.857, just over `auto_merge` = 0.85. On the shared
    dedupe corpus (bench/dedupe.py) these defaults give precision 0.988, recall 0.923, F1 0.954
    on duplicate pairs, and the F1 stays within 0.95-0.97 for `auto_merge` 0.70-0.85. A
    `[dedupe]` table in the rules file overrides any of them.
    """

    weights: dict[str, float] = field(
        default_factory=lambda: {
            "name": 4.0,
            "company": 2.0,
            "email": 3.0,
            "domain": 1.0,
            "phone": 1.0,
            "title": 0.5,
            "street": 4.0,
            "city": 0.5,
            "state": 0.25,
            "postal_code": 1.0,
            "country": 0.25,
        }
    )
    auto_merge: float = 0.85
    review: float = 0.70
    # A first or last name this far apart means two people (at one company, say).
    name_floor: float = 0.80
    different_person_cap: float = 0.50
    max_block_size: int = MAX_BLOCK_SIZE
    max_candidates: int = MAX_CANDIDATES
    # Which value a merge keeps per field: the newest non-empty one ("newest"), or the one from
    # the source listed first in `source_priority` ("source_priority"; newest breaks ties).
    survivorship: str = "newest"
    source_priority: tuple[str, ...] = ("manual", "form", "api", "email", "csv")
    # Bits pinned for an exact agreement on a field, whatever training found ([dedupe.pin]:
    # `phone = 4.0`); fields of bot.dedupe.model.LEVELS.
    pin: dict[str, float] = field(default_factory=dict)
    # The match model in force (bot.dedupe.model.MatchModel): set by the store-backed matcher
    # and the scan from the trained model; None = the shipped defaults. Not a rules-file key.
    model: object | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        """The checks that hold however the rules were made (the file, a test, a benchmark);
        each names the key it is about, for the rules file's line."""
        if self.survivorship not in SURVIVORSHIP:
            raise Invalid((*TABLE, "survivorship"), f"survivorship must be one of {SURVIVORSHIP}")
        self.source_priority = tuple(str(source) for source in self.source_priority)
        for name in self.weights:
            if name not in FIELDS:
                raise Invalid(
                    (*TABLE, "weights", name),
                    f"unknown dedupe weight {name!r}; fields: {', '.join(FIELDS)}",
                )
        self.weights = {name: float(self.weights.get(name, 0.0)) for name in FIELDS}
        for name, weight in self.weights.items():
            if weight < 0:
                raise Invalid((*TABLE, "weights", name), "dedupe weights must not be negative")
        if not 0.0 <= self.review <= self.auto_merge <= 1.0:
            # One value outside 0..1 is that key's fault; a wrong order is the pair's.
            alone = [n for n in ("auto_merge", "review") if not 0.0 <= getattr(self, n) <= 1.0]
            raise Invalid(
                (*TABLE, *alone[:1]), "dedupe thresholds need 0 <= review <= auto_merge <= 1"
            )
        for name in _COUNTS:
            if getattr(self, name) < 1:
                raise Invalid(
                    (*TABLE, name), "max_block_size and max_candidates must be at least 1"
                )

    @classmethod
    def from_toml(cls, data: Mapping[str, Any]) -> MatchRules:
        """Rules from a parsed rules file: its `[dedupe]` table, or that table itself; a rules
        file without one gives the defaults.

        `[dedupe]` takes `auto_merge`, `review`, `name_floor`, `different_person_cap`,
        `max_block_size`, `max_candidates`, `survivorship`, `source_priority`, and
        `[dedupe.weights]` with any of `FIELDS`; weights not given keep their defaults.
        Unknown settings and bad values raise `Invalid` (a ValueError) with the key's path.
        """
        allowed = tuple(f.name for f in fields(cls) if f.name != "model")
        if "dedupe" in data:
            table = data["dedupe"]
        elif set(data) <= set(allowed):
            table = data
        else:
            table = {}
        if not isinstance(table, Mapping):
            raise Invalid(TABLE, "[dedupe] must be a table")
        settings = dict(table)
        unknown(settings, allowed, TABLE)
        pins = settings.pop("pin", {})
        if not isinstance(pins, Mapping):
            raise Invalid((*TABLE, "pin"), "[dedupe.pin] must be a table")
        for name in pins:
            if name not in PIN_FIELDS:
                known = ", ".join(PIN_FIELDS)
                raise Invalid((*TABLE, "pin", name), f"unknown field {name!r}; fields: {known}")
        settings["pin"] = {name: number(v, (*TABLE, "pin", name)) for name, v in pins.items()}
        given = settings.pop("weights", {})
        if not isinstance(given, Mapping):
            raise Invalid((*TABLE, "weights"), "[dedupe.weights] must be a table")
        weights = cls().weights
        weights.update(
            {name: number(value, (*TABLE, "weights", name)) for name, value in given.items()}
        )
        for name in _FRACTIONS:
            if name in settings:
                settings[name] = number(settings[name], (*TABLE, name))
        for name in _COUNTS:
            if name in settings:
                settings[name] = int(number(settings[name], (*TABLE, name)))
        if not isinstance(settings.get("source_priority", []), list):
            raise Invalid((*TABLE, "source_priority"), "must be a list of sources")
        return cls(weights=weights, **settings)

    def verdict(self, score: float) -> str:
        if score >= self.auto_merge:
            return "merge"
        if score >= self.review:
            return "review"
        return "new"
