"""Signed tokens of forms: the fill token rendered into every form (which form, a nonce, and
the time the page was rendered, so a post too soon after, a forged or expired token, and a
replayed one are told apart) and the double opt-in link of a confirmation mail."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer, URLSafeTimedSerializer

FILL_SALT = "form-fill"
CONFIRM_SALT = "form-confirm"
# How long a confirmation link keeps working.
CONFIRM_MAX_AGE = 7 * 24 * 3600


@dataclass(frozen=True)
class FillCheck:
    """What a posted fill token says: its nonce (None when unusable), how many seconds ago the
    form was rendered, and what is wrong with it ("" when nothing)."""

    nonce: str | None
    age: float
    problem: str = ""


class FormTokens:
    def __init__(self, secret_key: str, clock: Callable[[], float] = time.time) -> None:
        # The render time is in the payload, to the millisecond (itsdangerous's own timestamp
        # counts whole seconds, too coarse for a minimum fill time of a second or two).
        self._fill = URLSafeSerializer(secret_key, salt=FILL_SALT)
        self._confirm = URLSafeTimedSerializer(secret_key, salt=CONFIRM_SALT)
        self._clock = clock

    def fill_token(self, form_id: int) -> str:
        return self._fill.dumps([form_id, secrets.token_urlsafe(12), round(self._clock(), 3)])

    def check_fill(self, token: str, form_id: int, max_age_seconds: float) -> FillCheck:
        if not token:
            return FillCheck(None, 0.0, "missing")
        try:
            payload = self._fill.loads(token)
        except BadSignature:
            return FillCheck(None, 0.0, "forged")
        if not (isinstance(payload, list) and len(payload) == 3):
            return FillCheck(None, 0.0, "forged")
        made_for, nonce, rendered_at = payload
        if made_for != form_id:
            return FillCheck(None, 0.0, "made for another form")
        age = self._clock() - float(rendered_at)
        if age > max_age_seconds:
            return FillCheck(None, age, "expired")
        return FillCheck(str(nonce), age)

    def confirm_token(self, lead_id: int, address: str) -> str:
        return self._confirm.dumps([lead_id, address])

    def check_confirm(self, token: str) -> tuple[int, str] | None:
        try:
            lead_id, address = self._confirm.loads(token, max_age=CONFIRM_MAX_AGE)
        except (BadSignature, ValueError, TypeError):
            return None
        return int(lead_id), str(address)
