"""What happens to one decoded inbound mail: a tuple of named steps, run in order.

The order is data (`DEFAULT_STEPS`, overridable with LEADBOT_INBOUND_STEPS), the way Mailman's
pipeline is: classify it, find the lead whose thread it continues, apply it (create or update a
lead, record a reply, mark a bounced address, …), then queue notifications. All of it runs in the
caller's transaction, so the lead, its timeline, the message's state and the outbox commit together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from sqlmodel import Session

import storage.inbox
import storage.leads
import storage.outbox
import storage.timeline
from bot.leads import companies
from bot.dedupe import store_match
from bot.mail_in.classify import Classification, Kind, classify
from bot.dedupe.match import MatchRules
from bot.mail_in.extract.lead import LeadDraft, extract_lead
from bot.dedupe.index import index
from bot.mail_in.message import InboundMail
from bot.leads.refs import lead_label
from bot.leads.reply_address import new_reply_token, token_in
from storage.models import Lead

DEFAULT_STEPS: tuple[str, ...] = ("classify", "match_thread", "apply", "dedupe", "notify")
EXCERPT_CHARS = 500


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
    match_rules: MatchRules = field(default_factory=MatchRules)
    # An existing lead's matching fields changed (a gap filled): its keys need recomputing.
    fields_changed: bool = False
    # What de-duplication did with a new lead (merged it, flagged it), for the notification.
    duplicate: str = ""

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
    """A new lead is matched against the stored ones: merged into a sure duplicate (the
    enquiry lands on the existing lead), flagged against likely ones, then linked to its
    company's account. A known lead is re-indexed only when the mail filled one of its fields
    (a reply or a repeat enquiry writes no keys)."""
    lead = event.lead
    if lead is None or lead.id is None:
        return
    if not event.created:
        if event.fields_changed:
            index(session, lead)
        return
    decision = store_match.on_capture(session, lead, event.match_rules, actor="system")
    if decision.survivor is not None and decision.match is not None:
        event.lead, event.created = decision.survivor, False
        event.duplicate = decision.match.describe(lead_label(decision.survivor.id))
        return
    if decision.flagged:
        event.duplicate = decision.flagged[0].describe(lead_label(int(decision.flagged[0].key)))
    companies.link(session, lead)


def step_notify(session: Session, event: MailEvent) -> None:
    lead = event.lead
    if lead is None or lead.id is None:
        return
    payload = {"lead": lead_label(lead.id), "subject": event.mail.subject, "outcome": event.outcome}
    if event.duplicate:
        payload["duplicate"] = event.duplicate
    if event.created:
        storage.outbox.put(session, "lead.new", lead_id=lead.id, payload=payload)
    elif event.outcome in ("enquiry", "reply") and lead.owner_id is not None:
        storage.outbox.put(
            session, f"lead.{event.outcome}", lead_id=lead.id, rep_id=lead.owner_id, payload=payload
        )


STEPS: dict[str, Step] = {
    "classify": step_classify,
    "match_thread": step_match_thread,
    "apply": step_apply,
    "dedupe": step_dedupe,
    "notify": step_notify,
}


def run(session: Session, event: MailEvent, steps: tuple[str, ...] = DEFAULT_STEPS) -> MailEvent:
    unknown = [name for name in steps if name not in STEPS]
    if unknown:
        raise ValueError(f"unknown inbound steps {unknown}; known: {', '.join(STEPS)}")
    for name in steps:
        STEPS[name](session, event)
    return event


# --- apply, per kind -----------------------------------------------------------------------


def _apply_message(session: Session, event: MailEvent) -> None:
    if event.thread_lead is not None:
        _record_reply(session, event, event.thread_lead)
        return
    draft = event.draft or extract_lead(event.mail)
    if not draft.email and "@" in event.mail.envelope_sender:
        # No From header: the SMTP envelope sender is the best address left.
        draft = replace(draft, email=event.mail.envelope_sender.strip().lower())
    if not draft.email or "@" not in draft.email:
        raise Unprocessable("no sender address to make a lead of")
    existing = storage.leads.by_email(session, draft.email)
    if existing is not None:
        _update_lead(session, event, existing, draft)
    else:
        _create_lead(session, event, draft)


def _create_lead(session: Session, event: MailEvent, draft: LeadDraft) -> None:
    lead = storage.leads.add(
        session,
        Lead(
            email=draft.email.lower(),
            first_name=draft.first_name,
            last_name=draft.last_name,
            company=draft.company,
            title=draft.title,
            phone=draft.phone,
            website=draft.website,
            source="email",
            enquiry=draft.enquiry,
            reply_token=new_reply_token(),
        ),
    )
    assert lead.id is not None
    storage.timeline.append(
        session,
        lead.id,
        actor="system",
        kind="created",
        summary=f"lead created from an email to {_first_recipient(event)}",
        data={"found": list(draft.reasons)},
        inbound_message_id=event.inbound_id,
    )
    _append_email(session, event, lead, "email.enquiry", "enquiry")
    event.outcome, event.lead, event.created = "enquiry", lead, True


def _update_lead(session: Session, event: MailEvent, lead: Lead, draft: LeadDraft) -> None:
    """A known sender wrote again without thread headers: fill gaps, keep what a person set."""
    filled = []
    for name in ("first_name", "last_name", "company", "title", "phone", "website"):
        value = getattr(draft, name)
        if value and not getattr(lead, name):
            setattr(lead, name, value)
            filled.append(name)
    if draft.enquiry:
        lead.enquiry = draft.enquiry
    storage.leads.touch(session, lead)
    _append_email(session, event, lead, "email.enquiry", "new enquiry", {"filled": filled})
    event.outcome, event.lead, event.fields_changed = "enquiry", lead, bool(filled)


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
            if classification.permanent and lead.email_status == "ok":
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


def _append_email(
    session: Session,
    event: MailEvent,
    lead: Lead,
    kind: str,
    what: str,
    extra: dict[str, object] | None = None,
) -> None:
    assert lead.id is not None
    text = event.mail.text or event.mail.html
    data: dict[str, object] = {
        "subject": event.mail.subject,
        "from": event.mail.from_address,
        "message_id": event.mail.message_id,
        "excerpt": text[:EXCERPT_CHARS],
    }
    data.update(extra or {})
    storage.timeline.append(
        session,
        lead.id,
        actor=event.actor,
        kind=kind,
        summary=f"{what}: {event.mail.subject or '(no subject)'}",
        data=data,
        inbound_message_id=event.inbound_id,
    )


def _first_recipient(event: MailEvent) -> str:
    recipients = event.mail.all_recipients
    return recipients[0] if recipients else "the inbox"
