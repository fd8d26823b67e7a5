"""The lead lifecycle: one transition table that every channel (CLI, Slack, email, API) uses.

A verb moves a lead from one of its allowed statuses to a target status, and sometimes sets the
funnel stage. Anything else is refused with a message that says what is allowed from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    NEW = "new"
    WORKING = "working"
    NURTURING = "nurturing"
    QUALIFIED = "qualified"
    CONVERTED = "converted"
    TRASHED = "trashed"


class Stage(StrEnum):
    SUBSCRIBER = "subscriber"
    LEAD = "lead"
    MQL = "mql"
    SQL = "sql"
    OPPORTUNITY = "opportunity"


TRASH_REASONS: dict[str, str] = {
    "not_a_fit": "Not a fit",
    "no_budget": "No budget",
    "competitor": "Competitor",
    "student_or_job_seeker": "Student or job seeker",
    "spam": "Spam",
    "duplicate": "Duplicate",
    "no_response": "No response",
    "other": "Other",
}


@dataclass(frozen=True, slots=True)
class Transition:
    verb: str
    sources: frozenset[Status]
    target: Status
    stage: Stage | None = None
    help: str = ""


_OPEN = frozenset({Status.NEW, Status.WORKING, Status.NURTURING, Status.QUALIFIED})

TRANSITIONS: dict[str, Transition] = {
    t.verb: t
    for t in (
        Transition(
            "work", frozenset({Status.NEW}), Status.WORKING, help="start working a new lead"
        ),
        Transition(
            "qualify",
            frozenset({Status.NEW, Status.WORKING, Status.NURTURING}),
            Status.QUALIFIED,
            Stage.SQL,
            help="sales-qualified: worth an opportunity",
        ),
        Transition(
            "nurture",
            frozenset({Status.NEW, Status.WORKING, Status.QUALIFIED}),
            Status.NURTURING,
            help="hand back to marketing for nurture",
        ),
        Transition("trash", _OPEN, Status.TRASHED, help="close as not a fit, with a reason"),
        Transition(
            "convert",
            frozenset({Status.NEW, Status.WORKING, Status.QUALIFIED}),
            Status.CONVERTED,
            Stage.OPPORTUNITY,
            help="becomes Contact + Account + Opportunity",
        ),
        Transition(
            "unconvert",
            frozenset({Status.CONVERTED}),
            Status.NURTURING,
            Stage.MQL,
            help="undo a conversion, back to nurture",
        ),
        Transition(
            "reopen",
            frozenset({Status.TRASHED, Status.NURTURING}),
            Status.WORKING,
            help="take a trashed or nurtured lead back into work",
        ),
    )
}


class IllegalTransition(Exception):
    """A verb that does not apply to the lead's current status."""


def allowed_verbs(status: str) -> list[str]:
    return [t.verb for t in TRANSITIONS.values() if status in t.sources]


def check(verb: str, status: str) -> Transition:
    """The transition for `verb` from `status`, or IllegalTransition saying what is allowed."""
    transition = TRANSITIONS.get(verb)
    if transition is None:
        raise IllegalTransition(f"unknown action {verb!r}; actions: {', '.join(TRANSITIONS)}")
    if status not in transition.sources:
        allowed = allowed_verbs(status)
        hint = ", ".join(allowed) if allowed else "nothing"
        raise IllegalTransition(
            f"cannot {verb} a lead that is {status}; from {status} you can: {hint}"
        )
    return transition
