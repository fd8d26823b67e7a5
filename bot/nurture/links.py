"""Signed tracking links of nurture emails: the open pixel, click redirects, opt-out and undo.

Tokens are signed with LEADBOT_SECRET_KEY (itsdangerous, as bot.public_links does), each kind with
its own salt, and carry the send id (and a click's link index): a click redirects only to the URL
stored for that send and index, so a tampered token opens nothing. They do not expire: an
opt-out link must keep working for as long as the email sits in a mailbox.
"""

from __future__ import annotations

import binascii
import hmac

from itsdangerous import BadData, BadSignature, URLSafeSerializer
from itsdangerous.encoding import base64_decode, base64_encode
from itsdangerous.signer import Signer

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
        # Each email signs four tokens: the keys are derived once (what dumps() does per call).
        self._keys = {
            kind: _signer_key(serializer.make_signer())
            for kind, serializer in (("open", self._open), ("click", self._click),
                                     ("opt_out", self._opt_out))
        }  # fmt: skip

    def pixel(self, send_id: int) -> str:
        return f"{self.public_url}{PIXEL_PATH}{self._sign('open', b'%d' % send_id)}"

    def click(self, send_id: int, index: int) -> str:
        return f"{self.public_url}{CLICK_PATH}{self._sign('click', b'[%d,%d]' % (send_id, index))}"

    def opt_out(self, send_id: int) -> str:
        return f"{self.public_url}{OPT_OUT_PATH}{self._sign('opt_out', b'%d' % send_id)}"

    def _sign(self, kind: str, payload: bytes) -> str:
        """The token `dumps` makes for a payload of plain integers (its compact JSON given): too
        short for the compression `dumps` tries, so only base64 and the HMAC-SHA1 remain."""
        value = base64_encode(payload)
        signature = base64_encode(hmac.digest(self._keys[kind], value, "sha1"))
        return (value + b"." + signature).decode("ascii")

    def undo(self, send_id: int) -> str:
        return f"{self.public_url}{UNDO_PATH}{self._undo.dumps(send_id)}"

    def pixel_send(self, token: str) -> int | None:
        """The send id of a pixel token: what `loads` gives, without its per-call costs."""
        if token.startswith("."):  # a compressed payload: only very long ids
            return _int(self._open, token)
        # Signer.unsign, with the key derived once: the pixel checks thousands a second.
        payload, dot, signature = token.encode("utf-8", "replace").rpartition(b".")
        try:
            if not dot or not hmac.compare_digest(
                hmac.digest(self._keys["open"], payload, "sha1"), base64_decode(signature)
            ):
                return None
            value = base64_decode(payload)
        except (BadData, binascii.Error, ValueError):
            return None
        return int(value) if value.isdigit() and value.isascii() else None

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


def _signer_key(signer: Signer) -> bytes:
    """The HMAC-SHA1 key itsdangerous derives for a signer (its default: SHA-1 HMAC)."""
    assert signer.algorithm.digest_method().name == "sha1"  # type: ignore[attr-defined]
    return signer.derive_key()
