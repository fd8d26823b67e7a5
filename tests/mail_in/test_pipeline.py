"""The inbound pipeline on a real store (SQLite file and PostgreSQL), one behaviour per test."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import make_msgid

import pytest

import storage.campaigns
import storage.inbox
import storage.intake
import storage.leads
import storage.outbox
import storage.reps
import storage.timeline
from bot.leads.reply_address import reply_address_for
from bot.mail_in import pipeline
from bot.mail_in.inbox import InboundMailHandler, accept_raw
from bot.rules.file import default_rules
from bot.scoring import qualification
from storage.engine import Store
from storage.models import Rep

REPLY_BASE = "leads@acme-leads.test"


def mail(sender: str = "Jane Doe <jane@acme-robotics.io>", body: str = "Please call me.",
         subject: str = "Enquiry", to: str = REPLY_BASE, **headers: str) -> bytes:  # fmt: skip
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    if "Message_ID" not in headers:
        message["Message-ID"] = make_msgid(domain="test")
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message.as_bytes()


def deliver(store: Store, raw: bytes, rcpt: str = REPLY_BASE) -> int:
    row = accept_raw(store, raw, channel="smtp", mail_from="x@y.test", rcpt_tos=[rcpt])
    InboundMailHandler(store, REPLY_BASE).drain()
    assert row.id is not None
    return row.id


def message_row(store: Store, inbound_id: int):  # type: ignore[no-untyped-def]
    with store.transaction() as session:
        return storage.inbox.by_id(session, inbound_id)


def test_enquiry_creates_lead_timeline_and_notification_together(store: Store) -> None:
    inbound_id = deliver(store, mail())
    with store.transaction() as session:
        lead = storage.leads.by_email(session, "jane@acme-robotics.io")
        assert lead is not None and lead.id is not None
        kinds = [e.kind for e in storage.timeline.for_lead(session, lead.id)]
        [note] = storage.outbox.listing(session)
    assert kinds == ["created", "email.enquiry"]
    assert (note.kind, note.lead_id, note.payload["lead"]) == ("lead.new", lead.id, f"L-{lead.id}")
    row = message_row(store, inbound_id)
    assert (row.state, row.classification, row.lead_id) == ("done", "enquiry", lead.id)


def test_same_sender_in_other_case_updates_one_lead(store: Store) -> None:
    deliver(store, mail(sender="jane@acme-robotics.io"))
    deliver(store, mail(sender="Jane Doe <JANE@Acme-Robotics.IO>", body="Any news?"))
    with store.transaction() as session:
        assert storage.leads.count(session) == 1
        lead = storage.leads.by_email(session, "jane@acme-robotics.io")
        assert lead is not None and lead.id is not None
        assert lead.first_name == "Jane"  # the second mail filled the gap
        kinds = [e.kind for e in storage.timeline.for_lead(session, lead.id)]
    assert kinds == ["created", "email.enquiry", "email.enquiry"]


def test_reply_to_per_lead_address_matches_without_headers(store: Store) -> None:
    deliver(store, mail())
    with store.transaction() as session:
        lead = storage.leads.by_email(session, "jane@acme-robotics.io")
        assert lead is not None
    address = reply_address_for(lead.reply_token, REPLY_BASE)
    inbound_id = deliver(store, mail(sender="assistant@elsewhere.test", to=address), rcpt=address)
    row = message_row(store, inbound_id)
    assert (row.classification, row.lead_id) == ("reply", lead.id)
    assert "reply address" in (row.reason or "")
    with store.transaction() as session:
        assert storage.leads.count(session) == 1


def test_reply_by_references_header(store: Store) -> None:
    first = mail(Message_ID="<thread-1@acme.test>")
    deliver(store, first)
    inbound_id = deliver(
        store, mail(sender="other@acme.test", References="<x@y> <thread-1@acme.test>")
    )
    row = message_row(store, inbound_id)
    assert row.classification == "reply"


def test_auto_reply_never_creates_a_lead(store: Store) -> None:
    inbound_id = deliver(
        store,
        mail(sender="ooo@new-company.test", subject="Out of Office", Auto_Submitted="auto-replied"),
    )
    row = message_row(store, inbound_id)
    assert (row.state, row.classification, row.lead_id) == ("done", "auto_reply", None)
    with store.transaction() as session:
        assert storage.leads.count(session) == 0


def test_bounce_marks_the_address_bounced(store: Store) -> None:
    deliver(store, mail(sender="gone@acme-robotics.io"))
    bounce = (
        "From: Mail Delivery System <MAILER-DAEMON@mx.acme-leads.test>\r\n"
        f"To: {REPLY_BASE}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <bounce-1@mx.acme-leads.test>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\r\n\r\n'
        "--b1\r\nContent-Type: text/plain\r\n\r\n"
        "Your message could not be delivered.\r\n"
        "--b1\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.acme-leads.test\r\n\r\n"
        "Final-Recipient: rfc822; gone@acme-robotics.io\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "--b1--\r\n"
    ).encode()
    inbound_id = deliver(store, bounce)
    row = message_row(store, inbound_id)
    assert row.classification == "bounce"
    with store.transaction() as session:
        lead = storage.leads.by_email(session, "gone@acme-robotics.io")
        assert lead is not None and lead.email_status == "bounced"


def test_unsubscribe_by_email_opts_out(store: Store) -> None:
    deliver(store, mail(sender="jane@acme-robotics.io"))
    deliver(store, mail(sender="jane@acme-robotics.io", subject="unsubscribe", body="unsubscribe"))
    with store.transaction() as session:
        lead = storage.leads.by_email(session, "jane@acme-robotics.io")
        assert lead is not None and lead.email_status == "opted_out"


def test_undecodable_mail_is_quarantined_kept_and_retryable(store: Store) -> None:
    from tests.corpora import CORPORA

    raw = (CORPORA / "mail/sisimai/bsd/lhost-sendgrid-01.eml").read_bytes()
    inbound_id = deliver(store, raw)
    row = message_row(store, inbound_id)
    assert row.state == "quarantined"
    assert row.error.startswith("UndecodableMail: AttributeError")
    assert row.raw == raw
    handler = InboundMailHandler(store, REPLY_BASE)
    assert handler.retry(inbound_id) is True
    handler.drain()
    assert message_row(store, inbound_id).attempts == 2
    assert handler.retry(inbound_id + 1000) is False


def test_a_failing_step_rolls_back_everything_and_quarantines(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_notify(session, event):  # type: ignore[no-untyped-def]
        raise RuntimeError("notifier table on fire")

    monkeypatch.setitem(pipeline.STEPS, "notify", broken_notify)
    inbound_id = deliver(store, mail())
    row = message_row(store, inbound_id)
    assert row.state == "quarantined" and "notifier table on fire" in row.error
    with store.transaction() as session:
        assert storage.leads.count(session) == 0  # the lead the apply step made was rolled back
        assert storage.outbox.listing(session) == []

    monkeypatch.undo()
    handler = InboundMailHandler(store, REPLY_BASE)
    handler.retry(inbound_id)
    handler.drain()
    row = message_row(store, inbound_id)
    assert (row.state, row.classification) == ("done", "enquiry")
    with store.transaction() as session:
        assert storage.leads.count(session) == 1


def test_mail_without_from_uses_the_envelope_sender_or_is_quarantined(store: Store) -> None:
    raw = b"To: leads@acme-leads.test\r\nSubject: who am I\r\nMessage-ID: <x@y>\r\n\r\nhello\r\n"
    row = message_row(store, deliver(store, raw))  # the envelope said MAIL FROM:<x@y.test>
    assert (row.state, row.classification) == ("done", "enquiry")
    with store.transaction() as session:
        assert storage.leads.by_email(session, "x@y.test") is not None

    nobody = accept_raw(store, raw.replace(b"<x@y>", b"<z@y>"), channel="smtp", mail_from="")
    InboundMailHandler(store, REPLY_BASE).drain()
    row = message_row(store, nobody.id or 0)
    assert row.state == "quarantined" and "no sender address" in row.error


def test_steps_are_data_and_unknown_ones_are_refused(store: Store) -> None:
    handler = InboundMailHandler(store, REPLY_BASE, steps=("classify", "apply"))
    accept_raw(store, mail(), channel="smtp")
    handler.drain()
    with store.transaction() as session:
        assert storage.leads.count(session) == 1
        assert storage.outbox.listing(session) == []  # no notify step, no notification
    bad = InboundMailHandler(store, REPLY_BASE, steps=("classify", "teleport"))
    accept_raw(store, mail(sender="x@acme.test"), channel="smtp")
    assert bad.process_next().error.startswith("ValueError: unknown inbound steps ['teleport']")


def _rep_and_lead(store: Store) -> tuple[int, int]:
    """A rep, and a lead (from an enquiry) that the rep owns."""
    deliver(store, mail(Message_ID="<enquiry-1@acme-robotics.io>"))
    with store.transaction() as session:
        rep = storage.reps.add(session, Rep(name="Rita", email="rita@acme-leads.test"))
        lead = storage.leads.by_email(session, "jane@acme-robotics.io")
        assert lead is not None and lead.id is not None and rep.id is not None
        lead.owner_id = rep.id
        return rep.id, lead.id


def test_a_reps_own_reply_in_the_thread_is_the_reps_touch_not_the_leads_reply(
    store: Store,
) -> None:
    _, lead_id = _rep_and_lead(store)
    reply = mail(sender="Rita <Rita@acme-leads.test>", to="jane@acme-robotics.io",
                 subject="Re: Enquiry", body="Happy to help: when can we talk?",
                 Cc=REPLY_BASE, In_Reply_To="<enquiry-1@acme-robotics.io>")  # fmt: skip
    inbound_id = deliver(store, reply)
    now = datetime.now(UTC)
    with store.transaction() as session:
        lead = storage.leads.by_id(session, lead_id)
        assert lead is not None
        entries = storage.timeline.for_lead(session, lead_id)
        score = qualification.evaluation_of(session, lead, default_rules(), now).score.score
        replied = storage.campaigns.last_reply_at(session, [lead_id])
        notes = [n.kind for n in storage.outbox.listing(session)]
        assert storage.leads.count(session) == 1  # the rep did not become a lead
    last = entries[-1]
    assert (last.kind, last.actor, last.summary) == (
        "email.rep",
        "rep:Rita",
        "emailed: Re: Enquiry",
    )
    assert "email.reply" not in [e.kind for e in entries]
    assert replied == {}  # a drip that stops "on reply" goes on
    assert score == pytest.approx(25, abs=0.5)  # the enquiry's points only, none for the rep
    assert "lead.reply" not in notes  # the rep is not told of their own mail
    row = message_row(store, inbound_id)
    assert (row.classification, row.lead_id) == ("rep_mail", lead_id)


def test_a_reps_mail_with_no_thread_touches_the_leads_it_is_to(store: Store) -> None:
    _, lead_id = _rep_and_lead(store)
    inbound_id = deliver(store, mail(sender="rita@acme-leads.test", to="jane@acme-robotics.io",
                                     subject="Checking in", Bcc=REPLY_BASE))  # fmt: skip
    with store.transaction() as session:
        kinds = [e.kind for e in storage.timeline.for_lead(session, lead_id)]
        assert storage.leads.by_email(session, "rita@acme-leads.test") is None
    assert kinds[-1] == "email.rep"
    assert message_row(store, inbound_id).lead_id == lead_id
    stray = deliver(store, mail(sender="rita@acme-leads.test", to="nobody@elsewhere.test"))
    row = message_row(store, stray)
    assert (row.state, row.classification, row.lead_id) == ("done", "rep_mail", None)
    assert "to no known lead" in row.reason


def test_a_held_enquiry_is_done_and_classified_held_and_approving_threads_replies(
    store: Store,
) -> None:
    from bot.leads.capture import approve
    from bot.rules.intake import IntakeRules

    rules = dataclasses.replace(
        default_rules(),
        intake=IntakeRules.from_table({"role_addresses": True, "flood_by": "domain"}),
    )
    first = mail(sender="Sales Desk <sales@northwind.test>", Message_ID="<first@northwind.test>")
    row = accept_raw(store, first, channel="smtp", mail_from="x@y.test", rcpt_tos=[REPLY_BASE])
    InboundMailHandler(store, REPLY_BASE, rules=lambda: rules).drain()
    assert row.id is not None
    held = message_row(store, row.id)
    assert (held.state, held.classification, held.lead_id) == ("done", "held", None)
    assert "held H-1: role: sales@northwind.test is a role address" in held.reason
    with store.transaction() as session:
        assert storage.leads.count(session) == 0 and storage.outbox.listing(session) == []
        [hold] = storage.intake.held(session)
        assert (hold.source_key, hold.inbound_message_id) == ("northwind.test", row.id)
        assert hold.id is not None
        lead = approve(session, hold.id, "cli:ann", rules=default_rules()).lead
        assert lead is not None and lead.id is not None
    approved = message_row(store, row.id)
    assert (approved.classification, approved.lead_id) == ("enquiry", lead.id)
    assert "approved by cli:ann" in approved.reason
    reply = deliver(store, mail(sender="Sales Desk <sales@northwind.test>", subject="Re: Enquiry",
                                In_Reply_To="<first@northwind.test>"))  # fmt: skip
    assert (message_row(store, reply).classification, message_row(store, reply).lead_id) == (
        "reply", lead.id)  # fmt: skip


def test_a_mail_without_any_sender_stays_the_inboxs_quarantine_not_a_hold(store: Store) -> None:
    raw = b"To: leads@acme-leads.test\r\nSubject: who am I\r\nMessage-ID: <n@y>\r\n\r\nhello\r\n"
    nobody = accept_raw(store, raw, channel="smtp", mail_from="")
    InboundMailHandler(store, REPLY_BASE).drain()
    assert message_row(store, nobody.id or 0).state == "quarantined"
    with store.transaction() as session:
        assert storage.intake.held(session) == []
