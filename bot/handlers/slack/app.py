"""The slack-bolt async app: listeners registered by module, served over HTTP at /slack/events
(bolt checks Slack's signature and timestamp) or over Socket Mode with an app-level token."""

from __future__ import annotations

from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.config import Settings
from bot.handlers.slack.listeners import buttons, home, modals, slash_command
from bot.handlers.slack.service import SlackService
from storage.engine import Store

LISTENER_MODULES = (slash_command, buttons, modals, home)


def build_slack_app(settings: Settings, store: Store) -> AsyncApp:
    client = AsyncWebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url)
    app = AsyncApp(
        client=client,
        signing_secret=settings.slack_signing_secret,
        # Every listener is split: an ack function that answers at once (awaited directly, no
        # polling), and lazy functions that do the work after it.
        process_before_response=True,
    )
    service = SlackService(store, settings.public_url)
    for module in LISTENER_MODULES:
        module.register(app, service)
    return app


def slack_routes(app: AsyncApp) -> list[Route]:
    handler = AsyncSlackRequestHandler(app)

    async def events(request: Request) -> Response:
        return await handler.handle(request)

    return [Route("/slack/events", events, methods=["POST"])]
