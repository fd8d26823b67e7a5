"""Quoted history and reply headers: what of a reply is new text.

`new_text_lines` cuts quoted history ("On … wrote:", "-----Original Message-----", Outlook
"From:/Sent:" blocks, their French, German, Spanish, … forms, `>` quotes, mailing-list footers)
so that what is left is what the sender wrote now; the signature is split off that afterwards
(bot/mail_in/extract/signature.py).

email_reply_parser does the `>`-quote fragmenting. Its other rules are not used, for reasons
measured on the shared corpora: its one-line header rule ("Subject: …" anywhere) hides the rest
of a contact-form mail, and its multi-line "On … wrote:" regex takes seconds on a 20 KB text
with many sentences starting with "On" — so that regex is switched off here and multi-line
attributions are our own rule.
"""

from __future__ import annotations

import re

from email_reply_parser import EmailMessage

from bot.mail_in.extract.text import MAX_SCAN_CHARS, strip_blank_edges

_ORIGINAL_MESSAGE = re.compile(
    r"^[-_=*\s]{2,}\s*(original message|ursprüngliche nachricht|originalnachricht|"
    r"message d'origine|mensaje original|messaggio originale|oorspronkelijk bericht|"
    r"originalmeddelande|opprinnelig melding|oprindelig meddelelse|alkuperäinen viesti|"
    r"wiadomość oryginalna|původní zpráva|исходное сообщение|mensagem original)\s*[-_=*\s]{2,}$",
    re.IGNORECASE,
)
_FORWARDED = re.compile(
    r"(forwarded message|begin forwarded message|weitergeleitete nachricht|message transféré|"
    r"mensaje reenviado|messaggio inoltrato|doorgestuurd bericht|mensagem encaminhada)",
    re.IGNORECASE,
)
_MAILING_LIST_RULE = re.compile(r"^_{10,}\s*$")
_MAILING_LIST = re.compile(r"mailing list|mailman/listinfo|unsubscribe", re.IGNORECASE)

# Outlook-style header blocks: "From: …" followed by "Sent:"/"Date:" and "To:"/"Subject:".
_HEADER_FROM = re.compile(
    r"^[*\s]*(from|von|de|da|van|från|fra|od|от|lähettäjä|feladó|kimden)\s*:[*\s]*\S",
    re.IGNORECASE,
)
_HEADER_SENT = re.compile(
    r"^[*\s]*(sent|date|gesendet|datum|envoyé|envoye|enviado|enviado el|fecha|inviato|data|"
    r"verzonden|skickat|sendt|отправлено|дата|wysłano|lähetetty|odesláno|gönderildi|tarih)"
    r"\s*:",
    re.IGNORECASE,
)
_HEADER_TO_SUBJECT = re.compile(
    r"^[*\s]*(to|cc|subject|an|betreff|à|a|objet|para|asunto|oggetto|aan|onderwerp|till|"
    r"ämne|til|emne|кому|тема|do|temat|vastaanottaja|aihe|komu|předmět|kime|konu)\s*:",
    re.IGNORECASE,
)

# Attribution lines above a quote, in up to three lines: "On Mon, Jan 5, 2026 at 10:00 AM Bob
# <bob@x.com> wrote:", "Le lun. 5 janv. 2026 à 10:00, Bob a écrit :", "Am 05.01.2026 um 10:00
# schrieb Bob <bob@x.com>:", "02.04.2012 14:20 пользователь bob написал:".
_ATTRIBUTION_TAIL = re.compile(
    r"(\b(wrote|writes|a écrit|a ecrit|escribió|escribio|ha scritto|scrisse|escreveu|"
    r"geschrieben|geschreven|napisał|napisala|napisał\(a\)|napsal|pisze|kirjoitti|írta|yazdı|"  # noqa: RUF001
    r"έγραψε)|(написал|написала|написал\(а\)|пишет))\s*:\s*$"  # noqa: RUF001
    r"|\b(schrieb|schreef|skrev|skriver)\b.{0,160}:\s*$",
    re.IGNORECASE,
)
_ATTRIBUTION_HEAD = re.compile(
    r"^(on|le|am|el|il|op|em|w dniu|den|dne|på|d\.|quoting|zitat von)\b|^\d", re.IGNORECASE
)
# No verb, just a date and the address: "26.06.2014, 14:41, "Alexander L" <abc@example.com>:".
_ATTRIBUTION_DATED_ADDRESS = re.compile(
    r"\d{1,2}:\d{2}\b.*[\w.+-]+@[\w-]+(?:\.[\w-]+)+>?\)?\s*:\s*$"
)
_ATTRIBUTION_MAX_CHARS = 400
_INDENTED_QUOTE = re.compile(r"^[ \t]{1,4}>")


