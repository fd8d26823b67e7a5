"""Phone numbers: in a signature line or the message body, as E.164 where phonenumbers can.

A national number needs a region to be read ("07700 900123" is British), and the only hint a mail
gives is the sender's country domain: `phone_region` maps it, leaving out the ccTLDs used as
generic names (.io, .co, …). Only lines a person could have written, with a run of digits in
them, are handed to phonenumbers: base64 and tables are neither.
"""

from __future__ import annotations

import re

import phonenumbers

from bot.mail_in.extract.text import MAX_ENQUIRY_CHARS

# Lines worth handing to phonenumbers: a run of 7+ digits with phone punctuation, in a line
# short enough to be written by a person (base64 and tables are neither).
_PHONE_RUN = re.compile(r"\+?\d(?:[\s().\-/]{0,3}\d){6,}")
_PHONE_LINE_MAX_CHARS = 160
_PHONE_MAX_LINES = 20
_PHONE_CHARS = re.compile(r"^[\d\s()+./-]{7,}$")
PHONE_LABEL = re.compile(
    r"^(?:tel|tél|phone|ph|t|m|mob|mobile|cell|c|direct|d|office|o|work|w|main|telefon|"
    r"telephone|téléphone|teléfono|telefono|handy|mobil|portable|fon)\.?\s*[:.]?\s*",
    re.IGNORECASE,
)
FAX_LABEL = re.compile(r"^(?:f|fax|telefax)\b\.?\s*[:.]?", re.IGNORECASE)

# ccTLDs used as generic names: they say nothing about where a sender's phone is.
_VANITY_TLDS = frozenset(
    {"io", "co", "ai", "me", "tv", "ly", "fm", "gg", "to", "cc", "ws", "sh", "la", "ac",
     "so", "vc", "gl", "am", "sx", "st", "nu", "tk", "ml", "ga", "cf", "gq", "eu", "su",
     "bz", "gd", "ms", "is", "im", "id", "it"}
)  # fmt: skip
_TLD_REGIONS = {"uk": "GB"}


def looks_like_phone(segment: str) -> bool:
    """A segment that is only a number, perhaps labelled ("Tel: …", "Fax …"), of phone length."""
    text = FAX_LABEL.sub("", segment) if FAX_LABEL.match(segment) else segment
    text = PHONE_LABEL.sub("", text, count=1)
    digits = sum(ch.isdigit() for ch in text)
    return 7 <= digits <= 16 and bool(_PHONE_CHARS.match(text.strip()))


def find_phone(text: str, region: str | None, strict: bool) -> str:
    """First phone number in the text, as E.164. `strict` wants a valid number (body text)."""
    lines = [
        line
        for line in text[:MAX_ENQUIRY_CHARS].split("\n")
        if len(line) <= _PHONE_LINE_MAX_CHARS and _PHONE_RUN.search(line)
    ]
    if not lines:
        return ""
    candidates = "\n".join(lines[:_PHONE_MAX_LINES])
    leniency = phonenumbers.Leniency.VALID if strict else phonenumbers.Leniency.POSSIBLE
    for match in phonenumbers.PhoneNumberMatcher(candidates, region, leniency=leniency):
        return phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
    return ""


def phone_region(domain: str) -> str | None:
    """Default phone region from a country TLD ("acme.co.uk" -> "GB"); None for .com, .io, …"""
    tld = domain.rpartition(".")[2].lower()
    if len(tld) != 2 or tld in _VANITY_TLDS:
        return None
    region = _TLD_REGIONS.get(tld, tld.upper())
    return region if region in phonenumbers.SUPPORTED_REGIONS else None
