"""Lead de-duplication: one person, one lead (blocking keys, fuzzy field scores, clusters).

Pure: no storage, no SQL. The store-backed matcher keeps the keys of `blocking_keys` in a table;
`BlockIndex` is the same algorithm in memory (and what the batch scan and the benchmark use).

How a new lead meets the stored ones:

1. **Blocking.** `blocking_keys(person)` gives the few exact keys a duplicate is likely to share,
   each prefixed by its kind: `em:` the personal email address, `ph:` the last 7 digits of the
   phone, `dm:` the company email domain (never a free-mail one), `co:` the normalized company
   and `ct:` each of its words, `nm:`/`ni:` name keys (Soundex of both name parts, order-free;
   first initial + Soundex of the last name; `nf:` first name + the last name's first three
   letters), `pa:` postal code + house number, `sn:` house number + street word, `ps:` postal
   code + street word and `pl:` postal code + Soundex of the last name. A lead is only ever
   compared with leads that share at least one key,
   and blocks larger than `MatchRules.max_block_size` (the word "group", a company of thousands)
   are skipped: they carry no signal. Candidates are ranked by the blocks they share (small
   blocks count more) and only the best `max_candidates` are scored, so one match touches a
   bounded number of leads however large the store.
2. **Scoring.** `score(a, b, rules)` compares field by field with a rapidfuzz scorer that fits
   the field, and takes the weighted mean over the fields present on both leads; a field empty
   on either side is left out (it does not count as a 0). Then two rules from the leads' own
   evidence: two different person names (a name part below `name_floor`) cap the score at
   `different_person_cap`, unless both leads carry the same personal email address; a pair
   with no agreement besides the name (on personal email, phone, street, company) cannot go
   above the review threshold; and a pair compared on no identifying field at all (name,
   personal email, phone, street: two role addresses, two nameless leads of one company) not
   above `different_person_cap`: they are colleagues, not one person.
   Role addresses (info@, sales@) are not persons: their local part carries no weight and gives
   no `em:` key. Free-mail domains carry no company signal.
3. **Decision.** `score >= auto_merge` → merge; `review <= score < auto_merge` → flag
   "possible duplicate of L-7 (87%)"; below → a new lead.

`cluster` runs the same steps over a batch and joins every pair at or above `auto_merge` with
union-find. `pair_metrics` measures clusters against the truth on duplicate pairs.
"""

from __future__ import annotations

import heapq
import math
import re
import sys
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

import phonenumbers
from rapidfuzz import fuzz
from rapidfuzz.distance import OSA, JaroWinkler

from bot.dedupe.model import DEFAULT_MODEL, LEVELS, Contribution, MatchModel, probability
from bot.leads.freemail import company_from_domain, is_freemail, is_role_address, registrable_domain
from bot.rules.dedupe import MAX_BLOCK_SIZE, MatchRules

Key = int | str

# Fields that tell one person (or one site) from another; company, domain, city, state, country
# and title alone never do.
IDENTIFYING_FIELDS = frozenset({"name", "email", "phone", "street"})
# Fields whose agreement corroborates a name (or each other) enough to merge.
CORROBORATING_FIELDS = frozenset({"email", "phone", "street", "company", "domain"})


# =============================================================================================
# The lead as the matcher sees it
# =============================================================================================


@dataclass(frozen=True, slots=True)
class Person:
    """The lead fields used for matching; `key` identifies the lead (a lead id, a row number)."""

    key: Key
    first_name: str = ""
    last_name: str = ""
    company: str = ""
    email: str = ""
    phone: str = ""
    title: str = ""
    street: str = ""
    city: str = ""
    state: str = ""
    postal_code: str = ""
    country: str = ""


@dataclass(frozen=True, slots=True)
class Match:
    """How much `key` looks like the lead it was compared with, and why, field by field."""

    key: Key
    score: float  # the match probability, after the rules' caps
    verdict: str  # "merge", "review" or "new"
    reasons: tuple[str, ...]
    # The Fellegi-Sunter waterfall: each field's level and bits, after the prior's bits.
    contributions: tuple[Contribution, ...] = ()
    bits: float = 0.0
    prior_bits: float = 0.0

    @property
    def percent(self) -> int:
        return round(self.score * 100)

    def describe(self, label: str) -> str:
        """The line for the rep: "duplicate of L-7 (96%)", "possible duplicate of L-7 (87%)", or
        "" for a new lead; `label` names the other lead."""
        if self.verdict == "merge":
            return f"duplicate of {label} ({self.percent}%)"
        if self.verdict == "review":
            return f"possible duplicate of {label} ({self.percent}%)"
        return ""

    def waterfall(self) -> list[str]:
        """The match weight field by field, as Splink's waterfall chart shows it: the prior,
        each field's level and bits, the total and the probability (and any cap)."""
        lines = [f"prior {self.prior_bits:+.1f} bits"]
        total = self.prior_bits
        for part in sorted(self.contributions, key=lambda c: -abs(c.bits)):
            total += part.bits
            lines.append(f"{part.describe():<60} = {total:+.1f}")
        lines.append(f"total {self.bits:+.1f} bits: match probability {_percent(self.bits)}")
        lines += [reason for reason in self.reasons if "capped at" in reason]
        lines.append(f"score {self.percent}% → {self.verdict}")
        return lines

    def top_fields(self, count: int = 3) -> str:
        """The fields that weigh most, for the card: "name +14.2, street +9.8, phone -4.1"."""
        parts = sorted(self.contributions, key=lambda c: -abs(c.bits))[:count]
        return ", ".join(f"{p.field.replace('_', ' ')} {p.bits:+.1f}" for p in parts)


def _percent(bits: float) -> str:
    value = probability(bits)
    return f"{value:.4%}" if 0.0001 < value < 0.9999 else f"{value:.6f}"


# =============================================================================================
# Normalisation
# =============================================================================================

_ABBREVIATION = re.compile(r"\b(?:\w\.){2,}")  # S.A., U.S.A., J.P.
_JOINED = re.compile(r"['’`´?\ufffd]")  # noqa: RUF001  apostrophes, and "?" standing in for a letter
_NON_WORD = re.compile(r"[\W_]+")


