"""What text the store can hold, and the one function that makes outside text fit it.

PostgreSQL refuses a NUL character in text and JSON (SQLite takes it), and neither driver can
encode a lone surrogate (what `surrogateescape` decoding leaves of bytes that were not UTF-8).
Such text used to fail only on PostgreSQL, at commit: an SMTP 451 the sender retried for days, a
500 from /api/events. The doors call `storable` on what they receive, and every flush passes the
values it writes through it too (storage.engine), so no field can carry them to the store.
"""

from __future__ import annotations

import re
from typing import Any

# NUL, and lone surrogates (U+D800 to U+DFFF are never valid on their own in UTF-8).
_REFUSED = re.compile("[\x00\ud800-\udfff]")


def storable(text: str) -> str:
    """`text` with NUL removed and lone surrogates replaced by U+FFFD."""
    if not _REFUSED.search(text):
        return text
    return _REFUSED.sub(lambda m: "" if m.group() == "\x00" else "\ufffd", text)


def refused_in(value: Any) -> bool:
    """Whether a str, or a string inside a JSON-like value, holds what the store refuses."""
    if isinstance(value, str):
        return _REFUSED.search(value) is not None
    if isinstance(value, dict):
        return any(refused_in(k) or refused_in(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(refused_in(item) for item in value)
    return False


def storable_value(value: Any) -> Any:
    """A str, or the strings inside a JSON-like value (dict keys too), made storable."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        return {storable_value(k): storable_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(storable_value(item) for item in value)
    return value
