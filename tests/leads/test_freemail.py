"""Free-mail domains, registrable domains and role addresses."""

from __future__ import annotations

import pytest

from bot.leads.freemail import is_freemail, is_role_address, registrable_domain


@pytest.mark.parametrize(
    "domain",
    [
        "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "hotmail.co.uk",
        "live.fr", "msn.com", "yahoo.com", "yahoo.co.jp", "mail.yahoo.co.jp", "yahoo.com.br",
        "ymail.com", "aol.com", "icloud.com", "me.com", "mac.com", "proton.me",
        "protonmail.com", "gmx.de", "gmx.net", "web.de", "mail.ru", "yandex.ru", "qq.com",
        "163.com", "126.com", "zoho.com", "fastmail.com", "hey.com", "tutanota.com",
        "orange.fr", "free.fr", "laposte.net", "libero.it", "t-online.de", "nyc.rr.com",
        "GMAIL.COM",
    ],
)  # fmt: skip
def test_freemail_domains(domain: str) -> None:
    assert is_freemail(domain)


@pytest.mark.parametrize(
    "domain", ["acme-robotics.io", "initech.com", "acme.co.uk", "example.com", "me.acme.io", ""]
)
def test_company_domains(domain: str) -> None:
    assert not is_freemail(domain)


def test_registrable_domain() -> None:
    assert registrable_domain("mail.acme.co.uk") == "acme.co.uk"
    assert registrable_domain("a.b.acme.io") == "acme.io"
    assert registrable_domain("acme.com.au") == "acme.com.au"


@pytest.mark.parametrize(
    ("local_part", "is_role"),
    [
        ("info", True), ("sales", True), ("support", True), ("admin", True),
        ("contact", True), ("hello", True), ("office", True), ("noreply", True),
        ("no-reply", True), ("do_not_reply", True), ("billing", True), ("team", True),
        ("marketing", True), ("hr", True), ("jobs", True), ("postmaster", True),
        ("webmaster", True), ("sales-team", True), ("info.de", True), ("Sales+eu", True),
        ("jane", False), ("jane.doe", False), ("jdoe", False), ("salesforce", False),
    ],
)  # fmt: skip
def test_role_addresses(local_part: str, is_role: bool) -> None:
    assert is_role_address(local_part) is is_role
