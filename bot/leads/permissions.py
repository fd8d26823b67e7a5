"""Who may do what to a lead: reps act on their own leads, managers and admins on any.

Every channel names its actor: a Slack user mapped to a rep, the CLI operator, the system.
Reading (show, search, mine, queue, report) is open to every rep; changing a lead is not.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.leads.refs import lead_label
from storage.models import Lead, Rep

PRIVILEGED_ROLES = frozenset({"manager", "admin"})


class NotAllowed(Exception):
    """The actor may not change this lead; the message says who may."""


@dataclass(frozen=True)
class Actor:
    """Who is acting, and the name the timeline records for them."""

    label: str
    rep: Rep | None = None
    privileged: bool = False

    @classmethod
    def for_rep(cls, rep: Rep) -> Actor:
        return cls(f"rep:{rep.name}", rep, rep.role in PRIVILEGED_ROLES)

    @classmethod
    def operator(cls, name: str) -> Actor:
        """The CLI's operator: runs the bot, may act on any lead."""
        return cls(f"cli:{name}", None, True)


def authorize(actor: Actor, lead: Lead, owner: Rep | None) -> None:
    if actor.privileged:
        return
    if actor.rep is not None and lead.owner_id == actor.rep.id:
        return
    who = owner.name if owner else "nobody yet"
    raise NotAllowed(
        f"{lead_label(lead.id)} belongs to {who}; only its owner, managers and admins may change it"
    )


def authorize_assign(actor: Actor) -> None:
    if not actor.privileged:
        raise NotAllowed("only managers and admins assign leads")
