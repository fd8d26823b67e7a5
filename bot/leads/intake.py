"""The intake checks: what counts as junk or a flood before a capture becomes a lead.

Capture (bot/leads/capture.py) runs these first, whatever the door. A capture that fails one is
held in the intake quarantine, kept with its reasons, not dropped: `leadbot intake approve`
replays it with the checks off, `intake reject` closes it. What is junk is rules-file data,
the `[intake]` table of LEADBOT_RULES (bot/rules/intake.py, read by the one rules loader); the
checks here are pure: the store's count of recent captures is handed in.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.leads import fields
from bot.leads.freemail import is_freemail, is_role_address, registrable_domain
from bot.rules.intake import IntakeRules

# Each field's longest value, from the declarations (bot/leads/fields.py).
DEFAULT_MAX_CHARS: Mapping[str, int] = {
    f.name: f.max_chars for f in (fields.EMAIL, *fields.PERSON_FIELDS)
}
DEFAULT = IntakeRules()
# The reason a capture of an address on the suppression list is held.
ERASED_ON_REQUEST = "erased on request"
# Doors where the person writes to us themselves: a new enquiry, never suppressed.
SELF_SENT_CHANNELS = frozenset({"email"})


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


def limit_of(rules: IntakeRules, name: str) -> int | None:
    """The longest value field `name` may hold: the rules' override, else its declaration."""
    return rules.max_chars.get(name, DEFAULT_MAX_CHARS.get(name))


def usable_address(address: str) -> bool:
    """What a lead can be made of: something with an @ (what capture always accepted)."""
    return bool(address) and "@" in address


def check(
    address: str,
    values: Mapping[str, str],
    rules: IntakeRules,
    recent: int = 0,
    source_key: str = "",
    suppressed: bool = False,
) -> tuple[Reason, ...]:
    """Every reason to hold this capture, none when it may pass. `address` is the draft's,
    lower-cased; `recent` is how many captures its `source_key` made within the flood window
    before this one; `suppressed` says the address is on the suppression list (its person was
    erased on request, bot/privacy/)."""
    reasons: list[Reason] = []
    if suppressed:
        reasons.append(Reason("erased", ERASED_ON_REQUEST))
    if not usable_address(address):
        reasons.append(Reason("address", f"no usable address ({address!r})"))
    else:
        local, _, domain = address.rpartition("@")
        if rules.disposable and (listed := disposable_domain(domain, rules)):
            reasons.append(Reason("disposable", f"{listed} is a disposable-mail domain"))
        if rules.role_addresses and is_role_address(local):
            reasons.append(Reason("role", f"{address} is a role address, not a person"))
    for name, value in (("email", address), *values.items()):
        limit = limit_of(rules, name)
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


def address_key(address: str, rules: IntakeRules = DEFAULT) -> str:
    """The flood key of a sender's address: the address, or with `flood_by = "domain"` its
    registrable domain ("acme.co.uk"), except at a free-mail domain, where thousands of
    strangers share gmail.com."""
    address = address.strip().lower()
    domain = address.rpartition("@")[2]
    if rules.flood_by == "address" or not domain or is_freemail(domain):
        return address
    return registrable_domain(domain) or address


# --- how people name what is in the quarantine -----------------------------------------------

_REF = re.compile(r"^\s*([HMF])-?(\d+)\s*$", re.IGNORECASE)
_KINDS = {"H": "hold", "M": "message", "F": "submission"}


def hold_label(record_id: int | None) -> str:
    return f"H-{record_id}"


def message_label(message_id: int | None) -> str:
    return f"M-{message_id}"


def submission_label(submission_id: int | None) -> str:
    return f"F-{submission_id}"


def parse_ref(text: str) -> tuple[str, int]:
    """("hold", 3) for `H-3`, ("message", 7) for `M-7` (a mail the inbox quarantined),
    ("submission", 5) for `F-5` (a form submission whose processing failed), else ValueError."""
    match = _REF.match(text)
    if not match:
        raise ValueError(
            f"{text!r} is not in the quarantine's terms: H-12 (a held capture), M-7 (a mail "
            "the inbox could not read) or F-5 (a form submission that failed)"
        )
    return _KINDS[match.group(1).upper()], int(match.group(2))
