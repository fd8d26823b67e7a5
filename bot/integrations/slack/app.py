"""The slack-bolt async app: listeners registered by module, served over HTTP at /slack/events
(bolt checks Slack's signature and timestamp) or over Socket Mode with an app-level token.

In `serve` the work after each ack is forwarded to the Slack worker process
(bot/integrations/slack/worker.py), which builds the same app with `build_slack_app`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.lazy_listener.async_runner import AsyncLazyListenerRunner
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.config import Settings
from bot.integrations.slack.listeners import buttons, home, modals, slash_command
from bot.integrations.slack.service import SlackService
from bot.public_links import PublicLinks
from bot.rules.file import RulesFile
from storage.engine import Store

# (body, headers, mode): what the worker needs to dispatch the request again, lazy-only. The body
# is the raw text over HTTP (its signature is checked again) and the parsed dict in Socket Mode,
# where bolt keeps no raw text.
Forwarded = tuple[str | dict[str, Any], dict[str, list[str]], str]

log = logging.getLogger(__name__)

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
        rules=RulesFile(settings.rules_file(), announce=False).get,
    )
    for module in LISTENER_MODULES:
        module.register(app, service)
    return app


class ForwardingLazyRunner(AsyncLazyListenerRunner):
    """Hands the lazy half of every request to `forward` (serve: the Slack worker process)."""

    def __init__(self, forward: Callable[[Forwarded], None]) -> None:
        self.forward = forward
        self.logger = log

    def start(self, function: Callable[..., Awaitable[None]], request: AsyncBoltRequest) -> None:
        headers = {name: list(values) for name, values in request.headers.items()}
        headers["x-slack-bolt-lazy-only"] = ["1"]
        headers["x-slack-bolt-lazy-function-name"] = [request.lazy_function_name or ""]
        body = request.raw_body if request.mode == "http" else request.body
        self.forward((body, headers, request.mode))


def slack_routes(app: AsyncApp) -> list[Route]:
    handler = AsyncSlackRequestHandler(app)

    async def events(request: Request) -> Response:
        return await handler.handle(request)

    return [Route("/slack/events", events, methods=["POST"])]


@dataclass
class SlackRuntime:
    """Everything Slack adds to `serve`: the HTTP route and Socket Mode."""

    app: AsyncApp
    routes: list[Route] = field(default_factory=list)
    socket_mode: AsyncSocketModeHandler | None = None

    @property
    def transports(self) -> list[str]:
        return (["HTTP /slack/events"] if self.routes else []) + (
            ["Socket Mode"] if self.socket_mode else []
        )

    async def connect(self) -> None:
        if self.socket_mode is not None:
            await self.socket_mode.connect_async()

    async def disconnect(self) -> None:
        """First on shutdown: no new requests over Socket Mode."""
        if self.socket_mode is not None:
            await self.socket_mode.close_async()


def build_slack_runtime(
    settings: Settings, store: Store, forward: Callable[[Forwarded], None] | None = None
) -> SlackRuntime | None:
    """Slack for `serve`, or None when no bot token (or no way to hear from Slack) is set.

    With `forward`, the work after each ack goes there (serve: the Slack worker process) instead
    of running in this process."""
    if not settings.slack_bot_token or not (
        settings.slack_signing_secret or settings.slack_app_token
    ):
        return None
    runtime = SlackRuntime(build_slack_app(settings, store))
    if forward is not None:
        runtime.app.listener_runner.lazy_listener_runner = ForwardingLazyRunner(forward)
    if settings.slack_signing_secret:
        runtime.routes = slack_routes(runtime.app)
    if settings.slack_app_token:
        runtime.socket_mode = AsyncSocketModeHandler(runtime.app, settings.slack_app_token)
    return runtime
