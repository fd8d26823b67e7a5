"""Modal submissions: the trash reason, and the conversion's account and opportunity."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.integrations.slack import blocks
from bot.integrations.slack.cards import refresh_cards
from bot.integrations.slack.lead_versions import parse_metadata
from bot.integrations.slack.service import REFUSALS, NotARep, SlackService
from bot.leads import commands

log = logging.getLogger(__name__)


def register(app: AsyncApp, service: SlackService) -> None:
    async def check_trash(ack: Any, view: dict[str, Any]) -> None:
        """Ack half: a modal with no reason stays open and says why."""
        reason, _ = blocks.read_trash_submission(view["state"]["values"])
        if reason:
            await ack()
        else:
            await ack(response_action="errors", errors={"reason": "Pick a reason"})

    async def trash_submitted(
        body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        reason, comment = blocks.read_trash_submission(view["state"]["values"])
        if not reason:
            return  # the ack kept the modal open
        lead_id, version = parse_metadata(view.get("private_metadata", ""))
        args = (reason, comment) if comment else (reason,)
        command = commands.Command("trash", str(lead_id), args, expected_version=version)
        await _apply(service, client, body["user"]["id"], lead_id, command=command)

    async def check_convert(ack: Any, view: dict[str, Any]) -> None:
        try:
            blocks.read_convert_submission(view["state"]["values"])
        except ValueError as exc:
            await ack(response_action="errors", errors={"amount": str(exc)})
            return
        await ack()

    async def convert_submitted(
        body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        try:
            plan = blocks.read_convert_submission(view["state"]["values"])
        except ValueError:
            return  # the ack kept the modal open
        lead_id, version = parse_metadata(view.get("private_metadata", ""))
        plan["lead_id"] = lead_id
        await _apply(service, client, body["user"]["id"], lead_id, plan=plan, version=version)

    app.view("trash_lead")(ack=check_trash, lazy=[trash_submitted])
    app.view("convert_lead")(ack=check_convert, lazy=[convert_submitted])


async def _apply(
    service: SlackService,
    client: AsyncWebClient,
    user_id: str,
    lead_id: int,
    *,
    command: commands.Command | None = None,
    plan: dict[str, Any] | None = None,
    version: int | None = None,
) -> None:
    """Run the change; tell the rep the outcome (or the refusal) in a direct message."""
    try:
        rep = await service.rep_for(user_id, client)
        if command is not None:
            message = (await service.execute(rep, command)).message
        else:
            assert plan is not None
            lead = await service.convert(rep, plan, version if version is not None else -1)
            message = f"L-{lead.id} converted"
    except (NotARep, *REFUSALS) as exc:
        message = str(exc)
    await client.chat_postMessage(
        channel=user_id, text=message, blocks=blocks.message_blocks(message)
    )
    await refresh_cards(service, client, lead_id)
