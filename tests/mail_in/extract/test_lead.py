"""A whole lead out of a mail: talon's standard replies decoded as the pipeline does, and
hand-written enquiries, with the reasons each field records."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.mail_in.decode import decode_mail
from bot.mail_in.extract.lead import LeadDraft, extract_lead
from bot.mail_in.extract.text import MAX_ENQUIRY_CHARS
from tests.corpora import mail_files
from tests.mail_in.extract.helpers import (
    TALON,
    mail,
    signature_lines,
)

STANDARD_REPLIES = mail_files("talon/fixtures/standard_replies")


def test_standard_replies_are_there() -> None:
    assert len(STANDARD_REPLIES) == 12


@pytest.mark.parametrize("path", STANDARD_REPLIES, ids=lambda path: path.name)
def test_standard_reply_enquiry_excludes_history(path: Path) -> None:
    lead = extract_lead(decode_mail(path.read_bytes()))
    # Every one of them answers "Hello" (or "Hello" plus a signature) above the history.
    assert lead.enquiry == "Hello"
    assert "Hi" not in lead.enquiry.split()


@pytest.mark.parametrize("name", ["iphone", "sparrow"])
def test_standard_reply_text_is_enquiry_plus_signature(name: str) -> None:
    lead = extract_lead(decode_mail((TALON / "standard_replies" / f"{name}.eml").read_bytes()))
    expected = (TALON / "standard_replies" / f"{name}_reply_text").read_text(encoding="utf-8")
    assert signature_lines(lead.enquiry + "\n" + lead.signature) == signature_lines(expected)


def test_standard_reply_names_and_companies() -> None:
    by_name = {path.stem: extract_lead(decode_mail(path.read_bytes())) for path in STANDARD_REPLIES}
    assert (by_name["gmail"].first_name, by_name["gmail"].last_name) == ("Megan", "One")
    assert by_name["gmail"].company == ""  # gmail.com: a person, not a company
    assert by_name["aol"].company == "" and by_name["comcast"].company == ""
    assert by_name["apple_mail_2"].company == "Tictail"
    assert by_name["apple_mail_2"].website == "https://tictail.com"
    assert by_name["apple_mail"].first_name == ""  # display name "xxx" is the local part


ACME_SIGNATURE = (
    "Jane Doe\nHead of Operations\nAcme Robotics GmbH\nTel: +49 30 1234567\nwww.acme-robotics.io"
)


def test_prospect_with_full_signature() -> None:
    lead = extract_lead(
        mail(
            "Hello,\n\nWe run 40 warehouse robots and need fleet monitoring. Could you send us"
            " pricing for a pilot?\n\n" + ACME_SIGNATURE + "\n",
            address="Jane.Doe@acme-robotics.io",
        )
    )
    assert lead == LeadDraft(
        email="jane.doe@acme-robotics.io",
        first_name="Jane",
        last_name="Doe",
        company="Acme Robotics GmbH",
        title="Head of Operations",
        phone="+49301234567",
        website="https://www.acme-robotics.io",
        enquiry=(
            "Hello,\n\nWe run 40 warehouse robots and need fleet monitoring. Could you send us"
            " pricing for a pilot?"
        ),
        signature=ACME_SIGNATURE,
        reasons=(
            "name from signature line 1",
            "company from signature line 3",
            "title from signature line 2",
            "phone from signature line 4",
            "website from signature line 5",
        ),
    )


def test_prospect_with_display_name_and_closing() -> None:
    lead = extract_lead(
        mail(
            "Hi, can we book a demo?\n\nBest regards,\n" + ACME_SIGNATURE,
            name="Jane Doe",
            address="jane.doe@acme-robotics.io",
        )
    )
    assert (lead.first_name, lead.last_name, lead.company) == ("Jane", "Doe", "Acme Robotics GmbH")
    assert lead.enquiry == "Hi, can we book a demo?"
    assert lead.signature.startswith("Best regards,\nJane Doe")
    assert "name from display name 'Jane Doe'" in lead.reasons


def test_gmail_sender_has_no_company() -> None:
    lead = extract_lead(
        mail("Do you ship to Canada?\n\nThanks,\nBob", name="Bob Smith", address="bob@gmail.com")
    )
    assert (lead.first_name, lead.last_name) == ("Bob", "Smith")
    assert lead.company == "" and lead.website == ""
    assert lead.enquiry == "Do you ship to Canada?"
    assert "no company: gmail.com is a free-mail domain" in lead.reasons


def test_role_sender_takes_the_name_from_the_signature() -> None:
    lead = extract_lead(
        mail(
            "Hi,\n\nCan we get a quote for 20 seats?\n\nKind regards,\n\nSarah Connor\n"
            "Procurement Manager\nCyberdyne Ltd\nM: 07700 900123\n",
            name="Info",
            address="info@cyberdyne.co.uk",
        )
    )
    assert (lead.first_name, lead.last_name) == ("Sarah", "Connor")
    assert lead.title == "Procurement Manager"
    assert lead.company == "Cyberdyne Ltd"
    assert lead.phone == "+447700900123"  # national number, region GB from .co.uk
    assert lead.website == "https://cyberdyne.co.uk"
    assert lead.enquiry == "Hi,\n\nCan we get a quote for 20 seats?"


def test_role_sender_without_signature_has_no_name() -> None:
    lead = extract_lead(mail("Please send a brochure.", address="info@widgets.com"))
    assert (lead.first_name, lead.last_name) == ("", "")
    assert lead.company == "Widgets"
    assert "no name: info@ is a role address" in lead.reasons


def test_enquiry_is_trimmed() -> None:
    lead = extract_lead(mail("word " * 2_000, address="jane@initech.com"))
    assert 3_900 < len(lead.enquiry) <= MAX_ENQUIRY_CHARS
