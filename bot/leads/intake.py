"""The intake checks: what counts as junk or a flood before a capture becomes a lead.

Capture (bot/leads/capture.py) runs these first, whatever the door. A capture that fails one is
held in the intake quarantine, kept with its reasons, not dropped: `leadbot intake approve`
replays it with the checks off, `intake reject` closes it. What is junk is rules-file data,
the `[intake]` table of LEADBOT_RULES (`IntakeRules`, read by `read_table` or `parse`); the
checks here are pure: the store's count of recent captures is handed in.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.leads import fields
from bot.leads.freemail import is_freemail, is_role_address, registrable_domain
from bot.rules.file import RulesError, locate

log = logging.getLogger(__name__)

# Each field's longest value, from the declarations (bot/leads/fields.py).
DEFAULT_MAX_CHARS: Mapping[str, int] = {
    f.name: f.max_chars for f in (fields.EMAIL, *fields.PERSON_FIELDS)
}
DOMAIN_KEYS = ("disposable_domains", "allowed_domains")
KEYS = (
    "disposable",
    "disposable_domains",
    "allowed_domains",
    "role_addresses",
    "max_chars",
    "flood_limit",
    "flood_window_minutes",
)


@dataclass(frozen=True)
class IntakeRules:
    """The `[intake]` table. The defaults hold only what is clearly junk: disposable-mail
    addresses, values longer than a field holds, and a flood of more than 30 captures from one
    source in 10 minutes; role addresses (info@, sales@) make leads as they always did."""

    # Hold addresses at disposable-mail domains (the disposable-email-domains list, and more).
    disposable: bool = True
    disposable_domains: frozenset[str] = frozenset()
    # Never held as disposable, whatever the list says.
    allowed_domains: frozenset[str] = frozenset()
    # Hold role addresses (a desk, not a person: bot.leads.freemail.is_role_address).
    role_addresses: bool = False
    max_chars: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_MAX_CHARS))
    # More than `flood_limit` captures from one source key within the window are held; 0 = off.
    flood_limit: int = 30
    flood_window_minutes: float = 10.0

    @property
    def flood_window(self) -> timedelta:
        return timedelta(minutes=self.flood_window_minutes)


DEFAULT = IntakeRules()


@dataclass(frozen=True)
class Reason:
    """Why a capture is held: the check that failed (address, disposable, role, length, flood)
    and what it saw, in words."""

    check: str
    detail: str

    def __str__(self) -> str:
        return f"{self.check}: {self.detail}"

    def as_data(self) -> dict[str, str]:
        return {"check": self.check, "detail": self.detail}


def reasons_text(reasons: Sequence[Mapping[str, str]]) -> str:
    """Stored reasons ([{"check": "flood", "detail": "…"}]) in one line, for people."""
    return "; ".join(f"{r['check']}: {r['detail']}" for r in reasons)


def usable_address(address: str) -> bool:
    """What a lead can be made of: something with an @ (what capture always accepted)."""
    return bool(address) and "@" in address


def check(
    address: str,
    values: Mapping[str, str],
    rules: IntakeRules,
    recent: int = 0,
    source_key: str = "",
) -> tuple[Reason, ...]:
    """Every reason to hold this capture, none when it may pass. `address` is the draft's,
    lower-cased; `recent` is how many captures its `source_key` made within the flood window
    before this one."""
    reasons: list[Reason] = []
    if not usable_address(address):
        reasons.append(Reason("address", f"no usable address ({address!r})"))
    else:
        local, _, domain = address.rpartition("@")
        if rules.disposable and (listed := disposable_domain(domain, rules)):
            reasons.append(Reason("disposable", f"{listed} is a disposable-mail domain"))
        if rules.role_addresses and is_role_address(local):
            reasons.append(Reason("role", f"{address} is a role address, not a person"))
    for name, value in (("email", address), *values.items()):
        limit = rules.max_chars.get(name)
        if limit is not None and len(value) > limit:
            reasons.append(Reason("length", f"{name} is {len(value)} characters, over {limit}"))
    if rules.flood_limit and recent >= rules.flood_limit:
        reasons.append(
            Reason(
                "flood",
                f"{recent + 1} captures from {source_key or 'one source'} within "
                f"{rules.flood_window_minutes:g} minutes, over the limit of {rules.flood_limit}",
            )
        )
    return tuple(reasons)


@functools.cache
def _listed_disposable() -> frozenset[str]:
    """The disposable-email-domains package's list, loaded on first use (10k domains)."""
    from disposable_email_domains import blocklist

    return frozenset(blocklist)


def disposable_domain(domain: str, rules: IntakeRules = DEFAULT) -> str | None:
    """The listed disposable-mail domain `domain` is (or is under), or None."""
    labels = domain.strip().strip(".").lower().split(".")
    suffixes = [".".join(labels[i:]) for i in range(len(labels) - 1)]
    if any(suffix in rules.allowed_domains for suffix in suffixes):
        return None
    listed = _listed_disposable()
    for suffix in suffixes:
        if suffix in rules.disposable_domains or suffix in listed:
            return suffix
    return None


