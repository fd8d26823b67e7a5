"""Limits on every HTTP request, checked before anything parses or logs it.

Two layers. `bounded_http_protocol` is uvicorn's httptools protocol with a ceiling on the header
block: it counts the bytes of a request's head as they arrive and answers 431 once they pass the
limit (or the header count does), before the parser has kept them. `BodyLimits` is the outermost
ASGI middleware: it refuses a declared Content-Length over the route's limit with 413 without
reading a byte, reads any other body up to the limit (413 past it) and only then hands the
request on, so a route, bolt and the log only ever see a body that fits. Limits are per path
prefix, a table (`BODY_LIMITS` in bot/app/serve.py names them); other paths get the default.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def bounded_http_protocol(max_header_bytes: int, max_headers: int) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol, refusing a request head over these limits with 431."""

    class BoundedHttpToolsProtocol(HttpToolsProtocol):
        _head_bytes = 0
        _in_head = True
        _header_count = 0

        def data_received(self, data: bytes) -> None:
            head_before = self._in_head
            super().data_received(data)
            if not head_before or self.transport.is_closing():
                return
            if self._in_head:  # all of it was head: count it
                self._head_bytes += len(data)
                if self._head_bytes > max_header_bytes:
                    self._refuse_head(f"request headers over {max_header_bytes} bytes")

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._in_head, self._head_bytes, self._header_count = True, 0, 0

        def on_header(self, name: bytes, value: bytes) -> None:
            self._header_count += 1
            self._head_bytes += len(name) + len(value)
            if self._header_count > max_headers or self._head_bytes > max_header_bytes:
                self._refuse_head(f"over {max_headers} request headers or {max_header_bytes} bytes")
                return
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            self._in_head = False
            if self.transport.is_closing():
                return
            super().on_headers_complete()

        def _refuse_head(self, reason: str) -> None:
            if self.transport.is_closing():
                return
            body = reason.encode()
            self.transport.write(
                b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
                b"content-type: text/plain; charset=utf-8\r\n"
                b"content-length: " + str(len(body)).encode() + b"\r\n"
                b"connection: close\r\n\r\n" + body
            )
            self.transport.close()

    return BoundedHttpToolsProtocol


class BodyLimits:
    """ASGI middleware: a request body over its path's limit is refused with 413, unread."""

    def __init__(self, app: ASGIApp, limits: Sequence[tuple[str, int]], default_limit: int) -> None:
        self.app = app
        # Longest prefix first, so "/slack/events" wins over "/".
        self.limits = sorted(limits, key=lambda row: -len(row[0]))
        self.default_limit = default_limit

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.limits:
            if path.startswith(prefix):
                return limit
        return self.default_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                await _refuse(send, 400, "Content-Length is not a number")
                return
            if length > limit:
                await _refuse(send, 413, f"request body over {limit} bytes")
                return
        elif b"transfer-encoding" not in headers:
            await self.app(scope, receive, send)  # no body at all (a GET, the pixel)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _refuse(send, 413, f"request body over {limit} bytes")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _refuse(send: Send, status: int, reason: str) -> None:
    # The REST API's error shape (a stable `code` and a message) beside the older `error`.
    code = "body_too_large" if status == 413 else "bad_request"
    body = json.dumps({"error": reason, "code": code, "message": reason}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def json_object(body: bytes, max_depth: int = 32) -> dict[str, Any]:
    """The JSON object in `body`, or ValueError saying why not: nested deeper than `max_depth`
    (counted in one pass before parsing: 100,000 levels made the parser's recursion a 500),
    not UTF-8, not JSON, or not an object."""
    depth, in_string, escaped = 0, False, False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > max_depth:
                raise ValueError(f"the JSON is nested deeper than {max_depth} levels")
        elif byte in (0x5D, 0x7D):
            depth -= 1
    try:
        value = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"the body is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError("the body must be a JSON object")
    return value