def new_text_lines(text: str) -> list[str]:
    """The lines of a reply without its quoted history, blank lines at either end trimmed."""
    lines = _normalised_lines(text)
    lines = _cut_history(lines)
    lines = _drop_quoted(lines)
    return strip_blank_edges(lines)


class _QuoteFragments(EmailMessage):
    """email_reply_parser's fragmenter without its multi-line "On … wrote:" regex.

    That regex (`(?!On.*On\\s.+?wrote:)(On\\s(.+?)wrote:)`, DOTALL) backtracks badly: 24 s on a
    20 KB text with many sentences starting "On". `_cut_history` handles those headers first.
    """

    MULTI_QUOTE_HDR_REGEX_MULTILINE = re.compile(r"(?!)")


def _normalised_lines(text: str) -> list[str]:
    text = text[:MAX_SCAN_CHARS].replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\u00a0", " ").replace("\u200b", "").replace("\ufeff", "")
    # " > quoted" (indented by some clients) counts as quoted, as "> quoted" does.
    return [_INDENTED_QUOTE.sub(">", line.rstrip()) for line in text.split("\n")]


def _is_quoted(line: str) -> bool:
    return line.startswith(">")


def _cut_history(lines: list[str]) -> list[str]:
    """Drop quoted history that `>` does not mark, and attribution lines above `>` quotes."""
    out = list(lines)
    i = 0
    while i < len(out):
        stripped = out[i].strip()
        if not stripped or _is_quoted(out[i]):
            i += 1
            continue
        if (
            _ORIGINAL_MESSAGE.match(stripped)
            or _is_mailing_list_footer(out, i)
            or _is_header_block(out, i)
        ):
            return out[:i]
        end = _attribution_end(out, i)
        if end is not None:
            following = _next_non_blank(out, end + 1)
            if following is not None and _is_quoted(out[following]):
                del out[i : end + 1]  # the quote itself goes in _drop_quoted
                continue
            return out[:i]
        i += 1
    return out


def _next_non_blank(lines: list[str], start: int) -> int | None:
    for index in range(start, len(lines)):
        if lines[index].strip():
            return index
    return None


def _previous_non_blank(lines: list[str], start: int) -> int | None:
    for index in range(start, -1, -1):
        if lines[index].strip():
            return index
    return None


def _is_mailing_list_footer(lines: list[str], i: int) -> bool:
    if not _MAILING_LIST_RULE.match(lines[i].strip()):
        return False
    return any(_MAILING_LIST.search(line) for line in lines[i + 1 : i + 4])


def _header_kind(line: str) -> str:
    if _HEADER_FROM.match(line):
        return "from"
    if _HEADER_SENT.match(line):
        return "sent"
    if _HEADER_TO_SUBJECT.match(line):
        return "to"
    return ""


def _is_header_block(lines: list[str], i: int) -> bool:
    """From, Sent/Date and To/Subject lines together, in any order (Outlook, Hotmail, AOL)."""
    if not _header_kind(lines[i]):
        return False
    kinds: set[str] = set()
    for line in lines[i : i + 7]:
        if not line.strip():
            break
        kinds.add(_header_kind(line))
    if not {"from", "sent", "to"} <= kinds:
        return False
    above = _previous_non_blank(lines, i - 1)
    # A forwarded mail is content (a colleague passing a lead on), not history.
    return above is None or not _FORWARDED.search(lines[above])


def _attribution_end(lines: list[str], i: int) -> int | None:
    """Index of the last line of an attribution ("… wrote:") starting at line i, or None."""
    window: list[str] = []
    for k in range(3):
        index = i + k
        if index >= len(lines):
            return None
        line = lines[index].strip()
        if not line or _is_quoted(lines[index]):
            return None
        if k > 0 and _ATTRIBUTION_HEAD.match(line):
            return None  # the attribution starts on a later line; line i is text
        window.append(line)
        joined = " ".join(window)
        if len(joined) > _ATTRIBUTION_MAX_CHARS:
            return None
        if not joined.endswith(":"):
            continue  # every attribution form ends with a colon: skip the regexes
        if _ATTRIBUTION_TAIL.search(joined) and (_ATTRIBUTION_HEAD.match(joined) or "@" in joined):
            return index
        if _ATTRIBUTION_DATED_ADDRESS.search(joined):
            return index
    return None


def _drop_quoted(lines: list[str]) -> list[str]:
    """Remove `>` quoted fragments (email_reply_parser), keeping interleaved answers."""
    if not any(line.startswith(">") for line in lines):
        return lines
    fragments = _QuoteFragments("\n".join(lines)).read().fragments
    kept = [fragment.content for fragment in fragments if not fragment.quoted]
    return "\n\n".join(content for content in kept if content).split("\n")