def normalize_text(text: str) -> str:
    """Casefolded words without accents or punctuation: "Müller-Lüdenscheidt & Co." ->
    "muller ludenscheidt and co"."""
    if not text:
        return ""
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text)
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.casefold().replace("&", " and ")
    text = _ABBREVIATION.sub(lambda m: m.group(0).replace(".", ""), text)
    text = _JOINED.sub("", text)
    return " ".join(_NON_WORD.sub(" ", text).split())


def _join_initials(tokens: list[str]) -> list[str]:
    """Runs of single letters become one word: "s a" -> "sa", "j p morgan" -> "jp morgan"."""
    out: list[str] = []
    run: list[str] = []
    for token in [*tokens, ""]:
        if len(token) == 1 and token.isalpha():
            run.append(token)
            continue
        if len(run) > 1:
            out.append("".join(run))
        else:
            out.extend(run)
        run = []
        if token:
            out.append(token)
    return out


# Legal forms, taken off the end of a company name (repeatedly: "GmbH & Co. KG").
_LEGAL_FORMS = frozenset(
    {
        "ab", "ag", "aps", "as", "asa", "bhd", "bv", "co", "company", "corp", "corporation",
        "cos", "cv", "ev", "gk", "gmbh", "inc", "incorporated", "kft", "kg", "kgaa", "kk",
        "lda", "limited", "llc", "llp", "lp", "ltd", "ltda", "mbh", "nv", "ohg", "oo", "oy",
        "oyj", "pc", "plc", "pllc", "private", "pte", "pty", "pvt", "sa", "sae", "sarl", "sas",
        "sasu", "sau", "sdn", "se", "sl", "slu", "snc", "sp", "spa", "sro", "srl", "ug", "vof",
        "z",
    }
)  # fmt: skip
# Legal forms written before the name ("OOO Romashka", "PT Astra").
_LEADING_LEGAL_FORMS = frozenset({"ooo", "oao", "zao", "pao", "pt"})
# Words that join a legal form to the name ("Acme & Co", "Foo S.A. de C.V.").
_CONNECTORS = frozenset({"and", "de", "und", "et", "y"})
# Words dropped anywhere in a company name.
_COMPANY_STOPWORDS = frozenset({"the", "and"})


def normalize_company(name: str) -> str:
    """The company name without case, punctuation, "the" and legal suffixes: "The Acme Company,
    Inc." -> "acme"; "Müller GmbH & Co. KG" -> "muller"; "Nestlé S.A." -> "nestle"."""
    tokens = _join_initials(normalize_text(name).split())
    while len(tokens) > 1 and (tokens[-1] in _LEGAL_FORMS or tokens[-1] in _CONNECTORS):
        tokens.pop()
    while len(tokens) > 1 and tokens[0] in _LEADING_LEGAL_FORMS:
        tokens.pop(0)
    kept = [token for token in tokens if token not in _COMPANY_STOPWORDS]
    return " ".join(kept or tokens)


_STREET_WORDS = {
    "street": "st", "str": "st", "avenue": "ave", "av": "ave", "boulevard": "blvd",
    "road": "rd", "drive": "dr", "lane": "ln", "court": "ct", "place": "pl", "parkway": "pkwy",
    "highway": "hwy", "square": "sq", "terrace": "ter", "circle": "cir", "suite": "ste",
    "apartment": "apt", "building": "bldg", "floor": "fl", "north": "n", "south": "s",
    "east": "e", "west": "w", "northeast": "ne", "northwest": "nw", "southeast": "se",
    "southwest": "sw", "mount": "mt", "saint": "st", "fort": "ft", "expressway": "expy",
    "freeway": "fwy", "plaza": "plz", "trail": "trl", "way": "way", "center": "ctr",
    "centre": "ctr", "junior": "jr",
}  # fmt: skip
# Words of a street line that say nothing about which street it is.
_STREET_FILLER = frozenset(
    {
        "st", "ave", "blvd", "rd", "dr", "ln", "ct", "pl", "pkwy", "hwy", "sq", "ter", "cir",
        "ste", "apt", "bldg", "fl", "n", "s", "e", "w", "ne", "nw", "se", "sw", "unit", "room",
        "no", "jr",
    }
)  # fmt: skip
_HOUSE_NUMBER = re.compile(r"^\d+[a-z]?$")


def normalize_street(street: str) -> str:
    """One spelling per street word: "4340 South Lamon Avenue" -> "4340 s lamon ave"."""
    return " ".join(_STREET_WORDS.get(token, token) for token in normalize_text(street).split())


def house_number(normalized_street: str) -> str:
    """The house number of a normalized street line ("7954 58 s western" -> "7954"), or ""."""
    for token in normalized_street.split()[:3]:
        if _HOUSE_NUMBER.match(token):
            return token
    return ""


_NAME_NOISE = frozenset(
    {"mr", "mrs", "ms", "miss", "dr", "prof", "sir", "jr", "sr", "ii", "iii", "iv", "phd", "md"}
)


def name_parts(first_name: str, last_name: str) -> tuple[str, str]:
    """(first, last), normalized, without titles; a full name in `first_name` alone is split at
    its last word ("Anna Maria Schulz" -> ("anna maria", "schulz"))."""
    first = [t for t in normalize_text(first_name).split() if t not in _NAME_NOISE]
    last = [t for t in normalize_text(last_name).split() if t not in _NAME_NOISE]
    if not last and len(first) > 1:
        first, last = first[:-1], first[-1:]
    if not first and len(last) > 1:
        first, last = last[:1], last[1:]
    return " ".join(first), " ".join(last)


_SOUNDEX_CODES = {
    **dict.fromkeys("bfpv", "1"),
    **dict.fromkeys("cgjkqsxz", "2"),
    **dict.fromkeys("dt", "3"),
    "l": "4",
    **dict.fromkeys("mn", "5"),
    "r": "6",
}


