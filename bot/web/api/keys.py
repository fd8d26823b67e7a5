"""API keys: made once and printed once, stored as a SHA-256 hash, each with its scopes.

A key reads `lb_<prefix>_<secret>`. The prefix finds the row without scanning; the hash of the
whole key proves it, compared in constant time. Keys are 32 random bytes, so a plain SHA-256 is
enough (a slow password hash protects guessable secrets, not these).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import Session

import storage.api_keys
from storage.api_tables import ApiKey
from storage.models import utcnow

SCOPES: dict[str, str] = {
    "leads:read": "list and read leads and their timelines",
    "leads:write": "create and update leads, and act on them (qualify, trash, convert, …)",
    "events:write": "record behaviour events (page visits, form posts, opens, clicks)",
    "reps:read": "list reps",
    "campaigns:read": "list campaigns and their stats",
    "imports:write": "upload CSV/XLSX files to import (a dry run unless ?apply=true)",
    "imports:read": "read an import's journal (its state, counts and reported rows)",
}


class ApiKeyError(ValueError):
    """A bad name or scope, or no such key; the message says what is allowed."""


@dataclass(frozen=True)
class Caller:
    """Who is calling: the key's id, name, scopes and rate, as the routes need them."""

    key_id: int
    name: str
    scopes: frozenset[str]
    rate_per_minute: int

    @property
    def actor(self) -> str:
        return f"api:{self.name}"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def check_scopes(scopes: Sequence[str]) -> list[str]:
    chosen = [s.strip() for s in scopes if s.strip()]
    unknown = [s for s in chosen if s not in SCOPES]
    if unknown or not chosen:
        raise ApiKeyError(
            f"unknown scopes {', '.join(unknown) or '(none given)'}; scopes: {', '.join(SCOPES)}"
        )
    return list(dict.fromkeys(chosen))


def create(
    session: Session, name: str, scopes: Sequence[str], rate_per_minute: int = 0
) -> tuple[ApiKey, str]:
    """A new key and its text, which is shown once: only its hash is kept."""
    name = name.strip()
    if not name or len(name) > 100:
        raise ApiKeyError("a key needs a name of 1 to 100 characters")
    if rate_per_minute < 0:
        raise ApiKeyError("the rate is requests a minute, 0 (the default) or more")
    if storage.api_keys.by_name(session, name) is not None:
        raise ApiKeyError(f"a key named {name!r} exists already")
    prefix = secrets.token_hex(4)
    text = f"lb_{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(name=name, prefix=prefix, key_hash=hash_key(text), scopes=check_scopes(scopes),
                 rate_per_minute=rate_per_minute)  # fmt: skip
    return storage.api_keys.add(session, key), text


def revoke(session: Session, name: str) -> ApiKey:
    key = storage.api_keys.by_name(session, name)
    if key is None:
        raise ApiKeyError(f"no key named {name!r} (see leadbot apikey list)")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.add(key)
    return key


def authenticate(session: Session, text: str) -> ApiKey | None:
    """The live key this text is, or None (unknown, malformed, wrong or revoked)."""
    parts = text.split("_")
    if len(parts) < 3 or parts[0] != "lb" or len(parts[1]) != 8:
        return None
    key = storage.api_keys.by_prefix(session, parts[1])
    if key is None or key.revoked_at is not None:
        return None
    if not hmac.compare_digest(key.key_hash, hash_key(text)):
        return None
    return key
