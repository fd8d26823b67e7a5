"""One nurture email, rendered and built: templates → links rewritten to signed click URLs, an
open pixel, an opt-out link → a multipart/alternative EmailMessage with RFC 8058 headers.

Two builders make the same message: `build_message` (an EmailMessage: previews, and the
reference the tests hold the other to) and `message_bytes`, what the sender uses. The email
package spends ~10 ms of CPU per message parsing and refolding headers it was handed as text;
`message_bytes` lays out the same multipart/alternative from a fixed skeleton, writes a header
itself when it is plain short ASCII (what the email package would write, byte for byte) and
hands any other header to the email package's own folding, and quoted-printable-encodes the
parts with binascii. `StepTemplates` keeps a step's three compiled templates for a whole run.

Headers are built with email.message.EmailMessage and email.headerregistry.Address: CR, LF and
other control characters in names and subjects are replaced by spaces before they get there, an
address that does not parse is refused, and non-ASCII or long subjects are RFC 2047-encoded and
folded by the SMTP policy. HTML is auto-escaped (Jinja2); a missing variable raises
(StrictUndefined).
"""

from __future__ import annotations

import binascii
import html
import random
import re
from dataclasses import dataclass, field
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, Template
from markupsafe import Markup

from bot.nurture.links import TrackingLinks
from bot.templates import environment as package_environment
from bot.templates import make_environment

