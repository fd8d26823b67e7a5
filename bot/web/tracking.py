"""Tracking of nurture emails over HTTP: the open pixel, click redirects, opt-out and its undo.

The pixel is answered by `PixelFastPath`, a bare ASGI layer in front of the Starlette app: it
checks the token, hands the hit to a `HitBuffer` and answers the GIF without waiting on the
store. In serve the buffer appends each hit to the hit spool (bot/nurture/hit_spool.py) before
the answer, so a killed serve loses none; without a spool (tests of the routes) hits wait in
memory, are written in batches by a background task (`HitBuffer.run`), and `HitBuffer.close()`
writes what is left when the server stops, so a clean stop loses nothing.
A click is checked the same way and redirected (302) only to the URL stored for that send and
link index. The opt-out link shows a page with one button (a scanner's GET changes nothing); a
POST, which is also RFC 8058's one-click, opts out at once and offers an undo.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

import storage.campaigns
from bot.nurture import campaigns
from bot.nurture.hit_spool import HitSpool
from bot.nurture.links import CLICK_PATH, OPT_OUT_PATH, PIXEL_PATH, TrackingLinks
from bot.templates import render
from storage.engine import Store

log = logging.getLogger("leadbot.tracking")

GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
GIF_HEADERS = [
    (b"content-type", b"image/gif"),
    (b"content-length", str(len(GIF)).encode()),
    (b"cache-control", b"no-store, no-cache, must-revalidate, private"),
]
NOT_FOUND_HEADERS = [(b"content-type", b"text/plain"), (b"content-length", b"9")]
# The pixel's answer, built once (the server only reads these messages).
GIF_START = {"type": "http.response.start", "status": 200, "headers": GIF_HEADERS}
GIF_BODY = {"type": "http.response.body", "body": GIF}
NOT_FOUND_START = {"type": "http.response.start", "status": 404, "headers": NOT_FOUND_HEADERS}
NOT_FOUND_BODY = {"type": "http.response.body", "body": b"not found"}
PIXEL_PATH_LENGTH = len(PIXEL_PATH)
PAGE_HEADERS = {"Cache-Control": "private, no-store", "X-Robots-Tag": "noindex",
                "Referrer-Policy": "no-referrer"}  # fmt: skip
# Buffered hits beyond this wake the writer early.
FLUSH_AT = 2000


class HitBuffer:
    """Opens and clicks waiting to be written: appended by the HTTP server, written in batches,
    by `write` when given (serve: the tracking writer process), else in a thread here."""

    def __init__(
        self,
        store: Store,
        flush_seconds: float,
        scanner_window: float,
        write: Callable[[list[campaigns.Hit]], int] | None = None,
        spool: HitSpool | None = None,
    ) -> None:
        self.store = store
        self.spool = spool
        self.flush_seconds = flush_seconds
        self.scanner_window = scanner_window
        self.write = write or self._write
        self.hits: list[campaigns.Hit] = []
        self._wake = asyncio.Event()
        self._closing = False

    def add(self, hit: campaigns.Hit) -> None:
        if self.spool is not None:
            try:
                self.spool.append(hit)
                return
            except OSError:  # a full disk: kept in memory for the batch writer instead
                log.exception("appending a hit to the spool failed; keeping it in memory")
        self.hits.append(hit)
        if len(self.hits) >= FLUSH_AT:
            self._wake.set()

    async def run(self) -> None:
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.flush_seconds)
            self._wake.clear()
            await self.flush()
        await self.flush()

    async def close(self, task: asyncio.Task[None]) -> None:
        """Stop the writer after it has written everything buffered (call once the server is
        no longer taking requests)."""
        self._closing = True
        self._wake.set()
        await task
        if self.spool is not None:
            self.spool.close()

    async def flush(self) -> int:
        batch, self.hits = self.hits, []
        if not batch:
            return 0
        try:
            return await asyncio.to_thread(self.write, batch)
        except Exception:
            log.exception("writing %d tracking events failed; keeping them for the next try",
                          len(batch))  # fmt: skip
            self.hits[:0] = batch
            return 0

    def _write(self, batch: list[campaigns.Hit]) -> int:
        with self.store.transaction() as session:
            return campaigns.record_hits(session, batch, self.scanner_window)


class PixelFastPath:
    """ASGI: GET /t/o/<token> is answered here, everything else goes to `app`."""

    def __init__(self, app: Any, links: TrackingLinks, buffer: HitBuffer) -> None:
        self.app = app
        self.links = links
        self.buffer = buffer

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PIXEL_PATH):
            await self.app(scope, receive, send)
            return
        send_id = self.links.pixel_send(scope["path"][PIXEL_PATH_LENGTH:])
        if send_id is None:
            await send(NOT_FOUND_START)
            await send(NOT_FOUND_BODY)
            return
        agent = ""
        for name, value in scope["headers"]:
            if name == b"user-agent":
                agent = value.decode("latin-1")
                break
        client = scope.get("client")
        # Apple's Mail Privacy Protection fetches from Apple's 17.0.0.0/8; the IP is not kept.
        apple = client is not None and client[0].startswith("17.")
        self.buffer.add(campaigns.Hit("open", send_id, time.time(), agent, None, apple))
        await send(GIF_START)
        await send(GIF_BODY)


def tracking_routes(store: Store, links: TrackingLinks, buffer: HitBuffer) -> list[Route]:
    link_cache: OrderedDict[int, list[str]] = OrderedDict()

    def send_links(send_id: int) -> list[str] | None:
        if send_id in link_cache:
            return link_cache[send_id]
        with store.reading() as session:
            send = storage.campaigns.send_by_id(session, send_id)
            if send is None or send.state not in ("sent", "sending", "unknown"):
                return None
            link_cache[send_id] = list(send.links)
        if len(link_cache) > 10000:
            link_cache.popitem(last=False)
        return link_cache[send_id]

    def address_of(send_id: int) -> str | None:
        with store.reading() as session:
            send = storage.campaigns.send_by_id(session, send_id)
            return send.address if send else None

    def page(state: str, status: int = 200, **context: Any) -> HTMLResponse:
        context = {"address": "", "action": "", **context}
        titles = {"confirm": "Unsubscribe", "done": "Unsubscribed", "undone": "Subscribed again",
                  "confirm_undo": "Subscribe again"}  # fmt: skip
        html = render("pages/opt_out.html.j2", state=state,
                      title=titles.get(state, "Link not valid"), **context)  # fmt: skip
        return HTMLResponse(html, status, headers=PAGE_HEADERS)

    async def click(request: Request) -> Response:
        target = links.click_target(request.path_params["token"])
        urls = await asyncio.to_thread(send_links, target[0]) if target else None
        if target is None or urls is None or not target[1] < len(urls):
            return page("invalid", 404)
        agent = request.headers.get("user-agent", "")
        buffer.add(campaigns.Hit("click", target[0], time.time(), agent, target[1]))
        return RedirectResponse(urls[target[1]], 302, headers=PAGE_HEADERS)

    async def opt_out(request: Request) -> Response:
        token = request.path_params["token"]
        send_id = links.opt_out_send(token)
        if send_id is None:
            return page("invalid", 404)
        if request.method == "GET":
            address = await asyncio.to_thread(address_of, send_id)
            if address is None:
                return page("invalid", 404)
            return page("confirm", address=address, action=f"{OPT_OUT_PATH}{token}")
        # POST: the page's button, or a mail provider's RFC 8058 one-click
        # (body List-Unsubscribe=One-Click). Either way the address is opted out now.
        address = await asyncio.to_thread(campaigns.opt_out, store, send_id, "one-click opt-out")
        if address is None:
            return page("invalid", 404)
        undo = links.undo(send_id).removeprefix(links.public_url)
        return page("done", address=address, action=undo)

    async def undo(request: Request) -> Response:
        token = request.path_params["token"]
        send_id = links.undo_send(token)
        if send_id is None:
            return page("invalid", 404)
        if request.method == "GET":
            address = await asyncio.to_thread(address_of, send_id)
            action = links.undo(send_id).removeprefix(links.public_url)
            return page("confirm_undo", address=address or "", action=action)
        address = await asyncio.to_thread(campaigns.undo_opt_out, store, send_id)
        if address is None:
            return page("invalid", 404)
        return page("undone", address=address)

    return [
        Route(CLICK_PATH + "{token}", click, methods=["GET"]),
        Route(OPT_OUT_PATH + "{token}", opt_out, methods=["GET", "POST"]),
        Route("/t/r/{token}", undo, methods=["GET", "POST"]),
    ]