def soundex(word: str) -> str:
    """American Soundex of a word ("Smith", "Smyth", "Smtih" -> "S530"); "" without letters."""
    letters = [ch for ch in normalize_text(word) if "a" <= ch <= "z"]
    if not letters:
        return ""
    code = [letters[0].upper()]
    previous = _SOUNDEX_CODES.get(letters[0], "")
    for ch in letters[1:]:
        digit = _SOUNDEX_CODES.get(ch, "")
        if digit and digit != previous:
            code.append(digit)
            if len(code) == 4:
                break
        if ch not in "hw":
            previous = digit
    return "".join(code).ljust(4, "0")


def name_keys(first_name: str, last_name: str) -> set[str]:
    """Blocking keys of a person's name: Soundex of both parts in either order (`nm:`), and first
    initial + Soundex of the last name (`ni:`, for "J. Smith" and "Kathy"/"Katherine"), and
    the first name + the last name's first three letters (`nf:`). Empty unless both a first
    and a last name are known."""
    return _name_keys(*name_parts(first_name, last_name))


def _name_keys(first: str, last: str) -> set[str]:
    if not first or not last:
        return set()
    last_sound = soundex(last.split()[-1])
    sounds = sorted((soundex(first.split()[0]), last_sound))
    # and the first name with the start of the last: a typo that changes the sound ("clarke",
    # "clarnke") late in the name
    start = f"nf:{first.split()[0]}|{last.split()[-1][:3]}"
    return {f"nm:{sounds[0]}|{sounds[1]}", f"ni:{first[0]}|{last_sound}", start}


_DIGITS = re.compile(r"\D+")


def normalize_phone(text: str, region: str | None = None) -> str:
    """E.164 ("+13125550123") when phonenumbers can parse a valid number (with `region`, an ISO
    country code, for national numbers); else the bare digits; "" without digits."""
    digits = _DIGITS.sub("", text or "")
    if len(digits) < 4:
        return ""
    candidate = text.strip()
    if candidate.startswith("00"):
        candidate = "+" + candidate[2:]
    international = candidate.startswith("+")
    if not international and not region:
        return digits
    try:
        number = phonenumbers.parse(candidate, None if international else region.upper())
    except phonenumbers.NumberParseException:
        return digits
    if not phonenumbers.is_valid_number(number):
        return digits
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


_COUNTRY_REGIONS = {
    "usa": "US", "united states": "US", "united states of america": "US", "america": "US",
    "uk": "GB", "united kingdom": "GB", "great britain": "GB", "england": "GB",
    "deutschland": "DE", "germany": "DE", "france": "FR", "espana": "ES", "spain": "ES",
    "italia": "IT", "italy": "IT", "canada": "CA", "australia": "AU", "nederland": "NL",
    "netherlands": "NL", "schweiz": "CH", "switzerland": "CH", "osterreich": "AT",
    "austria": "AT", "india": "IN", "japan": "JP", "brasil": "BR", "brazil": "BR",
    "mexico": "MX", "ireland": "IE", "sweden": "SE", "belgium": "BE", "poland": "PL",
}  # fmt: skip


def country_region(country: str) -> str:
    """ISO 3166 alpha-2 code for a country field ("US", "usa", "Deutschland" -> "DE"), or ""."""
    text = normalize_text(country)
    if len(text) == 2 and text.isalpha():
        return "GB" if text == "uk" else text.upper()
    return _COUNTRY_REGIONS.get(text, "")


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalize_email(text: str) -> str:
    """The lower-cased address, or "" when the field holds no address (a date, a name)."""
    address = (text or "").strip().strip("<>").lower().removeprefix("mailto:")
    return address if _EMAIL.match(address) else ""


# =============================================================================================
# Prepared leads: the normal forms every comparison and key is made from
# =============================================================================================


def _intern(text: str) -> str:
    return sys.intern(text) if text else ""


@dataclass(frozen=True, slots=True)
class Prepared:
    """A lead's fields in normal form, computed once per lead (the index keeps only these)."""

    key: Key
    first: str
    last: str
    company: str
    company_from_domain: bool
    email: str  # without "+tag" for personal addresses
    local: str  # the personal local part without "+tag"; "" for role addresses
    domain: str  # registrable company domain; "" for free-mail
    phone: str
    title: str
    street: str
    house: str
    city: str
    state: str
    postal_code: str
    country: str


def prepare(person: Person) -> Prepared:
    """Normalize a lead once, for scoring and blocking."""
    first, last = name_parts(person.first_name, person.last_name)
    email = normalize_email(person.email)
    local = domain = ""
    if email:
        local_part, _, host = email.rpartition("@")
        if not is_role_address(local_part):
            local = local_part.split("+", 1)[0]  # "ann+leads" is ann's own mailbox
            email = f"{local}@{host}"
        if not is_freemail(host):
            domain = registrable_domain(host)
    company = normalize_company(person.company)
    derived = False
    if not company and domain:
        company = normalize_company(company_from_domain(domain))
        derived = bool(company)
    region = country_region(person.country)
    street = normalize_street(person.street)
    postal = _NON_WORD.sub("", person.postal_code).upper()
    if len(postal) == 9 and postal.isdigit():  # US ZIP+4
        postal = postal[:5]
    return Prepared(
        key=person.key,
        first=first,
        last=last,
        company=_intern(company),
        company_from_domain=derived,
        email=email,
        local=local,
        domain=_intern(domain),
        phone=normalize_phone(person.phone, region or None),
        title=_intern(normalize_text(person.title)),
        street=street,
        house=house_number(street),
        city=_intern(normalize_text(person.city)),
        state=_intern(normalize_text(person.state)),
        postal_code=_intern(postal),
        country=_intern(region or normalize_text(person.country)),
    )


def _keys_of(p: Prepared) -> set[str]:
    keys: set[str] = set()
    if p.local:
        keys.add(f"em:{p.email}")
    if len(p.phone) >= 7:
        keys.add(f"ph:{p.phone[-7:]}")
    if p.domain:
        keys.add(f"dm:{p.domain}")
    if p.company:
        keys.add(f"co:{p.company}")
        keys.update(f"ct:{token}" for token in p.company.split() if len(token) >= 3)
    keys.update(_name_keys(p.first, p.last))
    if p.postal_code:
        # one person, a typo in the house number or the name: the postal code and the street,
        # or the postal code and the sound of the last name
        words = [t for t in p.street.split() if not t[0].isdigit() and t not in _STREET_FILLER]
        keys.update(f"ps:{p.postal_code}|{word}" for word in words[:1])
        if p.last:
            keys.add(f"pl:{p.postal_code}|{soundex(p.last.split()[-1])}")
    if p.house:
        if p.postal_code:
            keys.add(f"pa:{p.postal_code}|{p.house}")
        words = [t for t in p.street.split() if t != p.house and t not in _STREET_FILLER]
        keys.update(f"sn:{p.house}|{word}" for word in words[:3] if not word.isdigit())
    return keys


