"""Enrichment from what a capture already says: phones, domains, signature addresses, the
enquiry's language, time zones; and through capture, on a real store, with `lead why`."""

from __future__ import annotations

import pytest

import storage.timeline
from bot.leads import commands
from bot.leads.capture import Draft, Evidence, Source, capture
from bot.leads.enrich import (
    country_of_domain,
    country_of_phone,
    guess,
    language_of,
    read_address,
    timezone_of,
)
from bot.leads.permissions import Actor
from bot.rules.file import default_rules
from storage.engine import Store

# One number per country, written as people write them in signatures.
PHONES = [
    ("+49 89 1234567", "DE"), ("+43 1 5123456", "AT"), ("+41 44 668 18 00", "CH"),
    ("+33 1 42 68 53 00", "FR"), ("+34 915 23 12 34", "ES"), ("+39 02 1234 5678", "IT"),
    ("+31 20 123 4567", "NL"), ("+32 2 123 45 67", "BE"), ("+45 33 12 34 56", "DK"),
    ("+46 8 123 456 78", "SE"), ("+47 22 12 34 56", "NO"), ("+358 9 1234 5678", "FI"),
    ("+48 22 123 45 67", "PL"), ("+351 21 123 4567", "PT"), ("+44 20 7946 0958", "GB"),
    ("+353 1 234 5678", "IE"), ("+1 (312) 555-0123", "US"), ("+1 416 555 0199", "CA"),
    ("+61 2 9374 4000", "AU"), ("+81 3-1234-5678", "JP"), ("0049 30 1234567", "DE"),
    ("+55 11 3456-7890", "BR"), ("+91 22 2345 6789", "IN"),
]  # fmt: skip


@pytest.mark.parametrize(("phone", "country"), PHONES)
def test_the_phone_country_code_says_the_country(phone: str, country: str) -> None:
    assert country_of_phone(phone) == country


def test_a_national_number_says_no_country_without_a_region() -> None:
    assert country_of_phone("089 1234567") == ""
    assert country_of_phone("089 1234567", "DE") == "DE"
    assert country_of_phone("not a phone") == ""


@pytest.mark.parametrize(
    ("address", "country"),
    [
        ("hans@bergbau-werke.de", "DE"), ("a@firma.at", "AT"), ("a@example.ch", "CH"),
        ("a@acme.co.uk", "GB"), ("a@acme.fr", "FR"), ("a@shop.com.au", "AU"),
        ("a@mail.example.es", "ES"), ("a@empresa.com.br", "BR"), ("a@firma.pl", "PL"),
        # generic TLDs, and country codes sold worldwide, say nothing
        ("a@startup.io", ""), ("a@model.ai", ""), ("a@brand.co", ""), ("a@about.me", ""),
        ("a@stream.tv", ""), ("a@acme.com", ""), ("a@acme.org", ""), ("a@x.fm", ""),
        ("no-domain", ""),
    ],
)  # fmt: skip
def test_a_country_code_domain_says_the_country_a_generic_one_does_not(
    address: str, country: str
) -> None:
    assert country_of_domain(address) == country


SIGNATURES = [
    # (signature, hints, (street, postal code, city, state, country))
    ("Hans Maier\nBergbau Werke GmbH\nLeopoldstraße 12\n80331 München\nTel +49 89 1234567",
     ("DE",), ("Leopoldstraße 12", "80331", "München", "", "DE")),
    ("Anna Gruber\nKärntner Straße 5\nA-1010 Wien", (), ("Kärntner Straße 5", "1010", "Wien", "",
                                                       "AT")),
    ("Beat Keller\nBahnhofstrasse 10, 8001 Zürich, Schweiz", (),
     ("Bahnhofstrasse 10", "8001", "Zürich", "", "CH")),
    ("Marie Curie\n12 rue de Rivoli\n75001 Paris\nFrance", (),
     ("12 rue de Rivoli", "75001", "Paris", "", "FR")),
    ("Lucía García\nCalle de Alcalá 45\n28014 Madrid", ("ES",),
     ("Calle de Alcalá 45", "28014", "Madrid", "", "ES")),
    ("Jane Doe\nAcme Inc.\n233 S Wacker Dr\nChicago, IL 60606", (),
     ("233 S Wacker Dr", "60606", "Chicago", "IL", "US")),
    ("John Smith\n221B Baker Street\nLondon NW1 6XE", (),
     ("221B Baker Street", "NW1 6XE", "London", "", "GB")),
    ("Jan de Vries\nDamrak 1\n1012 LG Amsterdam", (), ("Damrak 1", "1012 LG", "Amsterdam", "",
                                                     "NL")),
    ("Piotr Nowak\nul. Marszałkowska 10\n00-590 Warszawa", (),
     ("ul. Marszałkowska 10", "00-590", "Warszawa", "", "PL")),
    ("Emma Tremblay\n100 King St W\nToronto, ON M5X 1A9", (),
     ("100 King St W", "M5X 1A9", "Toronto", "ON", "CA")),
    ("Olivia Brown\n1 Martin Place\nSydney NSW 2000", (),
     ("1 Martin Place", "2000", "Sydney", "NSW", "AU")),
    ("Erik Berg\nDrottninggatan 5\n111 51 Stockholm", (),
     ("Drottninggatan 5", "111 51", "Stockholm", "", "SE")),
]  # fmt: skip


