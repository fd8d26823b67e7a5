"""A nurture email as built: safe headers, RFC 2047 subjects, multipart/alternative, tracking."""

from __future__ import annotations

import email
import re
from datetime import UTC, datetime
from email import policy
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2 import UndefinedError

from bot.nurture.compose import (
    SMTP_POLICY,
    BadAddress,
    Envelope,
    Rendered,
    TemplateSet,
    address,
    address_text,
    build_message,
    header_bytes,
    message_bytes,
    one_line,
    render_email,
)
from bot.nurture.links import TrackingLinks

LINKS = TrackingLinks("https://t.example.com", "test-secret")


def templates(tmp_path: Path, html: str, text: str = "Hi {{ lead.first_name }}\n",
              subject: str = "Hello {{ lead.first_name }}") -> TemplateSet:  # fmt: skip
    (tmp_path / "step.subject.j2").write_text(subject)
    (tmp_path / "step.txt.j2").write_text(text)
    (tmp_path / "step.html.j2").write_text(html)
    return TemplateSet("", str(tmp_path))


def context(**lead: object) -> dict[str, object]:
    base = {"first_name": "Jane", "last_name": "Doe", "company": "Acme", "custom": {}}
    return {"lead": {**base, **lead}, "rep": {"name": "Ann", "email": "", "signature": "Ann"},
            "campaign": {"name": "spring"}}  # fmt: skip


def message_for(rendered, first_name: str = "Jane", to: str = "jane@acme.io"):  # type: ignore[no-untyped-def]
    envelope = Envelope(
        sender=address("Ann Lee", "news@yourco.com"),
        to=address(f"{first_name} Doe", to),
        reply_to=address("Ann Lee", "leads+0123456789abcdef@yourco.com"),
        message_id="<1.2@yourco.com>",
        unsubscribe_https=LINKS.opt_out(7),
        unsubscribe_mailto="leads+0123456789abcdef@yourco.com",
        date=datetime(2026, 11, 23, tzinfo=UTC),
    )
    return build_message(envelope, rendered)


def reparse(message) -> email.message.EmailMessage:  # type: ignore[no-untyped-def]
    return email.message_from_bytes(message.as_bytes(), policy=policy.default)


def test_multipart_alternative_with_text_then_html_and_rfc_8058_headers(tmp_path: Path) -> None:
    rendered = render_email(
        templates(tmp_path, '<html><body><a href="https://acme.example/p?a=1&amp;b=2">x</a>'
                            "</body></html>"),
        "step", context(), LINKS, 7,
    )  # fmt: skip
    parsed = reparse(message_for(rendered))
    assert parsed.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    assert parsed["Message-ID"] == "<1.2@yourco.com>"
    assert parsed["Reply-To"] == "Ann Lee <leads+0123456789abcdef@yourco.com>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    https, mailto = re.findall(r"<([^>]+)>", parsed["List-Unsubscribe"])
    assert https == LINKS.opt_out(7) and https.startswith("https://")
    assert mailto == "mailto:leads+0123456789abcdef@yourco.com?subject=unsubscribe"


def test_links_become_signed_click_urls_and_the_html_gets_the_pixel(tmp_path: Path) -> None:
    html = ('<html><body><a href="https://acme.example/p?a=1&amp;b=2">one</a> '
            '<a class="x" href="http://acme.example/two">two</a> '
            '<a href="https://acme.example/p?a=1&amp;b=2">one again</a> '
            "{{ opt_out_link() }}</body></html>")  # fmt: skip
    text = "Read https://acme.example/p?a=1&b=2.\nOptout {{ unsubscribe_url }}\n"
    rendered = render_email(templates(tmp_path, html, text), "step", context(), LINKS, 7)
    assert rendered.links == ["https://acme.example/p?a=1&b=2", "http://acme.example/two"]
    hrefs = re.findall(r'href="([^"]+)"', rendered.html)
    assert hrefs[:3] == [LINKS.click(7, 0), LINKS.click(7, 1), LINKS.click(7, 0)]
    assert hrefs[3] == LINKS.opt_out(7)  # our own link is not rewritten
    assert "acme.example" not in rendered.html
    assert f"Read {LINKS.click(7, 0)}." in rendered.text
    assert LINKS.opt_out(7) in rendered.text
    assert re.search(r'<img src="[^"]+/t/o/[^"]+" width="1" height="1" alt=""></body>',
                     rendered.html)  # fmt: skip