def keys_of(prepared: Prepared) -> set[str]:
    """`blocking_keys` of a lead already prepared."""
    return _keys_of(prepared)


def form_of(prepared: Prepared) -> dict[str, Any]:
    """A prepared lead as plain JSON data (the store keeps it beside the blocking keys)."""
    return {f.name: getattr(prepared, f.name) for f in fields(Prepared)}


def from_form(form: Mapping[str, Any]) -> Prepared:
    """The prepared lead back from `form_of`'s data."""
    return Prepared(**form)


def blocking_keys(person: Person) -> set[str]:
    """The exact keys a duplicate of `person` is likely to share, each prefixed by its kind
    (`em:`, `ph:`, `dm:`, `co:`, `ct:`, `nm:`, `ni:`, `nf:`, `pa:`, `sn:`, `ps:`, `pl:`; see
    the module docstring).
    The single source of truth for blocking, in memory and in the store."""
    return _keys_of(prepare(person))


# =============================================================================================
# Scoring
# =============================================================================================


def _name_part_similarity(a: str, b: str) -> float:
    """Mean of Jaro-Winkler (kind to typos late in a name) and OSA edit distance (strict about
    short names: "Carter"/"Carr" 0.79, "Smith"/"Smtih" 0.87)."""
    return (JaroWinkler.normalized_similarity(a, b) + OSA.normalized_similarity(a, b)) / 2


def _first_name_similarity(a: str, b: str) -> float:
    if a == b:
        return 1.0
    a0, b0 = a.split(" ", 1)[0], b.split(" ", 1)[0]
    if len(a0) == 1 or len(b0) == 1:  # an initial: "J." against "John"
        return 1.0 if a0[0] == b0[0] else 0.0
    similarity = _name_part_similarity(a0, b0)
    if a != a0 or b != b0:  # "anna maria" against "anna"
        similarity = max(similarity, _name_part_similarity(a, b))
    return similarity


def _last_name_similarity(a: str, b: str) -> float:
    if a == b:
        return 1.0
    similarity = _name_part_similarity(a, b)
    if " " in a or " " in b:  # "garcia lopez" against "garcia"
        similarity = max(similarity, fuzz.token_set_ratio(a, b) / 100)
    return similarity


def _name_similarity(
    a: Prepared, b: Prepared, two: tuple[float, float, bool] | None = None
) -> tuple[float, float, float, str] | None:
    """(similarity, weakest part, last-name part, how) of two names; None if either is unknown.
    `two` is `_two_names(a, b)` when the caller has it (it is most of a comparison's cost)."""
    if not (a.first or a.last) or not (b.first or b.last):
        return None
    if a.first and a.last and b.first and b.last:
        first, last, swapped = two or _two_names(a, b)
        how = "Jaro-Winkler + OSA, first and last" + (", swapped" if swapped else "")
        return (first + last) / 2, min(first, last), last, how
    # One side knows a single name: it must be one of the other's names, and counts for less.
    a_words = [w for w in (a.first, a.last) if w]
    b_words = [w for w in (b.first, b.last) if w]
    best = max(_name_part_similarity(x, y) for x in a_words for y in b_words)
    return best * 0.9, best, best, "Jaro-Winkler + OSA, one name only"


def _phone_similarity(a: str, b: str) -> tuple[float, str]:
    if a == b:
        return 1.0, "same number"
    da, db = a.lstrip("+"), b.lstrip("+")
    if min(len(da), len(db)) >= 7 and (da.endswith(db) or db.endswith(da)):
        return 0.95, "same number, one without area code"
    return 0.0, "different numbers"


def _street_similarity(a: Prepared, b: Prepared) -> tuple[float, str]:
    text = fuzz.token_set_ratio(a.street, b.street) / 100
    if a.house and b.house and a.house != b.house:
        return text * 0.5, "token_set_ratio, different house numbers"
    return text, "token_set_ratio"


# A field at or above this similarity corroborates a match (see `score`).
CORROBORATING = 0.9
# Bits of agreement on where someone lives (street, postal code, city) that corroborate a name.
PLACE_CORROBORATION_BITS = 8.0
# What each [dedupe.weights] entry scales: the rules file's weights multiply a field's match
# weight by weight / default weight (0 leaves the field out).
_DEFAULT_WEIGHTS = MatchRules().weights
_WEIGHT_OF = {"first_name": "name", "last_name": "name"}
_PLACE_FIELDS = frozenset({"street", "postal_code", "city"})
# Where someone lives, beside the street (see the cap on a changed name part).
_WHERE_FIELDS = frozenset({"postal_code", "city", "state"})


def _level(similarity: float, bands: tuple[float, ...]) -> int:
    """The level of a similarity: 0 for 1.0 (exact), then one per band it reaches, else last."""
    if similarity >= 1.0:
        return 0
    for position, floor in enumerate(bands, start=1):
        if similarity >= floor:
            return position
    return len(bands) + 1


def _two_names(a: Prepared, b: Prepared) -> tuple[float, float, bool]:
    """(first-name, last-name similarity, swapped) of two full names: "Smith John" against
    "John Smith" is tried when the initials cross over."""
    first = _first_name_similarity(a.first, b.first)
    last = _last_name_similarity(a.last, b.last)
    if first + last < 2 * 0.95 and (a.first[0] == b.last[0] or a.last[0] == b.first[0]):
        swapped_first = _name_part_similarity(a.first, b.last)
        swapped_last = _name_part_similarity(a.last, b.first)
        if swapped_first + swapped_last > first + last:
            return swapped_first, swapped_last, True
    return first, last, False


