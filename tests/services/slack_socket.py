"""A stand-in for Slack's Socket Mode endpoint: a real websocket server (aiohttp) that says
hello like Slack, pushes envelopes to the connected app and records what the app sends back."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import WSMsgType, web

from tests.services.ports import free_port

HELLO = {
    "type": "hello",
    "num_connections": 1,
    "debug_info": {"host": "leadbot-stand-in", "approximate_connection_time": 3600},
    "connection_info": {"app_id": "A0LEADBOT"},
}


class SocketModeStandIn:
    def __init__(self, port: int) -> None:
        self.url = f"ws://127.0.0.1:{port}/link"
        self.acks: list[dict[str, Any]] = []
        self.connected = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._socket: web.WebSocketResponse | None = None

    async def link(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self._socket = socket
        await socket.send_json(HELLO)
        self.connected.set()
        async for message in socket:
            if message.type == WSMsgType.TEXT:
                self.acks.append(json.loads(message.data))
        return socket

    def send_envelope(self, kind: str, payload: dict[str, Any]) -> str:
        """Push one envelope (slash_commands, interactive, events_api); returns its id."""
        if not self.connected.wait(10) or self._socket is None or self.loop is None:
            raise AssertionError("no Socket Mode client connected")
        envelope_id = str(uuid.uuid4())
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "accepts_response_payload": kind != "events_api",
            "payload": payload,
        }
        asyncio.run_coroutine_threadsafe(self._socket.send_json(envelope), self.loop).result(5)
        return envelope_id

    def wait_for_ack(self, envelope_id: str, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for ack in list(self.acks):
                if ack.get("envelope_id") == envelope_id:
                    return ack
            time.sleep(0.02)
        raise AssertionError(f"no ack for envelope {envelope_id}; acks: {self.acks}")


@contextmanager
def socket_mode_server() -> Iterator[SocketModeStandIn]:
    stand_in = SocketModeStandIn(free_port())
    port = int(stand_in.url.rsplit(":", 1)[1].split("/")[0])
    app = web.Application()
    app.router.add_get("/link", stand_in.link)
    runner = web.AppRunner(app)
    started = threading.Event()

    def serve() -> None:
        loop = asyncio.new_event_loop()
        stand_in.loop = loop
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        started.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    started.wait(10)
    try:
        yield stand_in
    finally:
        assert stand_in.loop is not None
        stand_in.loop.call_soon_threadsafe(stand_in.loop.stop)
        thread.join(10)
