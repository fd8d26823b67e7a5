"""Headless Debian Chromium driven over the DevTools protocol (aiohttp's websocket client):
open a page, let its images load, click a link, read where the browser ended up."""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from tests.services.ports import free_port, wait_for_port

CHROMIUM = "/usr/bin/chromium"
# These matter on a machine without a network: no QUIC, no background fetches, no updates.
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


class ChromiumMissing(RuntimeError):
    pass


class Page:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self.ids)
        await self.ws.send_str(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads((await self.ws.receive(timeout=30)).data)
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    async def wait_for(self, event: str, timeout: float = 30) -> dict[str, Any]:
        for i, message in enumerate(self.events):
            if message.get("method") == event:
                return self.events.pop(i)
        async with asyncio.timeout(timeout):
            while True:
                message = json.loads((await self.ws.receive()).data)
                if message.get("method") == event:
                    return message
                self.events.append(message)

    async def navigate(self, url: str) -> None:
        self.events.clear()
        await self.call("Page.navigate", url=url)
        await self.wait_for("Page.loadEventFired")

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")


@asynccontextmanager
async def chromium_page(profile: Path) -> AsyncIterator[Page]:
    if not shutil.which(CHROMIUM):
        raise ChromiumMissing(f"{CHROMIUM} is missing: run `make test-deps` (Debian chromium)")
    port = free_port()
    process = subprocess.Popen(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", f"--remote-debugging-port={port}",
         "--remote-allow-origins=*", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        await asyncio.to_thread(wait_for_port, port, 30)
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                async with http.get(f"http://127.0.0.1:{port}/json/list") as response:
                    pages = [p for p in await response.json() if p.get("type") == "page"]
                if pages:
                    break
                await asyncio.sleep(0.1)
            async with http.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                page = Page(ws)
                await page.call("Page.enable")
                yield page
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
