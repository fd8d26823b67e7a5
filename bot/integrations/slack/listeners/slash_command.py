"""`/lead <verb> <lead> [args]`: the CLI's grammar in Slack. Answers are private to the rep."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.integrations.slack import blocks
from bot.integrations.slack.cards import ack_at_once, refresh_cards
from bot.integrations.slack.service import REFUSALS, NotARep, SlackService
from bot.leads import commands

COMMAND = "/lead"


def register(app: AsyncApp, service: SlackService) -> None:
    async def lead_command(command: dict[str, Any], client: AsyncWebClient, respond: Any) -> None:
        try:
            parsed = commands.parse(command.get("text", ""))
            rep = await service.rep_for(command["user_id"], client)
            outcome = await service.execute(rep, parsed)
        except commands.NeedsInput as need:
            await open_modal_for(need, command["trigger_id"], rep, client, service)
            return
        except (NotARep, *REFUSALS) as exc:
            await respond(
                response_type="ephemeral", text=str(exc), blocks=blocks.usage_blocks(str(exc))
            )
            return
        if outcome.leads:
            await respond(
                response_type="ephemeral",
                text=outcome.message,
                blocks=blocks.lead_list_blocks(outcome.message, list(outcome.leads)),
            )
        elif outcome.lead is not None and outcome.lead.id is not None:
            card = await service.card(outcome.lead.id)
            assert card is not None
            view = blocks.lead_card(card.lead, card.timeline, card.owner_name, service.links)
            await respond(response_type="ephemeral", text=outcome.message, blocks=view)
            if parsed.verb != "show":
                await refresh_cards(service, client, outcome.lead.id)
        else:
            message = outcome.message
            if parsed.verb == "report":
                # The dashboard link, to managers only, in this private answer.
                link = await service.report_link(rep)
                message += (f"\nDashboard (7 days): {link}" if link else
                            "\nThe /reports dashboard link is given to managers.")  # fmt: skip
            await respond(
                response_type="ephemeral",
                text=message,
                blocks=blocks.message_blocks(message),
            )

    app.command(COMMAND)(ack=ack_at_once, lazy=[lead_command])


async def open_modal_for(
    need: commands.NeedsInput,
    trigger_id: str,
    rep: Any,
    client: AsyncWebClient,
    service: SlackService,
) -> None:
    """Trash asks for the reason, convert for the account and opportunity details."""
    if need.verb == "trash":
        card = await service.card(need.lead_id)
        if card is not None:
            await client.views_open(trigger_id=trigger_id, view=blocks.trash_modal(card.lead))
    else:
        plan = await service.conversion_plan(rep, need.lead_id)
        await client.views_open(trigger_id=trigger_id, view=blocks.convert_modal(plan))
