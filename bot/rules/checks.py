"""What a value in the rules file must be: the checks every table's reader shares.

A check that fails raises `Invalid` with the key's path in the file (("dedupe", "weights",
"phone")), not a line: tomllib keeps no positions, so the loader (bot/rules/file.py) finds the
line of the path afterwards and turns `Invalid` into a `RulesError`. A table of its own
(bot/rules/dedupe.py) therefore only says where and why; every table's error reads the same.
"""

from __future__ import annotations

from typing import Any

# Where a value sits in the file: table names, keys and array indexes (counted from 0).
KeyPath = tuple[str | int, ...]


class Invalid(ValueError):
    """A value of the rules file that cannot be used: where it sits (`path`) and why.

    A ValueError, so code that builds a table's rules directly (MatchRules(review=2.0)) sees
    what it always saw."""

    def __init__(self, path: KeyPath, reason: str) -> None:
        super().__init__(reason)
        self.path = path
        self.reason = reason


def table(data: dict[str, Any], key: str, path: KeyPath) -> dict[str, Any]:
    """`data[key]` as a table (empty when it is not written)."""
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise Invalid((*path, key), "must be a table")
    return value


def number(value: Any, path: KeyPath, *, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid(path, f"must be a number, not {value!r}")
    if minimum is not None and value < minimum:
        raise Invalid(path, f"must be at least {minimum:g}, not {value!r}")
    return float(value)


def strings(value: Any, path: KeyPath) -> tuple[str, ...]:
    """A string or a list of strings, as a tuple."""
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Invalid(path, f"must be a string or a list of strings, not {value!r}")
    return tuple(value)


def unknown(data: dict[str, Any], known: tuple[str, ...], path: KeyPath) -> None:
    """Refuse the first key of `data` that is not in `known` (a typo must not pass silently)."""
    for key in data:
        if key not in known:
            raise Invalid((*path, key), f"unknown key; known: {', '.join(known)}")


def points(data: dict[str, Any], path: KeyPath) -> dict[str, float]:
    """A table of name → number, the names lower-cased."""
    return {str(k).lower(): number(v, (*path, k)) for k, v in data.items()}


def show(path: KeyPath) -> str:
    """("assignment", "rule", 1, "strategy") → "assignment.rule[2].strategy" (counted from 1)."""
    shown = ""
    for part in path:
        shown += f"[{part + 1}]" if isinstance(part, int) else (f".{part}" if shown else part)
    return shown
