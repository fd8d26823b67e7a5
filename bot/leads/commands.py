"""One command grammar for every channel: `<verb> <lead> [args]`, as typed in Slack or the CLI.

`parse` turns words into a Command or raises UsageError with the usage line; `execute` runs it in
the caller's transaction, checks who may do it, and returns what to tell the person. A verb that
needs more than was typed (trash without a reason) raises NeedsInput: Slack opens a modal for
it, the CLI prints the usage.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

from sqlmodel import Session

import storage.campaigns
import storage.duplicates
import storage.leads
import storage.reps
import storage.timeline
from bot.dedupe import merging, store_match
from bot.dedupe.index import person_of
from bot.dedupe.match import prepare, score_prepared
from bot.leads import actions, amounts, conversion, lifecycle
from bot.leads.permissions import Actor, authorize, authorize_assign
from bot.leads.refs import lead_label, opportunity_amount, opportunity_label
from bot.rules.file import Rules, default_rules
from bot.scoring import qualification
from storage.models import Lead, utcnow

USAGE: dict[str, str] = {
    "show": "show <lead>",
    "mine": "mine",
    "work": "work <lead>",
    "qualify": "qualify <lead> [comment]",
    "nurture": "nurture <lead> [campaign]",
    "trash": f"trash <lead> <reason> [comment]   reasons: {', '.join(lifecycle.TRASH_REASONS)}",
    "convert": "convert <lead> [opportunity name] [amount]",
    "unconvert": "unconvert <lead>",
    "reopen": "reopen <lead>",
    "assign": "assign <lead> <@rep | rep email>",
    "why": "why <lead>   (the events and rules behind its score and grade)",
    "note": "note <lead> <text>",
    "merge": "merge <lead> <into lead>   (the second lead stays; the first is folded into it)",
    "notdup": "notdup <lead> <other lead>   (two different people: never flagged again)",
    "unmerge": "unmerge <lead>   (undo the merge that folded this lead into another)",
    "why-duplicate": "why-duplicate <lead> <other lead>   (each field's part in the match weight)",
    "search": "search <text>",
    "unassigned": "unassigned   (the new leads nobody owns yet)",
    # The old name of `unassigned`, kept for people's habits; "queue" is the assignment queue
    # (`leadbot assign queue`).
    "queue": "queue   (the same as unassigned; the assignment queue: leadbot assign queue)",
    "report": "report",
    "help": "help",
}
NO_LEAD_VERBS = frozenset({"mine", "unassigned", "queue", "report", "help", "search"})
READ_VERBS = frozenset(
    {"show", "mine", "unassigned", "queue", "report", "help", "search", "why", "why-duplicate"}
)
# Leads one answer lists (a Slack message holds 50 blocks at most).
LIST_LIMIT = 25
# A plain amount word (kept for callers; `amounts.take_trailing` reads currencies too).
AMOUNT_RE = re.compile(r"^\$?\d[\d,]*(?:\.\d+)?[kKmM]?$")


class UsageError(ValueError):
    pass


class NeedsInput(UsageError):
    """The verb needs details the command did not carry (Slack asks for them in a modal).

    It carries the lead's id and version, not the row: raised inside a transaction that then
    rolls back, a row would be of no use to the caller."""

    def __init__(self, verb: str, lead: Lead, message: str) -> None:
        super().__init__(message)
        assert lead.id is not None
        self.verb = verb
        self.lead_id: int = lead.id
        self.version: int = lead.version


def usage_text(verb: str | None = None) -> str:
    if verb in USAGE:
        return f"usage: {USAGE[verb]}"
    lines = ["usage: <verb> <lead> [args]  (a lead is L-12 or an email address)"]
    lines += [f"  {line}" for line in USAGE.values()]
    return "\n".join(lines)


@dataclass(frozen=True)
class Command:
    verb: str
    lead_ref: str = ""
    args: tuple[str, ...] = field(default_factory=tuple)
    # The lead version the person saw (a card button carries it): a changed lead is refused.
    expected_version: int | None = None


@dataclass(frozen=True)
class Outcome:
    message: str
    lead: Lead | None = None
    leads: tuple[Lead, ...] = ()


def parse(words: str | list[str]) -> Command:
    try:
        tokens = shlex.split(words) if isinstance(words, str) else list(words)
    except ValueError as exc:  # an unbalanced quote
        raise UsageError(f"{exc}\n{usage_text()}") from exc
    if not tokens:
        raise UsageError(usage_text())
    verb, rest = tokens[0].lower(), tokens[1:]
    if verb not in USAGE:
        raise UsageError(f"unknown verb {verb!r}\n{usage_text()}")
    if verb == "search":
        if not rest:
            raise UsageError(usage_text(verb))
        return Command(verb, args=tuple(rest))
    if verb in NO_LEAD_VERBS:
        if rest:
            raise UsageError(usage_text(verb))
        return Command(verb)
    if not rest:
        raise UsageError(usage_text(verb))
    lead_ref, args = rest[0], tuple(rest[1:])
    if verb == "trash" and args and args[0] not in lifecycle.TRASH_REASONS:
        raise UsageError(usage_text("trash"))
    if verb == "note" and not " ".join(args).strip():
        raise UsageError(usage_text("note"))
    if verb in ("assign", "merge", "notdup", "why-duplicate") and len(args) != 1:
        raise UsageError(usage_text(verb))
    if verb in ("show", "work", "reopen", "unconvert", "unmerge", "why") and args:
        raise UsageError(usage_text(verb))
    return Command(verb, lead_ref, args)


def execute(
    session: Session,
    command: Command,
    actor: Actor,
    *,
    interactive: bool = False,
    rules: Rules | None = None,
) -> Outcome:
    """Run `command` as `actor`. `interactive` (Slack) asks for missing details (NeedsInput)
    where the CLI would use the defaults (convert) or print the usage (trash). `rules` are the
    caller's rules in force (`why` explains with them, a merge keeps values and re-scores by
    them); without them, the embedded default: the domain never reads the rules file."""
    rules = rules or default_rules()
    verb = command.verb
    if verb == "help":
        return Outcome(usage_text())
    if verb in NO_LEAD_VERBS:
        return _LISTINGS[verb](session, command, actor)
    lead = actions.find_lead(session, command.lead_ref, for_update=verb not in READ_VERBS)
    label = lead_label(lead.id)
    if verb == "show":
        if lead.merged_into_id is not None:
            return Outcome(f"{label} was merged into {lead_label(lead.merged_into_id)}", lead)
        return Outcome(f"{label} is {lead.status}", lead)
    if verb == "why":
        # A message, not a card: Slack shows the text (a card would hide it).
        text = qualification.why_text(session, lead, rules, utcnow())
        return Outcome(text + _enrichment_why(session, lead))
    if verb == "why-duplicate":
        return Outcome(_why_duplicate(session, lead, command.args[0], rules))
    if verb == "unmerge":
        return _unmerge(session, lead, actor, rules)
    if lead.merged_into_id is not None:
        raise actions.BadArguments(
            f"{label} was merged into {lead_label(lead.merged_into_id)}: act on that lead, "
            f"or undo the merge with `unmerge {label}`"
        )
    if command.expected_version is not None and lead.version != command.expected_version:
        raise actions.StaleLead(f"{label} changed meanwhile; it is now {lead.status}")
    if verb == "assign":
        authorize_assign(actor)
        rep = actions.find_rep(session, command.args[0])
        actions.assign(session, lead, rep, actor.label)
        return Outcome(f"{label} assigned to {rep.name}", lead)
    owner = storage.reps.by_id(session, lead.owner_id) if lead.owner_id else None
    authorize(actor, lead, owner)
    if verb in ("merge", "notdup"):
        return _merge_or_dismiss(session, lead, command, actor, rules)
    if verb == "note":
        actions.add_note(session, lead, actor.label, " ".join(command.args))
        return Outcome(f"note added to {label}", lead)
    if verb == "convert":
        return _convert(session, lead, command, actor, interactive)
    if verb == "unconvert":
        removed = conversion.unconvert(session, lead, actor.label)
        return Outcome(
            f"{label} is nurturing again; removed {', '.join(removed) or 'nothing'}", lead
        )
    if verb == "trash" and not command.args:
        lifecycle.check("trash", lead.status)
        raise NeedsInput("trash", lead, usage_text("trash"))
    reason, comment = None, " ".join(command.args)
    if verb == "trash":
        reason, comment = command.args[0], " ".join(command.args[1:])
    if verb == "nurture" and comment:
        return _nurture_into(session, lead, comment, actor)
    actions.transition(session, lead, verb, actor.label, reason=reason, comment=comment)
    return Outcome(f"{label} is now {lead.status}", lead)


def _why_duplicate(session: Session, lead: Lead, other_ref: str, rules: Rules) -> str:
    """`why-duplicate L-9 L-7`: how much L-9 looks like L-7, field by field, as Splink's
    waterfall shows it: the prior, each field's level and match weight in bits, the total and
    its probability, the rules' caps and the verdict, under the model in force."""
    other = actions.find_lead(session, other_ref)
    assert lead.id is not None and other.id is not None
    match_rules = store_match.with_model(session, rules.match)
    match = score_prepared(prepare(person_of(lead)), prepare(person_of(other)), match_rules)
    model = match_rules.model
    trained = (
        f"the model trained on {model.trained_on:,} leads"  # type: ignore[attr-defined]
        if model is not None
        else "the shipped model (not trained on this store yet: `leadbot dedupe train`)"
    )
    lines = [f"{lead_label(lead.id)} against {lead_label(other.id)}, with {trained}:"]
    lines += [f"  {line}" for line in match.waterfall()]
    lines.append("  compared: " + "; ".join(r for r in match.reasons if "capped at" not in r))
    return "\n".join(lines)


