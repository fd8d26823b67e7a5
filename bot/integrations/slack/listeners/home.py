"""The App Home tab: the rep's open leads and what waits in the queue."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.integrations.slack import blocks
from bot.integrations.slack.cards import ack_at_once
from bot.integrations.slack.service import NotARep, SlackService


def register(app: AsyncApp, service: SlackService) -> None:
    async def home_opened(event: dict[str, Any], client: AsyncWebClient) -> None:
        if event.get("tab") not in (None, "home"):
            return
        user_id = event["user"]
        try:
            rep = await service.rep_for(user_id, client)
        except NotARep as exc:
            view = {"type": "home", "blocks": blocks.message_blocks(str(exc))}
        else:
            mine, queue = await service.home(rep)
            view = blocks.home_tab(rep.name, mine, queue)
        await client.views_publish(user_id=user_id, view=view)

    app.event("app_home_opened")(ack=ack_at_once, lazy=[home_opened])