def _first_level(a: str, b: str, similarity: float) -> int:
    levels = LEVELS["first_name"]
    a0, b0 = a.split(" ", 1)[0], b.split(" ", 1)[0]
    if a != b and (len(a0) == 1 or len(b0) == 1):
        return levels.index("initial") if a0[0] == b0[0] else len(levels) - 1
    level = _level(similarity, (0.92, 0.80))
    return level if level < 3 else len(levels) - 1


def _address_names(local: str, domain: str, first: str, last: str) -> bool:
    """Whether an address names its person: "mikel@", "j.smith@", "jsmith@", "smith.j@" or a
    domain of their own ("@lindsaar.net"); "foo@" or "test@" at a company does not."""
    words = [w for w in f"{first} {last}".split() if len(w) >= 3]
    parts = [t for t in re.split(r"[^a-z]+", local.lower()) if t]
    if any(w in local for w in words):
        return True
    if first and last and (first[0] + last.split()[-1]) in local:
        return True
    if any(len(t) >= 3 and t in words for t in parts):
        return True
    label = domain.split(".", 1)[0]
    return bool(last) and len(last) >= 3 and last.replace(" ", "") in label


def _two_addresses_cap(
    a: Prepared,
    b: Prepared,
    name: tuple[float, float, float, str] | None,
    levels: list[tuple[str, int, str, str]],
    rules: MatchRules,
) -> list[tuple[float, str]]:
    """Two different personal addresses are one person only on strong evidence: the local
    parts one typo apart ("jon.smith" / "jonh.smith"), or the same full name and a field that
    ties them (the phone, the street, or the company domain when both addresses name the
    person). A colleague at the same domain or a namesake elsewhere is at most flagged."""
    if a.local == b.local or OSA.distance(a.local, b.local) <= 1 < min(len(a.local),
                                                                       len(b.local)):  # fmt: skip
        return []  # the same mailbox at another domain, or one typo in it
    at = dict((field_name, level) for field_name, level, _, _ in levels)
    full = bool(a.first and a.last and b.first and b.last)
    full_same = (
        full
        and name is not None
        and name[1] >= rules.name_floor  # no part differs (a typo may)
        and len(a.first.split()[0]) > 1
        and len(b.first.split()[0]) > 1
    )
    tied = at.get("phone", 9) <= 1 or at.get("street", 9) == 0
    if (
        at.get("domain") == 0
        and _address_names(a.local, a.domain, a.first, a.last)
        and (_address_names(b.local, b.domain, b.first, b.last))
    ):
        tied = True
    if full_same and tied:
        return []
    if full_same or tied:
        return [(rules.review, "two addresses, and not the same name and a tie between them")]
    return [(rules.different_person_cap, "two addresses, and not the same name")]