def address_key(address: str) -> str:
    """The flood key of a sender's address: its registrable domain ("acme.co.uk"), or the
    address itself at a free-mail domain, where thousands of strangers share gmail.com."""
    address = address.strip().lower()
    domain = address.rpartition("@")[2]
    if not domain or is_freemail(domain):
        return address
    return registrable_domain(domain) or address


# --- how people name what is in the quarantine -----------------------------------------------

_REF = re.compile(r"^\s*([HM])-?(\d+)\s*$", re.IGNORECASE)


def hold_label(record_id: int | None) -> str:
    return f"H-{record_id}"


def message_label(message_id: int | None) -> str:
    return f"M-{message_id}"


def parse_ref(text: str) -> tuple[str, int]:
    """("hold", 3) for `H-3`, ("message", 7) for `M-7` (a mail the inbox quarantined), else
    ValueError."""
    match = _REF.match(text)
    if not match:
        raise ValueError(
            f"{text!r} is not in the quarantine's terms: H-12 (a held capture) or M-7 (a mail "
            "the inbox could not read)"
        )
    kind = "hold" if match.group(1).upper() == "H" else "message"
    return kind, int(match.group(2))


# --- the [intake] table -----------------------------------------------------------------------


class InvalidIntake(ValueError):
    """A bad `[intake]` key: its path (("intake", "flood_limit")) and the reason."""

    def __init__(self, path: tuple[str, ...], reason: str) -> None:
        super().__init__(f"{'.'.join(path)}: {reason}")
        self.path = path
        self.reason = reason


def read_table(table: Mapping[str, Any]) -> IntakeRules:
    """`IntakeRules` from the parsed `[intake]` table; InvalidIntake names a bad key."""
    for key in table:
        if key not in KEYS:
            raise InvalidIntake(("intake", key), f"unknown key; known: {', '.join(KEYS)}")
    flags = {}
    for key in ("disposable", "role_addresses"):
        value = table.get(key, getattr(DEFAULT, key))
        if not isinstance(value, bool):
            raise InvalidIntake(("intake", key), "must be true or false")
        flags[key] = value
    domains = {key: _domains(table.get(key, []), key) for key in DOMAIN_KEYS}
    limit = table.get("flood_limit", DEFAULT.flood_limit)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise InvalidIntake(("intake", "flood_limit"), "must be a whole number, 0 for no limit")
    window = table.get("flood_window_minutes", DEFAULT.flood_window_minutes)
    if isinstance(window, bool) or not isinstance(window, int | float) or window <= 0:
        raise InvalidIntake(("intake", "flood_window_minutes"), "must be a number above 0")
    return IntakeRules(
        **flags,
        **domains,
        max_chars=_max_chars(table.get("max_chars", {})),
        flood_limit=limit,
        flood_window_minutes=float(window),
    )


def _domains(value: Any, key: str) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise InvalidIntake(("intake", key), 'must be a list of domains (["example.com"])')
    return frozenset(v.strip().strip(".").lower().lstrip("@") for v in value)


def _max_chars(value: Any) -> dict[str, int]:
    if not isinstance(value, Mapping):
        raise InvalidIntake(("intake", "max_chars"), "must be a table: field = characters")
    limits = dict(DEFAULT_MAX_CHARS)
    for name, limit in value.items():
        path = ("intake", "max_chars", name)
        if name not in DEFAULT_MAX_CHARS:
            raise InvalidIntake(path, f"not a lead field; fields: {', '.join(DEFAULT_MAX_CHARS)}")
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidIntake(path, "must be a whole number of characters, at least 1")
        limits[name] = limit
    return limits


def parse(text: str, source: str = "rules") -> IntakeRules:
    """The `[intake]` table of a rules file's text (the defaults when it has none); RulesError
    names the line and the reason, as for the file's other tables."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"at line (\d+)", str(exc))
        line = int(found.group(1)) if found else None
        raise RulesError(f"TOML syntax: {exc}", line, source) from None
    table = data.get("intake", {})
    try:
        if not isinstance(table, dict):
            raise InvalidIntake(("intake",), "must be a table")
        return read_table(table)
    except InvalidIntake as exc:
        raise RulesError(str(exc), locate(text, exc.path), source) from None


class IntakeRulesFile:
    """The `[intake]` rules of one file (LEADBOT_RULES) in force: re-read when its mtime
    changes, the last good rules kept (and the error logged) when an edit is bad, the defaults
    when there is no file. A callable, as the inbox worker takes its rules.

    Until the one reloader of bot/rules carries the tables it does not read itself, this
    feeds `parse` the file's text."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path else None
        self.error: RulesError | None = None
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._rules = DEFAULT

    def __call__(self) -> IntakeRules:
        if self.path is None:
            return self._rules
        try:
            stat = self.path.stat()
            stamp: tuple[int, int] | None = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            stamp = None
        with self._lock:
            if stamp == self._stamp:
                return self._rules
            self._stamp = stamp
            if stamp is None:
                return self._rules
            try:
                self._rules = parse(self.path.read_text(encoding="utf-8"), str(self.path))
                self.error = None
            except (OSError, RulesError) as exc:
                self.error = exc if isinstance(exc, RulesError) else RulesError(str(exc))
                log.error("intake rules not changed: %s (the last good rules stay)", exc)
            return self._rules
