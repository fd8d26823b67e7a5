"""HTML bodies made text: blockquotes become quotes, styles and scripts go."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.mail_in.extract.lead import extract_lead, split_reply
from bot.mail_in.extract.text import html_to_text
from tests.mail_in.extract.helpers import (
    TALON,
    mail,
    signature_lines,
)


@pytest.mark.parametrize(
    "path", sorted((TALON / "html_replies").glob("*.html")), ids=lambda path: path.name
)
def test_html_replies_lose_their_history(path: Path) -> None:
    new_text, signature = split_reply(html_to_text(path.read_text(encoding="utf-8")))
    assert new_text == "Hi. I am fine."
    assert signature_lines(signature) == ["Thanks,", "Alex"]


def test_html_only_mail() -> None:
    lead = extract_lead(
        mail(
            html="<html><head><style>p{}</style></head><body><p>Hi there,</p><p>we want a"
            " quote &amp; a demo.</p><div class='gmail_quote'>On Mon, Jan 5, 2026 at 10:00 AM"
            " Bob &lt;bob@x.com&gt; wrote:<blockquote>old stuff<br>more</blockquote></div>"
            "</body></html>",
            name="Ann Lee",
            address="ann@lee-consulting.com",
        )
    )
    assert lead.enquiry == "Hi there,\n\nwe want a quote & a demo."
    assert lead.company == "Lee Consulting"
