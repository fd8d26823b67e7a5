"""Escaping text from outside (names, subjects, bodies) before it goes into Slack, so it cannot
ping `@channel`, mention someone, forge a link or restyle the card around it.

Slack's mrkdwn has three control characters, `&`, `<` and `>`, and every link, mention and
broadcast (`<http://…|text>`, `<@U123>`, `<!channel>`) is written between angle brackets: escaping
them as HTML entities is what makes those impossible. On top of that, a bare `@channel` is
defused with an invisible WORD JOINER after the `@`, and formatting characters (`*` `_` `~` and the
backtick) that could open or close a style at a word boundary are swapped for look-alikes. Slack
has no backslash escape, and a zero-width space *enables* styling, so look-alikes are the way
(jsx-slack's `<Escape>` does the same). A formatting character inside a word, as in
`jane_doe@acme.io`, cannot style anything and is kept as it is.

`plain` is the counterpart for `plain_text` objects (headers, buttons, options): Slack parses
nothing there, but angle brackets are still swapped for look-alikes so that no text object of ours
ever carries a `<!channel>`-shaped string.
"""

from __future__ import annotations

import re

# Invisible, and unlike a zero-width space it does not count as a word break.
WORD_JOINER = "\u2060"
SOFT_HYPHEN = "\u00ad"
ELLIPSIS = "…"

BROADCASTS = ("channel", "here", "everyone", "group")
# `@here` as a word of its own; `jane@here.com` is an address and stays as it is.
_BROADCAST_RE = re.compile(r"(?<!\w)@(?=(?:" + "|".join(BROADCASTS) + r")\b)", re.IGNORECASE)

# Look-alikes for the characters that open or close mrkdwn styles.
FORMATTING_LOOKALIKES = {
    "*": "\u2217",  # asterisk operator
    "_": "\u02cd",  # modifier letter low macron
    "~": "\u223c",  # tilde operator
    "`": "\u02cb",  # modifier letter grave accent
}
_FORMATTING_RE = re.compile(r"[*_~`]")
# A leading `>` (escaped or full-width) makes a line a block quote.
_LEADING_QUOTE_RE = re.compile("^(?=&gt;|\uff1e)", re.MULTILINE)
# What `truncate` must not cut in half: the entities we write and a defused `@`.
_UNITS_RE = re.compile(r"&(?:amp|lt|gt);|@\u2060")

PLAIN_LOOKALIKES = {"<": "\u2039", ">": "\u203a"}  # single angle quotation marks


def escape_controls(text: str) -> str:
    """Escape `&`, `<` and `>` and defuse bare broadcasts; formatting is left alone.

    For our own messages that carry a user's words (a refused command quoting its argument):
    `*bold*` of ours still works, yet nothing in them can form a link or a mention.
    """
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BROADCAST_RE.sub("@" + WORD_JOINER, text)


def escape(text: str) -> str:
    """Make outside text inert in mrkdwn: no links, mentions, broadcasts or styles."""
    text = escape_controls(text)
    text = _FORMATTING_RE.sub(lambda m: _formatting_char(text, m.start()), text)
    return _LEADING_QUOTE_RE.sub(SOFT_HYPHEN, text)


def _formatting_char(text: str, index: int) -> str:
    char = text[index]
    before = text[index - 1] if index > 0 else " "
    after = text[index + 1] if index + 1 < len(text) else " "
    if before.isalnum() and after.isalnum():
        return char  # inside a word: jane_doe, 3*4
    return FORMATTING_LOOKALIKES[char]


def plain(text: str) -> str:
    """Outside text for a `plain_text` object: no angle brackets, no bare broadcasts."""
    for char, lookalike in PLAIN_LOOKALIKES.items():
        text = text.replace(char, lookalike)
    return _BROADCAST_RE.sub("@" + WORD_JOINER, text)


def truncate(text: str, limit: int) -> str:
    """At most `limit` characters, ending in `…` when cut, never inside `&amp;` and the like."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if len(text) <= limit:
        return text
    cut = limit - len(ELLIPSIS)
    for match in _UNITS_RE.finditer(text, max(0, cut - 5), cut + 5):
        if match.start() < cut < match.end():
            cut = match.start()
            break
    return text[:cut].rstrip() + ELLIPSIS