def test_html_is_escaped_and_a_missing_variable_fails_instead_of_sending(tmp_path: Path) -> None:
    rendered = render_email(
        templates(tmp_path, "<p>{{ lead.company }}</p>"), "step",
        context(company='<script>alert(1)</script>"'), LINKS, 1,
    )  # fmt: skip
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&#34;" in rendered.html
    broken = templates(tmp_path, "<p>{{ lead.custom.industry_fact }}</p>")
    with pytest.raises(UndefinedError):
        render_email(broken, "step", context(), LINKS, 1)


def test_header_injection_through_names_and_subjects_is_impossible(tmp_path: Path) -> None:
    evil = "Jane\r\nBcc: victim@evil.test\r\nX-Injected: yes"
    rendered = render_email(
        templates(tmp_path, "<p>hi</p>", subject="Hello {{ lead.first_name }}"), "step",
        context(first_name=evil), LINKS, 1,
    )  # fmt: skip
    raw = message_for(rendered, first_name=evil).as_bytes()
    head = raw.split(b"\r\n\r\n", 1)[0]
    names = [line.split(b":", 1)[0].lower() for line in head.split(b"\r\n")
             if line and not line[:1].isspace()]  # fmt: skip
    assert b"bcc" not in names and b"x-injected" not in names
    parsed = reparse(message_for(rendered, first_name=evil))
    assert parsed["Subject"] == "Hello Jane Bcc: victim@evil.test X-Injected: yes"
    assert parsed["Bcc"] is None
    for bad in ("jane@acme.io\r\nBcc: x@evil.test", "jane@acme.io, x@evil.test", "no-at-sign"):
        with pytest.raises(BadAddress):
            address("Jane", bad)


def test_long_non_ascii_subjects_are_rfc_2047_encoded_and_folded(tmp_path: Path) -> None:
    subject = "Grüße aus München — Ihre Preisübersicht für 40 Arbeitsplätze " * 3
    rendered = render_email(templates(tmp_path, "<p>x</p>", subject=subject), "step",
                            context(), LINKS, 1)  # fmt: skip
    raw = message_for(rendered).as_bytes()
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()
    assert b"=?utf-8?" in head
    assert all(len(line) <= 78 for line in head.split(b"\r\n") if b"List-Unsubscribe" not in line)
    assert reparse(message_for(rendered))["Subject"] == subject.strip()


def test_tracking_tokens_refuse_tampering_and_other_purposes() -> None:
    click = LINKS.click(7, 1).rsplit("/", 1)[1]
    assert LINKS.click_target(click) == (7, 1)
    assert LINKS.click_target(click[:-2] + "xx") is None
    other_key = TrackingLinks("https://t.example.com", "another-secret")
    assert other_key.click_target(click) is None
    pixel = LINKS.pixel(7).rsplit("/", 1)[1]
    assert LINKS.pixel_send(pixel) == 7
    assert LINKS.opt_out_send(pixel) is None  # a pixel token does not opt anyone out
    assert LINKS.click_target(pixel) is None


# --- message_bytes: the sender's builder is the EmailMessage one, without its cost ----------------

# Names and subjects as they come: plain, with specials, non-ASCII, encoded-word look-alikes,
# control characters, very long.
TEXTS = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=90),
    st.text(max_size=60),
    st.sampled_from(["Ann J. Lee", 'O"Brien, Pat', "=?utf-8?q?x?=", "José Müller", "a  b",
                     " lead ", "Zoë (sales)", "x" * 120, "Jane\r\nBcc: v@evil.test"]),
)  # fmt: skip
BODIES = st.text(max_size=400) | st.sampled_from(
    [".\nstarts with a dot", "trailing spaces   \nand\ttabs\t", "=3D and == and =\n", "é" * 200,
     "line\r\nwith\rmixed\n\nends", "x" * 300, ""]
)  # fmt: skip
SPECS = st.sampled_from(["jane@acme.io", "a.b+c@x-y.example", "o'neil@acme.io", "q@[127.0.0.1]",
                         '"quoted local"@acme.io', "plain@localhost"])  # fmt: skip


