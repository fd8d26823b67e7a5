"""Which column of a broker's file is which lead field: header names in several languages.

A header is compared in a normal form (accents, case, spaces and punctuation dropped: `E-Mail`,
`e_mail` and `EMAIL ` are all `email`) with the names below. `--map 'Col=field,…'` overrides;
a column nobody recognises becomes a custom field (`custom.<header>`) unless `--ignore`d. Besides
the person fields of bot/leads/fields.py an import understands `email`, `name` (a full name, cut
into first and last), `status`, `stage`, `email_status` (ok / opted_out / bounced) and the
consent columns (`unsubscribed`, `opt-out`, `consent`…), which an import may only ever tighten.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from bot.leads import fields

# Targets besides the person fields.
SPECIAL = ("email", "name", "status", "stage", "email_status", "opted_out", "consent", "tags")
TARGETS = (*SPECIAL, *fields.NAMES)

# field -> header names in normal form (see `normal`), English, German, French, Spanish,
# Italian, Dutch, Portuguese and Swedish spellings.
# fmt: off
SYNONYMS: dict[str, tuple[str, ...]] = {
    "email": (
        "email", "emailaddress", "mail", "emailadresse", "mailadresse", "courriel", "adressemail",
        "adresseemail", "correo", "correoelectronico", "posta", "postaelettronica", "epost",
        "epostadress", "contactemail", "workemail", "businessemail", "emailid", "emails",
        "primaryemail", "correoelectrnico",
    ),
    "first_name": (
        "firstname", "first", "givenname", "forename", "vorname", "prenom", "nombre", "nome",
        "voornaam", "fornamn", "primernombre", "fname",
    ),
    "last_name": (
        "lastname", "last", "surname", "familyname", "nachname", "familienname", "nom",
        "nomdefamille", "apellido", "apellidos", "cognome", "achternaam", "efternamn",
        "sobrenome", "lname",
    ),
    "name": (
        "name", "fullname", "contactname", "contact", "person", "nomcomplet", "nombrecompleto",
        "nomecompleto", "vollstandigername", "naam", "namn", "director", "executivedirector",
    ),
    "company": (
        "company", "companyname", "organization", "organisation", "organizationname", "account",
        "accountname", "firma", "firmenname", "unternehmen", "societe", "entreprise", "empresa",
        "azienda", "societa", "bedrijf", "bedrijfsnaam", "foretag", "empresanome", "employer",
        "business", "businessname", "agency", "sitename",
    ),
    "title": (
        "title", "jobtitle", "position", "role", "jobrole", "designation", "titel", "funktion",
        "berufsbezeichnung", "poste", "fonction", "cargo", "puesto", "ruolo", "qualifica",
        "functie", "befattning", "titulo",
    ),
    "phone": (
        "phone", "phonenumber", "telephone", "tel", "mobile", "mobilephone", "cell", "cellphone",
        "workphone", "businessphone", "telefon", "telefonnummer", "handy", "mobil", "telefono",
        "movil", "celular", "telefoon", "mobiel", "telefonnummer", "numero", "telefone",
    ),
    "website": (
        "website", "web", "url", "homepage", "site", "siteweb", "webseite", "internetseite",
        "sitioweb", "paginaweb", "sitoweb", "webbplats", "companywebsite",
    ),
    "street": (
        "street", "address", "streetaddress", "address1", "addressline1", "strasse", "str",
        "anschrift", "adresse", "rue", "direccion", "calle", "indirizzo", "via", "straat",
        "adres", "gatuadress", "adress", "endereco", "rua", "mailingstreet",
    ),
    "city": (
        "city", "town", "stadt", "ort", "wohnort", "ville", "ciudad", "localidad", "citta",
        "comune", "stad", "plaats", "woonplaats", "cidade", "postort", "mailingcity", "suburb",
    ),
    "state": (
        "state", "province", "region", "county", "bundesland", "kanton", "provincia", "estado",
        "regione", "provincie", "lan", "stateprovince", "mailingstate",
    ),
    "postal_code": (
        "postalcode", "postcode", "zip", "zipcode", "plz", "postleitzahl", "codepostal", "cp",
        "codigopostal", "cap", "postnummer", "cep", "mailingpostalcode",
    ),
    "country": (
        "country", "countrycode", "land", "staat", "pays", "pais", "paese", "nazione",
        "mailingcountry", "nation",
    ),
    "language": ("language", "lang", "locale", "sprache", "langue", "idioma", "lingua", "taal",
                 "sprak"),
    "industry": ("industry", "sector", "branche", "secteur", "industria", "bransch",
                 "vertical"),
    "company_size": (
        "companysize", "employees", "numberofemployees", "employeecount", "size", "headcount",
        "mitarbeiter", "mitarbeiterzahl", "anzahlmitarbeiter", "effectif", "empleados",
        "dipendenti", "medewerkers", "anstallda",
    ),
    "status": ("status", "leadstatus"),
    "stage": ("stage", "lifecyclestage", "leadstage", "funnelstage"),
    "email_status": ("emailstatus", "subscriptionstatus", "subscriberstatus"),
    "opted_out": (
        "optedout", "optout", "unsubscribed", "unsubscribe", "donotemail", "donotcontact",
        "emailoptout", "hasoptedoutofemail", "abgemeldet", "desabonne", "bounced",
    ),
    "consent": ("consent", "emailconsent", "optin", "marketingconsent", "gdprconsent",
                "einwilligung", "consentement", "consentimiento"),
    "tags": ("tags", "tag", "labels", "lists", "segments"),
}
# fmt: on
_BY_NAME: dict[str, str] = {}
for _target, _names in SYNONYMS.items():
    for _name in _names:
        _BY_NAME.setdefault(_name, _target)
for _target in TARGETS:
    _BY_NAME.setdefault(_target.replace("_", ""), _target)

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def normal(header: str) -> str:
    """A header in the form synonyms are written in: "E-Mail Adresse" -> "emailadresse"."""
    text = unicodedata.normalize("NFKD", header)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    return _NON_ALNUM.sub("", text.replace("ß", "ss"))


class BadMapping(ValueError):
    """`--map` or `--ignore` names a column or field that is not there; the message says which."""


@dataclass(frozen=True)
class ColumnMap:
    """Column index -> target: a lead field, a special target, `custom.<name>`, or None
    (ignored). `how` says for each column why it maps where it does, for the dry run."""

    targets: tuple[str | None, ...]
    how: tuple[str, ...] = field(default=())

    def describe(self, header: list[str]) -> list[tuple[str, str, str]]:
        rows = zip(header, self.targets, self.how, strict=False)
        return [(column, target or "(ignored)", how) for column, target, how in rows]


def parse_pairs(text: str) -> dict[str, str]:
    """`'E-Mail=email,Firma=company'` -> {"E-Mail": "email", "Firma": "company"}."""
    pairs: dict[str, str] = {}
    for part in (p for p in text.split(",") if p.strip()):
        column, sep, target = part.partition("=")
        if not sep or not column.strip() or not target.strip():
            raise BadMapping(f"--map {part!r}: write COLUMN=FIELD")
        pairs[column.strip()] = target.strip()
    return pairs


def map_columns(
    header: list[str],
    overrides: Mapping[str, str] | None = None,
    ignore: Iterable[str] = (),
    *,
    ignore_unknown: bool = False,
) -> ColumnMap:
    """Decide every column's target. A field two columns claim goes to the first (the second
    becomes a custom field); `overrides` ("Col" -> field, `custom.x` or `ignore`) win."""
    overrides = dict(overrides or {})
    ignored = set(ignore)
    known = {column for column in header}
    for column in [*overrides, *ignored]:
        if column not in known:
            raise BadMapping(f"no column {column!r} in the file; its columns: {', '.join(header)}")
    for column, target in overrides.items():
        if target not in TARGETS and target != "ignore" and not target.startswith("custom."):
            raise BadMapping(
                f"--map {column}={target}: not a field; fields: {', '.join(TARGETS)}, "
                "custom.NAME or ignore"
            )
    targets: list[str | None] = []
    how: list[str] = []
    taken: set[str] = set()
    for column in header:
        if column in ignored or overrides.get(column) == "ignore":
            targets.append(None)
            how.append("--ignore")
            continue
        if column in overrides:
            target = overrides[column]
            taken.add(target)
            targets.append(target)
            how.append("--map")
            continue
        targets.append("")  # decided below, once every override has taken its field
        how.append("")
    for index, column in enumerate(header):
        if targets[index] != "":
            continue
        guess = _BY_NAME.get(normal(column))
        if guess is not None and guess not in taken:
            taken.add(guess)
            targets[index], how[index] = guess, "header"
        elif not column or ignore_unknown:
            targets[index], how[index] = None, "unknown column, ignored"
        else:
            targets[index], how[index] = f"custom.{column}", "unknown column"
    return ColumnMap(tuple(targets), tuple(how))
