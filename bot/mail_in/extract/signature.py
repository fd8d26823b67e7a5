"""The signature: where it starts under the new text of a mail, and what its lines say.

`split_signature` finds the start from the end of the message: a "-- " delimiter, a closing
("Best regards,") with a few short lines under it, a block that opens with the sender's name, or
device boilerplate ("Sent from my iPhone"), whichever starts first. `read_signature` then reads
it line by line into a name, title, company, phone and website, each with its line number, so
the lead's reasons can say where a field came from. email_reply_parser's own "--" rule is not
used: measured on the shared corpora, it took most of a body with "-- " list items.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.mail_in.extract.names import (
    COMPANY_SUFFIX,
    TITLE,
    is_title_case,
    looks_like_name,
    split_person_name,
)
from bot.mail_in.extract.phones import FAX_LABEL, PHONE_LABEL, find_phone, looks_like_phone
from bot.mail_in.extract.text import strip_blank_edges

# A closing ("Best regards,") starts a signature only when at most this many short lines follow.
MAX_SIGNATURE_LINES = 8
MAX_SIGNATURE_LINE_CHARS = 80
# A "-- " delimiter further from the end than this many lines is a list item, not a signature.
MAX_DELIMITED_SIGNATURE_LINES = 20

_CLOSING_WORDS = (
    r"(?:(?:best|kind|warm|warmest|kindest|many|with\s+(?:best|kind|warm)|best\s+personal)\s+)?"
    r"(?:regards|wishes)"
    r"|all\s+the\s+best|best|cheers|thx|ta|many\s+thanks|thanks\s+(?:again|a\s+lot|so\s+much|"
    r"in\s+advance)|thanks|thank\s+you(?:\s+(?:again|so\s+much|in\s+advance))?"
    r"|sincerely(?:\s+yours)?|yours(?:\s+(?:sincerely|truly|faithfully))?|respectfully"
    r"|take\s+care|talk\s+soon|speak\s+soon|have\s+a\s+(?:great|good|nice)\s+(?:day|week|weekend)"
    r"|mit\s+freundlichen\s+grü(?:ß|ss)en|freundliche\s+grü(?:ß|ss)e|viele\s+grü(?:ß|ss)e"
    r"|beste\s+grü(?:ß|ss)e|liebe\s+grü(?:ß|ss)e|herzliche\s+grü(?:ß|ss)e|gruß|grüße|mfg|lg"
    r"|cordialement|bien\s+cordialement|bien\s+à\s+vous|salutations(?:\s+distinguées)?"
    r"|sinc[eè]res\s+salutations|amicalement|bonne\s+journée"
    r"|saludos(?:\s+cordiales)?|un\s+saludo|atentamente|cordialmente|abrazos"
    r"|cumprimentos|atenciosamente|cordiali\s+saluti|distinti\s+saluti|saluti"
    r"|met\s+vriendelijke\s+groet(?:en)?|vriendelijke\s+groet(?:en)?|groeten|mvg"
    r"|med\s+vänlig\s+hälsning|vänliga\s+hälsningar|hälsningar|med\s+venlig\s+hilsen|hilsen|mvh"
    r"|с\s+уважением|pozdrawiam|z\s+poważaniem|s\s+pozdravem"  # noqa: RUF001
)
_CLOSING = re.compile(rf"^(?:{_CLOSING_WORDS})\s*[,.!:;\u2013-]*\s*(?P<rest>.*)$", re.IGNORECASE)
# Device boilerplate: a signature without a name in it.
_DEVICE = re.compile(
    r"^(?:(?:sent|envoyé|envoye|gesendet|enviado|inviato|verzonden|skickat|sendt|wysłane|"
    r"отправлено)\s+(?:from|with|via|using|von|de|desde|da|met|mit|från|fra|z|с|из)\s+"  # noqa: RUF001
    r"[\w\s.&'\u2019()/:?=+-]{1,60}"
    r"|(?:von\s+meinem|envoyé\s+de\s+mon|enviado\s+desde\s+mi|inviato\s+da|verzonden\s+vanaf|"
    r"get\s+outlook\s+for)\s+[\w\s.&'\u2019()-]{1,40}"
    r"|(?:via|from)\s+(?:mobile|phone|my\s+phone|iphone|ipad|android|blackberry))$",
    re.IGNORECASE,
)
_DEVICE_MAX_WORDS = 8
_DELIMITER = re.compile(r"^--\s*$")
_RULE = re.compile(r"^[-_=*~]{4,}$")

# Patterns over outside text stay linear: a run (of spaces, of letters) is tried from its first
# character only (the look-behind), not again from each character inside it, which made a line
# of 20,000 spaces take 16 s. The leftmost match of each starts there anyway, so what they find
# is unchanged; tests/hostile/ holds the pathological inputs.
_EMAIL = re.compile(r"(?<![\w.+'-])[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
_URL = re.compile(
    r"(?:https?://|www\.)[^\s<>()\"']+"
    r"|\b[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*\.(?:com|net|org|io|co|ai|de|fr|uk|eu|app|dev|tech|"
    r"biz|info|us|ca|au|nl|es|it|ch|at|be|se|no|dk|fi|pl|cz|in|jp|br|mx)\b(?:/[^\s<>()\"']*)?",
    re.IGNORECASE,
)
_SOCIAL_HOSTS = (
    "linkedin.", "twitter.", "x.com", "facebook.", "instagram.", "youtube.", "calendly.",
    "github.com", "t.co", "bit.ly", "skype.", "wa.me", "xing.", "tiktok.",
)  # fmt: skip
_CONTACT_LABEL = re.compile(r"^[^\W\d][\w .'/-]{0,18}:\s*\S")
_ADDRESS = re.compile(
    r"(?i:\b(?:street|st\.|str\.|straße|strasse|avenue|ave\.?|road|rd\.|boulevard|blvd\.?|"
    r"suite|ste\.|floor|fl\.|lane|drive|parkway|pkwy|highway|hwy|place|square|"
    r"rue|allée|avenida|calle|via|viale|piazza|plaza|platz|weg|allee|gasse|damm|ufer|"
    r"straat|laan|gracht|plein|p\.?\s?o\.?\s?box|postfach|cedex)\b)"
    r"|[a-zäöüß](?:straße|strasse|str\.|weg|platz|allee|gasse|ring|damm)\s*\d"
    r"|\b[A-Z]{1,2}\d[A-Z\d]?\s\d[A-Z]{2}\b"  # UK postcode
    r"|\b[A-Z]{2}\s+\d{5}(?:-\d{4})?\b"  # US state + ZIP
    r"|(?:^|,\s*)(?:[A-Z]{1,2}-)?\d{4,5}\s+\w{3,}"  # "10115 Berlin", "F-75001 Paris"
)
_MARKUP_EDGE = re.compile(r"[*_\s]+")
_SEGMENT_SPLIT = re.compile(r"(?<!\s)\s+[|•·]\s+|(?<!\s)\s*\|\s*")
# A signature line longer than this is not a signature line; the rest of it is not read.
MAX_LINE_CHARS = 1_000


def _strip_markup(line: str) -> str:
    """The line without `*`, `_` and white space at its edges, in linear time: the trailing edge
    is matched on the reversed line (a pattern anchored at `$` tried every position of a run)."""
    line = line[:MAX_LINE_CHARS]
    start = _MARKUP_EDGE.match(line)
    if start:
        line = line[start.end() :]
    end = _MARKUP_EDGE.match(line[::-1])
    return line[: len(line) - end.end()] if end else line


def split_signature(lines: list[str], sender_name: str) -> tuple[str, str]:
    """(new text, signature) of the lines left once quoted history is cut."""
    while lines and (_RULE.match(lines[-1].strip()) or _DELIMITER.match(lines[-1].strip())):
        lines = strip_blank_edges(lines[:-1])
    start = _signature_start(lines, sender_name)
    if start is None:
        return "\n".join(lines), ""
    body = strip_blank_edges(lines[:start])
    signature_lines = strip_blank_edges(lines[start:])
    if signature_lines and _DELIMITER.match(signature_lines[0].strip()):
        signature_lines = strip_blank_edges(signature_lines[1:])
    return "\n".join(body), "\n".join(signature_lines)


# ---------------------------------------------------------------------------------------------
# Where the signature starts
# ---------------------------------------------------------------------------------------------


def _signature_start(lines: list[str], sender_name: str) -> int | None:
    non_blank = [index for index, line in enumerate(lines) if line.strip()]
    if not non_blank:
        return None
    candidates = [
        start
        for start in (
            _delimiter_start(lines, non_blank),
            _closing_start(lines, non_blank),
            _name_block_start(lines, non_blank, sender_name),
            _device_start(lines, non_blank),
        )
        if start is not None
    ]
    return min(candidates) if candidates else None


def _lines_after(lines: list[str], non_blank: list[int], start: int) -> list[str]:
    return [lines[index].strip() for index in non_blank if index > start]


def _is_short_block(block: list[str], limit: int = MAX_SIGNATURE_LINES) -> bool:
    return len(block) <= limit and all(not _is_prose(line) for line in block)


def _is_prose(line: str) -> bool:
    """A sentence of the message rather than a signature line."""
    if len(line) > MAX_SIGNATURE_LINE_CHARS:
        return True
    if _EMAIL.search(line) or _URL.search(line) or _DEVICE.match(line):
        return False
    words = line.split()
    if line.endswith("?") or len(words) > 12:
        return True
    return line.endswith(".") and len(words) >= 6 and not COMPANY_SUFFIX.search(line)


def _delimiter_start(lines: list[str], non_blank: list[int]) -> int | None:
    for index in non_blank[-MAX_DELIMITED_SIGNATURE_LINES - 1 :]:
        stripped = lines[index].strip()
        if _DELIMITER.match(stripped) and index != non_blank[0]:
            return index
        if _RULE.match(stripped) and index != non_blank[0]:
            block = _lines_after(lines, non_blank, index)
            if (
                block
                and len(block) <= 12
                and all(len(line) <= MAX_SIGNATURE_LINE_CHARS for line in block)
                and any(_is_contact_line(line) for line in block)
            ):
                return index
    return None


def _closing_start(lines: list[str], non_blank: list[int]) -> int | None:
    for position, index in enumerate(non_blank):
        if len(non_blank) - position - 1 > MAX_SIGNATURE_LINES:
            continue
        stripped = _strip_markup(lines[index])
        match = _CLOSING.match(stripped)
        if not match or len(stripped) > 60:
            continue
        rest = match.group("rest").strip()
        if rest and not looks_like_name(rest, allow_single=True):
            continue
        block = _lines_after(lines, non_blank, index)
        if not block and not rest:
            continue  # "Thanks!" as the last line is the message, not a signature
        if not _is_short_block(block):
            continue
        if block and not rest and not _could_sign(block[0]):
            continue  # "Thanks\n\nWe want 5 licences": the message goes on
        if position == 0:
            continue  # nothing above: the closing is the whole message
        return index
    return None


def _could_sign(line: str) -> bool:
    """The first line under a closing: a name, "The Acme Team", a contact line."""
    stripped = _strip_markup(line)
    first_segment = re.sub(r"^[-\u2013\u2014]\s?", "", _SEGMENT_SPLIT.split(stripped)[0])
    return (
        looks_like_name(first_segment, allow_single=True)
        or is_title_case(first_segment)
        or _is_contact_line(stripped)
    )


def _device_start(lines: list[str], non_blank: list[int]) -> int | None:
    last = non_blank[-1]
    stripped = lines[last].strip()
    if last != non_blank[0] and _is_device(stripped):
        return last
    return None


def _is_device(line: str) -> bool:
    return bool(_DEVICE.match(line)) and len(line.split()) <= _DEVICE_MAX_WORDS


def _name_block_start(lines: list[str], non_blank: list[int], sender_name: str) -> int | None:
    """A trailing block that opens with a person's name: "Jane Doe\\nCEO\\n+1 …"."""
    sender_words = {word.lower() for word in re.findall(r"[^\W\d_]{2,}", sender_name)}
    for position, index in enumerate(non_blank):
        if position == 0 or len(non_blank) - position - 1 > MAX_SIGNATURE_LINES:
            continue
        if lines[index - 1].strip() and not _CLOSING.match(lines[index - 1].strip()):
            continue  # a signature name starts its own paragraph
        line = _strip_markup(lines[index])
        first_segment = _SEGMENT_SPLIT.split(line)[0].strip()
        dashed = bool(re.match(r"^[-\u2013\u2014]\s?\w", first_segment))
        candidate = re.sub(r"^[-\u2013\u2014]\s?", "", first_segment)
        line_words = {word.lower() for word in re.findall(r"[^\W\d_]{2,}", candidate)}
        is_sender = bool(sender_words) and bool(line_words) and line_words <= sender_words
        if not (is_sender or looks_like_name(candidate, allow_single=dashed)):
            continue
        block = _lines_after(lines, non_blank, index)
        if not _is_short_block(block):
            continue
        if is_sender or dashed or any(_is_contact_line(line) for line in block):
            return index
    return None


