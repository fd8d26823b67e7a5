"""Property-based tests (hypothesis) of the text functions that see outside input: decode,
classify, extract, the JSON guard, what the store is given, Slack mrkdwn escaping and CLI
rendering. Whatever the text: no exception but the documented one, bounded time, and output
free of markup, control characters and what the store refuses. Few examples each, so the suite
stays fast; the pathological cases found by hand are in test_mail.py and test_http.py."""

from __future__ import annotations

import io
import re
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from bot.cli.safe_text import safe_markup, safe_text, shown
from bot.integrations.slack import mrkdwn
from bot.mail_in.classify import classify
from bot.mail_in.decode import UndecodableMail, decode_mail
from bot.mail_in.extract.lead import extract_lead
from bot.web.limits import json_object
from storage.text import refused_in, storable, storable_value

FEW = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Text as mail carries it, with the characters that broke things weighted in.
hostile = st.text(
    alphabet=st.one_of(
        st.sampled_from(" \t\n|•·*_,@[]/<>&\x00\x1b\x07\u202e\udcff"),
        st.characters(codec="utf-8"),
    ),
    max_size=400,
)
# Long runs of one character: what made the signature patterns quadratic.
runs = st.builds(
    lambda char, count, tail: char * count + tail,
    st.sampled_from([" ", "a", "| ", ", ", "*_", "a.", "@"]),
    st.integers(0, 8_000),
    st.text(max_size=20),
)
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def raw_mail(header_bytes: bytes, body: str) -> bytes:
    return (
        b"From: " + header_bytes + b" <x@acme.test>\r\nTo: leads@localhost\r\nSubject: "
        + header_bytes + b"\r\n\r\n" + body.encode("utf-8", "surrogatepass")
    )  # fmt: skip


@FEW
@given(st.binary(max_size=200), st.one_of(hostile, runs))
def test_decode_classify_extract_take_any_mail_in_bounded_time(header: bytes, body: str) -> None:
    started = time.monotonic()
    try:
        mail = decode_mail(raw_mail(header.replace(b"\r", b"").replace(b"\n", b""), body))
    except UndecodableMail:
        return
    classify(mail)
    draft = extract_lead(mail)
    assert time.monotonic() - started < 2.0
    for text in (mail.subject, mail.from_name, mail.text, draft.first_name, draft.company):
        assert not refused_in(text)


@FEW
@given(st.one_of(hostile, runs))
def test_the_json_guard_answers_a_value_or_value_error(text: str) -> None:
    try:
        value = json_object(text.encode("utf-8", "surrogatepass"))
    except ValueError:
        return
    assert isinstance(value, dict)


@FEW
@given(
    st.recursive(
        hostile, lambda inner: st.lists(inner) | st.dictionaries(hostile, inner), max_leaves=8
    )
)
def test_storable_leaves_nothing_the_store_refuses(value: object) -> None:
    assert not refused_in(storable_value(value))
    if isinstance(value, str):
        assert storable(value) == value.replace("\x00", "") or refused_in(value)


@FEW
@given(hostile)
def test_mrkdwn_escape_leaves_no_link_mention_or_broadcast(text: str) -> None:
    escaped = mrkdwn.escape(text)
    assert "<" not in escaped and ">" not in escaped
    assert not re.search(r"(?<!\w)@(channel|here|everyone)\b", escaped, re.IGNORECASE)
    assert "<" not in mrkdwn.plain(text) and ">" not in mrkdwn.plain(text)


@FEW
@given(hostile)
def test_cli_rendering_shows_outside_text_as_text(text: str) -> None:
    assert not CONTROL.search(shown(text))
    assert not CONTROL.search(shown(text, multiline=True).replace("\n", "").replace("\t", ""))
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, color_system="truecolor", width=120)
    console.print(safe_text(text), highlight=False)  # a Text: no markup, no style, no codes
    console.print(f"[bold]x[/bold] {safe_markup(text)}", highlight=False)  # our markup around
    printed = buffer.getvalue()
    assert "\x1b]8;" not in printed and "\x07" not in printed
    assert not re.search("\x1b\\[(?!1m|0m|22m)", printed)  # only the bold we asked for
