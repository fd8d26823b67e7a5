"""One row of a broker's file as a capture draft, or the reason it is a bad row.

The cells go where the column map says (bot/imports/columns.py): person fields into the draft,
unknown columns into its custom fields, `name` cut into first and last, and the cells capture
does not take (status, stage, consent; bot/imports/policy.py applies them) set aside. A row with
no address, a cell that is no address, more cells than the header or a value the policy cannot
take is a bad row, with the reason the errors file and the report give.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.imports import policy
from bot.imports.columns import ColumnMap
from bot.imports.read import Row
from bot.leads import fields, intake
from bot.leads.capture import Draft

# What a file's address cell must look like: one @, a dot in the domain, nothing a person's
# address never holds (a broker's "n/a", "x@", "<ann@acme.io>" or "a@b.io; c@d.io" is a bad row).
ADDRESS = re.compile(r"^[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+\.[^@\s<>()\[\],;:\".]+$")
# Longest value of a custom field (declared fields have theirs in bot/leads/fields.py).
CUSTOM_MAX_CHARS = 2000


@dataclass
class Parsed:
    """A row as a draft and the cells capture does not take (status, stage, consent), or
    the reason it is a bad row."""

    row: Row
    draft: Draft | None = None
    reason: str = ""
    extras: dict[str, str] = field(default_factory=dict)


def parse_row(row: Row, mapping: ColumnMap, tags: tuple[str, ...] = ()) -> Parsed:
    """A row as a draft, or the reason it cannot be one."""
    values: dict[str, str] = {}
    custom: dict[str, str] = {}
    extras: dict[str, str] = {}
    for index, target in enumerate(mapping.targets):
        if target is None or index >= len(row.cells):
            continue
        value = row.cells[index].strip()
        if not value:
            continue
        if target.startswith("custom."):
            if len(value) > CUSTOM_MAX_CHARS:
                return Parsed(
                    row, reason=f"{target} is {len(value):,} characters, over {CUSTOM_MAX_CHARS:,}"
                )
            custom[target.removeprefix("custom.")] = value
        elif target in fields.NAMES:
            values.setdefault(target, value)
        else:
            extras.setdefault(target, value)
    email = extras.pop("email", "").strip().lower()
    if "name" in extras:
        first, last = policy.split_name(extras.pop("name"))
        if first:
            values.setdefault("first_name", first)
        if last:
            values.setdefault("last_name", last)
    if len(row.cells) > len(mapping.targets) and any(
        c.strip() for c in row.cells[len(mapping.targets) :]
    ):
        return Parsed(row, reason=f"{len(row.cells)} cells, the header has {len(mapping.targets)}")
    if not email:
        return Parsed(row, reason="no email address")
    if not intake.usable_address(email) or not ADDRESS.match(email):
        return Parsed(row, reason=f"not an email address: {email[:80]!r}")
    problem = policy.check_extras(extras)
    if problem:
        return Parsed(row, reason=problem)
    tags = sorted({*policy.split_tags(extras.pop("tags", "")), *tags})
    if tags:
        custom["tags"] = ",".join(tags)
    return Parsed(row, Draft(email, values, "", (), custom), extras=extras)