def _is_contact_line(line: str) -> bool:
    """A line that only a signature has: email, phone, URL, job title, company, address."""
    stripped = _strip_markup(line)
    return bool(
        _EMAIL.search(stripped)
        or _URL.search(stripped)
        or looks_like_phone(stripped)
        or TITLE.search(stripped)
        or COMPANY_SUFFIX.search(stripped)
        or _ADDRESS.search(stripped)
        or _is_device(stripped)
    )


# ---------------------------------------------------------------------------------------------
# Reading the signature
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignatureFields:
    """Fields found in a signature, each with its 1-based line number there."""

    name: tuple[tuple[str, str], int] | None = None
    title: tuple[str, int] | None = None
    company: tuple[str, int] | None = None
    phone: tuple[str, int] | None = None
    website: tuple[str, int] | None = None


def read_signature(signature: str, region: str | None, sender_name: str) -> SignatureFields:
    if not signature:
        return SignatureFields()
    lines = [line.strip() for line in signature.split("\n") if line.strip()]
    name: tuple[tuple[str, str], int] | None = None
    title: tuple[str, int] | None = None
    company: tuple[str, int] | None = None
    website: tuple[str, int] | None = None
    plain: list[tuple[str, int]] = []  # lines that are none of the above, for the company
    after_closing = False
    for line_no, raw in enumerate(lines, start=1):
        line = _strip_markup(raw)
        closing = _CLOSING.match(line)
        if closing and len(line) <= 60:
            rest = closing.group("rest").strip()
            if rest and name is None and looks_like_name(rest, allow_single=True):
                name = (split_person_name(rest), line_no)
            after_closing = not rest
            continue
        if _is_device(line) or _DELIMITER.match(line) or _RULE.match(line):
            continue
        segments = [segment.strip() for segment in _SEGMENT_SPLIT.split(line) if segment.strip()]
        for segment in segments:
            segment = re.sub(r"^[-\u2013\u2014]\s?(?=\w)", "", segment)
            kind = _segment_kind(segment)
            if kind == "url" and website is None:
                url = _website_from(segment)
                if url:
                    website = (url, line_no)
            elif kind in {"email", "phone", "address", "contact", "url"}:
                continue
            elif (
                name is None
                and not plain
                and title is None
                and looks_like_name(
                    segment, allow_single=after_closing or _is_sender(segment, sender_name)
                )
            ):
                name = (split_person_name(segment), line_no)
            elif (
                name is None
                and "," in segment
                and title is None
                and (
                    looks_like_name(segment.split(",", 1)[0])
                    and TITLE.search(segment.split(",", 1)[1])
                )
            ):
                person, job = segment.split(",", 1)
                name = (split_person_name(person), line_no)
                title = (job.strip(), line_no)
            elif title is None and company is None and (pair := _title_and_company(segment)):
                title, company = (pair[0], line_no), (pair[1], line_no)
            elif kind == "company":
                if company is None:
                    company = (segment, line_no)
            elif kind == "title":
                if title is None:
                    title = (segment, line_no)
            else:
                plain.append((segment, line_no))
        after_closing = False
    if company is None and (name is not None or title is not None):
        anchor = max(found[1] for found in (name, title) if found is not None)
        for segment, line_no in plain:
            if line_no >= anchor and _could_be_company(segment, sender_name):
                company = (segment, line_no)
                break
    return SignatureFields(
        name=name,
        title=title,
        company=company,
        phone=_signature_phone(lines, region),
        website=website,
    )


