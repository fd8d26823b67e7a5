"""Double opt-in: the confirmation mail and the click that confirms an address.

The mail is rendered from bot/templates/email/forms/confirm.* with only what leadbot itself
knows: the form's name (marketing chose it) and the signed link; never a name, company or
message the visitor typed, so spam typed into a form cannot travel in our mail. The processor
queues at most one per address per hour (storage.forms.reserve_confirmation); this sender sends
them through LEADBOT_OUTBOUND_SMTP_URL, at most once each: a mail is marked `sending` before
SMTP, and one whose connection broke in DATA is not resent.
"""

from __future__ import annotations

import asyncio
import logging
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import storage.forms
import storage.leads
import storage.timeline
from bot.forms.process import CONFIRMED, UNCONFIRMED
from bot.forms.tokens import FormTokens
from bot.nurture.relay import Connection, Relay
from bot.templates import render
from storage.engine import Store
from storage.models import FormConfirmation, utcnow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 4


def confirm_url(
    public_url: str, form_name: str, tokens: FormTokens, lead_id: int, address: str
) -> str:
    token = tokens.confirm_token(lead_id, address)
    return f"{public_url.rstrip('/')}/f/{form_name}/confirm?t={token}"


def build_confirmation(sender: str, address: str, form_name: str, url: str) -> EmailMessage:
    context = {"form_name": form_name, "confirm_url": url}
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = sender
    message["To"] = address
    message["Subject"] = render("email/forms/confirm.subject.j2", **context).strip()
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "localhost")
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(render("email/forms/confirm.txt.j2", **context))
    message.add_alternative(render("email/forms/confirm.html.j2", **context), subtype="html")
    return message


class ConfirmationSender:
    """Sends the queued confirmation mails (`serve` runs it as a loop)."""

    def __init__(self, store: Store, tokens: FormTokens, *, relay_url: str, sender: str,
                 public_url: str) -> None:  # fmt: skip
        self.store = store
        self.tokens = tokens
        self.relay = Relay.from_url(relay_url)
        self.sender = sender
        self.public_url = public_url

    def drain_once(self) -> int:
        with self.store.reading() as session:  # most ticks find nothing: no write lock for that
            if not storage.forms.has_pending_confirmations(session):
                return 0
        with self.store.transaction() as session:
            claimed = list(storage.forms.pending_confirmations(session))
            jobs = []
            for item in claimed:
                form = storage.forms.form_by_id(session, item.form_id)
                item.state, item.attempts = "sending", item.attempts + 1
                session.add(item)
                jobs.append((item.id, item.lead_id, item.address, form.name if form else "form"))
        if not jobs:
            return 0
        results = asyncio.run(self._send_all(jobs))
        with self.store.transaction() as session:
            for confirmation_id, state, reply in results:
                item = session.get(FormConfirmation, confirmation_id)
                if item is None:
                    continue
                if state == "retry" and item.attempts < MAX_ATTEMPTS:
                    item.state = "pending"
                elif state == "retry":
                    item.state = "failed"
                else:
                    item.state = state
                item.last_error = None if state == "sent" else reply
                item.sent_at = utcnow() if state == "sent" else None
                session.add(item)
        return len(jobs)

    async def _send_all(
        self, jobs: list[tuple[int | None, int, str, str]]
    ) -> list[tuple[int, str, str]]:
        connection = Connection(self.relay, self.sender.rpartition("@")[2] or "localhost")
        results = []
        try:
            for confirmation_id, lead_id, address, form_name in jobs:
                assert confirmation_id is not None
                url = confirm_url(self.public_url, form_name, self.tokens, lead_id, address)
                message = build_confirmation(self.sender, address, form_name, url)
                result = await connection.send(self.sender, address, message.as_bytes())
                if result.state != "sent":
                    log.warning("confirmation %s to %s: %s", confirmation_id, address, result.reply)
                results.append((confirmation_id, result.state, result.reply))
        finally:
            await connection.close()
        return results


def confirm(store: Store, tokens: FormTokens, token: str) -> str | None:
    """The click: every lead record with the link's address that waits for confirmation is
    marked confirmed. Returns the address, None for a link that is not ours or expired."""
    checked = tokens.check_confirm(token)
    if checked is None:
        return None
    _, address = checked
    with store.transaction() as session:
        for lead in storage.leads.all_by_email(session, address):
            assert lead.id is not None
            if lead.email_status != UNCONFIRMED:
                continue
            lead.email_status = CONFIRMED
            storage.leads.touch(session, lead)
            storage.timeline.append(
                session, lead.id, actor=f"email:{address}", kind="email.confirmed",
                summary=f"{address} confirmed (double opt-in)",
            )  # fmt: skip
    return address