def _compare(
    a: Prepared, b: Prepared, rules: MatchRules, explain: bool
) -> tuple[float, list[str], list[Contribution], float]:
    """(match probability of `b` against `a`, reasons, contributions, bits). The reasons, when
    `explain`, say each field's similarity and any cap; the contributions are the waterfall of
    the Fellegi-Sunter weight. Without `explain`, two different people may return early with
    the cap (an upper bound below `auto_merge`)."""
    model: MatchModel = rules.model or DEFAULT_MODEL  # type: ignore[assignment]
    weights = rules.weights
    compared: list[tuple[str, float, str]] = []
    # (field, level, agreed value for term frequencies, note)
    levels: list[tuple[str, int, str, str]] = []
    left_out: list[str] = []
    caps: list[tuple[float, str]] = []

    one_part_differs = 0.0  # the weaker name part's similarity, when only one part differs
    two = _two_names(a, b) if a.first and a.last and b.first and b.last else None
    name = _name_similarity(a, b, two)
    if name is None:
        left_out.append("name")
    else:
        compared.append(("name", name[0], name[3]))
        strongest = name[1]
        if two is not None:
            first, last, swapped = two
            strongest = max(first, last)
            note = "swapped with the last name" if swapped else ""
            first_value = a.first if not swapped else ""
            last_value = a.last if not swapped else ""
            fb = b.last if swapped else b.first
            levels.append(("first_name", _first_level(a.first, fb, first), first_value, note))
            levels.append(("last_name", _level(last, (0.92, 0.80)), last_value, note))
        else:
            # One side knows a single name: it must be one of the other's names.
            one = _level(name[1], (0.92, 0.80))
            levels.append(("last_name", max(one, 1), "", "one name only"))
        if name[1] < rules.name_floor:
            same_address = bool(a.local and a.email == b.email)
            if same_address and name[2] >= rules.name_floor:
                pass  # "Bob" and "Robert" Miller at one personal address: one person
            elif same_address:
                caps.append((rules.review, "one personal address, different last names"))
            elif strongest >= rules.name_floor and not (a.local and b.local):
                # One part alike, one not (a married name, a replaced first name; a spouse or
                # a colleague too): only the rest of the evidence, on its own, can merge.
                one_part_differs = name[1]
            else:
                # Both parts differ, or one does and each has a personal address of their own.
                if not explain and rules.different_person_cap < rules.auto_merge:
                    return rules.different_person_cap, [], [], 0.0
                caps.append(
                    (
                        rules.different_person_cap,
                        f"different people (a name part at {name[1]:.2f} < {rules.name_floor:.2f})",
                    )
                )

    if a.company_from_domain and b.company_from_domain:
        left_out.append("company (the domain says it)")
    elif a.company and b.company:
        how = "token_set_ratio"
        if a.company_from_domain or b.company_from_domain:
            how += ", from the email domain"
        similarity = fuzz.token_set_ratio(a.company, b.company) / 100
        compared.append(("company", similarity, how))
        level = _level(similarity, (0.90, 0.75))
        if level == 0 and a.company != b.company:
            level = 1  # "mary crane" within "mary crane center east": close, not the same
        levels.append(("company", level, "", ""))
    else:
        left_out.append("company")

    if a.local and b.local:
        if a.email == b.email:
            compared.append(("email", 1.0, "same address"))
            levels.append(("email", 0, "", ""))
        else:
            similarity = 0.9 * fuzz.ratio(a.local, b.local) / 100
            compared.append(("email", similarity, "ratio of the local parts"))
            levels.append(("email", 1 if similarity >= 0.6 else 2, "", ""))
    elif a.email and b.email:
        left_out.append("email (role address)")
    else:
        left_out.append("email")

    if a.domain and b.domain:
        same = a.domain == b.domain
        compared.append(("domain", float(same), "company email domain"))
        levels.append(("domain", 0 if same else 1, "", ""))
    elif (a.email and not a.domain) or (b.email and not b.domain):
        left_out.append("domain (free-mail)")

    if a.phone and b.phone:
        similarity, how = _phone_similarity(a.phone, b.phone)
        compared.append(("phone", similarity, how))
        levels.append(("phone", 0 if similarity == 1.0 else 1 if similarity else 2, "", ""))
    else:
        left_out.append("phone")

    if a.title and b.title:
        similarity = fuzz.token_set_ratio(a.title, b.title) / 100
        compared.append(("title", similarity, "token_set_ratio"))
        levels.append(("title", 0 if similarity >= 0.9 else 1, "", ""))

    if a.street and b.street:
        similarity, how = _street_similarity(a, b)
        compared.append(("street", similarity, how))
        levels.append(("street", _level(similarity, (0.90, 0.70)), "", ""))
    else:
        left_out.append("street")
    if a.postal_code and b.postal_code:
        same = a.postal_code == b.postal_code
        compared.append(("postal_code", float(same), "same code"))
        near = not same and OSA.distance(a.postal_code, b.postal_code) <= 1
        levels.append(("postal_code", 0 if same else 1 if near else 2, a.postal_code, ""))
    if a.city and b.city:
        similarity = fuzz.ratio(a.city, b.city) / 100
        compared.append(("city", similarity, "ratio"))
        levels.append(("city", _level(similarity, (0.85,)), a.city, ""))
    if a.state and b.state:
        same = a.state == b.state
        compared.append(("state", float(same), "same state"))
        levels.append(("state", 0 if same else 1, "", ""))
    if a.country and b.country:
        same = a.country == b.country
        compared.append(("country", float(same), "same country"))
        levels.append(("country", 0 if same else 1, "", ""))

    bits = model.prior_bits
    contributions: list[Contribution] = []
    identified = corroborated = False
    place_bits = name_bits = 0.0
    for field_name, level, value, note in levels:
        group = _WEIGHT_OF.get(field_name, field_name)
        weight = weights[group]
        if not weight:
            continue
        if level == 0 and field_name in rules.pin:
            field_bits, tf_note = rules.pin[field_name], "pinned by the rules file"
        else:
            field_bits, tf_note = model.bits(field_name, level, value)
        if weight != _DEFAULT_WEIGHTS[group]:
            field_bits *= weight / _DEFAULT_WEIGHTS[group]
        bits += field_bits
        if field_name in _WEIGHT_OF:
            name_bits += field_bits
        if field_name in _PLACE_FIELDS:
            place_bits += field_bits
        if explain:
            joined = "; ".join(n for n in (note, tf_note) if n)
            contributions.append(
                Contribution(field_name, LEVELS[field_name][level], field_bits, joined)
            )
    two_addresses = bool(a.local and b.local and a.email != b.email)
    if two_addresses:
        caps.extend(_two_addresses_cap(a, b, name, levels, rules))
    for field_name, similarity, _ in compared:
        if not weights[field_name]:
            continue
        if field_name in IDENTIFYING_FIELDS:
            identified = True
        if field_name in CORROBORATING_FIELDS and similarity >= CORROBORATING:
            # a similar local part at another domain is no corroboration: only the same address;
            # two different personal addresses need more than the company's name (the same
            # company domain will do: a person's second address at their employer)
            if field_name == "email":
                corroborated = corroborated or similarity == 1.0
            elif field_name != "company" or not two_addresses:
                corroborated = True
    corroborated = corroborated or place_bits >= PLACE_CORROBORATION_BITS
    if not corroborated and not two_addresses:
        # The whole name, both parts close, where the person lives (the same postal code, or
        # the same city and a similar street): without an address or a phone that agrees, that
        # is the evidence a person record has.
        at = {field_name: level for field_name, level, _, _ in levels}
        corroborated = (
            at.get("first_name", 9) <= 1
            and at.get("last_name", 9) <= 1
            and (
                at.get("postal_code", 9) == 0
                or (at.get("city", 9) == 0 and at.get("street", 9) <= 1)
            )
        )
    score = probability(bits)
    if name is None and any(f == "street" and lv == len(LEVELS["street"]) - 1
                            for f, lv, _, _ in levels):  # fmt: skip
        # Without a person's name the street is what tells one site of a company from another
        # (they share its name and switchboard).
        caps.append((rules.review, "no name, and two different streets"))
    if (
        one_part_differs
        and sum(lv == len(LEVELS[f]) - 1 for f, lv, _, _ in levels if f in _WHERE_FIELDS) >= 2
    ):
        # A name part changed and two of postal code, city and state differ too: two people
        # who share a first name and a street name, more likely than a person who changed
        # both their name and their town.
        caps.append((rules.review, "a name part differs and they live apart"))
    elif one_part_differs and probability(bits - name_bits) < rules.auto_merge:
        caps.append(
            (
                rules.review,
                f"a name part differs ({one_part_differs:.2f} < {rules.name_floor:.2f}) and the"
                " rest alone is not sure",
            )
        )
    if not identified:
        # Nothing that tells one person from another (two role addresses, two nameless leads of
        # one company): colleagues, not a duplicate; the company view links them instead.
        caps.append((rules.different_person_cap, "no name, personal email, phone or street"))
    elif not corroborated:
        caps.append((rules.review, "no agreement on personal email, phone, street or company"))
    reasons: list[str] = []
    if explain:
        reasons = [f"{n} {s:.2f} ({how})" for n, s, how in compared if weights[n]]
        if left_out:
            reasons.append("left out: " + ", ".join(left_out))
    for cap, why in caps:
        if score > cap:
            score = cap
            if explain:
                reasons.append(f"{why}: capped at {cap:.2f}")
    return round(score, 4), reasons, contributions, bits


