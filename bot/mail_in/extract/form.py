"""Web-form notification bodies: "Company: Globex Corporation" lines read as lead fields.

A contact form on a website usually mails its posts as one `Label: value` line per field, in
the site's language. `read_form` recognises the labels of the fields a lead has (English,
German, French, Spanish) and, when at least two are found, gives their values; one stray
"Phone: …" line in prose is not a form. Countries written as names ("United States",
"Deutschland", "États-Unis") become ISO 3166 codes with the region names phonenumbers already
ships (no second country table to keep).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

import phonenumbers

# Label (accent-free, lower-case) -> lead field. "name" is split into first and last.
_LABELS: dict[str, str] = {}
for _field, _names in {
    "email": "email|e-mail|email address|e-mail-adresse|adresse e-mail|adresse email|"
    "courriel|correo|correo electronico|your email",
    "name": "name|full name|your name|nom complet|nombre completo|ihr name|votre nom",
    "first_name": "first name|firstname|given name|vorname|prenom|nombre",
    "last_name": "last name|lastname|surname|family name|nachname|familienname|nom|"
    "nom de famille|apellido|apellidos",
    "company": "company|company name|organization|organisation|organization name|firma|"
    "unternehmen|firmenname|societe|entreprise|nom de l'entreprise|empresa|compania",
    "title": "job title|title|position|role|job|jobtitel|funktion|position im unternehmen|"
    "berufsbezeichnung|poste|fonction|titre|cargo|puesto",
    "phone": "phone|phone number|telephone|telephone number|tel|mobile|telefon|"
    "telefonnummer|handy|numero de telephone|telefono|movil",
    "country": "country|land|pays|pais|country/region",
    "city": "city|town|stadt|ort|ville|ciudad",
    "website": "website|web site|url|company website|webseite|homepage|site web|"
    "site internet|sitio web",
    "industry": "industry|branche|secteur|secteur d'activite|industria|sector",
    "company_size": "company size|employees|number of employees|mitarbeiter|"
    "mitarbeiteranzahl|unternehmensgrosse|taille de l'entreprise|effectif|"
    "nombre d'employes|tamano de la empresa|empleados",
}.items():
    for _name in _names.split("|"):
        _LABELS[_name] = _field

_APOSTROPHE = "\u2019"
_LINE = re.compile(r"^\s*[*_]*([^\W\d][\w '\u2019/().-]{0,40}?)[*_]*\s*[:\uff1a]\s*(.+?)\s*$")
_LANGUAGES = ("en", "de", "fr", "es", "it", "nl", "pt")


@dataclass(frozen=True)
class FormFields:
    """The lead fields a form body gave, each with the body line (1-based) it came from."""

    values: dict[str, tuple[str, int]]

    def get(self, name: str) -> tuple[str, int] | None:
        return self.values.get(name)


def _plain(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.replace(_APOSTROPHE, "'"))
    return "".join(c for c in text if not unicodedata.combining(c)).lower().strip()


def read_form(text: str) -> FormFields | None:
    """The labelled fields of a form notification, or None when `text` is not one."""
    values: dict[str, tuple[str, int]] = {}
    for line_no, line in enumerate(text.splitlines(), start=1):
        found = _LINE.match(line)
        if not found:
            continue
        field_name = _LABELS.get(" ".join(_plain(found.group(1)).split()))
        value = found.group(2).strip()
        if field_name is None or not value or field_name in values:
            continue
        if field_name == "country":
            code = country_code(value)
            if code is None:
                continue
            value = code
        values[field_name] = (value, line_no)
    return FormFields(values) if len(values) >= 2 else None


@functools.cache
def _country_names() -> dict[str, str]:
    # The geocoder's data takes half a second to import: only a form mail with a country field
    # needs it, so every process that may parse mail does not pay for it at start.
    from phonenumbers import geocoder

    names: dict[str, str] = {}
    for region in phonenumbers.SUPPORTED_REGIONS:
        example = phonenumbers.example_number(region)
        if example is None:
            continue
        for language in _LANGUAGES:
            name = geocoder.country_name_for_number(example, language)
            if name:
                names.setdefault(_plain(name), region)
    for alias, region in {"usa": "US", "u.s.": "US", "u.s.a.": "US", "united states of america":
                          "US", "uk": "GB", "great britain": "GB", "england": "GB",
                          "scotland": "GB", "wales": "GB", "holland": "NL"}.items():  # fmt: skip
        names[alias] = region
    return names


def country_code(value: str) -> str | None:
    """ISO 3166 alpha-2 code for "DE", "Germany", "Deutschland", "États-Unis"; None if unknown."""
    plain = _plain(value)
    if re.fullmatch(r"[a-z]{2}", plain) and plain.upper() in phonenumbers.SUPPORTED_REGIONS:
        return plain.upper()
    return _country_names().get(plain)
