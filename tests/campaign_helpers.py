"""Leads, reps and campaigns for nurture tests, written straight to the store."""

from __future__ import annotations

from typing import Any

import storage.campaigns
from bot.leads.reply_address import new_reply_token
from bot.nurture.campaigns import Segment
from storage.engine import Store
from storage.models import Campaign, Lead, Rep


def add_leads(store: Store, n: int, *, status: str = "nurturing", domain: str = "acme.io",
              **fields: Any) -> list[int]:  # fmt: skip
    with store.transaction() as session:
        rep = Rep(name="Ann Lee", email=f"ann{new_reply_token()}@yourco.com",
                  signature="Ann Lee\nHead of Sales")  # fmt: skip
        session.add(rep)
        session.flush()
        leads = [
            Lead(email=f"lead{i}@{domain}", first_name=f"Lead{i}", last_name="Doe",
                 company="Acme", status=status, owner_id=rep.id, reply_token=new_reply_token(),
                 **fields)
            for i in range(n)
        ]  # fmt: skip
        session.add_all(leads)
        session.flush()
        return [lead.id for lead in leads if lead.id is not None]


def add_campaign(store: Store, name: str = "spring", steps: tuple[tuple[str, int], ...] = (
        ("welcome", 0), ("followup", 3 * 86400)), segment: Segment | None = None,
        template_dir: str = "", state: str = "active") -> int:  # fmt: skip
    with store.transaction() as session:
        campaign = storage.campaigns.add(
            session,
            Campaign(name=name, template_set="" if template_dir else "example",
                     template_dir=template_dir, segment=(segment or Segment()).to_dict(),
                     state=state),
            steps,
        )  # fmt: skip
        assert campaign.id is not None
        return campaign.id


def make_next_steps_due(store: Store, campaign_id: int) -> None:
    """Move every active member's next step into the past: the days between steps have gone by."""
    from datetime import timedelta

    from sqlmodel import select

    from storage.models import CampaignMember, utcnow

    with store.transaction() as session:
        query = select(CampaignMember).where(CampaignMember.campaign_id == campaign_id)
        for member in session.exec(query).all():
            member.next_due_at = utcnow() - timedelta(seconds=1)
            session.add(member)


def sent_sends(
    store: Store, campaign_id: int, links: list[str], seconds_ago: float = 3600
) -> list[int]:
    """Plan the due step of every member and mark the sends sent (as if delivered) with `links`."""
    from datetime import timedelta

    from bot.nurture import campaigns
    from storage.models import utcnow

    with store.transaction() as session:
        campaigns.plan_due(session, [campaign_id])
    with store.transaction() as session:
        sends = storage.campaigns.sends_of(session, campaign_id)
        for send in sends:
            send.state, send.links = "sent", list(links)
            send.sent_at = utcnow() - timedelta(seconds=seconds_ago)
            session.add(send)
        return [send.id for send in sends if send.id is not None]
