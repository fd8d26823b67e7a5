"""The slack-bolt async app: listeners registered by module, served over HTTP at /slack/events
(bolt checks Slack's signature and timestamp) or over Socket Mode with an app-level token."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.config import Settings
from bot.integrations.slack.listeners import buttons, home, modals, slash_command
from bot.integrations.slack.service import SlackService
from bot.integrations.slack.worker import SlackWorker
from bot.public_links import PublicLinks
from bot.rules.file import RulesFile
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
    service = SlackService(
        store,
        PublicLinks(settings.public_url, settings.signing_key()),
        rules=RulesFile(settings.rules, announce=False).get,
    )
    for module in LISTENER_MODULES:
        module.register(app, service)
    return app


def slack_routes(app: AsyncApp) -> list[Route]:
    handler = AsyncSlackRequestHandler(app)

    async def events(request: Request) -> Response:
        return await handler.handle(request)

    return [Route("/slack/events", events, methods=["POST"])]


@dataclass
class SlackRuntime:
    """Everything Slack adds to `serve`: the HTTP route, Socket Mode, the worker process."""

    app: AsyncApp
    routes: list[Route] = field(default_factory=list)
    socket_mode: AsyncSocketModeHandler | None = None
    worker: SlackWorker | None = None

    @property
    def transports(self) -> list[str]:
        return (["HTTP /slack/events"] if self.routes else []) + (
            ["Socket Mode"] if self.socket_mode else []
        )

    async def connect(self) -> None:
        if self.socket_mode is not None:
            await self.socket_mode.connect_async()

    def supervise(self) -> None:
        if self.worker is not None:
            self.worker.supervise()

    async def disconnect(self) -> None:
        """First on shutdown: no new requests over Socket Mode."""
        if self.socket_mode is not None:
            await self.socket_mode.close_async()

    async def stop(self) -> None:
        """Last on shutdown, once HTTP is closed too: no acked request is left without its work."""
        if self.worker is not None:
            await asyncio.to_thread(self.worker.stop)


def build_slack_runtime(settings: Settings, store: Store, log_level: int) -> SlackRuntime | None:
    """Slack for `serve`, or None when no bot token (or no way to hear from Slack) is set."""
    if not settings.slack_bot_token or not (
        settings.slack_signing_secret or settings.slack_app_token
    ):
        return None
    runtime = SlackRuntime(build_slack_app(settings, store))
    if settings.slack_workers > 0:
        runtime.worker = SlackWorker(settings.model_dump(), log_level)
        runtime.worker.start()
        runtime.app.listener_runner.lazy_listener_runner = runtime.worker.runner
    if settings.slack_signing_secret:
        runtime.routes = slack_routes(runtime.app)
    if settings.slack_app_token:
        runtime.socket_mode = AsyncSocketModeHandler(runtime.app, settings.slack_app_token)
    return runtime
