"""Person and company names: from a display name, an address, a signature line or a domain.

`looks_like_name` is the one test of "is this a person's name" that the signature finder and
reader share; `split_person_name` turns "Doe, Jane", "DOE Jane" or "Dr. Jane van Doe" into
(first, last); a company named after its domain when nothing better is written comes from
`bot.leads.freemail.company_from_domain`. The job-title and legal-suffix patterns live here
because what a name is not (a title, a company) is part of telling a name apart, and the
signature reader uses the same patterns to find the title and the company.
"""

from __future__ import annotations

import re

from bot.leads.freemail import is_role_address

TITLE = re.compile(
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
COMPANY_SUFFIX = re.compile(
    r"(?:^|[\s,])(?:Inc\.?|Incorporated|LLC|L\.L\.C\.|Ltd\.?|Limited|GmbH|gGmbH|mbH|AG|KG|KGaA|"
    r"UG|OHG|e\.\s?K\.|e\.\s?V\.|S\.A\.?|SA|S\.A\.S\.?|SAS|SASU|SARL|S\.à\s?r\.l\.|SRL|S\.r\.l\.|"
    r"S\.p\.A\.?|SpA|S\.L\.|SL|BV|B\.V\.|NV|N\.V\.|Pty\.?|PLC|plc|LLP|LP|L\.P\.|Corp\.?|"
    r"Corporation|Co\.|Company|K\.K\.|AB|ASA|A/S|ApS|Oy|Oyj|Sp\.\s?z\s?o\.o\.|s\.r\.o\.|a\.s\.|"
    r"Kft\.?|Zrt\.?|SE|Pte\.?|Bhd|Sdn)(?=$|[\s,.)])"
)

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

_LOCAL_PART_NAME = re.compile(r"^([a-z]{2,})[._-](?:[a-z][._-])?([a-z]{2,})\d*$")


def looks_like_name(text: str, allow_single: bool = False) -> bool:
    """True for "Jane Doe", "John E. Doe, Ph.D.", "DOE Jane", "Jean-Luc van der Berg"."""
    text = _CREDENTIALS.sub("", text.strip()).strip(" ,")
    if not text or len(text) > 50 or TITLE.search(text) or COMPANY_SUFFIX.search(text):
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


def is_title_case(text: str) -> bool:
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


def person_from_display(display: str, local_part: str, company_domain: str) -> tuple[str, str]:
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
    if words and any(is_role_address(word) for word in words) and not looks_like_name(text):
        return "", ""
    if not _could_be_person(text):
        return "", ""  # "Content-filter at example.com", "Order #123"
    return split_person_name(text)


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


def person_from_local_part(local_part: str) -> tuple[str, str] | None:
    match = _LOCAL_PART_NAME.match(local_part.split("+", 1)[0].lower())
    if not match:
        return None
    return _proper_case(match.group(1)), _proper_case(match.group(2))


def split_person_name(text: str) -> tuple[str, str]:
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
