"""Keeping lead cards current: every card of a lead is redrawn after a change, so a stale card
never invites a second action (its buttons carry the lead's version, too)."""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

import storage.outbox
from bot.integrations.slack import blocks
from bot.integrations.slack.service import SlackService

log = logging.getLogger(__name__)


async def ack_at_once(ack: Any) -> None:
    """The ack half of a lazy listener: Slack hears back at once, the work runs after it."""
    await ack()


async def refresh_cards(
    service: SlackService,
    client: AsyncWebClient,
    lead_id: int,
    also: tuple[str, str] | None = None,
) -> None:
    """Redraw the cards posted for this lead (from the outbox) and `also` (channel, ts)."""
    card = await service.card(lead_id)
    if card is None:
        return
    refs = await service.in_thread(lambda s: storage.outbox.delivery_refs(s, lead_id))
    places = {tuple(ref.split(":", 1)) for ref in refs if ":" in ref}
    if also is not None:
        places.add(also)
    view = blocks.lead_card(card.lead, card.timeline, card.owner_name, service.links)
    text = blocks.lead_card_text(card.lead)
    for channel, ts in sorted(places):
        try:
            await client.chat_update(channel=channel, ts=ts, blocks=view, text=text)
        except SlackApiError as exc:  # a deleted message must not stop the others
            log.warning("could not update card %s/%s: %s", channel, ts, exc.response.get("error"))
