"""The `lead_id:version` a card button or a modal carries: which lead, as the rep saw it."""

from __future__ import annotations


def parse_metadata(value: str) -> tuple[int, int | None]:
    lead_id, _, version = value.partition(":")
    if not lead_id.isdigit():
        raise ValueError(f"not a lead reference: {value!r}")
    return int(lead_id), int(version) if version.isdigit() else None
