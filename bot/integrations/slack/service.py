"""What the Slack listeners need from the rest of leadbot, in one place: who the Slack user is,
running a command as them, and the data a lead card shows. Blocking store work runs in threads
so the listeners stay async.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlmodel import Session

import storage.leads
import storage.reps
import storage.timeline
from bot.leads import actions, commands, conversion
from bot.leads.lifecycle import IllegalTransition
from bot.leads.permissions import PRIVILEGED_ROLES, Actor, NotAllowed, authorize
from bot.public_links import PublicLinks
from bot.reports.links import DashboardLinks
from bot.rules.file import Rules, default_rules
from storage.engine import Store
from storage.models import Lead, Rep, TimelineEntry, utcnow

T = TypeVar("T")

# What a person did wrong, answered to them privately with the message.
REFUSALS = (
    commands.UsageError,
    actions.LeadNotFound,
    actions.RepNotFound,
    actions.StaleLead,
    actions.BadArguments,
    IllegalTransition,
    NotAllowed,
    ValueError,
)


class NotARep(Exception):
    pass


@dataclass(frozen=True)
class CardData:
    lead: Lead
    timeline: list[TimelineEntry]
    owner_name: str | None


class SlackService:
    def __init__(
        self,
        store: Store,
        links: PublicLinks,
        rules: Callable[[], Rules] = default_rules,
        dashboard: DashboardLinks | None = None,
    ) -> None:
        self.store = store
        self.links = links
        # Signs the /reports links that `/lead report` gives managers.
        self.dashboard = dashboard
        # The rules in force (re-read when the file changes): what `why` explains, what a merge
        # keeps.
        self.rules = rules

    async def in_thread(self, work: Callable[[Session], T]) -> T:
        def run() -> T:
            with self.store.transaction() as session:
                return work(session)

        return await asyncio.to_thread(run)

    async def rep_for(self, user_id: str, client: AsyncWebClient) -> Rep:
        """The rep behind a Slack user: by user id, else matched once by the profile email."""
        rep = await self.in_thread(lambda s: storage.reps.by_slack_user(s, user_id))
        if rep is not None:
            return rep
        try:
            info = await client.users_info(user=user_id)
            email = (info.get("user") or {}).get("profile", {}).get("email", "")
        except SlackApiError:
            email = ""

        def link(session: Session) -> Rep | None:
            found = storage.reps.by_email(session, email) if email else None
            if found is not None:
                found.slack_user_id = user_id
                session.add(found)
            return found

        rep = await self.in_thread(link)
        if rep is None:
            raise NotARep(
                "you are not a leadbot rep yet; an admin can add you with "
                f'`leadbot reps add "Your Name" {email or "you@company.com"}`'
            )
        return rep

    async def execute(
        self, rep: Rep, command: commands.Command, *, interactive: bool = True
    ) -> commands.Outcome:
        actor = Actor.for_rep(rep)
        return await self.in_thread(
            lambda s: commands.execute(
                s, command, actor, interactive=interactive, rules=self.rules()
            )
        )

    async def report_link(self, rep: Rep, days: float = 7) -> str | None:
        """A signed dashboard link for a manager or admin (None for anyone else)."""
        if self.dashboard is None or rep.role not in PRIVILEGED_ROLES:
            return None
        dashboard = self.dashboard

        def issue(session: Session) -> str:
            return dashboard.url(dashboard.issue(session, days, f"rep:{rep.name}", utcnow()))

        return await self.in_thread(issue)

    async def card(self, lead_id: int) -> CardData | None:
        def load(session: Session) -> CardData | None:
            lead = storage.leads.by_id(session, lead_id)
            if lead is None or lead.id is None:
                return None
            owner = storage.reps.by_id(session, lead.owner_id) if lead.owner_id else None
            timeline = list(storage.timeline.for_lead(session, lead.id))[-3:]
            return CardData(lead, timeline, owner.name if owner else None)

        return await self.in_thread(load)

    async def conversion_plan(self, rep: Rep, lead_id: int) -> dict[str, Any]:
        def plan(session: Session) -> dict[str, Any]:
            lead = actions.find_lead(session, str(lead_id))
            owner = storage.reps.by_id(session, lead.owner_id) if lead.owner_id else None
            authorize(Actor.for_rep(rep), lead, owner)
            return conversion.propose(session, lead).as_dict()

        return await self.in_thread(plan)

    async def convert(self, rep: Rep, plan: dict[str, Any], version: int) -> Lead:
        def run(session: Session) -> Lead:
            lead = actions.find_lead(session, str(plan["lead_id"]), for_update=True)
            owner = storage.reps.by_id(session, lead.owner_id) if lead.owner_id else None
            authorize(Actor.for_rep(rep), lead, owner)
            proposal = conversion.propose(session, lead)
            for key in ("account_name", "opportunity_name", "amount", "close_date", "stage"):
                if plan.get(key) not in (None, ""):
                    setattr(proposal, key, plan[key])
            if plan.get("account_name") and plan["account_name"] != proposal.account_name:
                proposal.account_id = None  # the rep named another account: a new one
            conversion.convert(
                session, lead, Actor.for_rep(rep).label, proposal, expected_version=version
            )
            return lead

        return await self.in_thread(run)

    async def home(self, rep: Rep) -> tuple[list[Lead], list[Lead]]:
        def load(session: Session) -> tuple[list[Lead], list[Lead]]:
            assert rep.id is not None
            return (
                list(storage.leads.open_for_owner(session, rep.id)),
                list(storage.leads.unassigned(session, limit=20)),
            )

        return await self.in_thread(load)