BUILTIN_PREFIX = "email/nurture"
SMTP_POLICY = policy.SMTP
CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\x85]+")
HREF = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(["'])(https?://[^"'\s>]+)\2""", re.I)
TEXT_URL = re.compile(r"https?://[^\s<>\"')\]]+[^\s<>\"')\].,;:!?]")
BODY_END = re.compile(r"</body\s*>", re.I)


class BadAddress(ValueError):
    """An address that would not make a safe header."""


@cache
def folder_environment(folder: str) -> Environment:
    """A user's template folder, rendered with the same rules as the package templates."""
    return make_environment(FileSystemLoader(folder))


@dataclass(frozen=True, slots=True)
class TemplateSet:
    """Where a campaign's step templates are: bot/templates/email/nurture/<name>/, or a folder."""

    name: str
    folder: str = ""

    def environment(self) -> Environment:
        return folder_environment(self.folder) if self.folder else package_environment()

    def path(self, step: str, part: str) -> str:
        file = f"{step}.{part}.j2"
        return file if self.folder else f"{BUILTIN_PREFIX}/{self.name}/{file}"

    def check(self, step: str) -> None:
        """Raise (TemplateNotFound, TemplateSyntaxError) unless the step's three parts load."""
        env = self.environment()
        for part in ("subject", "txt", "html"):
            env.get_template(self.path(step, part))

    def render(self, step: str, context: dict[str, Any]) -> tuple[str, str, str]:
        return self.compiled(step).render(context)

    def compiled(self, step: str) -> StepTemplates:
        """The step's three templates, loaded and compiled now (keep it for a run: Jinja checks
        a template's file for changes on every lookup)."""
        env = self.environment()
        subject, text, body = (
            env.get_template(self.path(step, part)) for part in ("subject", "txt", "html")
        )
        return StepTemplates(subject, text, body)


@dataclass(frozen=True, slots=True)
class StepTemplates:
    subject: Template
    text: Template
    html: Template

    def render(self, context: dict[str, Any]) -> tuple[str, str, str]:
        return (
            self.subject.render(context),
            self.text.render(context),
            self.html.render(context),
        )


def builtin_sets() -> list[str]:
    root = Path(__file__).resolve().parents[1] / "templates" / BUILTIN_PREFIX
    return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


@dataclass(slots=True)
class Rendered:
    subject: str
    text: str
    html: str
    links: list[str] = field(default_factory=list)


def render_email(
    templates: TemplateSet | StepTemplates,
    step: str,
    context: dict[str, Any],
    links: TrackingLinks,
    send_id: int,
) -> Rendered:
    """Render a step for one lead and rewrite it for tracking: every http(s) link in the HTML and
    text parts points at a signed click URL (the originals are returned, in index order), the
    HTML gets the open pixel; links to our own server (the opt-out link) stay as they are."""
    opt_out = links.opt_out(send_id)
    context = {
        **context,
        "unsubscribe_url": opt_out,
        "opt_out_link": lambda text="Unsubscribe": Markup('<a href="{}">{}</a>').format(
            opt_out, text
        ),
    }
    if isinstance(templates, StepTemplates):
        subject, text, body = templates.render(context)
    else:
        subject, text, body = templates.render(step, context)
    originals: list[str] = []
    index_of: dict[str, int] = {}

    def tracked(url: str) -> str:
        if url.startswith(links.public_url + "/"):
            return url
        if url not in index_of:
            index_of[url] = len(originals)
            originals.append(url)
        return links.click(send_id, index_of[url])

    def rewrite_href(match: re.Match[str]) -> str:
        url = html.unescape(match.group(3))
        return f"{match.group(1)}{match.group(2)}{html.escape(tracked(url))}{match.group(2)}"

    body = HREF.sub(rewrite_href, body)
    text = TEXT_URL.sub(lambda m: tracked(m.group(0)), text)
    pixel = f'<img src="{html.escape(links.pixel(send_id))}" width="1" height="1" alt="">'
    if BODY_END.search(body):
        body = BODY_END.sub(lambda m: pixel + m.group(0), body, count=1)
    else:
        body += pixel
    return Rendered(one_line(subject), text, body, originals)


def one_line(value: str) -> str:
    """Header text with every control character (CR, LF, TAB, NUL, …) turned into one space."""
    return " ".join(CONTROL_CHARS.sub(" ", value).split())


def address(display_name: str, addr_spec: str) -> Address:
    spec = addr_spec.strip()
    if not spec or CONTROL_CHARS.search(spec) or spec.count("@") != 1 or " " in spec:
        raise BadAddress(f"not a usable address: {addr_spec!r}")
    try:
        return Address(display_name=one_line(display_name), addr_spec=spec)
    except (ValueError, IndexError) as exc:
        raise BadAddress(f"not a usable address: {addr_spec!r}") from exc


# A display name of RFC 5322 atext and spaces needs no quoting, and an address of dot-atoms parses
# as itself: both are written as they are. Anything else goes through the email package.
_ATEXT = r"A-Za-z0-9!#$%&'*+\-/=?^_`{|}~"
PLAIN_NAME = re.compile(rf"[{_ATEXT} ]*")
PLAIN_SPEC = re.compile(rf"[{_ATEXT}]+(?:\.[{_ATEXT}]+)*@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*")
# A header value the email package would write unchanged: printable ASCII, single spaces; the
# headers it parses (addresses, Message-ID, Date) only in the plain shapes this module makes.
PLAIN_VALUE = re.compile(r"[!-~]+(?: [!-~]+)*")
_DOT_ATOM = rf"[{_ATEXT}]+(?:\.[{_ATEXT}]+)*"
_SPEC = rf"{_DOT_ATOM}@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*"
_PLAIN_ADDRESS = re.compile(rf"[{_ATEXT}]+(?: [{_ATEXT}]+)* <{_SPEC}>|{_SPEC}")
STRUCTURED = {
    "from": _PLAIN_ADDRESS,
    "to": _PLAIN_ADDRESS,
    "reply-to": _PLAIN_ADDRESS,
    "message-id": re.compile(rf"<{_DOT_ATOM}@{_DOT_ATOM}>"),
    "date": re.compile(
        r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|"
        r"Nov|Dec) \d{4} \d\d:\d\d:\d\d [+-]\d{4}"
    ),
}


def address_text(display_name: str, addr_spec: str) -> str:
    """What `str(address(display_name, addr_spec))` gives (BadAddress alike), without building
    and parsing an Address when the name and the address are plain."""
    spec = addr_spec.strip()
    name = one_line(display_name)
    if PLAIN_SPEC.fullmatch(spec) and PLAIN_NAME.fullmatch(name):
        return f"{name} <{spec}>" if name else spec
    return str(address(display_name, addr_spec))


def new_message_id(sender: str) -> str:
    domain = sender.rpartition("@")[2] or "localhost"
    return make_msgid(domain=one_line(domain).replace(" ", "") or "localhost")


@dataclass(frozen=True, slots=True)
class Envelope:
    # Address objects (address()) or their text (address_text()).
    sender: Address | str
    to: Address | str
    reply_to: Address | str
    message_id: str
    unsubscribe_https: str
    unsubscribe_mailto: str
    date: Any


def build_message(envelope: Envelope, rendered: Rendered) -> EmailMessage:
    """multipart/alternative (text, then HTML) with Message-ID, Reply-To and RFC 8058 headers."""
    message = EmailMessage(policy=SMTP_POLICY)
    message["Message-ID"] = envelope.message_id
    message["Date"] = format_datetime(envelope.date)
    message["From"] = envelope.sender
    message["To"] = envelope.to
    message["Reply-To"] = envelope.reply_to
    message["Subject"] = rendered.subject
    mailto = f"mailto:{envelope.unsubscribe_mailto}?subject=unsubscribe"
    message["List-Unsubscribe"] = f"<{envelope.unsubscribe_https}>, <{mailto}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(rendered.text, cte="quoted-printable")
    message.add_alternative(rendered.html, subtype="html", cte="quoted-printable")
    return message


def header_bytes(name: str, value: str) -> bytes:
    """One header line as the SMTP policy writes it: plain short ASCII as it is, anything else
    (non-ASCII, long, an encoded word) parsed and folded by the email package."""
    line = f"{name}: {value}"
    shape = STRUCTURED.get(name.lower(), PLAIN_VALUE)
    if len(line) <= 78 and "=?" not in value and shape.fullmatch(value):
        return line.encode("ascii") + b"\r\n"
    return SMTP_POLICY.fold_binary(name, SMTP_POLICY.header_factory(name, value))


def quoted_printable(text: str) -> bytes:
    """A text part as the email package encodes it with cte="quoted-printable": lines split as
    bytes.splitlines does, CRLF line ends, a final line end, soft breaks at 76 characters."""
    lines = text.encode("utf-8").splitlines()
    return binascii.b2a_qp(b"\r\n".join(lines) + b"\r\n", istext=True)


def list_unsubscribe(https: str, mailto: str) -> bytes:
    """`List-Unsubscribe: <https…>, <mailto:…>`, folded after the comma when it is long (what the
    SMTP policy does with two plain URLs); anything unusual goes to the email package."""
    value = f"{https}, {mailto}"
    if "=?" in value or not (PLAIN_VALUE.fullmatch(https) and PLAIN_VALUE.fullmatch(mailto)):
        return header_bytes("List-Unsubscribe", value)
    if len(value) + 18 <= 78:
        return f"List-Unsubscribe: {value}\r\n".encode("ascii")
    return f"List-Unsubscribe: {https},\r\n {mailto}\r\n".encode("ascii")


_PART = (
    b'Content-Type: text/%s; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
)
_TEXT_PART = _PART % b"plain"
_HTML_PART = _PART % b"html"
_POST = header_bytes("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")


def message_bytes(envelope: Envelope, rendered: Rendered) -> bytes:
    """The message `build_message(envelope, rendered)` makes, laid out from a fixed skeleton:
    the same headers in the same order (byte for byte), the same two quoted-printable parts (a
    client decodes the same text; soft breaks at RFC 2045's 76 characters). The boundary is `=`
    runs around a random number: quoted-printable never holds `==`, so no part can."""
    boundary = f"==============={random.getrandbits(63):019d}==".encode("ascii")
    mailto = f"mailto:{envelope.unsubscribe_mailto}?subject=unsubscribe"
    return b"".join(
        (
            header_bytes("Message-ID", envelope.message_id),
            header_bytes("Date", format_datetime(envelope.date)),
            header_bytes("From", str(envelope.sender)),
            header_bytes("To", str(envelope.to)),
            header_bytes("Reply-To", str(envelope.reply_to)),
            header_bytes("Subject", rendered.subject),
            list_unsubscribe(f"<{envelope.unsubscribe_https}>", f"<{mailto}>"),
            _POST,
            b'MIME-Version: 1.0\r\nContent-Type: multipart/alternative;\r\n boundary="',
            boundary,
            b'"\r\n\r\n--',
            boundary,
            b"\r\n",
            _TEXT_PART,
            quoted_printable(rendered.text),
            b"\r\n--",
            boundary,
            b"\r\n",
            _HTML_PART,
            quoted_printable(rendered.html),
            b"\r\n--",
            boundary,
            b"--\r\n",
        )
    )
