"""A mail's body as extraction reads it: HTML made text, how much is read, blank edges trimmed.

Every part of extraction starts from the text this module gives: `html_to_text` for mails with
no text part (a <blockquote> comes out as "> " quoted lines, so quoted history is found the same
way in both), the scan limits that keep a pasted attachment from costing time, and the one
helper that trims blank lines, which the quote and the signature steps both apply.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

# The enquiry kept on a lead, and the part of the body searched for a phone number.
MAX_ENQUIRY_CHARS = 4_000
# The new part of a reply is at the top; text past this is history or attachments pasted inline.
MAX_SCAN_CHARS = 50_000


def html_to_text(html: str) -> str:
    """Visible text of an HTML body; <blockquote> content comes out as "> " quoted lines."""
    if not html.strip():
        return ""
    parser = _TextFromHtml()
    parser.feed(html[: MAX_SCAN_CHARS * 4])
    parser.close()
    return parser.text()


def strip_blank_edges(lines: list[str]) -> list[str]:
    """The lines without the blank ones at either end (blank lines inside are kept)."""
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return lines[start:end]


class _TextFromHtml(HTMLParser):
    _BLOCK = frozenset(
        {"p", "div", "br", "li", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
         "ul", "ol", "pre", "section", "article", "header", "footer", "address", "dd", "dt"}
    )  # fmt: skip
    _SKIP = frozenset({"style", "script", "head", "title", "template", "noscript"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._lines: list[tuple[int, list[str]]] = [(0, [])]
        self._depth = 0
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag == "blockquote":
            self._depth += 1
            self._newline()
        elif tag in self._BLOCK:
            self._newline()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._BLOCK:
            self._newline()

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag == "blockquote":
            self._depth = max(0, self._depth - 1)
            self._newline()
        elif tag in self._BLOCK and tag != "br":
            self._newline()

    def handle_data(self, data: str) -> None:
        if self._skipping:
            return
        text = " ".join(data.split())
        if not text:
            if data and self._lines[-1][1]:
                self._lines[-1][1].append(" ")
            return
        if data[:1].isspace() and self._lines[-1][1]:
            text = " " + text
        if data[-1:].isspace():
            text += " "
        self._lines[-1][1].append(text)

    def _newline(self) -> None:
        self._lines.append((self._depth, []))

    def text(self) -> str:
        out: list[str] = []
        for depth, parts in self._lines:
            line = "".join(parts).strip()
            out.append(("> " * depth + line).rstrip() if line else "")
        return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip()