_TITLE_AT_COMPANY = re.compile(
    r"^(?P<title>.+?)(?:(?<!\s)\s*,\s*|(?<!\s)\s+(?:at|@)\s+)(?P<company>.+)$"
)


def _title_and_company(segment: str) -> tuple[str, str] | None:
    """One line holding both: "VP Sales, Acme Inc." or "Head of Sales at Acme Robotics".

    After a comma the company needs a legal suffix ("Head of Sales, EMEA" is a title alone);
    after "at"/"@" a capitalised name is enough.
    """
    match = _TITLE_AT_COMPANY.match(segment)
    if not match or not TITLE.search(match.group("title")):
        return None
    job, firm = match.group("title").strip(), match.group("company").strip()
    if TITLE.search(firm) or len(firm) > 60:
        return None
    by_comma = "," in segment[: match.start("company")]
    if by_comma and not COMPANY_SUFFIX.search(firm):
        return None
    if not by_comma and not firm[:1].isupper():
        return None
    return job, firm


def _is_sender(segment: str, sender_name: str) -> bool:
    words = {word.lower() for word in re.findall(r"[^\W\d_]{2,}", segment)}
    sender = {word.lower() for word in re.findall(r"[^\W\d_]{2,}", sender_name)}
    return bool(words) and words <= sender