def quick_score(a: Prepared, b: Prepared, rules: MatchRules) -> float:
    """The score of `score_prepared` without its reasons and waterfall (an upper bound, equal
    at or above `review`): what the scan and matching filter the candidates by."""
    return _compare(a, b, rules, explain=False)[0]


def score_prepared(a: Prepared, b: Prepared, rules: MatchRules) -> Match:
    """`score` on leads already prepared (what the index uses)."""
    value, reasons, contributions, bits = _compare(a, b, rules, explain=True)
    model: MatchModel = rules.model or DEFAULT_MODEL  # type: ignore[assignment]
    return Match(
        key=b.key,
        score=value,
        verdict=rules.verdict(value),
        reasons=tuple(reasons),
        contributions=tuple(contributions),
        bits=round(bits, 2),
        prior_bits=round(model.prior_bits, 2),
    )


def score(a: Person, b: Person, rules: MatchRules | None = None) -> Match:
    """How much `b` looks like a duplicate of `a`: a weighted mean over the fields both have.

    Each field has its scorer: the mean of Jaro-Winkler and OSA edit distance for first and last
    names (part by part, in either order), token_set_ratio for company, street and title, ratio
    for email local parts and city, equality (with an area-code allowance) for phone, domain,
    postal code, state and country. Then caps, for evidence a mean cannot weigh: two different
    names are two people (`different_person_cap`), unless they share a personal address (same
    last name: a nickname, no cap; different last names: review at most); and a merge needs an
    identifying field compared (name, personal email, phone, street) and one agreement besides
    the name (the same personal address, or phone, street, company or domain at >= 0.9), else
    it is review at most. `reasons` lists every field compared ("company 0.93
    (token_set_ratio)"), the fields left out, and any cap applied.
    """
    return score_prepared(prepare(a), prepare(b), rules or MatchRules())


# =============================================================================================
# The in-memory block index
# =============================================================================================


class BlockIndex:
    """An inverted index blocking key -> keys of the leads that have it, plus their normal forms.

    What the store-backed matcher does with a table of `blocking_keys`, done in dicts: a lead is
    compared only with leads sharing a block of at most `max_block_size` members.
    """

    def __init__(self, persons: Iterable[Person] = ()) -> None:
        self._blocks: dict[str, set[Key]] = defaultdict(set)
        self._people: dict[Key, Prepared] = {}
        for person in persons:
            self.add(person)

    def __len__(self) -> int:
        return len(self._people)

    def __contains__(self, key: object) -> bool:
        return key in self._people

    def add(self, person: Person) -> None:
        """Index a lead (replacing the lead with the same key, if any)."""
        self.add_prepared(prepare(person))

    def add_prepared(self, prepared: Prepared) -> None:
        if prepared.key in self._people:
            self.remove(prepared.key)
        self._people[prepared.key] = prepared
        for block_key in _keys_of(prepared):
            self._blocks[block_key].add(prepared.key)

    def remove(self, key: Key) -> None:
        """Forget a lead (merged away, deleted); unknown keys are ignored."""
        prepared = self._people.pop(key, None)
        if prepared is None:
            return
        for block_key in _keys_of(prepared):
            members = self._blocks.get(block_key)
            if members is not None:
                members.discard(key)
                if not members:
                    del self._blocks[block_key]

    def block_size(self, block_key: str) -> int:
        members = self._blocks.get(block_key)
        return len(members) if members else 0

    def prepared(self, key: Key) -> Prepared:
        """The normal form of a stored lead (KeyError if it is not stored)."""
        return self._people[key]

    def largest_blocks(self, count: int = 3) -> list[tuple[str, int]]:
        """The `count` largest blocks as (blocking key, members), largest first."""
        sizes = ((block_key, len(members)) for block_key, members in self._blocks.items())
        return heapq.nlargest(count, sizes, key=lambda item: item[1])

    @property
    def block_count(self) -> int:
        return len(self._blocks)

    def shortlist(self, person: Person, rules: MatchRules | None = None) -> list[Key]:
        """The candidates `match` scores, best first: at most `max_candidates` of them."""
        rules = rules or MatchRules()
        ranked = self._ranked(prepare(person), rules.max_block_size, rules.max_candidates)
        return [key for key, _ in ranked]

    def candidates(self, person: Person, limit_per_block: int = MAX_BLOCK_SIZE) -> set[Key]:
        """Keys of the leads sharing a blocking key with `person` (itself excluded), leaving out
        blocks with more than `limit_per_block` members."""
        return {key for key, _ in self._ranked(prepare(person), limit_per_block, None)}

    def _ranked(
        self, probe: Prepared, limit_per_block: int, limit: int | None, after: int = -1
    ) -> list[tuple[Key, float]]:
        """(candidate, weight), best first: each shared block adds 1 / log2(1 + its size), so a
        shared email counts for more than a shared company of 300. The best `limit` (None: all).
        With `after` >= 0 (the batch scan, where keys are positions) only keys above it count.
        """
        blocks = {}
        for block_key in sorted(_keys_of(probe)):  # a set's order changes with the hash seed
            members = self._blocks.get(block_key)
            if members and len(members) <= limit_per_block:
                blocks[block_key] = members
        if after < 0:
            return rank_candidates(blocks, probe.key, limit)
        weights: dict[Key, float] = defaultdict(float)
        for members in blocks.values():
            weight = block_weight(len(members))
            for key in members:
                if key > after:  # type: ignore[operator]
                    weights[key] += weight
        weights.pop(probe.key, None)
        return _best(weights, limit)

    def match_prepared(self, probe: Prepared, rules: MatchRules) -> list[Match]:
        people = self._people
        # the quick score first (no reasons), the explained one only for those that count
        matches = [
            score_prepared(probe, people[key], rules)
            for key, _ in self._ranked(probe, rules.max_block_size, rules.max_candidates)
            if quick_score(probe, people[key], rules) >= rules.review
        ]
        matches = [m for m in matches if m.score >= rules.review]
        matches.sort(key=lambda m: (m.score, m.bits), reverse=True)
        return matches

    def match(self, person: Person, rules: MatchRules | None = None) -> list[Match]:
        """Stored leads that `person` may duplicate (score >= `rules.review`), best first."""
        return self.match_prepared(prepare(person), rules or MatchRules())


