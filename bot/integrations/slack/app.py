"""The slack-bolt async app: listeners registered by module, served over HTTP at /slack/events
(bolt checks Slack's signature and timestamp) or over Socket Mode with an app-level token.

In `serve` the work after each ack is forwarded to the Slack worker process
(bot/integrations/slack/worker.py), which builds the same app with `build_slack_app`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.lazy_listener.async_runner import AsyncLazyListenerRunner
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import storage.slack_requests
from bot.config import Settings
from bot.integrations.slack.listeners import buttons, home, modals, slash_command
from bot.integrations.slack.service import SlackService
from bot.public_links import PublicLinks
from bot.reports.links import DashboardLinks
from bot.rules.file import RulesFile
from storage.engine import Store
from storage.models import utcnow

# (body, headers, mode): what the worker needs to dispatch the request again, lazy-only. The body
# is the raw text over HTTP (its signature is checked again) and the parsed dict in Socket Mode,
# where bolt keeps no raw text.
Forwarded = tuple[str | dict[str, Any], dict[str, list[str]], str]

log = logging.getLogger(__name__)

# Slack's own rule: a request whose timestamp is further from now than this is refused.
MAX_REQUEST_AGE_SECONDS = 5 * 60

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
        dashboard=DashboardLinks(settings.public_url, settings.signing_key()),
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


def slack_routes(app: AsyncApp, store: Store, signing_secret: str) -> list[Route]:
    """/slack/events. The request is checked here before bolt sees it: a well-formed timestamp
    within Slack's five minutes, a valid signature, a signature not honoured before (in any
    process: the store keeps them) and a body bolt can parse. A refused request answers 4xx
    with the reason and nothing of its body is logged (bolt logs the body it refuses)."""
    handler = AsyncSlackRequestHandler(app)
    verifier = SignatureVerifier(signing_secret)

    async def events(request: Request) -> Response:
        body = await request.body()
        refused = _refusal(request, body, verifier)
        if refused is None and not await asyncio.to_thread(
            _first_use, store, request.headers.get("x-slack-signature", "")
        ):
            refused = (401, "this request was received before (a replay)")
        if refused is not None:
            status, reason = refused
            log.warning("/slack/events refused (%s): %s", status, reason)
            return JSONResponse({"error": reason}, status_code=status)
        return await handler.handle(request)

    return [Route("/slack/events", events, methods=["POST"])]


def _refusal(request: Request, body: bytes, verifier: SignatureVerifier) -> tuple[int, str] | None:
    """Why this request is refused before bolt (status, reason), or None."""
    timestamp = request.headers.get("x-slack-request-timestamp", "")
    signature = request.headers.get("x-slack-signature", "")
    if not timestamp.isdigit() or len(timestamp) > 12:
        return 400, "X-Slack-Request-Timestamp must be a Unix time"
    if abs(time.time() - int(timestamp)) > MAX_REQUEST_AGE_SECONDS:
        return 401, "X-Slack-Request-Timestamp is too old or in the future"
    if not verifier.is_valid(body, timestamp, signature):
        return 401, "invalid signature"
    try:
        text = body.decode("utf-8")
        if request.headers.get("content-type", "").startswith("application/json"):
            if not isinstance(json.loads(text), dict):
                return 400, "the JSON body must be an object"
        else:
            payload = parse_qs(text).get("payload")
            if payload and not isinstance(json.loads(payload[0]), dict):
                return 400, "the payload must be a JSON object"
    except (UnicodeDecodeError, ValueError, RecursionError):
        return 400, "the body is not the JSON or form Slack sends"
    return None


def _first_use(store: Store, signature: str) -> bool:
    with store.transaction() as session:
        return storage.slack_requests.first_use(session, signature, utcnow())


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
        runtime.routes = slack_routes(runtime.app, store, settings.slack_signing_secret)
    if settings.slack_app_token:
        runtime.socket_mode = AsyncSocketModeHandler(runtime.app, settings.slack_app_token)
    return runtime
