"""A local webhook receiver (a real HTTP server on a free port) that verifies every delivery with
the `standardwebhooks` library, keeps what it accepted, and can be down, failing or well.

`down()` closes the socket (senders get connection refused), `failing()` answers 500 to every
delivery, `well()` answers 204 to the ones whose signature verifies with one of its secrets.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from tests.services.ports import free_port


@dataclass
class Received:
    webhook_id: str
    headers: dict[str, str]
    body: bytes
    payload: dict[str, Any]
    verified_with: list[str]


@dataclass
class Receiver:
    port: int = field(default_factory=free_port)
    secrets: list[str] = field(default_factory=list)
    mode: str = "well"
    accepted: list[Received] = field(default_factory=list)
    refused_signatures: int = 0
    answered_500: int = 0
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def up(self) -> None:
        if self._server is not None:
            return
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                receiver.handle(self, body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def failing(self) -> None:
        self.mode = "failing"
        self.up()

    def well(self) -> None:
        self.mode = "well"
        self.up()

    def verify(self, secret: str, body: bytes, headers: dict[str, str]) -> bool:
        try:
            Webhook(secret).verify(body, headers)
        except WebhookVerificationError:
            return False
        return True

    def handle(self, request: BaseHTTPRequestHandler, body: bytes) -> None:
        headers = {key.lower(): value for key, value in request.headers.items()}
        if self.mode == "failing":
            with self._lock:
                self.answered_500 += 1
            request.send_response(500)
            request.end_headers()
            return
        verified = [s for s in self.secrets if self.verify(s, body, headers)]
        if not verified:
            with self._lock:
                self.refused_signatures += 1
            request.send_response(401)
            request.end_headers()
            return
        with self._lock:
            self.accepted.append(
                Received(headers["webhook-id"], headers, body, json.loads(body), verified)
            )
        request.send_response(204)
        request.end_headers()

    def unique(self) -> list[Received]:
        """What was accepted, each webhook-id once (the first time), in the order it came."""
        seen: set[str] = set()
        out = []
        with self._lock:
            for item in self.accepted:
                if item.webhook_id not in seen:
                    seen.add(item.webhook_id)
                    out.append(item)
        return out
