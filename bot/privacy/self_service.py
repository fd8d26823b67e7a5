"""Self-service: a person asks for a copy of their data or its deletion from the opt-out page.

They enter the address and the choice; a confirmation mail with a signed link goes to that
address (at most one an hour, and only when the store holds something about it; the page
answers the same either way, so it tells nobody who is in the store). The link opens a page
whose button (a POST: link scanners only GET) does it: the export is mailed to the address as a
JSON attachment, or the erase is done as `leadbot privacy erase` does it, by "self-service".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid

from itsdangerous import BadSignature, URLSafeTimedSerializer

import storage.privacy
from bot.nurture.relay import Connection, Relay
from bot.privacy import erase as erasing
from bot.privacy import export
from bot.privacy.subject import NotFound, resolve
from storage.engine import Store
from storage.models import utcnow

ACTIONS = {"export": "a copy of your data", "erase": "the deletion of your data"}
SALT = "privacy-request"
# How long a confirmation link works, and how often one may be mailed to an address.
LINK_MAX_AGE = 24 * 3600
MAIL_EVERY = timedelta(hours=1)
ACTOR = "self-service"


@dataclass(frozen=True)
class Request:
    address: str
    action: str


class RequestLinks:
    def __init__(self, public_url: str, secret_key: str) -> None:
        self.public_url = public_url.rstrip("/")
        self._serializer = URLSafeTimedSerializer(secret_key, salt=SALT)

    def confirm_url(self, request: Request) -> str:
        token = self._serializer.dumps({"a": request.address, "do": request.action})
        return f"{self.public_url}/privacy/confirm?t={token}"

    def request_of(self, token: str) -> Request | None:
        """The request a token was signed for, or None (tampered, expired, not ours)."""
        try:
            data = self._serializer.loads(token, max_age=LINK_MAX_AGE)
        except BadSignature:  # also SignatureExpired
            return None
        if not isinstance(data, dict) or data.get("do") not in ACTIONS:
            return None
        address = data.get("a")
        return Request(address, data["do"]) if isinstance(address, str) else None


def valid_address(text: str) -> str | None:
    address = text.strip().lower()
    local, _, domain = address.rpartition("@")
    if not local or "." not in domain or len(address) > 254 or any(c.isspace() for c in address):
        return None
    return address


def should_mail(store: Store, request: Request) -> bool:
    """Whether a confirmation goes out now: the store holds the address, and none went out to
    it within the hour (claimed in the store, so two workers cannot both send)."""
    with store.transaction() as session:
        try:
            resolve(session, request.address)
        except NotFound:
            return False
        return storage.privacy.may_send_request(session, request.address, MAIL_EVERY, utcnow())


def confirmation_mail(request: Request, link: str, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"] = sender, request.address
    message["Subject"] = f"Confirm your request: {ACTIONS[request.action]}"
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "localhost")
    message.set_content(
        f"Someone, probably you, asked for {ACTIONS[request.action]} held for "
        f"{request.address}.\n\nTo confirm, open this link within 24 hours and press the "
        f"button:\n\n{link}\n\nIf it was not you, ignore this mail: nothing happens.\n"
    )
    return message


def carry_out(store: Store, request: Request, sender: str) -> tuple[str, EmailMessage | None]:
    """Do a confirmed request: ("exported", the mail with the bundle), ("erased", None), or
    ("nothing", None) when nothing is held (any more)."""
    with store.transaction() as session:
        try:
            subject = resolve(session, request.address)
        except NotFound:
            return "nothing", None
        if request.action == "erase":
            erasing.erase(session, subject, actor=ACTOR, reason="requested by the person")
        else:
            bundle = export.bundle(session, subject)
            storage.privacy.log(session, ACTOR, "export", "requested by the person",
                                {"leads": subject.labels})  # fmt: skip
    if request.action == "erase":
        store.forget_freed()
        return "erased", None
    message = EmailMessage()
    message["From"], message["To"] = sender, request.address
    message["Subject"] = "A copy of your data"
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "localhost")
    message.set_content("Attached: everything we hold about you, as JSON.\n")
    data = json.dumps(bundle, indent=2, ensure_ascii=False, default=str).encode()
    message.add_attachment(data, maintype="application", subtype="json",
                           filename="my-data.json")  # fmt: skip
    return "exported", message


async def deliver(relay_url: str, message: EmailMessage) -> str:
    """Send one mail through LEADBOT_OUTBOUND_SMTP_URL; the relay's reply, or raises."""
    connection = Connection(Relay.from_url(relay_url), "localhost")
    try:
        result = await connection.send(str(message["From"]), str(message["To"]),
                                       message.as_bytes())  # fmt: skip
    finally:
        await connection.close()
    if result.state != "sent":
        raise OSError(f"the relay did not take the mail: {result.reply}")
    return result.reply
