"""/privacy: the self-service pages behind the opt-out page's "get a copy of my data / delete
my data" (bot/privacy/self_service.py decides; these pages only parse, call and answer).

GET /privacy is the form; POST /privacy asks for the confirmation mail; GET /privacy/confirm
shows the signed link's button, POST /privacy/confirm does it. Bodies are small forms: over
MAX_BODY bytes is a 413; a bad address, a bad or expired link a 4xx page.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from bot.privacy import self_service
from bot.templates import render
from storage.engine import Store

log = logging.getLogger("leadbot.privacy")

MAX_BODY = 4096
HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
           "X-Robots-Tag": "noindex"}  # fmt: skip


class TooLarge(Exception):
    pass


async def form_of(request: Request) -> dict[str, str]:
    """The urlencoded form of a small body (read up to MAX_BODY bytes, then TooLarge)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise TooLarge
    fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=10)
    return {key: values[-1] for key, values in fields.items()}


def page(state: str, status: int = 200, **context: Any) -> HTMLResponse:
    context = {"address": "", "action": "", "token": "", "what": "", **context}
    return HTMLResponse(render("pages/privacy.html.j2", state=state, **context), status,
                        headers=HEADERS)  # fmt: skip


def privacy_routes(store: Store, public_url: str, secret_key: str, relay_url: str,
                   sender: str) -> list[Route]:  # fmt: skip
    links = self_service.RequestLinks(public_url, secret_key)

    async def ask(request: Request) -> Response:
        if request.method == "GET":
            return page("form")
        try:
            form = await form_of(request)
        except TooLarge:
            return page("form", 413, error="That was too long.")
        address = self_service.valid_address(form.get("address", ""))
        action = form.get("action", "")
        if address is None or action not in self_service.ACTIONS:
            return page("form", 400, error="Enter your email address and choose what to do.")
        wanted = self_service.Request(address, action)
        if await asyncio.to_thread(self_service.should_mail, store, wanted):
            mail = self_service.confirmation_mail(wanted, links.confirm_url(wanted), sender)
            try:
                await self_service.deliver(relay_url, mail)
            except OSError as exc:
                log.warning("privacy confirmation not sent: %s", exc)
                return page("failed", 503)
        return page("asked", address=address)

    async def confirm(request: Request) -> Response:
        if request.method == "GET":
            token = request.query_params.get("t", "")
        else:
            try:
                token = (await form_of(request)).get("t", "")
            except TooLarge:
                return page("invalid", 413)
        wanted = links.request_of(token)
        if wanted is None:
            return page("invalid", 404)
        what = self_service.ACTIONS[wanted.action]
        if request.method == "GET":
            return page("confirm", address=wanted.address, token=token, what=what,
                        action=wanted.action)  # fmt: skip
        done, mail = await asyncio.to_thread(self_service.carry_out, store, wanted, sender)
        if mail is not None:
            try:
                await self_service.deliver(relay_url, mail)
            except OSError as exc:
                log.warning("privacy export not sent: %s", exc)
                return page("failed", 503)
        return page(done, address=wanted.address)

    return [
        Route("/privacy", ask, methods=["GET", "POST"]),
        Route("/privacy/confirm", confirm, methods=["GET", "POST"]),
    ]
