"""Person names from display names and addresses, company names from domains."""

from __future__ import annotations

import pytest

from bot.leads.freemail import company_from_domain
from bot.mail_in.extract.lead import extract_lead
from tests.mail_in.extract.helpers import (
    mail,
)


@pytest.mark.parametrize(
    ("display", "first", "last"),
    [
        ("Doe, Jane", "Jane", "Doe"),
        ("DOE Jane", "Jane", "Doe"),
        ("Jane DOE", "Jane", "Doe"),
        ('"Dr. Jane Doe"', "Jane", "Doe"),
        ("Jane Doe (Acme)", "Jane", "Doe"),
        ("Jane Doe via Form", "Jane", "Doe"),
        ("jane doe", "Jane", "Doe"),
        ("John E. Doe, Ph.D.", "John", "Doe"),
        ("Jean-Luc van der Berg", "Jean-Luc", "van der Berg"),
    ],
)
def test_display_names(display: str, first: str, last: str) -> None:
    lead = extract_lead(mail("Hello", name=display, address="jd@initech.com"))
    assert (lead.first_name, lead.last_name) == (first, last)


def test_name_from_local_part() -> None:
    lead = extract_lead(mail("Pricing please.", address="jane_doe@initech.com"))
    assert (lead.first_name, lead.last_name) == ("Jane", "Doe")
    assert "name from address jane_doe@" in lead.reasons


@pytest.mark.parametrize(
    ("domain", "company"),
    [
        ("acme-robotics.co.uk", "Acme Robotics"),
        ("mail.acme-robotics.io", "Acme Robotics"),
        ("initech.com", "Initech"),
        ("ibm.com", "IBM"),
        ("gmail.com", ""),
        ("outlook.com", ""),
        ("hotmail.fr", ""),
        ("mail.yahoo.co.jp", ""),
    ],
)
def test_company_from_domain(domain: str, company: str) -> None:
    assert company_from_domain(domain) == company
