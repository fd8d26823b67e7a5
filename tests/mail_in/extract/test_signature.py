"""Where the signature starts (talon's fixtures, email_reply_parser's replies, by hand) and
what its lines say."""

from __future__ import annotations

import pytest

from bot.mail_in.extract.lead import extract_lead, split_reply
from tests.mail_in.extract.helpers import (
    REPLY_PARSER_SIGNATURES,
    SignatureSample,
    mail,
    reply_parser_file,
    signature_lines,
    signature_samples,
)

# talon leaves P/unicode_msg unmarked (it is there for its encoding), but it ends with
# a Russian closing and the sender's name ("Regards,\nSergey Obukhov"): we call that a
# signature, so this sample counts as a disagreement with the fixture's marks.
SIGNATURE_DISAGREEMENTS = {"P/unicode_msg"}
SIGNATURE_AGREEMENT_FLOOR = 8 / 9  # measured: 8 of the 9 samples, with or without sender name


def test_signature_fixtures_are_all_read() -> None:
    names = {sample.name for sample in signature_samples()}
    assert len(names) == 9
    assert {"P/102682_R_S", "stripped/sparse", "stripped/camel_case"} <= names


@pytest.mark.parametrize(
    "sample",
    [s for s in signature_samples() if s.name not in SIGNATURE_DISAGREEMENTS],
    ids=lambda sample: sample.name,
)
@pytest.mark.parametrize("with_sender", [True, False], ids=["sender", "no-sender"])
def test_signature_split_agrees_with_talon(sample: SignatureSample, with_sender: bool) -> None:
    body, signature = split_reply(sample.text, sender_name=sample.sender if with_sender else "")
    assert signature_lines(signature) == signature_lines(sample.expected)
    if signature:
        assert signature_lines(signature)[0] not in body


def test_signature_agreement_rate_on_talon() -> None:
    samples = signature_samples()
    agreed = sum(
        signature_lines(split_reply(s.text, sender_name=s.sender)[1]) == signature_lines(s.expected)
        for s in samples
    )
    assert agreed / len(samples) >= SIGNATURE_AGREEMENT_FLOOR


def test_unmarked_russian_signature_is_found() -> None:
    sample = next(s for s in signature_samples() if s.name == "P/unicode_msg")
    body, signature = split_reply(sample.text, sender_name=sample.sender)
    assert signature == "С уважением,\nСергей Обухов"  # noqa: RUF001
    assert body.endswith("ответьте на это письмо.")


@pytest.mark.parametrize("name", sorted(REPLY_PARSER_SIGNATURES))
def test_reply_parser_signatures(name: str) -> None:
    _, signature = split_reply(reply_parser_file(name).read_text(encoding="utf-8"))
    assert signature == REPLY_PARSER_SIGNATURES[name]


def test_sent_from_my_iphone_is_not_a_name() -> None:
    lead = extract_lead(
        mail("Call me back please.\n\nSent from my iPhone", address="kim@gmail.com")
    )
    assert lead.enquiry == "Call me back please."
    assert lead.signature == "Sent from my iPhone"
    assert (lead.first_name, lead.last_name) == ("", "")


def test_closing_alone_is_the_message() -> None:
    assert split_reply("Thanks!") == ("Thanks!", "")


def test_message_going_on_after_thanks_is_not_a_signature() -> None:
    text = "Hi Bob,\n\nThanks\n\nWe want 5 licences for the Berlin office\n\nJane"
    body = "Hi Bob,\n\nThanks\n\nWe want 5 licences for the Berlin office"
    assert split_reply(text, sender_name="Jane Doe") == (body, "Jane")
    assert split_reply(text) == (text, "")  # a lone first name is not enough on its own


def test_postscript_is_not_a_company() -> None:
    lead = extract_lead(
        mail(
            "Send the quote.\n\nThanks,\nJane Doe\nP.S. I'm travelling next week",
            address="jane@gmail.com",
        )
    )
    assert lead.company == ""
    assert (lead.first_name, lead.last_name) == ("Jane", "Doe")


@pytest.mark.parametrize(
    ("signature", "title", "company"),
    [
        ("Jane Smith\nVP Sales, Acme Inc.\n+1 415 555 0100", "VP Sales", "Acme Inc."),
        ("Jane Smith\nHead of Sales at Acme Robotics", "Head of Sales", "Acme Robotics"),
        ("Jane Smith\nCTO @ Initech GmbH", "CTO", "Initech GmbH"),
        (
            "Jane Smith\nHead of Sales, EMEA\nAcme Robotics Ltd",
            "Head of Sales, EMEA",
            "Acme Robotics Ltd",
        ),
    ],
)
def test_title_and_company_on_one_line(signature: str, title: str, company: str) -> None:
    lead = extract_lead(
        mail(f"Can you send pricing?\n\nBest,\n{signature}", address="jane@acme.io")
    )
    assert (lead.title, lead.company) == (title, company)
