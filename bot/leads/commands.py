"""One command grammar for every channel: `<verb> <lead> [args]`, as typed in Slack or the CLI.

`parse` turns words into a Command or raises UsageError with the usage line; `execute` runs it in
the caller's transaction and returns what to tell the person.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from sqlmodel import Session

import storage.timeline
from bot.leads import actions, lifecycle
from bot.leads.refs import lead_label
from storage.models import Lead

USAGE: dict[str, str] = {
    "show": "show <lead>",
    "work": "work <lead>",
    "qualify": "qualify <lead> [comment]",
    "nurture": "nurture <lead> [campaign]",
    "trash": f"trash <lead> <reason> [comment]   reasons: {', '.join(lifecycle.TRASH_REASONS)}",
    "reopen": "reopen <lead>",
    "note": "note <lead> <text>",
    "help": "help",
}
TRANSITION_VERBS = ("work", "qualify", "nurture", "trash", "reopen")


class UsageError(ValueError):
    pass


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


@dataclass(frozen=True)
class Outcome:
    message: str
    lead: Lead | None = None


def parse(words: str | list[str]) -> Command:
    tokens = shlex.split(words) if isinstance(words, str) else list(words)
    if not tokens:
        raise UsageError(usage_text())
    verb, rest = tokens[0].lower(), tokens[1:]
    if verb not in USAGE:
        raise UsageError(f"unknown verb {verb!r}\n{usage_text()}")
    if verb == "help":
        return Command("help")
    if not rest:
        raise UsageError(usage_text(verb))
    lead_ref, args = rest[0], tuple(rest[1:])
    if verb == "trash" and (not args or args[0] not in lifecycle.TRASH_REASONS):
        raise UsageError(usage_text("trash"))
    if verb == "note" and not " ".join(args).strip():
        raise UsageError(usage_text("note"))
    if verb in ("show", "work", "reopen") and args:
        raise UsageError(usage_text(verb))
    return Command(verb, lead_ref, args)


def execute(session: Session, command: Command, actor: str) -> Outcome:
    if command.verb == "help":
        return Outcome(usage_text())
    lead = actions.find_lead(session, command.lead_ref, for_update=command.verb != "show")
    label = lead_label(lead.id)
    if command.verb == "show":
        return Outcome(f"{label} is {lead.status}", lead)
    if command.verb == "note":
        actions.add_note(session, lead, actor, " ".join(command.args))
        return Outcome(f"note added to {label}", lead)
    reason, comment = None, " ".join(command.args)
    if command.verb == "trash":
        reason, comment = command.args[0], " ".join(command.args[1:])
    actions.transition(session, lead, command.verb, actor, reason=reason, comment=comment)
    if command.verb == "nurture" and comment:
        lead.custom = {**(lead.custom or {}), "nurture_campaign": comment}
    return Outcome(f"{label} is now {lead.status}", lead)


def recent_timeline(session: Session, lead: Lead, n: int = 5) -> list[str]:
    assert lead.id is not None
    entries = storage.timeline.for_lead(session, lead.id)
    return [f"{e.at:%Y-%m-%d %H:%M} {e.actor}: {e.summary}" for e in entries[-n:]]
