"""The `[dedupe]` table of the rules file (LEADBOT_RULES), re-read when the file changes.

A missing file means the defaults. A file that does not parse, or whose `[dedupe]` table is
wrong, is refused with the reason; a running bot keeps the last good rules (and logs why),
while `leadbot dedupe scan` stops with the error.
"""

from __future__ import annotations

import logging
import tomllib
from pathlib import Path

from bot.dedupe.match import MatchRules

log = logging.getLogger(__name__)


class RulesError(ValueError):
    """The rules file cannot be used; the message names the file and the reason."""


def read(path: str | Path) -> MatchRules:
    """Parse the `[dedupe]` table of `path` (defaults when the file does not exist)."""
    file = Path(path)
    if not file.is_file():
        return MatchRules()
    try:
        return MatchRules.from_toml(tomllib.loads(file.read_text(encoding="utf-8")))
    except (tomllib.TOMLDecodeError, ValueError, TypeError) as error:
        raise RulesError(f"{file}: {error}") from None


class MatchRulesFile:
    """A callable giving the current rules of one file: re-read when its mtime changes, the
    last good rules kept when the new text is bad."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._stamp: float | None = None
        self._rules = MatchRules()

    def __call__(self) -> MatchRules:
        try:
            stamp = self.path.stat().st_mtime_ns
        except OSError:
            stamp = None
        if stamp != self._stamp:
            self._stamp = stamp
            try:
                self._rules = read(self.path)
            except RulesError as error:
                log.error("dedupe rules not changed: %s", error)
        return self._rules