# =============================================================================================
# Batch scan and its measure
# =============================================================================================


def _second(item: tuple[Key, float]) -> float:
    return item[1]


def block_weight(size: int) -> float:
    """What sharing a block of `size` leads says: 1 / log2(1 + size), so a shared email (a
    block of 1 or 2) counts for more than a shared company of 300."""
    return 1.0 / math.log2(1 + size)


def _best(weights: dict[Key, float], limit: int | None) -> list[tuple[Key, float]]:
    """The `limit` heaviest, ties to the lower key (the older lead, as the store's ranking has
    it): a set's order changes with Python's hash seed, and with it which of two equal
    candidates made the cut, so the same scan could give other pairs on another run."""
    by_key = sorted(weights.items())  # both sorts are stable: equal weights stay by key
    if limit is None or len(by_key) <= limit:
        return sorted(by_key, key=_second, reverse=True)
    return heapq.nlargest(limit, by_key, key=_second)


def rank_candidates(
    blocks: Mapping[str, Collection[Key]], exclude: Key | None, limit: int | None
) -> list[tuple[Key, float]]:
    """(candidate, weight), best first, from the blocks a probe shares with stored leads
    (blocking key -> members; the caller leaves out blocks over `max_block_size`): each shared
    block adds 1 / log2(1 + its size), so a shared email counts for more than a shared company
    of 300. The best `limit` (None: all), `exclude` (the probe itself) left out. The in-memory
    index and the store-backed matcher both rank with it."""
    weights: dict[Key, float] = defaultdict(float)
    for block_key in sorted(blocks):  # one order of the float sums, whatever the caller's
        members = blocks[block_key]
        weight = block_weight(len(members))
        for key in members:
            weights[key] += weight
    if exclude is not None:
        weights.pop(exclude, None)
    return _best(weights, limit)


@dataclass
class ScanResult:
    """What a batch scan found: one set of keys per person (singletons included, in input
    order), and the pairs between the thresholds, for a person to review."""

    clusters: list[set[Key]]
    review: list[tuple[Key, Key, float]]


def scan(
    persons: Iterable[Person],
    rules: MatchRules | None = None,
    *,
    keep_apart: Collection[frozenset[Key]] = (),
    progress: Callable[[int], None] | None = None,
) -> ScanResult:
    """Group a batch into clusters and list the pairs to review.

    Candidate pairs come from a `BlockIndex` over the batch: each lead against the best
    `max_candidates` of the leads after it (so every pair is scored at most once); every pair
    scoring at least `auto_merge` is joined with union-find, unless it is in `keep_apart` (a
    person said "not a duplicate"). Pairs scoring between `review` and `auto_merge` whose leads
    end in different clusters are returned for review, best first. `progress(n)` is called
    after every 1,000 leads scored, and at the end.
    """
    rules = rules or MatchRules()
    index = BlockIndex()
    keys: list[Key] = []
    seen: set[Key] = set()
    for position, person in enumerate(persons):
        if person.key in seen:
            raise ValueError(f"duplicate key {person.key!r} in the batch")
        seen.add(person.key)
        keys.append(person.key)
        index.add_prepared(replace(prepare(person), key=position))

    parent = list(range(len(keys)))

    def find(i: int) -> int:
        root = i
        while parent[root] != root:
            root = parent[root]
        while parent[i] != root:
            parent[i], i = root, parent[i]
        return root

    people = index._people
    maybe: list[tuple[int, int, float]] = []
    for i in range(len(keys)):
        probe = people[i]
        ranked = index._ranked(probe, rules.max_block_size, rules.max_candidates, after=i)
        for j, _ in ranked:
            if find(i) == find(j):  # type: ignore[arg-type]
                continue
            value = _compare(probe, people[j], rules, explain=False)[0]
            if value < rules.review:
                continue
            if value >= rules.auto_merge and frozenset((keys[i], keys[j])) not in keep_apart:  # type: ignore[index]
                parent[find(j)] = find(i)  # type: ignore[arg-type]
            else:
                maybe.append((i, j, value))  # type: ignore[arg-type]
        if progress is not None and (i + 1) % 1000 == 0:
            progress(1000)
    if progress is not None and len(keys) % 1000:
        progress(len(keys) % 1000)

    groups: dict[int, set[Key]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(find(i), set()).add(key)
    review = [(keys[i], keys[j], value) for i, j, value in maybe if find(i) != find(j)]
    review.sort(key=lambda pair: pair[2], reverse=True)
    return ScanResult(list(groups.values()), review)


def cluster(persons: Iterable[Person], rules: MatchRules | None = None) -> list[set[Key]]:
    """Group a batch into one set of keys per person (singletons included), in input order:
    `scan` without the review list."""
    return scan(persons, rules).clusters


def duplicate_pairs(clusters: Iterable[Iterable[Key]]) -> set[frozenset[Key]]:
    """Every unordered pair of two different keys within one cluster (a cluster of n gives
    n(n-1)/2 pairs; singletons give none)."""
    pairs: set[frozenset[Key]] = set()
    for group in clusters:
        members = list(dict.fromkeys(group))
        for i, a in enumerate(members):
            for b in members[i + 1 :]:
                pairs.add(frozenset((a, b)))
    return pairs


def pair_metrics(
    predicted_clusters: Iterable[Iterable[Key]], true_clusters: Iterable[Iterable[Key]]
) -> tuple[float, float, float]:
    """(precision, recall, F1) of duplicate pairs.

    Pairs are counted as `duplicate_pairs` counts them: every unordered pair of distinct keys
    that share a predicted cluster is a predicted pair, every such pair within a true cluster a
    true pair; a key missing from the predicted clusters is a singleton. Precision = predicted
    pairs that are true / predicted pairs (1.0 when nothing is predicted), recall = true pairs
    predicted / true pairs (1.0 when there are none), F1 their harmonic mean.
    """
    predicted = duplicate_pairs(predicted_clusters)
    true = duplicate_pairs(true_clusters)
    hits = len(predicted & true)
    precision = hits / len(predicted) if predicted else 1.0
    recall = hits / len(true) if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1
