"""Enrichment: where a lead is and what it speaks, from what its capture already says.

Pure (no storage): `guess(...)` reads the address, the stated fields, the enquiry and the
signature and returns the values it could work out, each with its reason in words, which capture
writes on the lead's timeline (`lead.enriched`) and `leadbot lead why` prints:

- country: from a postal address in the signature (its country line, or a postal-code format
  only one country writes, or one the other hints agree with), else the phone's country calling
  code (`+49 89 …` is DE), else a country-code domain (`.de`, `.co.uk`; not `.io`, `.ai`, `.co`,
  `.me`, `.tv` and the other TLDs sold worldwide);
- city, postal code and street from that address (DE/AT/CH/FR/ES/IT/NL/BE/Nordic/PL/PT
  "80331 München", US "Austin, TX 78701", Canada "Toronto, ON M5V 3L9", UK "London SW1A 1AA",
  Australia "Sydney NSW 2000");
- language: the enquiry's language by py3langid (its model ships with the package), when the
  text is long enough and the detector sure enough;
- time zone: the phone number's, when the number says one; else the country's, when the whole
  country keeps one clock.

A value a person or the door stated always wins: `guess` only fills fields that are empty.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import phonenumbers
import phonenumbers.timezone
import pytz

from bot.leads.freemail import registrable_domain

# Country-code TLDs sold to anyone for their letters: they say nothing of where a company is.
GENERIC_CCTLDS = frozenset(
    {"io", "ai", "co", "me", "tv", "fm", "ly", "gg", "to", "cc", "ws", "sh", "ac", "la", "nu",
     "so", "vc", "cx", "tk", "ml", "ga", "cf", "gq", "ms", "bz", "pw", "sc"}
)  # fmt: skip
# TLDs whose letters are not the ISO code of their country.
_TLD_COUNTRY = {"uk": "GB", "su": "RU"}

# Countries by name, in English and as they call themselves (a signature's last line).
COUNTRY_NAMES = {
    "germany": "DE", "deutschland": "DE", "austria": "AT", "österreich": "AT",
    "osterreich": "AT", "switzerland": "CH", "schweiz": "CH", "suisse": "CH", "svizzera": "CH",
    "france": "FR", "spain": "ES", "españa": "ES", "espana": "ES", "italy": "IT",
    "italia": "IT", "netherlands": "NL", "the netherlands": "NL", "nederland": "NL",
    "belgium": "BE", "belgië": "BE", "belgique": "BE", "denmark": "DK", "danmark": "DK",
    "norway": "NO", "norge": "NO", "sweden": "SE", "sverige": "SE", "finland": "FI",
    "suomi": "FI", "poland": "PL", "polska": "PL", "portugal": "PT", "ireland": "IE",
    "united kingdom": "GB", "uk": "GB", "u.k.": "GB", "great britain": "GB", "england": "GB",
    "scotland": "GB", "wales": "GB", "usa": "US", "u.s.a.": "US", "united states": "US",
    "united states of america": "US", "us": "US", "canada": "CA", "australia": "AU",
    "new zealand": "NZ", "mexico": "MX", "méxico": "MX", "brazil": "BR", "brasil": "BR",
    "argentina": "AR", "chile": "CL", "colombia": "CO", "japan": "JP", "india": "IN",
    "china": "CN", "singapore": "SG", "czech republic": "CZ", "czechia": "CZ", "hungary": "HU",
    "greece": "GR", "turkey": "TR", "türkiye": "TR", "israel": "IL", "south africa": "ZA",
    "luxembourg": "LU", "liechtenstein": "LI",
}  # fmt: skip

_CITY = r"(?P<city>[^\W\d_][^\d,;|]{1,40}?)"
# A postal-code line, per format: (regex, the countries that write it so).
_POSTAL_LINES: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = (
    # "Austin, TX 78701", "Austin TX 78701-1234"
    (re.compile(_CITY + r",?\s+(?P<state>[A-Z]{2})\s+(?P<code>\d{5})(?:-\d{4})?$"), ("US",)),
    # "Toronto, ON M5V 3L9"
    (
        re.compile(
            _CITY + r",?\s+(?P<state>AB|BC|MB|NB|NL|NS|NT|NU|ON|PE|QC|SK|YT)\s+"
            r"(?P<code>[A-Z]\d[A-Z]\s?\d[A-Z]\d)$"
        ),
        ("CA",),
    ),
    # "Sydney NSW 2000"
    (
        re.compile(_CITY + r",?\s+(?P<state>NSW|VIC|QLD|WA|SA|TAS|ACT|NT)\s+(?P<code>\d{4})$"),
        ("AU",),
    ),
    # "London SW1A 1AA", "Manchester, M1 1AE"
    (
        re.compile(_CITY + r",?\s+(?P<code>[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2})$"),
        ("GB",),
    ),
    # "1012 AB Amsterdam"
    (re.compile(r"(?:NL-)?(?P<code>\d{4}\s?[A-Z]{2})\s+" + _CITY + "$"), ("NL",)),
    # "00-950 Warszawa"
    (re.compile(r"(?:PL-)?(?P<code>\d{2}-\d{3})\s+" + _CITY + "$"), ("PL",)),
    # "1100-148 Lisboa"
    (re.compile(r"(?:PT-)?(?P<code>\d{4}-\d{3})\s+" + _CITY + "$"), ("PT",)),
    # "114 55 Stockholm"
    (re.compile(r"(?:SE-)?(?P<code>\d{3}\s\d{2})\s+" + _CITY + "$"), ("SE",)),
    # "D-80331 München", "A-1010 Wien", "CH-8001 Zürich", "F-75008 Paris"
    (re.compile(r"(?P<prefix>[A-Z]{1,2})-(?P<code>\d{4,5})\s+" + _CITY + "$"), ()),
    # "80331 München", "75008 Paris", "28013 Madrid", "1010 Wien", "8001 Zürich"
    (
        re.compile(r"(?P<code>\d{5})\s+" + _CITY + "$"),
        ("DE", "FR", "ES", "IT", "FI", "US", "MX"),
    ),
    (
        re.compile(r"(?P<code>\d{4})\s+" + _CITY + "$"),
        ("AT", "CH", "BE", "DK", "NO", "LU", "LI", "HU", "AU", "NZ", "ZA"),
    ),
)
# Old European plate prefixes before a postal code ("D-80331").
_PREFIXES = {"D": "DE", "A": "AT", "CH": "CH", "F": "FR", "E": "ES", "I": "IT", "B": "BE",
             "NL": "NL", "L": "LU", "DK": "DK", "N": "NO", "S": "SE", "FI": "FI", "FL": "LI",
             "DE": "DE", "AT": "AT", "FR": "FR", "ES": "ES", "IT": "IT", "BE": "BE", "LU": "LU",
             "NO": "NO", "SE": "SE"}  # fmt: skip
_PREFIX_DIGITS = {"AT": 4, "CH": 4, "BE": 4, "LU": 4, "DK": 4, "NO": 4, "LI": 4}
# A line that carries a street and house number: "Leopoldstraße 12", "221B Baker Street".
_STREET = re.compile(r"^(?:\d+[a-zA-Z]?\s+\D{2,}|\D{2,}?\s\d+[a-zA-Z]?(?:\s?[-/]\s?\d+)?)$")
_NOT_ADDRESS = re.compile(r"@|https?:|www\.|\b(?:tel|phone|fax|mobile|mob|cell)\b", re.I)

# Text shorter than this (letters) is not given a language: "Hi" is every language.
MIN_LANGUAGE_LETTERS = 12
# The detector's normalized probability a language needs.
MIN_LANGUAGE_PROBABILITY = 0.90


@dataclass
class Guess:
    """The values worked out for the empty fields, and one reason per value (in words)."""

    values: dict[str, str] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    # The time zone is not a lead field: capture keeps it in the lead's custom fields.
    timezone: str = ""

    def put(self, name: str, value: str, reason: str) -> None:
        self.values[name] = value
        self.reasons.append(f"{name.replace('_', ' ')} {value}: {reason}")


@dataclass(frozen=True)
class Address:
    """A postal address read from a signature."""

    street: str
    postal_code: str
    city: str
    state: str
    country: str  # "" when the address alone does not say
    line: int  # 1-based line number of the postal-code line in the signature
    how: str


def country_of_phone(phone: str, region: str | None = None) -> str:
    """The ISO country of a phone number's calling code ("+49 89 1234567" -> "DE"), or "".

    A national number ("089 1234567") says its country only with `region`, which it then only
    confirms; a number valid for no region gives ""."""
    text = (phone or "").strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    if not text.startswith("+") and not region:
        return ""
    try:
        number = phonenumbers.parse(text, None if text.startswith("+") else region)
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_possible_number(number):
        return ""
    found = phonenumbers.region_code_for_number(number)
    if found in (None, "ZZ", "001"):
        # +1 numbers outside the US plan's valid ranges: the calling code's main country
        found = phonenumbers.region_code_for_country_code(number.country_code)
    return "" if found in (None, "ZZ", "001") else found


def country_of_domain(address_or_domain: str) -> str:
    """The country of a country-code domain ("hans@bergbau-werke.de" -> "DE", "acme.co.uk" ->
    "GB"); "" for generic TLDs (.com, .org) and ccTLDs sold worldwide (.io, .ai, .co, .me, .tv)."""
    host = address_or_domain.rpartition("@")[2].strip().lower().rstrip(".")
    if "." not in host:
        return ""
    tld = registrable_domain(host).rpartition(".")[2]
    if len(tld) != 2 or not tld.isalpha() or tld in GENERIC_CCTLDS:
        return ""
    code = _TLD_COUNTRY.get(tld, tld.upper())
    return code if code in phonenumbers.SUPPORTED_REGIONS else ""


def country_of_name(text: str) -> str:
    """ISO code of a country written out ("Deutschland", "United Kingdom"), or ""."""
    return COUNTRY_NAMES.get(" ".join(text.strip().strip(".,").casefold().split()), "")


def read_address(signature: str, hints: tuple[str, ...] = ()) -> Address | None:
    """The postal address in a signature block, or None.

    The postal-code line is found by its format; the line above it is the street when it holds
    a house number, the line below (or the same line's tail) a country when it names one.
    `hints` are countries other evidence points to (the phone's, the domain's), in order: a
    postal-code format several countries write (five digits) is taken as the first hint that
    writes it, and otherwise leaves the country open."""
    lines = [line.strip(" \t|•·,;") for line in signature.splitlines()]
    for number, raw in enumerate(lines):
        if not raw or _NOT_ADDRESS.search(raw) or len(raw) > 80:
            continue
        # "Leopoldstraße 12, 80331 München, Germany" on one line: split at commas
        parts = [p.strip() for p in raw.split(",")]
        for start in range(len(parts)):
            for end in range(len(parts), start, -1):
                candidate = ", ".join(parts[start:end])
                found = _postal_line(candidate, hints)
                if found is None:
                    continue
                code, city, state, country, how = found
                street = ", ".join(parts[:start])
                above = lines[number - 1] if number > 0 else ""
                if not street and _STREET.match(above) and not _NOT_ADDRESS.search(above):
                    street = above
                tail = parts[end:] or ([lines[number + 1]] if number + 1 < len(lines) else [])
                named = country_of_name(tail[0]) if tail else ""
                if named:
                    country, how = named, f"country line {tail[0]!r}"
                if street and not _STREET.match(street):
                    street = ""
                return Address(street, code, city.strip(), state, country, number + 1, how)
    return None


def _postal_line(text: str, hints: tuple[str, ...]) -> tuple[str, str, str, str, str] | None:
    """(postal code, city, state, country or "", how) of a postal-code line, or None."""
    for pattern, countries in _POSTAL_LINES:
        match = pattern.match(text)
        if match is None:
            continue
        groups = match.groupdict()
        code, city = groups["code"], groups["city"].strip()
        if country_of_name(city):  # "80331 Germany" is no city
            continue
        state = groups.get("state") or ""
        if groups.get("prefix"):
            country = _PREFIXES.get(groups["prefix"], "")
            if not country or len(code) != _PREFIX_DIGITS.get(country, len(code)):
                continue
            return code, city, state, country, f"postal code with prefix {groups['prefix']}-"
        if len(countries) == 1:
            return code, city, state, countries[0], "postal code format"
        agreed = next((hint for hint in hints if hint in countries), "")
        how = "postal code format and the other hints" if agreed else "postal code format"
        return code, city, state, agreed, how
    return None


@functools.cache
def _identifier():  # type: ignore[no-untyped-def]
    """The language identifier, loaded once (its model ships inside py3langid)."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_pickled_model(MODEL_FILE, norm_probs=True)


def _classify(text: str) -> tuple[str, float]:
    """py3langid's `classify`, summed over the features the text has only. Its own multiplies
    a dense vector of all 7,480 features (integers, so off the fast path) by the model: 5 ms a
    mail, a tenth of capturing it. The sum of the same terms gives the same probabilities."""
    import numpy as np

    identifier = _identifier()
    state, indexes, nextmove, output = 0, [], identifier.tk_nextmove, identifier.tk_output
    extend, nothing = indexes.extend, ()
    for letter in text.encode("utf8", errors="surrogatepass"):
        state = nextmove[(state << 8) + letter]
        extend(output.get(state, nothing))
    features = Counter(indexes)
    rows = np.fromiter(features.keys(), dtype=np.intp, count=len(features))
    counts = np.fromiter(features.values(), dtype=np.float64, count=len(features))
    probabilities = identifier.norm_probs(counts @ identifier.nb_ptc[rows] + identifier.nb_pc)
    best = int(np.argmax(probabilities))
    return str(identifier.nb_classes[best]), float(probabilities[best])


def language_of(text: str) -> tuple[str, float]:
    """(ISO 639-1 code, probability) of a text's language; ("", 0) when it is too short or the
    detector is not sure (below `MIN_LANGUAGE_PROBABILITY`)."""
    sample = text[:2000]
    if sum(ch.isalpha() for ch in sample) < MIN_LANGUAGE_LETTERS:
        return "", 0.0
    code, probability = _classify(sample)
    if probability < MIN_LANGUAGE_PROBABILITY:
        return "", probability
    return str(code), probability


def timezone_of(country: str, phone: str = "") -> tuple[str, str]:
    """(IANA time zone, reason) for a lead; ("", why not) when neither says one clock.

    A geographic phone number names its zone ("+1 312 …" is America/Chicago); otherwise a
    country whose zones all keep the same clock (Germany: Europe/Berlin) gives its first."""
    text = phone.strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    if text.startswith("+"):
        try:
            zones = phonenumbers.timezone.time_zones_for_number(phonenumbers.parse(text, None))
        except phonenumbers.NumberParseException:
            zones = ()
        if len(zones) == 1 and zones[0] != phonenumbers.timezone.UNKNOWN_TIMEZONE:
            return zones[0], "from the phone number"
    zones = pytz.country_timezones.get(country.upper(), []) if country else []
    if not zones:
        return "", ""
    if len(zones) == 1 or _one_clock(tuple(zones)):
        return zones[0], f"the time zone of {country.upper()}"
    return "", f"{country.upper()} has {len(zones)} time zones"


@functools.lru_cache(maxsize=512)
def _one_clock(zones: tuple[str, ...]) -> bool:
    """Whether the zones keep the same UTC offset in winter and in summer (per country, once:
    asking pytz cost a tenth of an imported row)."""
    moments = (datetime(2026, 1, 15, 12), datetime(2026, 7, 15, 12))
    offsets = {tuple(pytz.timezone(z).utcoffset(m) for m in moments) for z in zones}
    return len(offsets) == 1


def guess(
    email: str,
    stated: Mapping[str, str],
    enquiry: str = "",
    signature: str = "",
    stated_timezone: str = "",
) -> Guess:
    """The empty fields' values that the capture itself says, each with its reason.

    `stated` are the lead's fields as given (the draft's, or the stored lead's): a non-empty one
    is never replaced. Country evidence is weighed in order: a stated country, an address's
    country, the phone's calling code, the country-code domain."""
    out = Guess()
    have = {name: (stated.get(name) or "").strip() for name in
            ("country", "city", "postal_code", "street", "state", "language", "phone")}  # fmt: skip
    phone_region_hint = _region_of_stated(have["country"])
    by_phone = country_of_phone(have["phone"], phone_region_hint or None)
    by_domain = country_of_domain(email)
    hints = tuple(c for c in (phone_region_hint, by_phone, by_domain) if c)
    address = read_address(signature, hints) if signature else None

    country = have["country"]
    if not country:
        if address is not None and address.country:
            out.put("country", address.country, f"address in the signature ({address.how}, "
                    f"line {address.line})")  # fmt: skip
        elif by_phone:
            out.put("country", by_phone, f"phone {have['phone']} has the country code of "
                    f"{by_phone} (+{phonenumbers.country_code_for_region(by_phone)})")  # fmt: skip
        elif by_domain:
            domain = email.rpartition("@")[2].lower()
            out.put("country", by_domain, f"country-code domain {domain}")
        country = out.values.get("country", "")
    if address is not None:
        where = f"address in the signature, line {address.line}"
        for name, value in (("city", address.city), ("postal_code", address.postal_code),
                            ("street", address.street), ("state", address.state)):  # fmt: skip
            if value and not have[name]:
                out.put(name, value, where)
    if not have["language"] and enquiry.strip():
        code, probability = language_of(enquiry)
        if code:
            out.put("language", code, f"the enquiry's language (py3langid, {probability:.0%})")
    if not stated_timezone:
        zone, why = timezone_of(_region_of_stated(country) or country, have["phone"])
        if zone:
            out.timezone = zone
            out.reasons.append(f"time zone {zone}: {why}")
    return out


def _region_of_stated(country: str) -> str:
    """A stated country as an ISO code ("DE", "Germany"), or ""."""
    text = country.strip()
    if len(text) == 2 and text.isalpha():
        code = text.upper()
        return "GB" if code == "UK" else code
    return country_of_name(text)
