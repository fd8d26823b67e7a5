"""What the SMTP listener knows of a mail before it answers: the Message-ID from the header
block, and the spool entry (storage/spool.py) it commits. Light on purpose: the listener's own
process imports this, not the pipeline."""

from __future__ import annotations

from email.parser import BytesHeaderParser
from email.policy import compat32

from storage.spool import Entry
from storage.text import storable

_header_parser = BytesHeaderParser(policy=compat32)


def message_id_of(raw: bytes) -> str | None:
    """The Message-ID header, read from the header block only (cheap enough for the SMTP path)."""
    head, _, _ = raw.partition(b"\r\n\r\n") if b"\r\n\r\n" in raw else raw.partition(b"\n\n")
    try:
        value = _header_parser.parsebytes(head).get("Message-ID")
    except Exception:  # a broken header block is the pipeline's problem, not the listener's
        return None
    if not value:
        return None
    # NUL (and undecodable bytes) in the header: PostgreSQL would refuse the row and the SMTP
    # answer would be 451 for as long as the sender retries.
    value = storable("".join(str(value).split()))
    return value[:995] or None


def spool_entry(raw: bytes, *, channel: str, mail_from: str, rcpt_tos: list[str]) -> Entry:
    """What the SMTP listener spools, with what the inbox row will carry."""
    return Entry(
        channel,
        raw,
        {
            "channel": channel,
            "mail_from": storable(mail_from),
            "rcpt_tos": [storable(rcpt) for rcpt in rcpt_tos],
            "message_id": message_id_of(raw),
        },
    )
