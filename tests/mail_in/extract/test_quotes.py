"""Quoted history and reply headers: what is left of a reply is only the new text."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.mail_in.extract.lead import extract_lead, split_reply
from tests.mail_in.extract.helpers import (
    REPLY_PARSER_FILES,
    REPLY_PARSER_SIGNATURES,
    corpus_name,
    mail,
    reply_parser_file,
    signature_samples,
)


def test_signature_fixture_quoted_reply_is_removed() -> None:
    sample = next(s for s in signature_samples() if s.name == "P/102682_R_S")
    body, _ = split_reply(sample.text)
    assert body.startswith("I like the xxx a lot")
    assert "writes:" not in body
    assert "manager" not in body


# (file, first line, last line) of the new text; each was checked against the file by hand.
NEW_TEXT_EDGES = [
    ("github/email_1_1.txt", "Hi folks", "I am currently using the Java HTTP API."),
    ("github/email_1_2.txt", "Hi,", "the keys in a bucket, you’ll need to delete them all individually.\""),  # noqa: E501, RUF001
    ("github/email_1_3.txt", "Oh thanks.", "Having the function would be great."),
    ("github/email_1_4.txt", "Awesome! I haven't had another problem with it.", None),
    ("github/email_1_5.txt", "One: Here's what I've got.", "for a while."),
    ("github/email_1_6.txt", "I get proper rendering as well.", None),
    ("github/email_1_7.txt", ":+1:", None),
    ("github/email_1_8.txt", "I will reply under this one", "and under this."),
    ("github/email_2_1.txt", "Outlook with a reply", None),
    ("github/email_2_2.txt", "Outlook with a reply directly above line", None),
    ("github/email_2_3.txt", "Outlook with a reply directly above line", None),
    ("zapier/email_2_3.txt", "Outlook with a reply above headers using unusual format", None),
    ("github/email_BlackBerry.txt", "Here is another email", None),
    ("github/email_bullets.txt", "test 2 this should list second", "   - and another"),
    ("github/email_one_is_not_on.txt", "Thank, this is really helpful.", "Locally (on development), when I run..."),  # noqa: E501
    ("github/email_sent_from_my_not_signature.txt", "Here is another email", "Sent from my desk, is much easier then my mobile phone."),  # noqa: E501
    ("github/email_sig_delimiter_in_middle_of_line.txt", "Hi there!", "kthxbai"),
    ("github/greedy_on.txt", "On your remote host you can run:", "fails, the tunnel is not working."),  # noqa: E501
    ("github/pathological.txt", "I think you're onto something. I will try to fix the problem as soon as I", "get back to a computer."),  # noqa: E501
    ("zapier/email_gmail.txt", "This is a test for inbox replying to a github message.", None),
    ("zapier/email_headers_no_delimiter.txt", "And another reply!", None),
    ("zapier/email_partial_quote_header.txt", "On your remote host you can run:", "fails, the tunnel is not working."),  # noqa: E501
]  # fmt: skip

_ATTRIBUTION = re.compile(r"\b(wrote|writes)\s*:\s*$", re.MULTILINE)


def test_reply_parser_corpus_is_there() -> None:
    names = {corpus_name(path) for path in REPLY_PARSER_FILES}
    assert len(REPLY_PARSER_FILES) >= 40
    assert {name for name, _, _ in NEW_TEXT_EDGES} <= names
    assert set(REPLY_PARSER_SIGNATURES) <= names


@pytest.mark.parametrize("path", REPLY_PARSER_FILES, ids=corpus_name)
def test_quoted_history_is_removed(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    new_text, _ = split_reply(source)
    lines = new_text.split("\n")
    assert new_text.strip()
    assert not any(line.lstrip().startswith(">") for line in lines)
    assert not _ATTRIBUTION.search(new_text)
    assert not re.search(r"^\**(From|Sent|Subject):", new_text, re.MULTILINE)
    assert "Original Message" not in new_text
    assert "mailing list" not in new_text
    # Nothing is made up: every line of the new text is a line of the mail.
    source_lines = {line.strip() for line in source.replace("\r\n", "\n").split("\n")}
    assert all(line.strip() in source_lines for line in lines if line.strip())


@pytest.mark.parametrize(
    ("name", "first", "last"), NEW_TEXT_EDGES, ids=[e[0] for e in NEW_TEXT_EDGES]
)
def test_new_text_edges(name: str, first: str, last: str | None) -> None:
    new_text, _ = split_reply(reply_parser_file(name).read_text(encoding="utf-8"))
    lines = [line for line in new_text.split("\n") if line.strip()]
    assert lines[0] == first
    assert lines[-1] == (first if last is None else last)


def test_many_sentences_starting_with_on_are_not_a_quote_header() -> None:
    """email_reply_parser's own multi-line "On … wrote:" regex backtracked for 24 s on this text
    (a regression shows as a suite that crawls; speed itself is measured in bench/)."""
    text = ("On this day we met. " * 50 + "\n") * 20 + "\n> quoted\n"
    new_text, _ = split_reply(text)
    assert "quoted" not in new_text
    assert new_text.startswith("On this day we met.")


def test_reply_with_quoted_history() -> None:
    text = "Thanks!\n\nOn Mon, Jan 5, 2026 at 10:00 AM Bob <bob@x.com> wrote:\n> old text"
    assert split_reply(text) == ("Thanks!", "")
    assert extract_lead(mail(text, address="jane@initech.com")).enquiry == "Thanks!"


@pytest.mark.parametrize(
    "history",
    [
        "Le lun. 5 janv. 2026 à 10:00, Bob <bob@x.com> a écrit :\n> ancien texte",
        "Am 05.01.2026 um 10:00 schrieb Bob <bob@x.com>:\n> alter Text",
        "El lun, 5 ene 2026 a las 10:00, Bob (<bob@x.com>) escribió:\n> texto",
        "On Mon, Jan 5, 2026 at 10:00 AM Bob\n<bob@x.com> wrote:\n\nold text, not quoted",
        "-----Original Message-----\nFrom: Bob\nSent: Monday\n\nold text",
        "From: Bob <bob@x.com>\nSent: Monday, January 5, 2026 10:00 AM\nTo: Jane\n"
        "Subject: Re: Pricing\n\nold text",
        "De : Bob <bob@x.com>\nEnvoyé : lundi 5 janvier 2026 10:00\nÀ : Jane\nObjet : Prix\n\n"
        "ancien texte",
        "Von: Bob <bob@x.com>\nGesendet: Montag, 5. Januar 2026 10:00\nAn: Jane\n"
        "Betreff: Preise\n\nalter Text",
        "________________________________\nFrom: Bob\nSent: Monday\nTo: Jane\n\nold text",
        "> old text\n> more old text",
        '26.06.2014, 14:41, "Bob" <bob@x.com>:\n> old text',
    ],
)
def test_history_forms(history: str) -> None:
    new_text, signature = split_reply(f"Sounds good, let's talk.\n\n{history}\n")
    assert (new_text, signature) == ("Sounds good, let's talk.", "")


def test_contact_form_fields_are_not_history() -> None:
    text = "Name: Jane Doe\nEmail: jane@x.com\nSubject: Demo request\nMessage: We want a demo."
    assert split_reply(text) == (text, "")


def test_forwarded_lead_is_kept() -> None:
    text = (
        "FYI, see below.\n\n---------- Forwarded message ---------\nFrom: Jane <jane@x.com>\n"
        "Date: Mon, Jan 5, 2026\nSubject: Pricing\nTo: <sales@acme.com>\n\nWhat does it cost?"
    )
    new_text, _ = split_reply(text)
    assert new_text.endswith("What does it cost?")


def test_indented_quotes_are_quotes() -> None:
    assert split_reply("Yes please.\n\n  > Do you want a demo?\n  > Bob") == ("Yes please.", "")
