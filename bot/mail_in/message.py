"""The inbound message as the domain sees it: decoded, transport-free, parser-free.

The handlers build one of these from the raw bytes (with mail-parser); classification and lead
extraction read only this, so they can be tested without a parser or a server.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class MailPart:
    """One leaf of the MIME tree, decoded to text (delivery reports and attached headers too)."""

    content_type: str
    text: str


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file sent with the mail, as the timeline lists it: never its content."""

    name: str
    content_type: str
    size: int  # bytes, decoded

    def as_data(self) -> dict[str, object]:
        return {"name": self.name, "type": self.content_type, "size": self.size}


@dataclass(frozen=True, slots=True)
class InboundMail:
    """A decoded email. Header names in `headers` are lower-case; addresses keep their case."""

    message_id: str | None
    subject: str
    from_name: str
    from_address: str
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    envelope_sender: str = ""
    envelope_recipients: tuple[str, ...] = ()
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    headers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    content_type: str = "text/plain"
    text: str = ""
    html: str = ""
    parts: tuple[MailPart, ...] = ()
    attachments: tuple[Attachment, ...] = ()

    def header(self, name: str) -> str:
        """First value of a header, or '' when absent."""
        values = self.headers.get(name.lower(), ())
        return values[0] if values else ""

    def has_header(self, name: str) -> bool:
        return name.lower() in self.headers

    @property
    def all_recipients(self) -> tuple[str, ...]:
        """Envelope recipients first (they are what the listener accepted), then To and Cc."""
        return self.envelope_recipients + self.to + self.cc