def _segment_kind(segment: str) -> str:
    if _EMAIL.fullmatch(segment) or (_EMAIL.search(segment) and len(segment.split()) <= 3):
        return "email"
    if looks_like_phone(segment):
        return "phone"
    url = _URL.search(segment)
    if url and len(segment.split()) <= 3:
        return "url"
    if COMPANY_SUFFIX.search(segment) and not _ADDRESS.search(segment):
        return "company"
    if _ADDRESS.search(segment):
        return "address"
    if TITLE.search(segment) and len(segment) <= MAX_SIGNATURE_LINE_CHARS:
        return "title"
    if _CONTACT_LABEL.match(segment):
        return "contact"
    return "other"


def _could_be_company(segment: str, sender_name: str) -> bool:
    if segment.endswith((".", "!", "?", ",", ":")) or _is_sender(segment, sender_name):
        return False
    return is_title_case(segment)


def _website_from(segment: str) -> str:
    for match in _URL.finditer(segment):
        url = match.group(0).rstrip(".,;:!?/")
        host = re.sub(r"^https?://", "", url, flags=re.IGNORECASE).split("/", 1)[0].lower()
        if "@" in url or any(social in host for social in _SOCIAL_HOSTS):
            continue
        if not re.match(r"^https?://", url, flags=re.IGNORECASE):
            url = f"https://{url}"
        return url
    return ""


def _signature_phone(lines: list[str], region: str | None) -> tuple[str, int] | None:
    """First non-fax phone: E.164 when phonenumbers can parse it, else the text as written."""
    fallback: tuple[str, int] | None = None
    for line_no, raw in enumerate(lines, start=1):
        if sum(ch.isdigit() for ch in raw) < 7:
            continue
        for segment in _SEGMENT_SPLIT.split(_strip_markup(raw)):
            segment = segment.strip()
            if FAX_LABEL.match(segment) or sum(ch.isdigit() for ch in segment) < 7:
                continue
            found = find_phone(segment, region, strict=False)
            if found:
                return found, line_no
            if fallback is None and looks_like_phone(segment):
                fallback = (PHONE_LABEL.sub("", segment, count=1).strip(), line_no)
    return fallback
