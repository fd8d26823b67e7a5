"""What happens to one decoded inbound mail: a tuple of named steps, run in order.

The order is data (`DEFAULT_STEPS`, overridable with LEADBOT_INBOUND_STEPS), the way Mailman's
pipeline is: classify it, find the lead whose thread it continues, apply it (create or update a
lead, record a reply, mark a bounced address, …), then queue notifications. All of it runs in the
caller's transaction, so the lead, its timeline, the message's state and the outbox commit together.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlmodel import Session

import storage.inbox
import storage.leads
import storage.outbox
import storage.reps
import storage.timeline
from bot.leads import intake
from bot.leads.capture import Captured, Draft, Evidence, Item, Source, capture
from bot.leads.refs import lead_label
from bot.leads.reply_address import token_in
from bot.mail_in.classify import Classification, Kind, classify
from bot.mail_in.extract.lead import LeadDraft, extract_lead
from bot.mail_in.message import InboundMail
from bot.rules.file import Rules, default_rules
from storage.models import Lead, Rep

DEFAULT_STEPS: tuple[str, ...] = ("classify", "match_thread", "apply", "dedupe", "notify")
EXCERPT_CHARS = 500
# What a mail can tell about its sender (bot.mail_in.extract.LeadDraft).
MAIL_FIELDS = ("first_name", "last_name", "company", "title", "phone", "website", "country", "city",
               "industry", "company_size")  # fmt: skip


class Unprocessable(Exception):
    """The message cannot become anything (no sender to make a lead of, …): quarantine it."""


@dataclass
class MailEvent:
    """One inbound mail on its way through the steps; each step fills in what it decided."""

    inbound_id: int
    mail: InboundMail
    reply_address: str
    classification: Classification | None = None
    draft: LeadDraft | None = None
    thread_lead: Lead | None = None
    thread_reason: str = ""
    outcome: str = ""
    reason: str = ""
    lead: Lead | None = None
    created: bool = False
    touched: list[Lead] = field(default_factory=list)
    # The rules in force when the mail is processed ([dedupe] decides a new lead's duplicates).
    rules: Rules = field(default_factory=default_rules)
    # The steps this event runs through (set by `run`): capture dedupes and notifies when
    # "dedupe" and "notify" are among them.
    steps: tuple[str, ...] = DEFAULT_STEPS
    # What de-duplication did with a new lead (merged it, flagged it), for the notification.
    duplicate: str = ""
    # Batch mode (bot.mail_in.inbox.apply_batch): apply leaves the enquiry's capture here, and
    # the batch captures every such mail at once (`capture_many`), then `captured` finishes each.
    defer_capture: bool = False
    pending: Item | None = None

    @property
    def actor(self) -> str:
        return f"email:{self.mail.from_address.lower()}" if self.mail.from_address else "email"


Step = Callable[[Session, MailEvent], None]


def prepare(event: MailEvent, steps: tuple[str, ...] = DEFAULT_STEPS) -> MailEvent:
    """The pure part (classification, what the mail says about its sender), done before the
    transaction so that no lock is held while text is parsed."""
    if "classify" not in steps:
        return event
    event.classification = classify(event.mail)
    event.reason = event.classification.reason
    if event.classification.kind is Kind.MESSAGE:
        event.draft = extract_lead(event.mail)
    return event


def step_classify(session: Session, event: MailEvent) -> None:
    if event.classification is None:
        event.classification = classify(event.mail)
        event.reason = event.classification.reason


def step_match_thread(session: Session, event: MailEvent) -> None:
    """A reply is recognised by its reply address (leads+token@) or its In-Reply-To/References."""
    for address in event.mail.all_recipients:
        token = token_in(address, event.reply_address)
        if token and (lead := storage.leads.by_reply_token(session, token)):
            event.thread_lead, event.thread_reason = lead, f"reply address {address}"
            return
    refs = [ref for ref in (event.mail.in_reply_to, *event.mail.references) if ref]
    lead_ids = storage.inbox.lead_ids_for_message_ids(session, refs)
    if lead_ids and (lead := storage.leads.by_id(session, lead_ids[-1])):
        event.thread_lead, event.thread_reason = lead, "In-Reply-To/References of an earlier mail"


def step_apply(session: Session, event: MailEvent) -> None:
    kind = event.classification.kind if event.classification else Kind.MESSAGE
    APPLY_BY_KIND[kind](session, event)


def step_dedupe(session: Session, event: MailEvent) -> None:
    """De-duplication is part of capture (bot.leads.capture), run inside `apply`; the step's
    name stays so that LEADBOT_INBOUND_STEPS can leave it out, which turns it off."""


def step_notify(session: Session, event: MailEvent) -> None:
    """A reply in a known thread tells the owner; a capture queued its own notification."""
    lead = event.lead
    if event.outcome != "reply" or lead is None or lead.id is None or lead.owner_id is None:
        return
    payload = {"lead": lead_label(lead.id), "subject": event.mail.subject, "outcome": "reply"}
    storage.outbox.put(
        session, "lead.reply", lead_id=lead.id, rep_id=lead.owner_id, payload=payload
    )


STEPS: dict[str, Step] = {
    "classify": step_classify,
    "match_thread": step_match_thread,
    "apply": step_apply,
    "dedupe": step_dedupe,
    "notify": step_notify,
}


def check_steps(steps: Sequence[str]) -> None:
    """Refuse a step order that names a step there is not (LEADBOT_INBOUND_STEPS): serve checks
    it when it starts, so a typo is one line then, not a quarantine of every message after."""
    unknown = [name for name in steps if name not in STEPS]
    if unknown:
        raise ValueError(f"unknown inbound steps {unknown}; known: {', '.join(STEPS)}")


def run(session: Session, event: MailEvent, steps: tuple[str, ...] = DEFAULT_STEPS) -> MailEvent:
    check_steps(steps)
    event.steps = steps
    for name in steps:
        STEPS[name](session, event)
    return event


# --- apply, per kind -----------------------------------------------------------------------


def _apply_message(session: Session, event: MailEvent) -> None:
    rep = storage.reps.by_email(session, event.mail.from_address or "-")
    if rep is not None:
        _record_rep_mail(session, event, rep)
        return
    if event.thread_lead is not None:
        _record_reply(session, event, event.thread_lead)
        return
    found = event.draft or extract_lead(event.mail)
    email = found.email
    if not email and "@" in event.mail.envelope_sender:
        # No From header: the SMTP envelope sender is the best address left.
        email = event.mail.envelope_sender.strip().lower()
    if not email or "@" not in email:
        raise Unprocessable("no sender address to make a lead of")
    draft = Draft.of(
        email,
        enquiry=found.enquiry,
        found=found.reasons,
        signature=found.signature,
        **{name: getattr(found, name) for name in MAIL_FIELDS},
    )
    via = f"an email to {_first_recipient(event)}"
    source = Source("email", event.actor, via, intake.address_key(email, event.rules.intake))
    evidence = Evidence("email.enquiry", event.mail.subject, _mail_data(event), event.inbound_id)
    if event.defer_capture:
        event.pending = (draft, source, evidence)
        return
    result = capture(
        session,
        draft,
        source,
        evidence,
        rules=event.rules,
        dedupe="dedupe" in event.steps,
        notify="notify" in event.steps,
    )
    captured(event, result)


def captured(event: MailEvent, result: Captured) -> None:
    """What the enquiry's capture did, on the event: the lead it landed on, or intake's hold
    (read fine, held: done, classified "held", not the inbox's quarantine)."""
    event.pending = None
    if result.hold is not None:
        held = intake.reasons_text(result.hold.reasons)
        event.outcome = "held"
        event.reason = f"{event.reason}; held {intake.hold_label(result.hold.id)}: {held}"
        return
    event.outcome, event.lead, event.created = "enquiry", result.lead, result.created
    event.duplicate = result.duplicate


def _record_rep_mail(session: Session, event: MailEvent, rep: Rep) -> None:
    """Mail from a rep's own address (a reply to a prospect with the inbound address in Cc or
    Bcc) is the rep's touch on the lead, not the lead's reply: no points, no "stop on reply"."""
    leads = (
        [event.thread_lead]
        if event.thread_lead is not None
        else _leads_among_recipients(session, event)
    )
    event.outcome = "rep_mail"
    if not leads:
        event.reason = f"{event.reason}; mail from rep {rep.name}, to no known lead"
        return
    for lead in leads:
        storage.leads.touch(session, lead)
        _append_email(
            session,
            event,
            lead,
            "email.rep",
            "emailed",
            {"rep": rep.email},
            actor=f"rep:{rep.name}",
        )
    event.lead = leads[0]
    event.reason = f"{event.reason}; mail from rep {rep.name}"


def _leads_among_recipients(session: Session, event: MailEvent) -> list[Lead]:
    """The known leads a rep wrote to (To and Cc), when the mail names no thread."""
    found: dict[int, Lead] = {}
    for address in event.mail.all_recipients:
        lead = storage.leads.by_email(session, address)
        if lead is not None and lead.id is not None:
            found.setdefault(lead.id, lead)
    return list(found.values())


def _record_reply(session: Session, event: MailEvent, lead: Lead) -> None:
    storage.leads.touch(session, lead)
    _append_email(session, event, lead, "email.reply", "reply", {"matched": event.thread_reason})
    event.outcome, event.lead = "reply", lead
    event.reason = f"{event.reason}; thread: {event.thread_reason}"


def _apply_auto_reply(session: Session, event: MailEvent) -> None:
    event.outcome = "auto_reply"
    lead = event.thread_lead or storage.leads.by_email(session, event.mail.from_address or "-")
    if lead is not None:
        _append_email(session, event, lead, "email.auto_reply", "auto-reply")
        event.lead = lead


def _apply_bounce(session: Session, event: MailEvent) -> None:
    classification = event.classification
    assert classification is not None
    event.outcome = "bounce"
    for address in classification.bounced:
        for lead in storage.leads.all_by_email(session, address):
            assert lead.id is not None
            if classification.permanent and lead.email_status in ("ok", "confirmed", "unconfirmed"):
                lead.email_status = "bounced"
                storage.leads.touch(session, lead)
            what = "hard bounce" if classification.permanent else "soft bounce (delayed)"
            storage.timeline.append(
                session,
                lead.id,
                actor="system",
                kind="email.bounce",
                summary=f"{what} for {address}: {event.mail.subject}",
                data={"permanent": classification.permanent, "reason": classification.reason},
                inbound_message_id=event.inbound_id,
            )
            event.lead = event.lead or lead


def _apply_complaint(session: Session, event: MailEvent) -> None:
    event.outcome = "complaint"
    assert event.classification is not None
    for address in event.classification.bounced:
        _opt_out(session, event, address, "spam complaint (feedback report)")


def _apply_unsubscribe(session: Session, event: MailEvent) -> None:
    event.outcome = "unsubscribe"
    _opt_out(session, event, event.mail.from_address, "asked to unsubscribe by email")


def _opt_out(session: Session, event: MailEvent, address: str, why: str) -> None:
    for lead in storage.leads.all_by_email(session, address or "-"):
        assert lead.id is not None
        lead.email_status = "opted_out"
        storage.leads.touch(session, lead)
        storage.timeline.append(
            session,
            lead.id,
            actor=event.actor,
            kind="email.opt_out",
            summary=f"{address} opted out: {why}",
            inbound_message_id=event.inbound_id,
        )
        event.lead = event.lead or lead


APPLY_BY_KIND: dict[Kind, Step] = {
    Kind.MESSAGE: _apply_message,
    Kind.AUTO_REPLY: _apply_auto_reply,
    Kind.BOUNCE: _apply_bounce,
    Kind.COMPLAINT: _apply_complaint,
    Kind.UNSUBSCRIBE: _apply_unsubscribe,
}


def _mail_data(event: MailEvent) -> dict[str, object]:
    text = event.mail.text or event.mail.html
    return {
        "subject": event.mail.subject,
        "from": event.mail.from_address,
        "message_id": event.mail.message_id,
        "excerpt": text[:EXCERPT_CHARS],
    } | ({"attachments": [a.as_data() for a in event.mail.attachments]}
         if event.mail.attachments else {})  # fmt: skip


def _append_email(
    session: Session,
    event: MailEvent,
    lead: Lead,
    kind: str,
    what: str,
    extra: dict[str, object] | None = None,
    actor: str | None = None,
) -> None:
    assert lead.id is not None
    storage.timeline.append(
        session,
        lead.id,
        actor=actor or event.actor,
        kind=kind,
        summary=f"{what}: {event.mail.subject or '(no subject)'}",
        data={**_mail_data(event), **(extra or {})},
        inbound_message_id=event.inbound_id,
    )


def _first_recipient(event: MailEvent) -> str:
    recipients = event.mail.all_recipients
    return recipients[0] if recipients else "the inbox"
