"""Raw bytes → InboundMail, with mail-parser.

This is the only module that knows mail-parser. It raises `UndecodableMail` when the parser
gives up, so the pipeline can quarantine the message with the parser's own error.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import contextlib
import email.errors
import email.header
import email.utils
import logging
import quopri
import re
from email.message import Message

import mailparser

from bot.mail_in.message import Attachment, InboundMail, MailPart
from storage.text import storable

# mail-parser logs a warning for every part type it does not turn into text (delivery reports,
# attached headers); we read those parts ourselves below, so its warnings are noise.
logging.getLogger("mailparser").setLevel(logging.ERROR)

MAX_PART_CHARS = 200_000


class UndecodableMail(Exception):
    """The message could not be parsed at all; the text says why."""


def decode_mail(
    raw: bytes, envelope_sender: str = "", envelope_recipients: tuple[str, ...] = ()
) -> InboundMail:
    try:
        parsed = mailparser.parse_from_bytes(raw)
        message: Message = parsed.message
        declared = _declared_charset(message)
        headers = _headers_of(message, declared)
        subject = _first_text(parsed.subject)
        parsed_from = parsed.from_
        if _is_8bit(message.get("Subject")):  # mail-parser drops what it cannot decode
            subject = headers.get("subject", ("",))[0]
        raw_subject = message.get("Subject")
        if isinstance(raw_subject, str) and "=?" in raw_subject and not _is_8bit(raw_subject):
            # Encoded-words read one by one: a broken or unknown-charset word keeps the rest.
            subject = readable_encoded_words(raw_subject)
        if _is_8bit(message.get("From")):
            parsed_from = email.utils.getaddresses(list(headers.get("from", ())))
        from_name, from_address = _first_address(parsed_from, headers.get("from", ()))
        return InboundMail(
            message_id=_clean_id(parsed.message_id),
            subject=subject,
            from_name=from_name,
            from_address=from_address,
            to=tuple(_no_nul(addr) for _, addr in parsed.to if addr),
            cc=tuple(_no_nul(addr) for _, addr in parsed.cc if addr),
            envelope_sender=envelope_sender,
            envelope_recipients=envelope_recipients,
            in_reply_to=_clean_id(message.get("In-Reply-To")),
            references=tuple(_ids(message.get_all("References") or [])),
            headers=headers,
            content_type=message.get_content_type(),
            text=_no_nul("\n".join(parsed.text_plain)).strip(),
            html=_no_nul("\n".join(parsed.text_html)).strip(),
            parts=tuple(_leaf_parts(message)),
            attachments=tuple(_attachments(message)),
        )
    except UndecodableMail:
        raise
    except Exception as exc:  # mail-parser raises many kinds on real mail
        raise UndecodableMail(f"{type(exc).__name__}: {exc}") from exc


def _first_text(value: object) -> str:
    """mail-parser gives a list for a repeated header (two Subject lines); the first one counts."""
    if isinstance(value, list):
        value = value[0] if value else ""
    return " ".join(_no_nul(str(value or "")).split())


def _headers_of(message: Message, declared: str | None = None) -> dict[str, tuple[str, ...]]:
    headers: dict[str, list[str]] = {}
    for name, value in message.items():
        headers.setdefault(name.lower(), []).append(_header_text(value, declared))
    return {name: tuple(values) for name, values in headers.items()}


def _header_text(value: object, declared: str | None = None) -> str:
    text = _text_of_8bit_header(value, declared) if _is_8bit(value) else str(value)
    if "=?" in text:
        with contextlib.suppress(UnicodeError, LookupError, email.errors.HeaderParseError):
            text = str(email.header.make_header(email.header.decode_header(text)))
    return " ".join(_no_nul(text).split())


def _is_8bit(value: object) -> bool:
    """A header holding raw 8-bit bytes (no RFC 2047 encoding): the parser keeps them as a Header
    of charset unknown-8bit, or as surrogate escapes in a str."""
    if isinstance(value, email.header.Header):
        return any(charset == "unknown-8bit" for _, charset in email.header.decode_header(value))
    return isinstance(value, str) and any("\udc80" <= char <= "\udcff" for char in value)


def _text_of_8bit_header(value: object, declared: str | None) -> str:
    """The header's text, its raw 8-bit runs decoded as UTF-8 (RFC 6532), else the charset the
    message declares, else Windows-1252, else Latin-1 (which takes any byte): a Latin-1 name
    survives instead of being dropped, and the mail is never refused for it."""
    if isinstance(value, email.header.Header):
        chunks = email.header.decode_header(value)
    else:
        chunks = [(str(value).encode("ascii", "surrogateescape"), "unknown-8bit")]
    pieces: list[tuple[str, str | None]] = []
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            pieces.append((chunk, None))
        elif charset in (None, "unknown-8bit"):
            pieces.append((decode_8bit(chunk, declared), None))
        else:
            pieces.append((chunk.decode(_known(charset) or "latin-1", errors="replace"), None))
    return "".join(piece for piece, _ in pieces)


def decode_8bit(data: bytes, declared: str | None = None) -> str:
    """Bytes of unknown charset as text: UTF-8, the declared charset, Windows-1252, Latin-1."""
    for charset in ("utf-8", _known(declared), "cp1252"):
        if charset:
            try:
                return data.decode(charset)
            except UnicodeDecodeError:
                continue
    return data.decode("latin-1")


def _known(charset: str | None) -> str | None:
    if not charset:
        return None
    try:
        return codecs.lookup(charset).name
    except LookupError:
        return None


def _declared_charset(message: Message) -> str | None:
    """The charset the message declares for its text (the first text part's, or the top's)."""
    for part in message.walk():
        if part.get_content_maintype() == "text" and part.get_content_charset():
            return part.get_content_charset()
    return message.get_content_charset()


def _no_nul(text: str) -> str:
    """What PostgreSQL refuses never reaches the domain: NUL (it means nothing in mail) and the
    surrogates left of undecodable bytes (storage.text)."""
    return storable(text)


def _first_address(
    parsed_from: list[tuple[str, str]], raw_from: tuple[str, ...]
) -> tuple[str, str]:
    for name, address in parsed_from:
        if address:
            return _no_nul(name).strip(), _no_nul(address).strip()
    # mail-parser drops addresses without a domain ("MAILER-DAEMON"); keep what the header says.
    for value in raw_from:
        name, address = email.utils.parseaddr(_no_nul(value))
        if name or address:
            return name.strip(), address.strip()
    return "", ""


def _clean_id(value: object) -> str | None:
    if not value:
        return None
    found = _ids([str(value)])
    return found[0] if found else None


def _ids(values: list[str]) -> list[str]:
    ids: list[str] = []
    for value in values:
        for token in _no_nul(str(value)).replace(",", " ").split():
            token = token.strip()
            if token.startswith("<") and token.endswith(">") and len(token) > 2:
                ids.append(token)
            elif "@" in token and "<" not in token and ">" not in token:
                ids.append(f"<{token}>")
    return ids


def _leaf_parts(message: Message) -> list[MailPart]:
    """Every leaf as text; message/* parts (delivery-status, rfc822) as their header blocks."""
    parts: list[MailPart] = []
    for part in message.walk():
        ctype = part.get_content_type()
        if part.is_multipart() and not ctype.startswith("message/"):
            continue
        if ctype.startswith("message/") or ctype == "text/rfc822-headers":
            payload = part.get_payload()
            if isinstance(payload, list):
                text = "\n".join(_message_headers_text(sub) for sub in payload)
            else:
                text = _decoded_payload(part)
        elif ctype.startswith("text/"):
            text = _decoded_payload(part)
        else:
            continue
        parts.append(MailPart(ctype, _no_nul(text[:MAX_PART_CHARS])))
    return parts


_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_BETWEEN_WORDS = re.compile(r"(?<=\?=)\s+(?==\?)")
MAX_ATTACHMENTS = 50


def readable_encoded_words(text: str) -> str:
    """RFC 2047 words decoded one by one and forgivingly: bad base64 padding is padded, an
    unknown charset is read as 8-bit text, a word that still cannot be read stays as written.
    Used when the strict decoder gave up, so a subject with one broken word keeps the rest."""

    def word(found: re.Match[str]) -> str:
        charset, encoding, payload = found.group(1), found.group(2).lower(), found.group(3)
        try:
            if encoding == "b":
                payload = payload.rstrip("=")
                payload = payload[: len(payload) - 1] if len(payload) % 4 == 1 else payload
                raw = base64.b64decode(payload + "=" * (-len(payload) % 4))
            else:
                raw = quopri.decodestring(payload.replace("_", " ").encode("ascii"), header=True)
        except (ValueError, binascii.Error, UnicodeError):
            return found.group(0)
        known = _known(charset.split("*")[0])
        return raw.decode(known, errors="replace") if known else decode_8bit(raw)

    return " ".join(_no_nul(_ENCODED_WORD.sub(word, _BETWEEN_WORDS.sub("", text))).split())


def _attachments(message: Message) -> list[Attachment]:
    """Files sent with the mail (a named part, or one marked as an attachment): name, type and
    decoded size, for the timeline; the content is not kept."""
    found: list[Attachment] = []
    for part in message.walk():
        if part.is_multipart() or len(found) >= MAX_ATTACHMENTS:
            continue
        name = part.get_filename()
        if not name and part.get_content_disposition() != "attachment":
            continue
        payload = part.get_payload(decode=True)
        size = len(payload) if isinstance(payload, bytes) else len(str(part.get_payload()))
        shown = " ".join(_no_nul(_header_text(name or "unnamed")).split())[:200]
        found.append(Attachment(shown, part.get_content_type(), size))
    return found


def _message_headers_text(sub: object) -> str:
    if isinstance(sub, Message):
        return "\n".join(f"{k}: {_header_text(v)}" for k, v in sub.items())
    return str(sub)


def _decoded_payload(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if payload is None:
        raw = part.get_payload()
        return raw if isinstance(raw, str) else ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("utf-8", errors="replace")