def parsed_view(raw: bytes) -> tuple[object, ...]:
    """What a mail client sees: every header's value, the parts' types and decoded text."""
    message = email.message_from_bytes(raw, policy=policy.default)
    headers = [(k, str(v)) for k, v in message.items() if k != "Content-Type"]
    parts = [(p.get_content_type(), p.get_content_charset(), p.get_content())
             for p in message.iter_parts()]  # fmt: skip
    return message.get_content_type(), headers, parts


@given(name=TEXTS, to_name=TEXTS, subject=TEXTS, text=BODIES, body=BODIES, spec=SPECS)
@settings(max_examples=40, deadline=None, derandomize=True, database=None)
def test_message_bytes_reads_as_build_message_reads(
    name: str, to_name: str, subject: str, text: str, body: str, spec: str
) -> None:
    try:
        pairs = ((name, "news@yourco.com"), (to_name, spec), (name, "leads+0@yourco.com"))
        addresses = [(address_text(n, s), str(address(n, s))) for n, s in pairs]
    except BadAddress:
        with pytest.raises(BadAddress):
            address_text(to_name, spec)
        return
    assert [fast for fast, _ in addresses] == [slow for _, slow in addresses]
    sender, to, reply_to = (fast for fast, _ in addresses)
    rendered = Rendered(one_line(subject), text, body, [])
    envelope = Envelope(sender=sender, to=to, reply_to=reply_to, message_id="<1.2@yourco.com>",
                        unsubscribe_https=LINKS.opt_out(7), unsubscribe_mailto="leads+0@yourco.com",
                        date=datetime(2026, 11, 23, tzinfo=UTC))  # fmt: skip
    fast = message_bytes(envelope, rendered)
    assert fast.isascii()
    assert all(len(line) <= 998 for line in fast.split(b"\r\n"))
    assert b"\n" not in fast.replace(b"\r\n", b"")
    assert parsed_view(fast) == parsed_view(build_message(envelope, rendered).as_bytes())


@given(name=st.sampled_from(["Subject", "To", "From", "Message-ID", "Date", "X-Any"]), value=TEXTS)
@settings(max_examples=100, deadline=None, derandomize=True, database=None)
def test_a_header_written_directly_is_the_email_package_s(name: str, value: str) -> None:
    value = one_line(value)
    if not value:
        return
    try:
        slow = SMTP_POLICY.fold_binary(name, SMTP_POLICY.header_factory(name, value))
    except Exception:  # the email package refuses it: the builder must not write it either
        with pytest.raises(Exception):  # noqa: B017
            header_bytes(name, value)
        return
    assert header_bytes(name, value) == slow


def test_the_sender_s_message_of_the_example_campaign_is_the_reference_one() -> None:
    compiled = TemplateSet("example").compiled("welcome")
    lead = {"first_name": "Jane", "last_name": "Doe", "company": "Acme", "custom": {}}
    ctx = {"lead": lead, "rep": {"name": "Ann", "email": "", "signature": "Ann\nSales"},
           "campaign": {"name": "spring"}}  # fmt: skip
    rendered = render_email(compiled, "welcome", ctx, LINKS, 7)
    assert rendered == render_email(TemplateSet("example"), "welcome", ctx, LINKS, 7)
    envelope = Envelope(
        sender=address_text("Ann Lee", "news@yourco.com"), to=address_text("Jane Doe", "j@acme.io"),
        reply_to=address_text("Ann Lee", "leads+0@yourco.com"), message_id="<1.2@yourco.com>",
        unsubscribe_https=LINKS.opt_out(7), unsubscribe_mailto="leads+0@yourco.com",
        date=datetime(2026, 11, 23, tzinfo=UTC),
    )  # fmt: skip
    fast, slow = message_bytes(envelope, rendered), build_message(envelope, rendered).as_bytes()
    assert parsed_view(fast) == parsed_view(slow)
    # The headers byte for byte too, but for the boundary (random). (The parts' soft line breaks
    # differ: binascii keeps RFC 2045's 76 characters, the email package goes to 78.)
    boundary = re.compile(rb"=+\d+==")
    head = [boundary.sub(b"B", raw.split(b"\r\n\r\n", 1)[0]) for raw in (fast, slow)]
    assert head[0] == head[1]
    assert all(len(line) <= 76 for line in fast.split(b"\r\n\r\n", 1)[1].split(b"\r\n"))