def _enrichment_why(session: Session, lead: Lead) -> str:
    """The "where and what language" part of `why`: each value enrichment filled, and why."""
    assert lead.id is not None
    reasons = [
        reason
        for entry in storage.timeline.for_lead(session, lead.id)
        for reason in (entry.data or {}).get("enriched", [])
    ]
    if not reasons:
        return "\nenriched: nothing (stated values, or nothing in the capture to go by)"
    return "\nenriched (a stated value always wins):\n" + "\n".join(f"  {r}" for r in reasons)


def _nurture_into(session: Session, lead: Lead, name: str, actor: Actor) -> Outcome:
    """`nurture L-23 spring`: hand the lead back to marketing *and* enrol it in campaign
    "spring" (its first step is due now, or when the campaign is sent). An unknown name is
    refused with the campaigns there are, before anything changes."""
    campaign = storage.campaigns.by_name(session, name.strip())
    if campaign is None:
        names = [c.name for c in storage.campaigns.listing(session)]
        known = f"campaigns: {', '.join(names)}" if names else "there are no campaigns yet"
        raise actions.BadArguments(f"no campaign {name.strip()!r}; {known}")
    if campaign.state == "stopped":
        raise actions.BadArguments(f"campaign {campaign.name!r} is stopped: it enrols nobody")
    actions.transition(session, lead, "nurture", actor.label, comment=f"campaign {campaign.name}")
    assert lead.id is not None and campaign.id is not None
    lead.custom = {**(lead.custom or {}), "nurture_campaign": campaign.name}
    joined = storage.campaigns.enroll_one(session, campaign.id, lead.id, utcnow())
    storage.timeline.append(
        session,
        lead.id,
        actor=actor.label,
        kind="campaign.joined",
        summary=f"joined campaign {campaign.name}" + ("" if joined else " (was a member already)"),
        data={"campaign": campaign.name},
    )
    state = "" if campaign.state == "active" else f" ({campaign.state}: sends when it is sent)"
    return Outcome(
        f"{lead_label(lead.id)} is now {lead.status}, in campaign {campaign.name}{state}", lead
    )


