"""The buttons on a lead card: each carries `lead_id:version`, so a stale card is refused."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.integrations.slack import blocks
from bot.integrations.slack.cards import ack_at_once, refresh_cards
from bot.integrations.slack.lead_versions import parse_metadata
from bot.integrations.slack.service import REFUSALS, NotARep, SlackService
from bot.leads import commands

# qualify/nurture/unconvert/reopen apply at once; trash and convert open a modal; show redraws.
BUTTON_RE = re.compile(r"^lead_(qualify|nurture|trash|convert|unconvert|reopen|show)$")


def register(app: AsyncApp, service: SlackService) -> None:
    async def lead_button(
        ack: Any, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient, respond: Any
    ) -> None:
        await ack()
        verb = BUTTON_RE.match(action["action_id"]).group(1)  # type: ignore[union-attr]
        lead_id, version = parse_metadata(action.get("value", ""))
        container = body.get("container") or {}
        place = None
        if container.get("type") == "message" and not container.get("is_ephemeral"):
            place = (container["channel_id"], container["message_ts"])
        try:
            rep = await service.rep_for(body["user"]["id"], client)
            if verb in ("trash", "convert"):
                card = await service.card(lead_id)
                if card is None:
                    raise commands.UsageError(f"no lead L-{lead_id}")
                if version is not None and card.lead.version != version:
                    raise commands.UsageError(
                        f"L-{lead_id} changed meanwhile; it is now {card.lead.status}"
                    )
                if verb == "trash":
                    view = blocks.trash_modal(card.lead)
                else:
                    view = blocks.convert_modal(await service.conversion_plan(rep, lead_id))
                await client.views_open(trigger_id=body["trigger_id"], view=view)
                return
            if verb != "show":
                command = commands.Command(verb, str(lead_id), expected_version=version)
                await service.execute(rep, command)
        except (NotARep, *REFUSALS) as exc:
            await respond(response_type="ephemeral", replace_original=False, text=str(exc))
            await refresh_cards(service, client, lead_id, also=place)
            return
        await refresh_cards(service, client, lead_id, also=place)
        if place is None:  # an ephemeral card (from /lead show) is redrawn through response_url
            card = await service.card(lead_id)
            if card is not None:
                view = blocks.lead_card(card.lead, card.timeline, card.owner_name, service.links)
                await respond(
                    replace_original=True, blocks=view, text=blocks.lead_card_text(card.lead)
                )

    app.action(BUTTON_RE)(ack=ack_at_once, lazy=[lead_button])
    # A link button: the browser opens the page; Slack still wants its ack.
    app.action("lead_open")(ack_at_once)