@pytest.mark.parametrize(("signature", "hints", "expected"), SIGNATURES)
def test_a_postal_address_in_a_signature_is_read_in_its_countrys_format(
    signature: str, hints: tuple[str, ...], expected: tuple[str, ...]
) -> None:
    address = read_address(signature, hints)
    assert address is not None
    found = (address.street, address.postal_code, address.city, address.state, address.country)
    assert found == expected


def test_a_five_digit_code_without_a_hint_leaves_the_country_open() -> None:
    address = read_address("Someone\n28014 Madrid")
    assert address is not None and (address.city, address.country) == ("Madrid", "")
    assert read_address("Jane\nCall me on +1 312 555 0123\nhttps://acme.io") is None


TEXTS = [
    ("Hello, could you send me pricing for forty seats and your support terms?", "en"),
    ("Guten Tag, bitte senden Sie mir ein Angebot für vierzig Arbeitsplätze.", "de"),
    ("Hola, quisiera saber el precio para cuarenta usuarios, por favor.", "es"),
    ("Bonjour, pourriez-vous m'envoyer un devis pour quarante postes ?", "fr"),
    ("Buongiorno, vorrei ricevere un preventivo per quaranta utenti.", "it"),
    ("Goedemiddag, kunt u mij een offerte sturen voor veertig gebruikers?", "nl"),
    ("Olá, gostaria de receber uma proposta para quarenta utilizadores.", "pt"),
    ("Dzień dobry, proszę o przesłanie oferty dla czterdziestu użytkowników.", "pl"),
    ("Hej, kan ni skicka en offert för fyrtio användare?", "sv"),
    ("Здравствуйте, пришлите, пожалуйста, цены на сорок лицензий.", "ru"),
    ("こんにちは、四十人分の見積もりをお願いします。", "ja"),
]


@pytest.mark.parametrize(("text", "language"), TEXTS)
def test_the_enquirys_language_is_detected(text: str, language: str) -> None:
    assert language_of(text)[0] == language


def test_a_text_too_short_to_tell_gets_no_language() -> None:
    assert language_of("Hi") == ("", 0.0)


def test_time_zone_from_the_phone_else_from_a_one_clock_country() -> None:
    assert timezone_of("US", "+1 312 555 0123")[0] == "America/Chicago"
    assert timezone_of("DE")[0] == "Europe/Berlin"
    zone, why = timezone_of("US")
    assert zone == "" and "time zones" in why


def test_a_stated_value_always_wins_over_a_guess() -> None:
    found = guess(
        "hans@bergbau-werke.de",
        {"country": "AT", "language": "en", "city": "Graz", "phone": "+49 89 1234567"},
        enquiry="Guten Tag, bitte senden Sie mir ein Angebot für vierzig Plätze.",
        signature="Hans\nLeopoldstraße 12\n80331 München",
        stated_timezone="Europe/Vienna",
    )
    assert "country" not in found.values and "language" not in found.values
    assert "city" not in found.values and found.timezone == ""
    assert found.values["postal_code"] == "80331"


def test_country_evidence_in_order_address_phone_domain() -> None:
    by_phone = guess("a@acme.fr", {"phone": "+49 89 1234567"})
    assert by_phone.values["country"] == "DE" and "country code" in by_phone.reasons[0]
    by_domain = guess("a@acme.fr", {})
    assert by_domain.values["country"] == "FR" and "domain acme.fr" in by_domain.reasons[0]
    by_address = guess("a@acme.fr", {"phone": "+49 89 1234567"},
                       signature="X\nKärntner Straße 5\nA-1010 Wien")  # fmt: skip
    assert by_address.values["country"] == "AT"


def test_capture_fills_country_language_and_time_zone_and_why_says_why(store: Store) -> None:
    draft = Draft.of(
        "hans@bergbau-werke.de",
        first_name="Hans",
        phone="+49 89 1234567",
        enquiry="Guten Tag, wir möchten ein Angebot für unsere Niederlassungen.",
        signature="Hans Maier\nBergbau Werke GmbH\nLeopoldstraße 12\n80331 München",
    )
    source = Source("email", "email:hans@bergbau-werke.de", "an email to leads@localhost")
    evidence = Evidence("email.enquiry", "Angebot", {})
    with store.transaction() as session:
        lead = capture(session, draft, source, evidence, rules=default_rules()).lead
        assert lead is not None and lead.id is not None
        created = storage.timeline.for_lead(session, lead.id)[0]
        why = commands.execute(
            session, commands.parse(f"why L-{lead.id}"), Actor("cli", privileged=True)
        ).message
    assert (lead.country, lead.language, lead.city, lead.postal_code) == (
        "DE", "de", "München", "80331")  # fmt: skip
    assert lead.custom["timezone"] == "Europe/Berlin"
    assert created.kind == "created" and len(created.data["enriched"]) == 6
    assert "country DE: address in the signature" in why
    assert "language de: the enquiry's language" in why
    assert "time zone Europe/Berlin: from the phone number" in why
