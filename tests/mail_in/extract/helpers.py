"""Shared by the extraction tests: a mail built by hand, and the shared corpora's samples
(talon's signature fixtures, email_reply_parser's replies) with what they are expected to give."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from bot.mail_in.message import InboundMail
from tests.corpora import CORPORA, mail_files

TALON = CORPORA / "mail" / "talon" / "fixtures"
SIGNATURE_FIXTURES = TALON / "signature" / "emails"


def mail(text: str = "", *, name: str = "", address: str, html: str = "") -> InboundMail:
    return InboundMail(
        message_id=None,
        subject="Enquiry",
        from_name=name,
        from_address=address,
        text=text,
        html=html,
    )


# talon's signature fixtures: P/ holds whole bodies where the signature lines are marked "#sig#"
# (and quoted lines "#reply#"); message files (no "_body" suffix) start with headers, "_body"
# files have the sender in a "_sender" file beside them. stripped/ holds <name>_body,
# <name>_signature (the expected signature, empty when there is none) and <name>_sender.


@dataclass(frozen=True)
class SignatureSample:
    name: str
    text: str
    sender: str
    expected: str


def _unmark(text: str) -> str:
    lines = []
    for line in text.split("\n"):
        for marker in ("#sig#", "#reply#"):
            if line.startswith(marker):
                line = line[len(marker) :]
        lines.append(line)
    return "\n".join(lines)


def _marked_signature(text: str) -> str:
    return "\n".join(line[5:] for line in text.split("\n") if line.startswith("#sig#"))


def signature_samples() -> list[SignatureSample]:
    samples: list[SignatureSample] = []
    for path in sorted((SIGNATURE_FIXTURES / "P").iterdir()):
        if path.name.endswith("_sender"):
            continue
        raw = path.read_text(encoding="utf-8")
        if path.name.endswith("_body"):
            sender_path = path.with_name(path.name.removesuffix("_body") + "_sender")
            sender, body = sender_path.read_text(encoding="utf-8").strip(), raw
        else:
            lines = raw.split("\n")
            headers = 0
            while headers < len(lines) and re.match(r"^[\w-]+: ", lines[headers]):
                headers += 1
            sender = next(
                (line[5:].strip() for line in lines[:headers] if line.startswith("From:")), ""
            )
            body = "\n".join(lines[headers:])
        samples.append(
            SignatureSample(f"P/{path.name}", _unmark(body), sender, _marked_signature(body))
        )
    stripped = SIGNATURE_FIXTURES / "stripped"
    for path in sorted(stripped.glob("*_body")):
        stem = path.name.removesuffix("_body")
        samples.append(
            SignatureSample(
                f"stripped/{stem}",
                _unmark(path.read_text(encoding="utf-8")),
                (stripped / f"{stem}_sender").read_text(encoding="utf-8").strip(),
                _unmark((stripped / f"{stem}_signature").read_text(encoding="utf-8")),
            )
        )
    return samples


def signature_lines(text: str) -> list[str]:
    """Compare signatures line by line, ignoring blank lines and a bare "--" delimiter."""
    return [line.strip() for line in text.split("\n") if line.strip() and line.strip() != "--"]


# email_reply_parser's replies (github and zapier copies).
REPLY_PARSER_FILES = mail_files("email_reply_parser")

# Signatures the same files carry, as split off.
REPLY_PARSER_SIGNATURES = {
    "github/correct_sig.txt": "rick",
    "github/email_1_1.txt": "-Abhishek Kona",
    "github/email_1_3.txt": "-Abhishek Kona",
    "github/email_1_8.txt": "Hey there, this is my signature",
    "github/email_iPhone.txt": "Sent from my iPhone",
    "github/email_multi_word_sent_from_my_mobile_device.txt": (
        "Sent from my Verizon Wireless BlackBerry"
    ),
    "github/email_bullets.txt": "*Joe Smith | Director, Product Management*",
    "github/email_sent_from_my_not_signature.txt": "",
    "github/email_sig_delimiter_in_middle_of_line.txt": "",
}


def corpus_name(path: Path) -> str:
    return f"{path.parents[2].name}/{path.name}"


def reply_parser_file(name: str) -> Path:
    return next(path for path in REPLY_PARSER_FILES if corpus_name(path) == name)
