"""Signed tracking links of nurture emails: the open pixel, click redirects, opt-out and undo.

Tokens are signed with LEADBOT_SECRET_KEY (itsdangerous, as bot.public_links does), each kind with
its own salt, and carry the send id (and a click's link index): a click redirects only to the URL
stored for that send and index, so a tampered token opens nothing. They do not expire: an
opt-out link must keep working for as long as the email sits in a mailbox.
"""

from __future__ import annotations

import binascii

from itsdangerous import BadData, BadSignature, URLSafeSerializer
from itsdangerous.encoding import base64_decode

PIXEL_PATH = "/t/o/"
CLICK_PATH = "/t/c/"
OPT_OUT_PATH = "/t/u/"
UNDO_PATH = "/t/r/"


class TrackingLinks:
    def __init__(self, public_url: str, secret_key: str) -> None:
        self.public_url = public_url.rstrip("/")
        self._open = URLSafeSerializer(secret_key, salt="email-open")
        self._click = URLSafeSerializer(secret_key, salt="email-click")
        self._opt_out = URLSafeSerializer(secret_key, salt="email-opt-out")
        self._undo = URLSafeSerializer(secret_key, salt="email-opt-out-undo")
        # The pixel is checked on every hit: one signer, made once (loads() makes one per call).
        self._open_signer = self._open.make_signer()

    def pixel(self, send_id: int) -> str:
        return f"{self.public_url}{PIXEL_PATH}{self._open.dumps(send_id)}"

    def click(self, send_id: int, index: int) -> str:
        return f"{self.public_url}{CLICK_PATH}{self._click.dumps([send_id, index])}"

    def opt_out(self, send_id: int) -> str:
        return f"{self.public_url}{OPT_OUT_PATH}{self._opt_out.dumps(send_id)}"

    def undo(self, send_id: int) -> str:
        return f"{self.public_url}{UNDO_PATH}{self._undo.dumps(send_id)}"

    def pixel_send(self, token: str) -> int | None:
        """The send id of a pixel token: what `loads` gives, without its per-call costs."""
        if token.startswith("."):  # a compressed payload: only very long ids
            return _int(self._open, token)
        try:
            value = base64_decode(self._open_signer.unsign(token))
        except (BadData, binascii.Error, ValueError):
            return None
        return int(value) if value.isdigit() else None

    def opt_out_send(self, token: str) -> int | None:
        return _int(self._opt_out, token)

    def undo_send(self, token: str) -> int | None:
        return _int(self._undo, token)

    def click_target(self, token: str) -> tuple[int, int] | None:
        try:
            value = self._click.loads(token)
        except BadSignature:
            return None
        if (
            isinstance(value, list)
            and len(value) == 2
            and all(type(v) is int and v >= 0 for v in value)
        ):
            return value[0], value[1]
        return None


def _int(serializer: URLSafeSerializer, token: str) -> int | None:
    try:
        value = serializer.loads(token)
    except BadSignature:
        return None
    return value if type(value) is int else None
