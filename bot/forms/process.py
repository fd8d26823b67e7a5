"""The form processor: a stored submission becomes a lead through the one capture path.

`serve` runs it as a loop (woken by every POST). Per submission, in a savepoint: the answer-time
reasons and the limits of the rules' `[forms]` table (per client IP, per address, per form,
counted in the store over the submissions stored before this one) decide whether it is held in
the intake quarantine (kept with its reasons; `leadbot intake approve` replays it through
capture); else `capture` makes or updates the lead (it runs the intake checks too: a disposable
address or an over-long field is held there), the form's tags go on the lead, and a double
opt-in form's new lead waits, unconfirmed, for the click in its confirmation mail. A failure
rolls the savepoint back and quarantines the submission with its error, so nothing is
half-applied and nothing is lost.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlmodel import Session

import storage.forms
import storage.intake
import storage.leads
import storage.timeline
from bot.forms import definitions as d
from bot.imports.batch import capture_batch
from bot.leads.capture import Captured, Draft, Evidence, Item, Source
from bot.leads.refs import lead_label
from bot.rules.file import Rules
from bot.rules.forms import FormRules
from storage.engine import Store
from storage.models import FormConfirmation, FormSubmission, IntakeRecord, Lead, WebForm, utcnow

log = logging.getLogger(__name__)

# Submissions processed per transaction, captured together: one commit for many keeps up with a
# burst. On SQLite too: a POST commits to the accept spool (storage/spool.py), not behind this
# transaction, and a batch of 25 holds the write lock for about as long as 3 single captures did.
BATCH = 25
# Statuses of an address on a double opt-in form's lead (storage.models.Lead.email_status).
UNCONFIRMED, CONFIRMED = "unconfirmed", "confirmed"


def title_of(form: WebForm, attribution: dict[str, Any]) -> str:
    """What the timeline and the rep's card say: `form demo-request · page … · campaign …`."""
    parts = [f"form {form.name}"]
    if attribution.get("page"):
        parts.append(f"page {attribution['page']}")
    if attribution.get("utm_campaign"):
        parts.append(f"campaign {attribution['utm_campaign']}")
    return " · ".join(parts)


def capture_parts(form: WebForm, submission: FormSubmission) -> tuple[Draft, Source, Evidence]:
    values = submission.posted
    asked = {spec.name for spec in d.form_fields(form)}
    draft = Draft.of(
        values.get("email", ""),
        enquiry=values.get(d.MESSAGE, "") if d.MESSAGE in asked else "",
        found=(f"form {form.name}",),
        **{name: values.get(name, "") for name in asked if name not in ("email", d.MESSAGE)},
    )
    source = Source("form", f"form:{form.name}", f"form {form.name}")
    evidence = Evidence(
        "form.post",
        title_of(form, submission.attribution),
        {
            "form": form.name,
            "submission": submission.id,
            "attribution": dict(submission.attribution),
            "consent": dict(submission.consent),
            "tags": list(form.tags),
        },
    )
    return draft, source, evidence


# The limits count earlier submissions up to this many times the limit: past that, a flood is
# "more than" (storage.forms.count_before).
FLOOD_COUNT_CAP = 10


def limit_reasons(
    session: Session, submission: FormSubmission, rules: FormRules
) -> list[dict[str, str]]:
    since = submission.received_at - rules.window
    reasons = []
    for limit, column, value, what in (
        (rules.per_ip_limit, "client_ip", submission.client_ip, f"client {submission.client_ip}"),
        (rules.per_address_limit, "address", submission.address, submission.address),
        (rules.per_form_limit, "form_id", submission.form_id, "this form"),
    ):
        if not limit or not value:
            continue
        cap = FLOOD_COUNT_CAP * limit
        before = storage.forms.count_before(session, submission, column, value, since, cap)
        if before >= limit:
            many = f"{before + 1}" if before < cap else f"more than {cap}"
            reasons.append(
                {
                    "check": "flood",
                    "detail": f"{many} submissions from {what} within "
                    f"{rules.window_minutes:g} minutes, over the limit of {limit}",
                }
            )
    return reasons


def hold(
    session: Session,
    submission: FormSubmission,
    reasons: list[dict[str, str]],
    parts: tuple[Draft, Source, Evidence],
) -> IntakeRecord:
    """Put a submission in the intake quarantine as capture holds one: with everything needed to
    replay it, so that `intake approve` makes the lead exactly as capture would have."""
    draft, source, evidence = parts
    record = IntakeRecord(
        at=submission.received_at,
        channel=source.channel,
        state="held",
        reasons=reasons,
        draft=draft.as_data(),
        source=source.as_data(),
        evidence=evidence.as_data(),
    )
    return storage.intake.add(session, record)


def after_capture(
    session: Session,
    form: WebForm,
    submission: FormSubmission,
    lead: Lead,
    created: bool,
    rules: FormRules,
) -> None:
    """The form's part once capture made the lead: its tags, and double opt-in."""
    assert lead.id is not None
    if form.tags:
        custom = dict(lead.custom or {})
        tags = custom.get("tags", [])
        tags = [t.strip() for t in tags.split(",")] if isinstance(tags, str) else list(tags)
        custom["tags"] = sorted({*tags, *form.tags})
        lead.custom = custom
        session.add(lead)
    if not form.double_opt_in:
        return
    if created and lead.email_status == "ok":
        lead.email_status = UNCONFIRMED
        session.add(lead)
    if lead.email_status != UNCONFIRMED:
        return
    now = utcnow()
    window = timedelta(minutes=rules.confirm_every_minutes)
    if storage.forms.reserve_confirmation(session, lead.email, now, now - window):
        assert form.id is not None
        storage.forms.add_confirmation(
            session, FormConfirmation(lead_id=lead.id, form_id=form.id, address=lead.email)
        )
        summary = f"confirmation mail queued to {lead.email} (double opt-in, form {form.name})"
    else:
        summary = (
            f"no confirmation mail: {lead.email} was sent one within "
            f"{rules.confirm_every_minutes:g} minutes"
        )
    storage.timeline.append(
        session, lead.id, actor=f"form:{form.name}", kind="form.confirmation", summary=summary,
        data={"submission": submission.id},
    )  # fmt: skip