def _convert(
    session: Session, lead: Lead, command: Command, actor: Actor, interactive: bool
) -> Outcome:
    lifecycle.check("convert", lead.status)
    plan = conversion.propose(session, lead)
    args = list(command.args)
    try:
        amount = amounts.take_trailing(args)
    except amounts.AmountError as exc:
        raise actions.BadArguments(f"{exc}; {usage_text('convert')}") from None
    if amount is not None:
        plan.amount, plan.currency = amount.value, amount.currency
    if args:
        plan.opportunity_name = " ".join(args)
    elif interactive:
        raise NeedsInput("convert", lead, usage_text("convert"))
    account, _, opportunity = conversion.convert(session, lead, actor.label, plan)
    return Outcome(
        f"{lead_label(lead.id)} converted: account {account.name}, opportunity "
        f"{opportunity_label(opportunity.id)} {opportunity.name}"
        + (f" ({opportunity_amount(opportunity)})" if opportunity.amount is not None else ""),
        lead,
    )


def _merge_or_dismiss(
    session: Session,
    lead: Lead,
    command: Command,
    actor: Actor,
    rules: Rules,
) -> Outcome:
    """`merge L-9 L-7` folds L-9 into L-7; `notdup L-9 L-7` keeps them apart for good. The
    actor must be allowed to change both leads."""
    other = actions.find_lead(session, command.args[0], for_update=True)
    if other.merged_into_id is not None:
        raise actions.BadArguments(
            f"{lead_label(other.id)} was merged into {lead_label(other.merged_into_id)}"
        )
    if other.id == lead.id:
        raise actions.BadArguments(f"{lead_label(lead.id)} is the same lead")
    other_owner = storage.reps.by_id(session, other.owner_id) if other.owner_id else None
    authorize(actor, other, other_owner)
    if command.verb == "notdup":
        store_match.not_duplicate(session, lead, other, actor.label)
        return Outcome(
            f"{lead_label(lead.id)} and {lead_label(other.id)} are different people", other
        )
    assert lead.id is not None and other.id is not None
    flag = storage.duplicates.flag_between(session, lead.id, other.id)
    warning = ""
    if flag is not None and flag.state == "not_duplicate":
        # Merged as asked (a person may know better now), but not silently.
        warning = (
            f"warning: {flag.decided_by or 'someone'} said {lead_label(lead.id)} and "
            f"{lead_label(other.id)} are different people (notdup); merged anyway\n"
        )
    match = score_prepared(prepare(person_of(lead)), prepare(person_of(other)), rules.match)
    try:
        merging.merge(session, lead, other, actor.label, rules, match=match)
    except merging.MergeRefused as exc:
        raise actions.BadArguments(str(exc)) from None
    return Outcome(
        f"{warning}{lead_label(lead.id)} merged into {lead_label(other.id)} ({match.percent}% "
        f"alike); undo with `unmerge {lead_label(lead.id)}`",
        other,
    )


