"""Hostile mail on both stores (issue 11): pathological white space, a mail over its time budget,
the same Message-ID twice, NUL bytes, and headers in legacy 8-bit charsets."""

from __future__ import annotations

import time
from email.message import EmailMessage
from email.utils import make_msgid

import storage.inbox
import storage.leads
from bot.mail_in.inbox import InboundMailHandler, accept_raw
from storage.engine import Store

REPLY = "leads@acme-leads.test"


def mail(sender: str, body: str, subject: str = "Enquiry") -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = REPLY
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="hostile.test")
    message.set_content(body)
    return message.as_bytes()


def queue(store: Store, raw: bytes) -> int:
    row = accept_raw(store, raw, channel="smtp", mail_from="x@y.test", rcpt_tos=[REPLY])
    assert row.id is not None
    return row.id


def state_of(store: Store, inbound_id: int) -> tuple[str, str | None, int | None]:
    with store.reading() as session:
        row = storage.inbox.by_id(session, inbound_id)
        assert row is not None
        return row.state, row.error, row.lead_id


def test_a_line_of_50000_spaces_is_read_within_a_second_and_the_next_mail_too(
    store: Store,
) -> None:
    spaces = queue(
        store, mail("Jane Doe <jane@acme.io>", "Pricing?\n\nJane Doe\nSales" + " " * 50_000 + "x\n")
    )
    normal = queue(store, mail("Bo Ek <bo@ekco.se>", "Can you send a quote for 40 seats?"))
    handler = InboundMailHandler(store, REPLY)
    for inbound_id in (spaces, normal):
        started = time.monotonic()
        assert handler.process_next() is not None
        assert time.monotonic() - started < 1.0
        state, error, lead_id = state_of(store, inbound_id)
        assert state == "done" and lead_id is not None, error


def test_a_mail_over_its_time_budget_is_quarantined_with_the_reason_and_the_worker_goes_on(
    store: Store,
) -> None:
    heavy = queue(store, mail("Jane Doe <jane@acme.io>", "word | " * 20_000))
    normal = queue(store, mail("Bo Ek <bo@ekco.se>", "A quote for 40 seats, please."))
    # A budget no real parse meets: the alarm stops it, the message is kept with the reason.
    assert InboundMailHandler(store, REPLY, budget_seconds=0.001).process_next() is not None
    state, error, _ = state_of(store, heavy)
    assert state == "quarantined" and error is not None and "budget" in error
    assert InboundMailHandler(store, REPLY).process_next() is not None
    assert state_of(store, normal)[0] == "done"
