"""A local stand-in of Slack's Socket Mode endpoint: a real websocket server (aiohttp) that the
app reaches through the URL `apps.connections.open` hands out (see `slack_api.py`).

Like Slack, it says `hello` when a client connects, pushes envelopes to it and expects each one
answered with `{"envelope_id": …, "payload": …}` over the socket; it records every JSON message
the client sends back, in order, and answers the client's pings (aiohttp's autoping).

    with slack_api_server() as slack, socket_mode_server() as socket:
        slack.socket_url = socket.url
        ...  # start the app with an app-level token and `base_url=slack.url`
        envelope_id = socket.send_envelope("slash_commands", slash_command_fields("mine"))
        socket.wait_for_ack(envelope_id)

The server runs aiohttp's runner on a free loopback port in a thread of its own, with its own
event loop; every public method is safe to call from the test's thread.
"""

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

APP_ID = "A0LEADBOT"
Json = dict[str, Any]


def hello(num_connections: int = 1) -> Json:
    """The first message of every Socket Mode connection."""
    return {
        "type": "hello",
        "num_connections": num_connections,
        "debug_info": {
            "host": "applink-leadbot-stand-in",
            "build_number": 1,
            "approximate_connection_time": 18060,
        },
        "connection_info": {"app_id": APP_ID},
    }


class SocketModeStandIn:
    """The websocket server's state: who is connected and what came back over the socket."""

    def __init__(self, port: int) -> None:
        self.port = port
        # What apps.connections.open hands out: Slack's shape, `…/link/?ticket=…&app_id=…`.
        self.url = f"ws://127.0.0.1:{port}/link/?ticket={uuid.uuid4()}&app_id={APP_ID}"
        # Set while a client is connected and has been sent `hello`.
        self.connected = threading.Event()
        # Every JSON message received from the client, in order (the acks of the envelopes).
        self.acks: list[Json] = []
        # The query string of each connection accepted (one per apps.connections.open used).
        self.connections: list[str] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self._socket: web.WebSocketResponse | None = None
        self._changed = threading.Condition()

    # ---- what tests use -----------------------------------------------------------------

    def send_envelope(self, kind: str, payload: Json, timeout: float = 10.0) -> str:
        """Push one envelope (`slash_commands`, `interactive`, `events_api`) to the connected
        client, waiting up to `timeout` seconds for one to connect; returns its envelope id."""
        envelope_id = str(uuid.uuid4())
        envelope: Json = {
            "envelope_id": envelope_id,
            "type": kind,
            "accepts_response_payload": kind != "events_api",
            "payload": payload,
        }
        if kind == "events_api":
            envelope.update(retry_attempt=0, retry_reason="")
        self.send(envelope, timeout)
        return envelope_id

    def send(self, message: Json, timeout: float = 10.0) -> None:
        """Push any JSON message (e.g. `{"type": "disconnect", "reason": "refresh_requested"}`)."""
        deadline = time.monotonic() + timeout
        if not self.connected.wait(timeout):
            raise AssertionError(f"no Socket Mode client connected in {timeout}s")
        with self._changed:
            socket, loop = self._socket, self.loop
        if socket is None or loop is None:
            raise AssertionError("the Socket Mode client went away")
        sent = asyncio.run_coroutine_threadsafe(socket.send_json(message), loop)
        sent.result(max(deadline - time.monotonic(), 1.0))

    def wait_for_ack(self, envelope_id: str, timeout: float = 10.0) -> Json:
        """The client's answer to the envelope `envelope_id`, waiting up to `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for ack in self.acks:
                    if ack.get("envelope_id") == envelope_id:
                        return ack
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no ack for envelope {envelope_id}; got {self.acks}")
                self._changed.wait(left)

    def wait_for_connections(self, count: int, timeout: float = 10.0) -> list[str]:
        """Wait until `count` connections have been accepted (a reconnect adds one)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.connections) < count or not self.connected.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(self.connections)} connections, not {count}")
                self._changed.wait(left)
            return list(self.connections)

    # ---- the server side ----------------------------------------------------------------

    async def link(self, request: web.Request) -> web.WebSocketResponse:
        """One Socket Mode connection: hello, then record what the client sends."""
        socket = web.WebSocketResponse(autoping=True)
        await socket.prepare(request)
        with self._changed:
            previous, self._socket = self._socket, socket
            self.connections.append(request.query_string)
            self._changed.notify_all()
        if previous is not None:
            await previous.close()  # one connection at a time, as the app opens them
        await socket.send_json(hello())
        with self._changed:
            self.connected.set()
            self._changed.notify_all()
        try:
            async for message in socket:
                if message.type == WSMsgType.TEXT:
                    with self._changed:
                        self.acks.append(json.loads(message.data))
                        self._changed.notify_all()
        finally:
            with self._changed:
                if self._socket is socket:
                    self._socket = None
                    self.connected.clear()
                self._changed.notify_all()
        return socket

    async def close_sockets(self) -> None:
        with self._changed:
            socket = self._socket
        if socket is not None:
            await socket.close()


@contextmanager
def socket_mode_server() -> Iterator[SocketModeStandIn]:
    """Serve the stand-in on a free loopback port for the duration of the block."""
    stand_in = SocketModeStandIn(free_port())
    app = web.Application()
    app.router.add_get("/link/", stand_in.link)
    runner = web.AppRunner(app, shutdown_timeout=2.0)
    loop = asyncio.new_event_loop()
    stand_in.loop = loop
    started = threading.Event()
    failure: list[BaseException] = []

    async def start() -> None:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", stand_in.port).start()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(start())
        except BaseException as error:  # reported to the test's thread below
            failure.append(error)
            started.set()
            loop.close()
            return
        started.set()
        loop.run_forever()
        loop.close()

    thread = threading.Thread(target=serve, name="slack-socket-stand-in", daemon=True)
    thread.start()
    if not started.wait(10) or failure:
        raise AssertionError(f"the Socket Mode stand-in did not start: {failure}")
    try:
        yield stand_in
    finally:

        async def stop() -> None:
            await stand_in.close_sockets()
            await runner.cleanup()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
