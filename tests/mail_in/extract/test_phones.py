"""Phone numbers in the body and in the signature, as E.164 when a region is known."""

from __future__ import annotations

from bot.mail_in.extract.lead import extract_lead
from tests.mail_in.extract.helpers import (
    mail,
)


def test_phone_in_body_when_signature_has_none() -> None:
    lead = extract_lead(
        mail("Please call me at +1 (415) 555-0100 tomorrow.\n\nAnn", address="ann@lee.com")
    )
    assert lead.phone == "+14155550100"
    assert "phone from message body" in lead.reasons


def test_unparseable_phone_keeps_its_text() -> None:
    lead = extract_lead(
        mail(
            "Interested.\n\nGina Smith\ngina@example.com\n(555) 346-9947\nwww.example.com",
            address="gina@example.com",
        )
    )
    assert lead.phone == "(555) 346-9947"  # .com gives no region, so no E.164
    assert lead.website == "https://www.example.com"