def _unmerge(session: Session, lead: Lead, actor: Actor, rules: Rules) -> Outcome:
    if lead.merged_into_id is None:
        raise actions.BadArguments(f"{lead_label(lead.id)} is not merged into another lead")
    survivor = storage.leads.by_id(session, lead.merged_into_id, for_update=True)
    owner = (
        storage.reps.by_id(session, survivor.owner_id) if survivor and survivor.owner_id else None
    )
    if survivor is not None:
        authorize(actor, survivor, owner)
    survivor, kept = merging.unmerge(session, lead, actor.label, rules)
    note = f"; {lead_label(survivor.id)} kept {', '.join(kept)}" if kept else ""
    return Outcome(f"{lead_label(lead.id)} is a lead of its own again{note}", lead)


def parse_amount(text: str) -> float:
    """'12,500', '$12.5k', '1.2M', '€25,000' → a number (the currency: `amounts.parse_word`)."""
    try:
        return amounts.parse_word(text).value
    except amounts.AmountError as exc:
        raise actions.BadArguments(str(exc)) from exc


def _mine(session: Session, command: Command, actor: Actor) -> Outcome:
    if actor.rep is None or actor.rep.id is None:
        raise actions.BadArguments("`mine` needs a rep: act as one (leadbot lead --as EMAIL …)")
    found = storage.leads.open_for_owner(session, actor.rep.id, limit=LIST_LIMIT + 1)
    leads = tuple(found[:LIST_LIMIT])
    if len(found) > LIST_LIMIT:
        return Outcome(
            f"more than {LIST_LIMIT} open leads for {actor.rep.name}; the {LIST_LIMIT} "
            "longest-waiting first",
            leads=leads,
        )
    return Outcome(f"{len(leads)} open leads for {actor.rep.name}", leads=leads)


def _unassigned(session: Session, command: Command, actor: Actor) -> Outcome:
    leads = tuple(storage.leads.unassigned(session))
    return Outcome(f"{len(leads)} leads waiting for an owner", leads=leads)


def _search(session: Session, command: Command, actor: Actor) -> Outcome:
    text = " ".join(command.args)
    leads = tuple(storage.leads.search(session, text))
    return Outcome(f"{len(leads)} leads match {text!r}", leads=leads)


def _report(session: Session, command: Command, actor: Actor) -> Outcome:
    by_status = storage.leads.counts_by(session, "status")
    by_source = storage.leads.counts_by(session, "source")
    owners = {str(rep.id): rep.name for rep in storage.reps.listing(session)}
    by_owner = {
        owners.get(key, "unassigned"): n
        for key, n in storage.leads.counts_by(session, "owner_id").items()
    }

    def line(title: str, counts: dict[str, int]) -> str:
        parts = ", ".join(f"{key} {n}" for key, n in sorted(counts.items()))
        return f"{title}: {parts or 'none'}"

    total = sum(by_status.values())
    return Outcome(
        "\n".join(
            [
                f"{total} leads",
                line("by status", by_status),
                line("by source", by_source),
                line("by owner", by_owner),
            ]
        )
    )


_LISTINGS = {
    "mine": _mine,
    "unassigned": _unassigned,
    "queue": _unassigned,
    "search": _search,
    "report": _report,
}
