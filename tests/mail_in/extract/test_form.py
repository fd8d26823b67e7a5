"""Web-form notifications, "Connor, Sarah", broken encoded-word subjects (issue 12, item 13)."""

from __future__ import annotations

from bot.mail_in.decode import decode_mail
from bot.mail_in.extract.form import country_code, read_form
from bot.mail_in.extract.lead import extract_lead
from bot.mail_in.message import InboundMail


def inbound(text: str, sender: str = "jane@globex.com", name: str = "") -> InboundMail:
    return InboundMail(message_id=None, subject="Enquiry", from_name=name, from_address=sender,
                       text=text)  # fmt: skip


def test_a_web_form_notification_fills_company_country_and_phone() -> None:
    body = (
        "New submission from your contact form\n\n"
        "Name: Hank Scorpio\nEmail: hank@globex.com\nCompany: Globex Corporation\n"
        "Country: United States\nPhone: (415) 555-0100\nJob title: VP Sales\n"
        "Message: We need 50 seats.\n"
    )
    draft = extract_lead(inbound(body, sender="noreply@forms.example-site.com", name="Website"))
    assert (draft.email, draft.first_name, draft.last_name) == (
        "hank@globex.com",
        "Hank",
        "Scorpio",
    )
    assert (draft.company, draft.country, draft.phone, draft.title) == (
        "Globex Corporation", "US", "+14155550100", "VP Sales",
    )  # fmt: skip
    assert "company from form line 5" in draft.reasons
    assert "email from form line 4 (sent by noreply@forms.example-site.com)" in draft.reasons


def test_german_and_french_form_labels() -> None:
    german = read_form("Vorname: Hans\nNachname: Müller\nFirma: Müller GmbH\nLand: Deutschland\n"
                       "Telefon: 030 1234567")  # fmt: skip
    assert german is not None
    assert {k: v for k, (v, _) in german.values.items()} == {
        "first_name": "Hans", "last_name": "Müller", "company": "Müller GmbH", "country": "DE",
        "phone": "030 1234567",
    }  # fmt: skip
    french = "Prénom : Amélie\nNom : Poulain\nSociété : Café des 2 Moulins\nPays : France\n"
    draft = extract_lead(inbound(french + "Téléphone : 01 42 54 90 00", "amelie@moulins.fr"))
    assert (draft.first_name, draft.last_name, draft.company, draft.country, draft.phone) == (
        "Amélie", "Poulain", "Café des 2 Moulins", "FR", "+33142549000",
    )  # fmt: skip


def test_one_labelled_line_in_prose_is_not_a_form_and_unknown_countries_are_not_guessed() -> None:
    assert read_form("Hi, please call.\nPhone: 030 1234567\nThanks") is None
    assert [country_code(c) for c in ("États-Unis", "Schweiz", "de", "UK", "Atlantis")] == [
        "US", "CH", "DE", "GB", None,
    ]  # fmt: skip


def test_connor_comma_sarah_keeps_the_last_name_the_signature_gives() -> None:
    # `From: Connor, Sarah <sarah@…>` unquoted reads as two addresses: the name left is "Sarah".
    raw = (b"From: Connor, Sarah <sarah@cyberdyne.com>\r\nTo: leads@localhost\r\n"
           b"Subject: pricing\r\n\r\nWhat does it cost?\r\n\r\nBest,\r\nSarah Connor\r\n"
           b"Directrice commerciale\r\nCyberdyne Systems\r\n")  # fmt: skip
    draft = extract_lead(decode_mail(raw))
    assert (draft.first_name, draft.last_name) == ("Sarah", "Connor")
    assert draft.title == "Directrice commerciale"


def test_a_broken_encoded_word_subject_stays_readable() -> None:
    raw = (b"From: a@globex.com\r\nSubject: =?utf-8?b?QW5mcmFnZSBmw7xyIEdyw7zDn2U=?= "
           b"=?utf-8?b?IFByZWlz?= =?x-unknown?q?_f=FCr_Sie?=\r\n\r\nhi\r\n")  # fmt: skip
    assert decode_mail(raw).subject == "Anfrage für Grüße Preis für Sie"
    padded = b"From: a@globex.com\r\nSubject: =?utf-8?b?Q2Fmw6k?= ok\r\n\r\nhi\r\n"
    assert decode_mail(padded).subject == "Café ok"
