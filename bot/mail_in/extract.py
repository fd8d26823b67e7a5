"""Lead fields from an inbound mail: who wrote, for which company, and what they asked.

`extract_lead` reads only the decoded `InboundMail` (no parser, no storage). The enquiry is the
new text of the message: `split_reply` cuts quoted history ("On … wrote:", "-----Original
Message-----", Outlook "From:/Sent:" blocks, their French, German, Spanish, … forms, `>` quotes)
and splits off the signature, which is then read line by line. Every field found records how it
was found in `LeadDraft.reasons`, so `leadbot lead why` can say it.

email_reply_parser does the `>`-quote fragmenting. Its other rules are not used, for reasons
measured on the shared corpora: its one-line header rule ("Subject: …" anywhere) hides the rest
of a contact-form mail, its "--" signature rule took most of a body with "-- " list items, and
its multi-line "On … wrote:" regex takes seconds on a 20 KB text with many sentences starting
with "On" — so that regex is switched off here and multi-line attributions are our own rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

import phonenumbers
from email_reply_parser import EmailMessage

from bot.leads.freemail import is_freemail, is_role_address, registrable_domain
from bot.mail_in.message import InboundMail

MAX_ENQUIRY_CHARS = 4_000
# The new part of a reply is at the top; text past this is history or attachments pasted inline.
MAX_SCAN_CHARS = 50_000
# A closing ("Best regards,") starts a signature only when at most this many short lines follow.
MAX_SIGNATURE_LINES = 8
MAX_SIGNATURE_LINE_CHARS = 80
# A "-- " delimiter further from the end than this many lines is a list item, not a signature.
MAX_DELIMITED_SIGNATURE_LINES = 20

# ---------------------------------------------------------------------------------------------
# Quoted history
# ---------------------------------------------------------------------------------------------

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

# ---------------------------------------------------------------------------------------------
# Signatures
# ---------------------------------------------------------------------------------------------

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
_INDENTED_QUOTE = re.compile(r"^[ \t]{1,4}>")
_RULE = re.compile(r"^[-_=*~]{4,}$")

# ---------------------------------------------------------------------------------------------
# Signature lines
# ---------------------------------------------------------------------------------------------

_TITLE = re.compile(
    r"\b(?:CEO|CTO|CFO|COO|CMO|CIO|CRO|CPO|CSO|CISO|CDO|VP|SVP|EVP|AVP|GM|MD)\b"
    r"|(?i:\b(?:co-?founder|founder|founding|director|manager|head\s+of|engineer|officer|lead|"
    r"president|vice\s+president|owner|partner|consultant|analyst|specialist|coordinator|"
    r"administrator|architect|developer|designer|executive|representative|associate|"
    r"assistant|advisor|adviser|chairman|chairwoman|chair|principal|supervisor|strategist|"
    r"scientist|researcher|professor|accountant|attorney|counsel|buyer|recruiter|producer|"
    r"editor|controller|treasurer|secretary|superintendent|technician|agent|broker|"
    r"geschäftsführer(?:in)?|inhaber(?:in)?|leiter(?:in)?|vorstand|prokurist(?:in)?|"
    r"referent(?:in)?|berater(?:in)?|ingenieur(?:in)?|entwickler(?:in)?|"
    r"directeur|directrice|gérant|gérante|responsable|chef\s+de|ingénieur|président|"
    r"présidente|fondateur|fondatrice|chargée?\s+de|"
    r"directora|gerente|jefe|jefa|presidente|socio|socia|fundador|fundadora|"
    r"amministratore|direttore|direttrice|titolare|responsabile|eigenaar|bedrijfsleider|"
    r"directeur-eigenaar|oprichter)\b)"
)
_COMPANY_SUFFIX = re.compile(
    r"(?:^|[\s,])(?:Inc\.?|Incorporated|LLC|L\.L\.C\.|Ltd\.?|Limited|GmbH|gGmbH|mbH|AG|KG|KGaA|"
    r"UG|OHG|e\.\s?K\.|e\.\s?V\.|S\.A\.?|SA|S\.A\.S\.?|SAS|SASU|SARL|S\.à\s?r\.l\.|SRL|S\.r\.l\.|"
    r"S\.p\.A\.?|SpA|S\.L\.|SL|BV|B\.V\.|NV|N\.V\.|Pty\.?|PLC|plc|LLP|LP|L\.P\.|Corp\.?|"
    r"Corporation|Co\.|Company|K\.K\.|AB|ASA|A/S|ApS|Oy|Oyj|Sp\.\s?z\s?o\.o\.|s\.r\.o\.|a\.s\.|"
    r"Kft\.?|Zrt\.?|SE|Pte\.?|Bhd|Sdn)(?=$|[\s,.)])"
)
_EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
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
# Lines worth handing to phonenumbers: a run of 7+ digits with phone punctuation, in a line
# short enough to be written by a person (base64 and tables are neither).
_PHONE_RUN = re.compile(r"\+?\d(?:[\s().\-/]{0,3}\d){6,}")
_PHONE_LINE_MAX_CHARS = 160
_PHONE_MAX_LINES = 20
_PHONE_CHARS = re.compile(r"^[\d\s()+./-]{7,}$")
_PHONE_LABEL = re.compile(
    r"^(?:tel|tél|phone|ph|t|m|mob|mobile|cell|c|direct|d|office|o|work|w|main|telefon|"
    r"telephone|téléphone|teléfono|telefono|handy|mobil|portable|fon)\.?\s*[:.]?\s*",
    re.IGNORECASE,
)
_FAX_LABEL = re.compile(r"^(?:f|fax|telefax)\b\.?\s*[:.]?", re.IGNORECASE)
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
_MARKUP_EDGES = re.compile(r"^[*_\s]+|[*_\s]+$")
_SEGMENT_SPLIT = re.compile(r"\s+[|•·]\s+|\s*\|\s*")

_NAME_PARTICLES = frozenset(
    {"van", "von", "der", "den", "de", "del", "della", "di", "da", "dos", "das", "du", "la",
     "le", "ter", "ten", "bin", "ibn", "al", "st.", "mac"}
)  # fmt: skip
_HONORIFICS = frozenset(
    {"dr", "dr.", "mr", "mr.", "mrs", "mrs.", "ms", "ms.", "miss", "mx", "mx.", "prof",
     "prof.", "sir", "dame", "herr", "frau", "m.", "mme", "mme.", "mlle", "me", "sr.", "sra.",
     "srta.", "dott.", "dott", "dott.ssa", "ing.", "mag.", "dipl.-ing.", "dipl.", "rev.",
     "fr."}
)  # fmt: skip
_CREDENTIALS = re.compile(
    r",?\s+\(?(?:Ph\.?\s?D\.?|MBA|M\.?D\.?|MSc|M\.Sc\.|BSc|B\.Sc\.|CPA|CFA|PMP|P\.?E\.?|Esq\.?|"
    r"Jr\.?|MA|BA|LL\.?M\.?|Dipl\.-Ing\.)\)?(?=$|[\s,])",
)
# Words that can look like a capitalised name but are not one.
_NOT_NAME_WORDS = frozenset(
    {"hi", "hello", "hey", "dear", "thanks", "thank", "best", "regards", "cheers", "sent",
     "the", "team", "mobile", "tel", "phone", "email", "e-mail", "web", "website", "fax",
     "office", "www", "mail", "via", "from", "sales", "support", "info", "customer",
     "service", "services", "department", "group", "marketing", "admin", "contact",
     "confidential", "disclaimer", "notice", "unsubscribe", "click", "here", "http", "https",
     "good", "morning", "afternoon", "evening", "kind", "warm", "many", "yours", "sincerely",
     "please", "note", "and", "or", "of", "for", "to", "in", "at", "on", "by", "with", "my",
     "our", "your", "this", "that", "we", "i", "you", "it", "is", "are", "be", "get",
     "skype", "linkedin", "twitter", "address", "logo"}
)  # fmt: skip

# Small words inside names of things: "Bank of America", "Caisse du Québec".
_CONNECTIVES = frozenset(
    {"of", "and", "the", "for", "de", "du", "des", "la", "le", "et", "für", "und", "der",
     "y", "e", "di", "del", "da", "van", "von", "en", "at", "in", "on"}
)  # fmt: skip

# ccTLDs used as generic names: they say nothing about where a sender's phone is.
_VANITY_TLDS = frozenset(
    {"io", "co", "ai", "me", "tv", "ly", "fm", "gg", "to", "cc", "ws", "sh", "la", "ac",
     "so", "vc", "gl", "am", "sx", "st", "nu", "tk", "ml", "ga", "cf", "gq", "eu", "su",
     "bz", "gd", "ms", "is", "im", "id", "it"}
)  # fmt: skip
_TLD_REGIONS = {"uk": "GB"}

_LOCAL_PART_NAME = re.compile(r"^([a-z]{2,})[._-](?:[a-z][._-])?([a-z]{2,})\d*$")


@dataclass(frozen=True)
class LeadDraft:
    """What one mail says about a lead, before de-duplication and scoring."""

    email: str  # from address, lower-cased
    first_name: str = ""
    last_name: str = ""
    company: str = ""
    title: str = ""
    phone: str = ""
    website: str = ""
    enquiry: str = ""  # the new text of the message: no quoted history, no signature
    signature: str = ""  # the signature block found, if any
    reasons: tuple[str, ...] = ()  # how each field was found


# =============================================================================================
# Public API
# =============================================================================================


def extract_lead(mail: InboundMail) -> LeadDraft:
    """Read a lead out of a decoded mail: name, company, title, phone, website and enquiry."""
    address = mail.from_address.strip().lower()
    local_part, _, domain = address.rpartition("@")
    if not local_part:
        local_part, domain = address, ""
    company_domain = "" if not domain or is_freemail(domain) else registrable_domain(domain)
    role_address = is_role_address(local_part)
    reasons: list[str] = []

    text = mail.text if mail.text.strip() else html_to_text(mail.html)
    enquiry, signature = split_reply(text, sender_name=mail.from_name)
    sig = _read_signature(signature, _phone_region(domain), mail.from_name)

    # Name: display name, else the signature, else a "jane.doe" local part.
    first, last = "", ""
    display = _person_from_display(mail.from_name, local_part, company_domain)
    if any(display):
        first, last = display
        reasons.append(f"name from display name {mail.from_name.strip()!r}")
    elif sig.name:
        (first, last), line_no = sig.name
        reasons.append(f"name from signature line {line_no}")
    elif not role_address and (from_local := _person_from_local_part(local_part)):
        first, last = from_local
        reasons.append(f"name from address {local_part}@")
    elif role_address:
        reasons.append(f"no name: {local_part}@ is a role address")

    company = ""
    if sig.company:
        company, line_no = sig.company
        reasons.append(f"company from signature line {line_no}")
    elif company_domain:
        company = company_from_domain(company_domain)
        if company:
            reasons.append(f"company from domain {company_domain}")
    elif domain:
        reasons.append(f"no company: {registrable_domain(domain)} is a free-mail domain")

    title = ""
    if sig.title:
        title, line_no = sig.title
        reasons.append(f"title from signature line {line_no}")

    phone = ""
    if sig.phone:
        phone, line_no = sig.phone
        reasons.append(f"phone from signature line {line_no}")
    elif found := _find_phone(enquiry, _phone_region(domain), strict=True):
        phone = found
        reasons.append("phone from message body")

    website = ""
    if sig.website:
        website, line_no = sig.website
        reasons.append(f"website from signature line {line_no}")
    elif company_domain:
        website = f"https://{company_domain}"
        reasons.append(f"website from domain {company_domain}")

    return LeadDraft(
        email=address,
        first_name=first,
        last_name=last,
        company=company,
        title=title,
        phone=phone,
        website=website,
        enquiry=_trim(enquiry, MAX_ENQUIRY_CHARS),
        signature=signature,
        reasons=tuple(reasons),
    )


def split_reply(text: str, sender_name: str = "") -> tuple[str, str]:
    """(new text without quoted history, signature). `sender_name` helps find an unsigned name."""
    lines = _normalised_lines(text)
    lines = _cut_history(lines)
    lines = _drop_quoted(lines)
    lines = _strip_blank_edges(lines)
    while lines and (_RULE.match(lines[-1].strip()) or _DELIMITER.match(lines[-1].strip())):
        lines = _strip_blank_edges(lines[:-1])
    start = _signature_start(lines, sender_name)
    if start is None:
        return "\n".join(lines), ""
    body = _strip_blank_edges(lines[:start])
    signature_lines = _strip_blank_edges(lines[start:])
    if signature_lines and _DELIMITER.match(signature_lines[0].strip()):
        signature_lines = _strip_blank_edges(signature_lines[1:])
    return "\n".join(body), "\n".join(signature_lines)


def company_from_domain(domain: str) -> str:
    """Company name from a domain: "acme-robotics.co.uk" -> "Acme Robotics"; "" for free-mail."""
    host = domain.strip().lower().rpartition("@")[2].strip(".")
    if not host or is_freemail(host):
        return ""
    label = registrable_domain(host).split(".", 1)[0]
    if label.startswith("xn--"):
        try:
            label = label.encode("ascii").decode("idna")
        except UnicodeError:
            return ""
    words = [word for word in re.split(r"[-_]+", label) if word]
    if not words or all(word.isdigit() for word in words):
        return ""
    if len(words) == 1 and len(words[0]) <= 3:
        return words[0].upper()
    return " ".join(word[:1].upper() + word[1:] for word in words)


def html_to_text(html: str) -> str:
    """Visible text of an HTML body; <blockquote> content comes out as "> " quoted lines."""
    if not html.strip():
        return ""
    parser = _TextFromHtml()
    parser.feed(html[: MAX_SCAN_CHARS * 4])
    parser.close()
    return parser.text()


# =============================================================================================
# Quoted history
# =============================================================================================


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


def _strip_blank_edges(lines: list[str]) -> list[str]:
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return lines[start:end]


# =============================================================================================
# Where the signature starts
# =============================================================================================


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
    return line.endswith(".") and len(words) >= 6 and not _COMPANY_SUFFIX.search(line)


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
        stripped = _MARKUP_EDGES.sub("", lines[index])
        match = _CLOSING.match(stripped)
        if not match or len(stripped) > 60:
            continue
        rest = match.group("rest").strip()
        if rest and not _looks_like_name(rest, allow_single=True):
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
    stripped = _MARKUP_EDGES.sub("", line)
    first_segment = re.sub(r"^[-\u2013\u2014]\s?", "", _SEGMENT_SPLIT.split(stripped)[0])
    return (
        _looks_like_name(first_segment, allow_single=True)
        or _is_title_case(first_segment)
        or _is_contact_line(stripped)
    )


def _is_title_case(text: str) -> bool:
    """ "Acme Robotics", "Bank of America", "Caisse du Québec": how names of things are written."""
    words = text.split()
    return (
        1 <= len(words) <= 6
        and len(text) <= 60
        and not text.lower().startswith(("p.s", "ps:", "ps "))
        and all(
            word[0].isupper() or word[0].isdigit() or word[0] in "&(" or word in _CONNECTIVES
            for word in words
        )
        and sum(ch.isalpha() for ch in text) >= 2
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
        line = _MARKUP_EDGES.sub("", lines[index])
        first_segment = _SEGMENT_SPLIT.split(line)[0].strip()
        dashed = bool(re.match(r"^[-\u2013\u2014]\s?\w", first_segment))
        candidate = re.sub(r"^[-\u2013\u2014]\s?", "", first_segment)
        line_words = {word.lower() for word in re.findall(r"[^\W\d_]{2,}", candidate)}
        is_sender = bool(sender_words) and bool(line_words) and line_words <= sender_words
        if not (is_sender or _looks_like_name(candidate, allow_single=dashed)):
            continue
        block = _lines_after(lines, non_blank, index)
        if not _is_short_block(block):
            continue
        if is_sender or dashed or any(_is_contact_line(line) for line in block):
            return index
    return None


def _is_contact_line(line: str) -> bool:
    """A line that only a signature has: email, phone, URL, job title, company, address."""
    stripped = _MARKUP_EDGES.sub("", line)
    return bool(
        _EMAIL.search(stripped)
        or _URL.search(stripped)
        or _looks_like_phone(stripped)
        or _TITLE.search(stripped)
        or _COMPANY_SUFFIX.search(stripped)
        or _ADDRESS.search(stripped)
        or _is_device(stripped)
    )


def _looks_like_phone(segment: str) -> bool:
    text = _FAX_LABEL.sub("", segment) if _FAX_LABEL.match(segment) else segment
    text = _PHONE_LABEL.sub("", text, count=1)
    digits = sum(ch.isdigit() for ch in text)
    return 7 <= digits <= 16 and bool(_PHONE_CHARS.match(text.strip()))


def _looks_like_name(text: str, allow_single: bool = False) -> bool:
    """True for "Jane Doe", "John E. Doe, Ph.D.", "DOE Jane", "Jean-Luc van der Berg"."""
    text = _CREDENTIALS.sub("", text.strip()).strip(" ,")
    if not text or len(text) > 50 or _TITLE.search(text) or _COMPANY_SUFFIX.search(text):
        return False
    tokens = text.split()
    named = [token for token in tokens if token.lower() not in _NAME_PARTICLES]
    if not 1 <= len(named) <= 4 or (len(named) == 1 and not allow_single):
        return False
    letters = 0
    for token in named:
        if token.lower().strip(".,") in _NOT_NAME_WORDS or token.lower() in _HONORIFICS:
            return False
        if not token[0].isalpha() or not token[0].isupper():
            return False
        if not all(ch.isalpha() or ch in ".'\u2019-" for ch in token):
            return False
        letters += sum(ch.isalpha() for ch in token)
    return letters >= 2 and any(sum(ch.isalpha() for ch in token) >= 2 for token in named)


# =============================================================================================
# Reading the signature
# =============================================================================================


@dataclass(frozen=True)
class _SignatureFields:
    """Fields found in a signature, each with its 1-based line number there."""

    name: tuple[tuple[str, str], int] | None = None
    title: tuple[str, int] | None = None
    company: tuple[str, int] | None = None
    phone: tuple[str, int] | None = None
    website: tuple[str, int] | None = None


def _read_signature(signature: str, region: str | None, sender_name: str) -> _SignatureFields:
    if not signature:
        return _SignatureFields()
    lines = [line.strip() for line in signature.split("\n") if line.strip()]
    name: tuple[tuple[str, str], int] | None = None
    title: tuple[str, int] | None = None
    company: tuple[str, int] | None = None
    website: tuple[str, int] | None = None
    plain: list[tuple[str, int]] = []  # lines that are none of the above, for the company
    after_closing = False
    for line_no, raw in enumerate(lines, start=1):
        line = _MARKUP_EDGES.sub("", raw)
        closing = _CLOSING.match(line)
        if closing and len(line) <= 60:
            rest = closing.group("rest").strip()
            if rest and name is None and _looks_like_name(rest, allow_single=True):
                name = (_split_person_name(rest), line_no)
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
                and _looks_like_name(
                    segment, allow_single=after_closing or _is_sender(segment, sender_name)
                )
            ):
                name = (_split_person_name(segment), line_no)
            elif (
                name is None
                and "," in segment
                and title is None
                and (
                    _looks_like_name(segment.split(",", 1)[0])
                    and _TITLE.search(segment.split(",", 1)[1])
                )
            ):
                person, job = segment.split(",", 1)
                name = (_split_person_name(person), line_no)
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
    return _SignatureFields(
        name=name,
        title=title,
        company=company,
        phone=_signature_phone(lines, region),
        website=website,
    )


_TITLE_AT_COMPANY = re.compile(r"^(?P<title>.+?)(?:\s*,\s*|\s+(?:at|@)\s+)(?P<company>.+)$")


def _title_and_company(segment: str) -> tuple[str, str] | None:
    """One line holding both: "VP Sales, Acme Inc." or "Head of Sales at Acme Robotics".

    After a comma the company needs a legal suffix ("Head of Sales, EMEA" is a title alone);
    after "at"/"@" a capitalised name is enough.
    """
    match = _TITLE_AT_COMPANY.match(segment)
    if not match or not _TITLE.search(match.group("title")):
        return None
    job, firm = match.group("title").strip(), match.group("company").strip()
    if _TITLE.search(firm) or len(firm) > 60:
        return None
    by_comma = "," in segment[: match.start("company")]
    if by_comma and not _COMPANY_SUFFIX.search(firm):
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
    if _looks_like_phone(segment):
        return "phone"
    url = _URL.search(segment)
    if url and len(segment.split()) <= 3:
        return "url"
    if _COMPANY_SUFFIX.search(segment) and not _ADDRESS.search(segment):
        return "company"
    if _ADDRESS.search(segment):
        return "address"
    if _TITLE.search(segment) and len(segment) <= MAX_SIGNATURE_LINE_CHARS:
        return "title"
    if _CONTACT_LABEL.match(segment):
        return "contact"
    return "other"


def _could_be_company(segment: str, sender_name: str) -> bool:
    if segment.endswith((".", "!", "?", ",", ":")) or _is_sender(segment, sender_name):
        return False
    return _is_title_case(segment)


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
        for segment in _SEGMENT_SPLIT.split(_MARKUP_EDGES.sub("", raw)):
            segment = segment.strip()
            if _FAX_LABEL.match(segment) or sum(ch.isdigit() for ch in segment) < 7:
                continue
            found = _find_phone(segment, region, strict=False)
            if found:
                return found, line_no
            if fallback is None and _looks_like_phone(segment):
                fallback = (_PHONE_LABEL.sub("", segment, count=1).strip(), line_no)
    return fallback


def _find_phone(text: str, region: str | None, strict: bool) -> str:
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


def _phone_region(domain: str) -> str | None:
    """Default phone region from a country TLD ("acme.co.uk" -> "GB"); None for .com, .io, …"""
    tld = domain.rpartition(".")[2].lower()
    if len(tld) != 2 or tld in _VANITY_TLDS:
        return None
    region = _TLD_REGIONS.get(tld, tld.upper())
    return region if region in phonenumbers.SUPPORTED_REGIONS else None


# =============================================================================================
# Names
# =============================================================================================


def _person_from_display(display: str, local_part: str, company_domain: str) -> tuple[str, str]:
    """First and last name from a From display name, or ("", "") when it names no person."""
    text = display.strip().strip("\"'").strip()
    text = re.sub(r"\s*[(\[][^)\]]*[)\]]", "", text)  # "(Acme)", "[Sales]"
    text = re.sub(r"\s+via\s+.*$", "", text, flags=re.IGNORECASE)  # "Kim via Site"
    text = re.split(r"\s+[|@\u2013\u2014-]\s+|\s+/\s+", text)[0].strip().strip("\"'").strip()
    if not text or "@" in text or (text.islower() and text == local_part.lower()):
        return "", ""  # "jdoe" for jdoe@: the client filled in the address, not a name
    words = [word.lower() for word in re.findall(r"[^\W\d_]+", text)]
    domain_words = set(re.split(r"[-_.]+", company_domain.split(".", 1)[0])) - {""}
    if words and all(
        is_role_address(word) or word in domain_words or word in {"team", "the", "and", "of"}
        for word in words
    ):
        return "", ""
    if words and any(is_role_address(word) for word in words) and not _looks_like_name(text):
        return "", ""
    if not _could_be_person(text):
        return "", ""  # "Content-filter at example.com", "Order #123"
    return _split_person_name(text)


def _could_be_person(text: str) -> bool:
    """Loose check for a display name, which may be lower-case or written "Doe, Jane"."""
    tokens = [token.strip(",") for token in _CREDENTIALS.sub("", text).split()]
    named = [token for token in tokens if token and token.lower() not in _NAME_PARTICLES]
    return 1 <= len(named) <= 5 and all(
        token[0].isalpha()
        and all(ch.isalpha() or ch in ".'\u2019-" for ch in token)
        and not re.search(r"\.[^\W\d_]{2,}$", token)  # "example.com"
        for token in named
    )


def _person_from_local_part(local_part: str) -> tuple[str, str] | None:
    match = _LOCAL_PART_NAME.match(local_part.split("+", 1)[0].lower())
    if not match:
        return None
    return _proper_case(match.group(1)), _proper_case(match.group(2))


def _split_person_name(text: str) -> tuple[str, str]:
    """(first, last) from "Jane Doe", "Doe, Jane", "DOE Jane", "Dr. Jane van Doe"."""
    text = _CREDENTIALS.sub("", text.strip()).strip(" ,")
    if text.count(",") == 1:
        last_part, first_part = (part.strip() for part in text.split(","))
        if last_part and first_part and len(last_part.split()) <= 3:
            first_tokens = _without_honorifics(first_part.split())
            return _proper_case(" ".join(first_tokens[:1])), _proper_case(last_part)
    tokens = _without_honorifics(text.replace(",", " ").split())
    if not tokens:
        return "", ""
    if len(tokens) == 1:
        return _proper_case(tokens[0]), ""
    upper = [token for token in tokens if _is_upper_word(token)]
    if upper and len(upper) < len(tokens):  # "DOE Jane", "Jane DOE": the capitals are the surname
        first = [token for token in tokens if not _is_upper_word(token)]
        return _proper_case(" ".join(first)), _proper_case(" ".join(upper))
    last_start = len(tokens) - 1
    while last_start > 1 and tokens[last_start - 1].lower() in _NAME_PARTICLES:
        last_start -= 1
    given = [token for token in tokens[:last_start] if not _is_initial(token)] or tokens[:1]
    return _proper_case(" ".join(given)), _proper_case(" ".join(tokens[last_start:]))


def _without_honorifics(tokens: list[str]) -> list[str]:
    while len(tokens) > 1 and tokens[0].lower() in _HONORIFICS:
        tokens = tokens[1:]
    return tokens


def _is_upper_word(token: str) -> bool:
    return sum(ch.isalpha() for ch in token) >= 2 and token.isupper()


def _is_initial(token: str) -> bool:
    return bool(re.fullmatch(r"[^\W\d_]\.?", token))


def _proper_case(text: str) -> str:
    """Name case: "jane" / "JANE" -> "Jane", "jean-luc" -> "Jean-Luc"; "McDonald" is kept."""
    if not text or (not text.islower() and not text.isupper()):
        return text
    return re.sub(
        r"[^\W\d_]+",
        lambda match: (
            match.group(0)
            if match.group(0).lower() in _NAME_PARTICLES and match.start() > 0
            else match.group(0).capitalize()
        ),
        text.lower(),
    )


# =============================================================================================
# HTML and helpers
# =============================================================================================


class _TextFromHtml(HTMLParser):
    _BLOCK = frozenset(
        {"p", "div", "br", "li", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
         "ul", "ol", "pre", "section", "article", "header", "footer", "address", "dd", "dt"}
    )  # fmt: skip
    _SKIP = frozenset({"style", "script", "head", "title", "template", "noscript"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._lines: list[tuple[int, list[str]]] = [(0, [])]
        self._depth = 0
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag == "blockquote":
            self._depth += 1
            self._newline()
        elif tag in self._BLOCK:
            self._newline()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._BLOCK:
            self._newline()

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag == "blockquote":
            self._depth = max(0, self._depth - 1)
            self._newline()
        elif tag in self._BLOCK and tag != "br":
            self._newline()

    def handle_data(self, data: str) -> None:
        if self._skipping:
            return
        text = " ".join(data.split())
        if not text:
            if data and self._lines[-1][1]:
                self._lines[-1][1].append(" ")
            return
        if data[:1].isspace() and self._lines[-1][1]:
            text = " " + text
        if data[-1:].isspace():
            text += " "
        self._lines[-1][1].append(text)

    def _newline(self) -> None:
        self._lines.append((self._depth, []))

    def text(self) -> str:
        out: list[str] = []
        for depth, parts in self._lines:
            line = "".join(parts).strip()
            out.append(("> " * depth + line).rstrip() if line else "")
        return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip()


def _trim(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ", limit - 40)
    return (cut[:space] if space > 0 else cut).rstrip()
