"""Escaping outside text for Slack mrkdwn: no links, mentions, broadcasts or styles get through."""

from __future__ import annotations

import re

import pytest

from bot.integrations.slack.mrkdwn import (
    ELLIPSIS,
    WORD_JOINER,
    escape,
    escape_controls,
    plain,
    truncate,
)

# Everything Slack would turn into a link or a mention is written between angle brackets.
HOSTILE = [
    "<!channel>",
    "<!here|here>",
    "<!everyone>",
    "<@U0ADMIN>",
    "<#C0GENERAL>",
    "<!subteam^S0SALES>",
    "<http://evil.example|Click to verify your account>",
    "<mailto:ceo@yourco.com|CEO>",
    "&lt;!channel&gt;",
    "Jane <jane@acme.io>",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_no_angle_brackets_survive(text: str) -> None:
    escaped = escape(text)
    assert "<" not in escaped and ">" not in escaped
    # Every `&` starts one of the three entities we write.
    assert re.fullmatch(r"(?:[^&]|&(?:amp|lt|gt);)*", escaped)


def test_the_three_control_characters() -> None:
    assert escape_controls("a & b < c > d") == "a &amp; b &lt; c &gt; d"
    assert escape("<!channel>") == "&lt;!channel&gt;"
    # An entity from outside is shown as typed, not decoded by Slack.
    assert escape("&lt;!channel&gt;") == "&amp;lt;!channel&amp;gt;"


@pytest.mark.parametrize("word", ["@channel", "@here", "@everyone", "@Channel", "@HERE"])
def test_bare_broadcasts_are_defused(word: str) -> None:
    escaped = escape(f"hello {word}!")
    assert escaped == f"hello @{WORD_JOINER}{word[1:]}!"
    assert escape_controls(word) == f"@{WORD_JOINER}{word[1:]}"
    assert plain(word) == f"@{WORD_JOINER}{word[1:]}"


def test_addresses_and_other_words_are_left_alone() -> None:
    assert escape("jane@here.com") == "jane@here.com"
    assert escape("@hereford") == "@hereford"
    assert escape("jane_doe@acme.io") == "jane_doe@acme.io"
    assert escape("O'Brien & Sons") == "O'Brien &amp; Sons"


@pytest.mark.parametrize(
    "text", ["*URGENT*", "_wire now_", "~old price~", "`code`", "(*pay* here)", "**x**"]
)
def test_styles_cannot_open_or_close(text: str) -> None:
    escaped = escape(text)
    assert not re.search(r"[*_~`]", escaped), escaped


def test_formatting_inside_a_word_is_kept() -> None:
    assert escape("3*4 a~b snake_case") == "3*4 a~b snake_case"


def test_a_leading_quote_is_broken() -> None:
    escaped = escape("> forwarded\n>> twice")
    assert not any(line.startswith(("&gt;", ">")) for line in escaped.splitlines())
    assert "&gt; forwarded" in escaped


def test_escape_controls_keeps_our_formatting() -> None:
    assert escape_controls("*L-3* qualified `<reason>`") == "*L-3* qualified `&lt;reason&gt;`"


def test_plain_text_gets_look_alike_brackets() -> None:
    assert plain("<!channel> & co") == "\u2039!channel\u203a & co"


def test_truncate_leaves_short_text() -> None:
    assert truncate("short", 10) == "short"
    assert truncate("exactly10!", 10) == "exactly10!"


def test_truncate_marks_the_cut() -> None:
    cut = truncate("a" * 50, 10)
    assert len(cut) == 10 and cut.endswith(ELLIPSIS)


@pytest.mark.parametrize("limit", range(2, 40))
def test_truncate_never_splits_an_entity(limit: int) -> None:
    escaped = escape("<a> & <b> && @here <c>")
    cut = truncate(escaped, limit)
    assert len(cut) <= limit
    body = cut.removesuffix(ELLIPSIS)
    assert re.fullmatch(r"(?:[^&]|&(?:amp|lt|gt);)*", body), cut
    assert not body.endswith("@"), "a defused @here must not lose its joiner"


def test_truncate_needs_room() -> None:
    with pytest.raises(ValueError):
        truncate("abc", 0)
