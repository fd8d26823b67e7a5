"""Per-lead reply addresses (leads+<token>@domain): replies find their lead even without headers."""

from __future__ import annotations

import re
import secrets

TOKEN_RE = re.compile(r"^[0-9a-f]{16}$")


def new_reply_token() -> str:
    return secrets.token_hex(8)


def reply_address_for(token: str, base_address: str) -> str:
    local, _, domain = base_address.partition("@")
    return f"{local}+{token}@{domain}"


def token_in(address: str, base_address: str) -> str | None:
    """The token of `address` when it is a +variant of `base_address`, else None."""
    local, _, domain = address.strip().lower().partition("@")
    base_local, _, base_domain = base_address.strip().lower().partition("@")
    if domain != base_domain or "+" not in local:
        return None
    prefix, _, token = local.partition("+")
    if prefix != base_local or not TOKEN_RE.match(token):
        return None
    return token
