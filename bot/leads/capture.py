"""The one way a lead is born or updated, whatever the door: mail, form, API or import.

A door turns what it received into a `Draft` (the person's fields), a `Source` (the channel and
who, as the timeline names them) and `Evidence` (what they sent: the timeline entry of the
enquiry), then calls `capture` inside its transaction. Capture runs the intake checks first
(bot/leads/intake.py: junk, floods and addresses erased on request, unless the person mailed us
themselves, are held in the intake quarantine, kept with the reasons),
decides create-or-update (the same address, or the address of a lead merged into another, lands
on the existing lead), de-duplicates a new lead against the store, links its company, writes the
timeline and queues the notification, so every channel validates, matches and notifies the same
way. Scoring, grading, the MQL decision and assignment then run on the timeline, whatever the
door was. `approve` replays a held capture with the checks off; `reject` closes it.

`capture_many` is the same capture for a batch (an import's 500 rows, the mail drain's queue):
the same decisions in the same order, item after item, but the store is read once per batch
(existing leads, suppressed addresses, flood counts, accounts) and written in bulk (one INSERT …
RETURNING of the new leads, executemany of timeline entries, intake records, outbox items and
blocking keys). It runs in a savepoint; when anything in it fails (a lost race for an address,
an item the store refuses), the batch rolls back whole and each item is captured alone by
`capture` in a savepoint of its own, so a failing item fails alone, with its error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from sqlmodel import Session

import storage.bulk
import storage.duplicates
import storage.intake
import storage.leads
import storage.outbox
import storage.privacy
import storage.timeline
import storage.webhooks
from bot.dedupe import merging, store_match
from bot.dedupe.index import index, person_of
from bot.dedupe.match import form_of, keys_of, prepare
from bot.leads import companies, enrich, fields, intake
from bot.leads.intake import IntakeRules, hold_label
from bot.leads.refs import lead_label
from bot.leads.reply_address import new_reply_token
from bot.rules.file import Rules
from storage.models import Account, IntakeRecord, Lead, TimelineEntry, utcnow
from storage.text import refused_in, storable_value


class BadDraft(ValueError):
    """The draft cannot become a lead (no usable address, …); the message says why. With the
    intake checks on, such a draft is held instead."""


class NotHeld(LookupError):
    """No such hold, or it was decided already; the message says which."""


@dataclass(frozen=True)
class Draft:
    """What a door knows about one person: the address and the declared fields it found."""

    email: str
    values: Mapping[str, str] = field(default_factory=dict)
    enquiry: str = ""
    # How each field was found (the mail extractor's reasons), kept on the "created" entry.
    found: tuple[str, ...] = ()
    # Fields not declared in bot/leads/fields.py (an import's unknown columns): lead.custom.
    custom: Mapping[str, Any] = field(default_factory=dict)
    # The signature block a mail ended with: enrichment reads a postal address in it.
    signature: str = ""

    @classmethod
    def of(
        cls,
        email: str,
        *,
        enquiry: str = "",
        found: tuple[str, ...] = (),
        signature: str = "",
        **values: str,
    ) -> Draft:
        unknown = sorted(set(values) - set(fields.NAMES))
        if unknown:
            raise TypeError(f"not lead fields: {', '.join(unknown)} (bot.leads.fields)")
        return cls(
            email, {k: v for k, v in values.items() if v}, enquiry, found, signature=signature
        )

    @property
    def address(self) -> str:
        return self.email.strip().lower()

    def as_data(self) -> dict[str, Any]:
        data = {"email": self.email, "values": dict(self.values), "enquiry": self.enquiry,
                "found": list(self.found)}  # fmt: skip
        if self.custom:
            data["custom"] = dict(self.custom)
        if self.signature:
            data["signature"] = self.signature
        return data

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Draft:
        return cls(data["email"], dict(data.get("values", {})), data.get("enquiry", ""),
                   tuple(data.get("found", ())), dict(data.get("custom", {})),
                   data.get("signature", ""))  # fmt: skip


@dataclass(frozen=True)
class Source:
    """Where a capture came from: the channel (the lead's `source` when it is created), the
    actor the timeline names (`email:ann@example.com`, `form:contact`), the door in words for
    the "lead created from …" entry, and the key a flood is counted on (the sender's domain,
    the form, the API key, the file; "" = not counted)."""

    channel: str
    actor: str
    via: str
    key: str = ""

    def as_data(self) -> dict[str, Any]:
        return {"channel": self.channel, "actor": self.actor, "via": self.via, "key": self.key}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Source:
        return cls(data["channel"], data["actor"], data["via"], data.get("key", ""))


@dataclass(frozen=True)
class Evidence:
    """What the person sent, as the timeline keeps it: the entry kind (`email.enquiry`), its
    title (the subject, the form's name) and data (excerpt, message id, …)."""

    kind: str
    title: str
    data: Mapping[str, Any] = field(default_factory=dict)
    inbound_message_id: int | None = None

    def as_data(self) -> dict[str, Any]:
        return {"kind": self.kind, "title": self.title, "data": dict(self.data),
                "inbound_message_id": self.inbound_message_id}  # fmt: skip

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Evidence:
        return cls(data["kind"], data["title"], dict(data.get("data", {})),
                   data.get("inbound_message_id"))  # fmt: skip


@dataclass
class Captured:
    """What capture did. `lead` is where the enquiry landed: the survivor when the new lead
    was merged into a duplicate; None when intake held the capture (`hold` says why)."""

    lead: Lead | None
    created: bool
    filled: tuple[str, ...] = ()
    # What de-duplication did with a new lead ("merged into L-7 (92%: …)"), for the card.
    duplicate: str = ""
    merged: bool = False
    hold: IntakeRecord | None = None

    @property
    def held(self) -> bool:
        return self.hold is not None


def capture(
    session: Session,
    draft: Draft,
    source: Source,
    evidence: Evidence,
    *,
    rules: Rules,
    checks: bool = True,
    dedupe: bool = True,
    notify: bool = True,
    matcher: store_match.Matcher = store_match.STORE,
    overwrite: frozenset[str] = frozenset(),
    keep: frozenset[str] = frozenset(),
) -> Captured:
    """Create or update the lead `draft` describes, in the caller's transaction; or, when an
    intake check fails (and `checks` is on), hold it and make no lead.

    An update fills the lead's empty fields; the fields in `overwrite` take the draft's value
    even when set, those in `keep` are never changed (an import's merge policy). `matcher`
    finds the stored lead and the duplicates (an import's batch matcher reads them per batch)."""
    draft, source, evidence = _storable(draft), _storable(source), _storable(evidence)
    record: IntakeRecord | None = None
    if checks:
        record = _admit(session, draft, source, evidence, rules.intake)
        if record.state == "held":
            return Captured(None, created=False, hold=record)
    address = draft.address
    if not intake.usable_address(address):
        raise BadDraft("no sender address to make a lead of")
    existing = matcher.existing(session, address)
    if existing is not None and storage.leads.lock(session, existing).erased_at is not None:
        # Erased while we looked (bot/privacy/erase.py): the person is gone from the store. A
        # form, API or import capture is held like any capture of a suppressed address; a
        # mail from the person is a new enquiry.
        if record is not None and source.channel not in intake.SELF_SENT_CHANNELS:
            return Captured(None, created=False, hold=_hold_erased(session, record, draft,
                                                                  source, evidence))  # fmt: skip
        existing = None
    result = None
    if existing is None:
        result = _create(session, draft, source, evidence)
        if result is None:  # another worker created this address's lead meanwhile: update it
            existing = storage.leads.by_email(session, address)
            if existing is None:
                raise BadDraft(f"the lead for {address} vanished while it was being created")
        elif dedupe:
            _dedupe_new(session, result, rules, matcher)
    if result is None:
        assert existing is not None
        result = _update(session, existing, draft, source, evidence, overwrite, keep)
        if dedupe and result.filled:
            index(session, existing)  # a filled gap changes its matching keys
    if notify:
        _notify(session, result, evidence)
    if record is not None and result.lead is not None:
        storage.intake.set_lead(session, record, result.lead.id)
    return result


_Captured = TypeVar("_Captured", Draft, Source, Evidence)


def _storable(value: _Captured) -> _Captured:
    """What a door passed, every text field cleaned of what the store refuses (NUL, …): one
    place for every channel, where the text enters the domain."""
    changes = {
        name: storable_value(getattr(value, name))
        for name in value.__dataclass_fields__
        if refused_in(getattr(value, name))
    }
    return replace(value, **changes) if changes else value


def _admit(
    session: Session, draft: Draft, source: Source, evidence: Evidence, rules: IntakeRules
) -> IntakeRecord:
    """Run the intake checks and record the capture: passed (its key and time count towards a
    flood) or held, with everything needed to replay it."""
    now = utcnow()
    recent = 0
    if source.key and rules.flood_limit:
        recent = storage.intake.count_since(session, source.key, now - rules.flood_window)
    # An address erased on request comes back only when the person writes to us themselves
    # (mail); a form, API or import capture of it is held "erased on request".
    suppressed = source.channel not in intake.SELF_SENT_CHANNELS and bool(
        intake.usable_address(draft.address)
        and storage.privacy.is_suppressed(session, draft.address)
    )
    reasons = intake.check(draft.address, draft.values, rules, recent, source.key, suppressed)
    record = IntakeRecord(at=now, channel=source.channel, source_key=source.key)
    if reasons:
        record.state = "held"
        record.reasons = [reason.as_data() for reason in reasons]
        record.draft, record.source = draft.as_data(), source.as_data()
        record.evidence = evidence.as_data()
        record.inbound_message_id = evidence.inbound_message_id
    return storage.intake.add(session, record)


def _hold_erased(
    session: Session, record: IntakeRecord, draft: Draft, source: Source, evidence: Evidence
) -> IntakeRecord:
    """Turn a passed intake record into a hold "erased on request" (the erase committed
    between the intake checks and the update)."""
    record.state = "held"
    record.reasons = [intake.Reason("erased", intake.ERASED_ON_REQUEST).as_data()]
    record.draft, record.source = draft.as_data(), source.as_data()
    record.evidence = evidence.as_data()
    record.inbound_message_id = evidence.inbound_message_id
    return storage.intake.add(session, record)


def approve(
    session: Session,
    hold_id: int,
    actor: str,
    *,
    rules: Rules,
    dedupe: bool = True,
    notify: bool = True,
) -> Captured:
    """Capture a held draft for real, as it arrived, with the checks off; the lead's timeline
    says who approved it and why it had been held. Of two people approving the same hold at
    once, one makes the lead and the other gets NotHeld (storage.intake.decide)."""
    # In a savepoint: a draft that cannot become a lead (BadDraft) leaves the hold held.
    with session.begin_nested():
        if not storage.intake.decide(session, hold_id, "approved", actor):
            raise NotHeld(_not_held(session, hold_id))
        record = storage.intake.by_id(session, hold_id)
        assert record is not None
        evidence = Evidence.from_data(record.evidence)
        result = capture(
            session,
            Draft.from_data(record.draft),
            Source.from_data(record.source),
            evidence,
            rules=rules,
            checks=False,
            dedupe=dedupe,
            notify=notify,
        )
    lead = result.lead
    assert lead is not None and lead.id is not None
    storage.intake.set_lead(session, record, lead.id)
    held_for = intake.reasons_text(record.reasons)
    storage.timeline.append(
        session,
        lead.id,
        actor=actor,
        kind="intake.approved",
        summary=f"approved {hold_label(hold_id)} from the intake quarantine (held: {held_for})",
        data={
            "hold": hold_label(hold_id),
            "reasons": list(record.reasons),
            "held_at": record.at.isoformat(),
        },
        inbound_message_id=evidence.inbound_message_id,
    )
    if evidence.inbound_message_id is not None:
        storage.intake.link_message(
            session,
            evidence.inbound_message_id,
            lead.id,
            f"held ({held_for}); approved by {actor}",
        )
    return result


def reject(session: Session, hold_id: int, actor: str, note: str = "") -> IntakeRecord:
    """Close a hold as rejected: kept, with who rejected it and why, and no lead made."""
    if not storage.intake.decide(session, hold_id, "rejected", actor, note):
        raise NotHeld(_not_held(session, hold_id))
    record = storage.intake.by_id(session, hold_id)
    assert record is not None
    return record


def _not_held(session: Session, hold_id: int) -> str:
    record = storage.intake.by_id(session, hold_id)
    if record is None or record.state == "passed":
        return f"no hold {hold_label(hold_id)}"
    return f"{hold_label(hold_id)} was {record.state} already, by {record.decided_by}"


def _create(session: Session, draft: Draft, source: Source, evidence: Evidence) -> Captured | None:
    """A new lead, or None when a concurrent capture made this address's lead first."""
    columns, enriched = _new_lead(draft, source)
    lead = storage.leads.add_unless_taken(session, Lead(**columns))
    if lead is None:
        return None
    assert lead.id is not None
    data: dict[str, Any] = {"found": list(draft.found)}
    if enriched:
        data["enriched"] = enriched
    storage.timeline.append(
        session,
        lead.id,
        actor="system",
        kind="created",
        summary=f"lead created from {source.via}",
        data=data,
        inbound_message_id=evidence.inbound_message_id,
    )
    _record(session, lead, source, evidence, "enquiry")
    return Captured(lead, created=True)


def _update(
    session: Session,
    lead: Lead,
    draft: Draft,
    source: Source,
    evidence: Evidence,
    overwrite: frozenset[str] = frozenset(),
    keep: frozenset[str] = frozenset(),
) -> Captured:
    """A known person wrote again: fill the gaps, keep what a person set (unless told to
    overwrite a field)."""
    filled, enriched = _fill(lead, draft, overwrite, keep)
    storage.leads.touch(session, lead)
    extra: dict[str, Any] = {"filled": list(filled)}
    if enriched:
        extra["enriched"] = enriched
    _record(session, lead, source, evidence, "new enquiry", extra)
    return Captured(lead, created=False, filled=filled)


def _new_lead(draft: Draft, source: Source) -> tuple[dict[str, Any], list[str]]:
    """A new lead's columns (the draft's fields, then what enrichment read in the capture for
    the empty ones) and the enrichment's reasons: the same for `capture` and `capture_many`."""
    values = {name: value for name, value in draft.values.items() if name in fields.NAMES}
    found = _enrich(draft, values, {})
    columns = {
        **found.values,
        **values,
        "email": draft.address,
        "source": source.channel,
        "custom": {**draft.custom, **({"timezone": found.timezone} if found.timezone else {})},
        "enquiry": draft.enquiry,
        "reply_token": new_reply_token(),
    }
    return columns, list(found.reasons)


def _enrich(draft: Draft, stated: Mapping[str, str], custom: Mapping[str, Any]) -> enrich.Guess:
    """What the capture says of the lead's empty place and language fields (phone, domain,
    signature address, the enquiry's language; bot/leads/enrich.py), values that fit their
    field only. Stated values are kept. Capture applies it before de-duplication, so the
    matcher sees the city and postal code too, and keeps the reasons on the timeline entry
    (`data.enriched`, what `lead why` prints)."""
    found = enrich.guess(
        draft.address,
        stated,
        enquiry=draft.enquiry,
        signature=draft.signature,
        stated_timezone=str(custom.get("timezone") or ""),
    )
    found.values = {
        name: value
        for name, value in found.values.items()
        if len(value) <= fields.BY_NAME[name].max_chars
    }
    return found


def _dedupe_new(
    session: Session, result: Captured, rules: Rules, matcher: store_match.Matcher
) -> None:
    """Merge a new lead into a sure duplicate (the enquiry lands on the existing lead), flag it
    against likely ones, then link it to its company's account."""
    lead = result.lead
    assert lead is not None
    decision = store_match.on_capture(session, lead, rules, actor="system", matcher=matcher)
    if decision.survivor is not None and decision.match is not None:
        assert decision.survivor.id is not None
        result.lead, result.created, result.merged = decision.survivor, False, True
        result.duplicate = decision.match.describe(lead_label(decision.survivor.id))
        return
    if decision.flagged:
        best = decision.flagged[0]
        result.duplicate = best.describe(lead_label(int(best.key)))
    companies.link(session, lead)


def _record(
    session: Session,
    lead: Lead,
    source: Source,
    evidence: Evidence,
    what: str,
    extra: dict[str, Any] | None = None,
) -> None:
    assert lead.id is not None
    storage.timeline.append(
        session,
        lead.id,
        actor=source.actor,
        kind=evidence.kind,
        summary=f"{what}: {evidence.title or '(no subject)'}",
        data={**evidence.data, **(extra or {})},
        inbound_message_id=evidence.inbound_message_id,
    )


def _notify(session: Session, result: Captured, evidence: Evidence) -> None:
    """A new lead is announced; a known one's owner hears of the new enquiry."""
    lead = result.lead
    assert lead is not None and lead.id is not None
    payload = {"lead": lead_label(lead.id), "subject": evidence.title, "outcome": "enquiry"}
    if result.duplicate:
        payload["duplicate"] = result.duplicate
    if result.created:
        storage.outbox.put(session, "lead.new", lead_id=lead.id, payload=payload)
    elif lead.owner_id is not None:
        storage.outbox.put(
            session, "lead.enquiry", lead_id=lead.id, rep_id=lead.owner_id, payload=payload
        )


# --- the batch ----------------------------------------------------------------------------------

Item = tuple[Draft, Source, Evidence]


def capture_many(
    session: Session,
    items: Sequence[Item],
    *,
    rules: Rules,
    checks: bool = True,
    dedupe: bool = True,
    notify: bool = True,
    matcher: store_match.Matcher = store_match.STORE,
    overwrite: frozenset[str] = frozenset(),
    keep: frozenset[str] = frozenset(),
    rolled_back: Callable[[], None] | None = None,
) -> list[Captured | Exception]:
    """Capture every item, in order, in the caller's transaction: what `capture` would do
    item after item (the same intake checks, create-or-update, merges, flags, company links,
    timeline, outbox and webhook rows), with the store read and written per batch.

    One result per item: its `Captured`, or the exception that item raised (BadDraft, or an
    error of the store), which the caller quarantines or reports; the other items are
    captured. `rolled_back` is called when the batch failed and rolled back whole, before the
    items are captured one by one (a batch matcher reads its batch again then)."""
    if not items:
        return []
    options: dict[str, Any] = dict(
        rules=rules,
        checks=checks,
        dedupe=dedupe,
        notify=notify,
        matcher=matcher,
        overwrite=overwrite,
        keep=keep,
    )
    batch = _Batch(session, **options)
    try:
        with session.begin_nested():
            return batch.run(items)
    except Exception:  # any failure: the items again, one at a time
        batch.forget()
    if rolled_back is not None:
        rolled_back()
    results: list[Captured | Exception] = []
    for draft, source, evidence in items:
        try:
            with session.begin_nested():
                results.append(capture(session, draft, source, evidence, **options))
        except Exception as error:  # this item fails alone, with its error
            results.append(error)
    return results


class _ItemByItem(RuntimeError):
    """The batch meets a case `capture` handles item by item (it rolls back and retries so)."""


def _store_backed(matcher: store_match.Matcher) -> bool:
    """Whether `matcher` reads candidates from the store (then a lead's keys must be written
    before the next lead of the batch is matched) rather than from what it holds."""
    return type(matcher).indexed is store_match.Matcher.indexed


class _Batch:
    """One run of `capture_many`: what it read, and the rows it has yet to write."""

    def __init__(
        self,
        session: Session,
        *,
        rules: Rules,
        checks: bool,
        dedupe: bool,
        notify: bool,
        matcher: store_match.Matcher,
        overwrite: frozenset[str],
        keep: frozenset[str],
    ) -> None:
        self.session, self.rules, self.checks, self.dedupe = session, rules, checks, dedupe
        self.notify, self.matcher, self.overwrite, self.keep = notify, matcher, overwrite, keep
        self.now = utcnow()
        self.created: list[Lead] = []
        # What enrichment read for each new lead (its address): the "created" entry keeps it.
        self.enriched: dict[str, list[str]] = {}
        self.timeline: list[dict[str, Any]] = []
        self.outbox: list[dict[str, Any]] = []
        self.intake: list[dict[str, Any]] = []
        self.flags: list[dict[str, Any]] = []
        self.keys: dict[int, tuple[set[str], dict[str, Any]]] = {}
        self.fresh: set[int] = set()
        self.webhooks = False
        self.accounts: list[Account] = []

    def forget(self) -> None:
        """After a rollback: the leads this batch inserted exist no more."""
        for lead in self.created:
            if lead in self.session:
                self.session.expunge(lead)

    # --- the reads ----------------------------------------------------------------------------

    def run(self, items: Sequence[Item]) -> list[Captured | Exception]:
        session = self.session
        items = [(_storable(d), _storable(s), _storable(e)) for d, s, e in items]
        reasons = self._intake_reasons(items) if self.checks else [()] * len(items)
        addresses = {draft.address for draft, _, _ in items if intake.usable_address(draft.address)}
        existing = self._existing(addresses)
        locked = storage.bulk.lock_leads(
            session, [lead.id for lead in existing.values() if lead is not None and lead.id]
        )
        if any(lead.erased_at is not None for lead in locked.values()):
            # Erased while we looked: rare, and `capture` knows what each door does then.
            raise _ItemByItem("a lead of the batch was erased meanwhile")
        # Which items make a lead: the first that passes, of an address without a live lead.
        makers: dict[str, int] = {}
        for i, (draft, _, _) in enumerate(items):
            address = draft.address
            if reasons[i] or not intake.usable_address(address) or address in makers:
                continue
            if existing.get(address) is None:
                makers[address] = i
        by_address = self._insert_leads(items, makers)
        self.webhooks = bool(storage.webhooks.active_endpoints(session))
        if self.dedupe and self.created:
            self.accounts = self._accounts_for(self.created)
        results: list[Captured | Exception] = []
        for i, (draft, source, evidence) in enumerate(items):
            if reasons[i]:
                results.append(
                    Captured(
                        None, created=False, hold=self._hold(draft, source, evidence, reasons[i])
                    )
                )
                continue
            address = draft.address
            if not intake.usable_address(address):
                results.append(BadDraft("no sender address to make a lead of"))
                continue
            if makers.get(address) == i:
                result = self._new(by_address[address], draft, source, evidence)
            else:
                lead = by_address[address] if address in makers else existing.get(address)
                assert lead is not None
                result = self._known(
                    storage.leads.surviving(session, lead) or lead, draft, source, evidence
                )
            if self.notify:
                self._notify(result, evidence)
            if self.checks:
                assert result.lead is not None
                self.intake.append(
                    {
                        "at": self.now,
                        "channel": source.channel,
                        "source_key": source.key,
                        "lead_id": result.lead.id,
                        "inbound_message_id": evidence.inbound_message_id,
                    }
                )
            results.append(result)
        self._write()
        return results

    def _intake_reasons(self, items: Sequence[Item]) -> list[tuple[intake.Reason, ...]]:
        """Each item's intake reasons, as `_admit` finds them one at a time: the flood count of
        its key (the store's, plus the items before it in the batch) and the suppression list."""
        rules = self.rules.intake
        counts: dict[str, int] = {}
        if rules.flood_limit:
            keys = {source.key for _, source, _ in items if source.key}
            counts = storage.bulk.counts_since(self.session, keys, self.now - rules.flood_window)
        suppressed: set[str] = set()
        wanted = {
            draft.address
            for draft, source, _ in items
            if source.channel not in intake.SELF_SENT_CHANNELS
            and intake.usable_address(draft.address)
        }
        if wanted and storage.bulk.any_suppressed(self.session):
            digests = {storage.privacy.digest(self.session, address): address for address in wanted}
            suppressed = {
                digests[d] for d in storage.bulk.suppressed_digests(self.session, digests)
            }
        reasons = []
        for draft, source, _ in items:
            recent = counts.get(source.key, 0) if source.key and rules.flood_limit else 0
            reasons.append(
                intake.check(
                    draft.address,
                    draft.values,
                    rules,
                    recent,
                    source.key,
                    draft.address in suppressed,
                )
            )
            if source.key:
                counts[source.key] = counts.get(source.key, 0) + 1
        return reasons

    def _existing(self, addresses: set[str]) -> dict[str, Lead | None]:
        """The live lead of each address (the survivor of a merged one), as the matcher finds
        it: read in one query from the store, or asked of a batch matcher (from memory)."""
        if type(self.matcher) is store_match.Matcher:
            found = storage.bulk.leads_by_emails(self.session, addresses)
            return {a: storage.leads.surviving(self.session, found.get(a)) for a in addresses}
        return {a: self.matcher.existing(self.session, a) for a in sorted(addresses)}

    def _insert_leads(self, items: Sequence[Item], makers: dict[str, int]) -> dict[str, Lead]:
        """The batch's new leads in one INSERT, in the order they arrived: their L-numbers go
        as one item at a time would give them (the mail that came first is the lower number).
        Two PostgreSQL batches that make the same new addresses in opposite orders can
        deadlock; the store aborts one, which retries its items one at a time (rare: workers
        claim disjoint messages, so only one person writing twice at once can do it)."""
        base = storage.bulk.lead_defaults(self.now)
        rows = []
        for address in sorted(makers, key=makers.__getitem__):
            draft, source, _ = items[makers[address]]
            columns, self.enriched[address] = _new_lead(draft, source)
            rows.append({**base, **columns})
        self.created = storage.bulk.insert_leads(self.session, rows)
        self.fresh = {lead.id for lead in self.created if lead.id is not None}
        return {lead.email: lead for lead in self.created}

    def _accounts_for(self, leads: Sequence[Lead]) -> list[Account]:
        domains, keys, prefixes = set(), set(), set()
        for lead in leads:
            domain = companies.email_company_domain(lead.email)
            key = companies.company_key(lead.company, domain)
            if domain:
                domains.add(domain)
            if key:
                keys.add(key)
                prefixes.add(key[:2])
        return storage.bulk.accounts_for(self.session, domains, keys, prefixes)

    # --- per item, in order -------------------------------------------------------------------

    def _entry(
        self,
        lead: Lead,
        actor: str,
        kind: str,
        summary: str,
        data: dict[str, Any],
        inbound_message_id: int | None,
    ) -> None:
        """A timeline entry to write with the batch; its webhook deliveries now, with the lead
        as it is at this moment (as storage.timeline.append does)."""
        assert lead.id is not None
        row = {
            "lead_id": lead.id,
            "at": utcnow(),
            "actor": actor,
            "kind": kind,
            "summary": summary,
            "data": data,
            "inbound_message_id": inbound_message_id,
        }
        self.timeline.append(row)
        if self.webhooks and storage.webhooks.event_of(kind) is not None:
            storage.webhooks.enqueue_for_entry(self.session, TimelineEntry(**row))

    def _record(
        self,
        lead: Lead,
        source: Source,
        evidence: Evidence,
        what: str,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self._entry(
            lead,
            source.actor,
            evidence.kind,
            f"{what}: {evidence.title or '(no subject)'}",
            {**evidence.data, **(extra or {})},
            evidence.inbound_message_id,
        )

    def _new(self, lead: Lead, draft: Draft, source: Source, evidence: Evidence) -> Captured:
        self._entry(
            lead,
            "system",
            "created",
            f"lead created from {source.via}",
            {"found": list(draft.found)}
            | ({"enriched": enriched} if (enriched := self.enriched.get(lead.email)) else {}),
            evidence.inbound_message_id,
        )
        self._record(lead, source, evidence, "enquiry")
        result = Captured(lead, created=True)
        if self.dedupe:
            self._dedupe_new(result)
        return result

    def _dedupe_new(self, result: Captured) -> None:
        """`store_match.on_capture` and `companies.link` of `_dedupe_new`, with the lead's keys
        written with the batch (before the next match when the matcher reads the store)."""
        lead = result.lead
        assert lead is not None and lead.id is not None
        if _store_backed(self.matcher):
            self._write()
        matches = self.matcher.matches(self.session, lead, self.rules.match)
        if matches and matches[0].verdict == "merge":
            best = matches[0]
            self._write()  # the merge moves the lead's rows: they must be in the store
            survivor = storage.duplicates.leads_by_ids(self.session, [int(best.key)])[0]
            merging.merge(self.session, lead, survivor, "system", self.rules, match=best)
            assert survivor.id is not None
            result.lead, result.created, result.merged = survivor, False, True
            result.duplicate = best.describe(lead_label(survivor.id))
            return
        self._index(lead)
        self.matcher.indexed(lead)
        flagged = matches[: store_match.MAX_FLAGS]
        for match in flagged:
            # `store_match.flag` for a lead made a moment ago: no pair of it is flagged yet.
            other, score = int(match.key), round(match.score, 4)
            self.flags.append({"lead_id": lead.id, "other_id": other, "score": score,
                               "reasons": list(match.reasons), "found_by": "capture",
                               "created_at": utcnow()})  # fmt: skip
            self._entry(lead, "system", "duplicate.flagged", match.describe(lead_label(other)),
                        {"other": lead_label(other), "score": score, "reasons": match.reasons,
                         "weights": match.top_fields()}, None)  # fmt: skip
        if flagged:
            result.duplicate = flagged[0].describe(lead_label(int(flagged[0].key)))
        account = companies.find_account_among(self.accounts, lead.company_domain, lead.company_key)
        if account is not None:
            companies.attach(self.session, lead, account)

    def _index(self, lead: Lead) -> None:
        """`bot.dedupe.index.index`, its rows kept for the batch's write."""
        assert lead.id is not None
        companies.refresh_keys(lead)
        self.session.add(lead)
        # A batch matcher that prepared this person already (its probe) offers `prepare`.
        prepared = getattr(self.matcher, "prepare", prepare)(person_of(lead))
        self.keys[lead.id] = (set(keys_of(prepared)), form_of(prepared))

    def _known(self, lead: Lead, draft: Draft, source: Source, evidence: Evidence) -> Captured:
        """`_update` with its timeline entry and re-indexing kept for the batch's write."""
        filled, enriched = _fill(lead, draft, self.overwrite, self.keep)
        storage.leads.touch(self.session, lead)
        extra: dict[str, Any] = {"filled": list(filled)}
        if enriched:
            extra["enriched"] = enriched
        self._record(lead, source, evidence, "new enquiry", extra)
        if self.dedupe and filled:
            self._index(lead)  # a filled gap changes its matching keys
        return Captured(lead, created=False, filled=filled)

    def _notify(self, result: Captured, evidence: Evidence) -> None:
        lead = result.lead
        assert lead is not None and lead.id is not None
        payload = {"lead": lead_label(lead.id), "subject": evidence.title, "outcome": "enquiry"}
        if result.duplicate:
            payload["duplicate"] = result.duplicate
        row = {
            "created_at": self.now,
            "next_attempt_at": self.now,
            "lead_id": lead.id,
            "payload": payload,
            "state": "pending",
            "attempts": 0,
        }
        if result.created:
            self.outbox.append({**row, "kind": "lead.new", "rep_id": None})
        elif lead.owner_id is not None:
            self.outbox.append({**row, "kind": "lead.enquiry", "rep_id": lead.owner_id})

    def _hold(
        self, draft: Draft, source: Source, evidence: Evidence, reasons: Sequence[intake.Reason]
    ) -> IntakeRecord:
        record = IntakeRecord(
            at=self.now,
            channel=source.channel,
            source_key=source.key,
            state="held",
            reasons=[reason.as_data() for reason in reasons],
            draft=draft.as_data(),
            source=source.as_data(),
            evidence=evidence.as_data(),
            inbound_message_id=evidence.inbound_message_id,
        )
        self.session.add(record)
        return record

    # --- the writes ---------------------------------------------------------------------------

    def _write(self) -> None:
        """Write what the batch holds: changed leads (the ORM's flush), then its rows in bulk."""
        session = self.session
        session.flush()
        storage.bulk.insert_timeline(session, self.timeline)
        storage.bulk.insert_outbox(session, self.outbox)
        storage.bulk.insert_intake(session, self.intake)
        storage.bulk.insert_flags(session, self.flags)
        if self.keys:
            storage.bulk.replace_keys_many(
                session,
                {lead_id: keys for lead_id, (keys, _) in self.keys.items()},
                {lead_id: form for lead_id, (_, form) in self.keys.items()},
                fresh=self.fresh,
            )
            self.fresh -= set(self.keys)
        self.timeline, self.outbox, self.intake, self.flags, self.keys = [], [], [], [], {}


def _fill(
    lead: Lead, draft: Draft, overwrite: frozenset[str], keep: frozenset[str]
) -> tuple[tuple[str, ...], list[str]]:
    """Fill the lead's gaps from the draft (and overwrite, and keep, as told), then from what
    enrichment reads in it; the fields it changed ("custom" for custom fields) and the
    enrichment's reasons."""
    filled = tuple(
        name
        for name in fields.NAMES
        if name not in keep
        and draft.values.get(name)
        and (
            not getattr(lead, name)
            or (name in overwrite and getattr(lead, name) != draft.values[name])
        )
    )
    for name in filled:
        setattr(lead, name, draft.values[name])
    custom = dict(lead.custom or {})
    for key, value in draft.custom.items():
        if (
            "custom" not in keep
            and (key not in custom or "custom" in overwrite)
            and custom.get(key) != value
        ):
            custom[key] = value
    if custom != (lead.custom or {}):
        lead.custom = custom
        filled = (*filled, "custom")
    if draft.enquiry:
        lead.enquiry = draft.enquiry
    custom = dict(lead.custom or {})
    found = _enrich(draft, {name: getattr(lead, name) or "" for name in fields.NAMES}, custom)
    for name, value in found.values.items():
        setattr(lead, name, value)
    if found.timezone:
        lead.custom = {**custom, "timezone": found.timezone}
    return tuple(dict.fromkeys((*filled, *found.values))), list(found.reasons)