class FormProcessor:
    """Drains the submission queue (`serve` runs it; `leadbot form process` once)."""

    def __init__(self, store: Store, rules: Callable[[], Rules]) -> None:
        self.store = store
        # Called per batch: a RulesFile's `get` re-reads the rules file when it changes.
        self.rules = rules

    def drain_once(self) -> int:
        """Process one batch of queued submissions in one transaction; how many. Their checks
        run one by one (each in a savepoint), the captures together (`capture_many`, with a
        matcher that reads the batch's blocks once), then each is finished in a savepoint of
        its own: a submission that fails is quarantined alone."""
        rules = self.rules()
        with self.store.transaction() as session:
            batch = storage.forms.claim_queued(session, BATCH)
            forms: dict[int, WebForm | None] = {}
            pending: list[tuple[FormSubmission, WebForm, Item]] = []
            for submission in batch:
                if submission.form_id not in forms:
                    forms[submission.form_id] = storage.forms.form_by_id(
                        session, submission.form_id
                    )
                form = forms[submission.form_id]
                parts = self._checked(session, submission, form, rules)
                if parts is not None and form is not None:
                    pending.append((submission, form, parts))
            self._capture(session, pending, rules)
            decided = self._follow_decisions(session, rules)
        return len(batch) + decided

    def _checked(
        self, session: Session, submission: FormSubmission, form: WebForm | None, rules: Rules
    ) -> Item | None:
        """What to capture of a submission, or None when it was held (the form's limits, the
        answer-time checks) or quarantined here."""
        try:
            with session.begin_nested():
                if form is None:
                    raise LookupError(f"form {submission.form_id} does not exist")
                parts = capture_parts(form, submission)
                reasons = [*submission.reasons, *limit_reasons(session, submission, rules.forms)]
                if not reasons:
                    return parts
                record = hold(session, submission, reasons, parts)
                storage.forms.mark(session, submission, "held", intake_record_id=record.id)
                session.flush()
        except Exception as exc:
            self._quarantine(session, submission, exc)
        return None

    def _capture(
        self,
        session: Session,
        pending: list[tuple[FormSubmission, WebForm, Item]],
        rules: Rules,
    ) -> None:
        if not pending:
            return
        results = capture_batch(session, [parts for _, _, parts in pending], rules=rules)
        for (submission, form, _), result in zip(pending, results, strict=True):
            if isinstance(result, Exception):
                self._quarantine(session, submission, result)
                continue
            try:
                with session.begin_nested():
                    self._finish(session, submission, form, result, rules)
                    session.flush()
            except Exception as exc:
                self._quarantine(session, submission, exc)

    def _finish(
        self,
        session: Session,
        submission: FormSubmission,
        form: WebForm,
        result: Captured,
        rules: Rules,
    ) -> None:
        if result.hold is not None:
            storage.forms.mark(session, submission, "held", intake_record_id=result.hold.id)
            return
        assert result.lead is not None
        after_capture(session, form, submission, result.lead, result.created, rules.forms)
        storage.forms.mark(session, submission, "done", lead_id=result.lead.id)
        log.debug(
            "form %s: submission %s → %s", form.name, submission.id, lead_label(result.lead.id)
        )

    def _quarantine(self, session: Session, submission: FormSubmission, exc: Exception) -> None:
        error = f"{type(exc).__name__}: {exc}"
        log.warning("form submission %s quarantined: %s", submission.id, error)
        detail = "".join(traceback.format_exception(exc, limit=-4))
        storage.forms.mark(session, submission, "quarantined", error=f"{error}\n\n{detail}")

    def _follow_decisions(self, session: Session, rules: Rules) -> int:
        """A held submission a person approved (`intake approve` made its lead through capture)
        gets the form's part too (tags, double opt-in), and its state follows the decision."""
        pairs = storage.forms.decided_holds(session)
        for submission, record in pairs:
            if record.state == "rejected" or record.lead_id is None:
                storage.forms.mark(session, submission, "rejected")
                continue
            lead = storage.leads.by_id(session, record.lead_id)
            form = storage.forms.form_by_id(session, submission.form_id)
            if lead is not None and form is not None:
                # Capture created the lead when the approval did (the lead is newer than it).
                created = (
                    lead.source == "form"
                    and record.decided_at is not None
                    and lead.created_at >= record.decided_at
                )
                after_capture(session, form, submission, lead, created, rules.forms)
            storage.forms.mark(session, submission, "done", lead_id=record.lead_id)
        return len(pairs)

    def drain(self, limit: int | None = None) -> int:
        done = 0
        while limit is None or done < limit:
            batch = self.drain_once()
            done += batch
            if not batch:
                break
        return done

    def retry(self, submission_id: int) -> bool:
        with self.store.transaction() as session:
            return storage.forms.requeue(session, submission_id)
