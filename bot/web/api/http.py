"""What every /api/v1 route shares: keys and scopes, rate limits, body limits, JSON errors with a
stable `code`, and Idempotency-Key; the routes themselves (bot/web/api/routes.py) only parse,
call the domain and answer.

A handler is a plain function `(session, call) -> (status, body)`. GETs run in a read-only
transaction; POST and PATCH in a write transaction, and the answer to a POST with an
Idempotency-Key is kept in that same transaction: the change and the kept answer commit
together, and of two racing requests with one key the second fails on the unique index,
rolls back, and answers what the first did.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

import storage.api_keys
from bot.leads import actions, commands
from bot.leads.lifecycle import IllegalTransition
from bot.leads.permissions import NotAllowed
from bot.web.api.keys import Caller, authenticate
from storage.api_tables import IdempotentAnswer
from storage.engine import Store
from storage.models import utcnow

log = logging.getLogger("leadbot.api")
T = TypeVar("T")

IDEMPOTENCY_WINDOW = timedelta(hours=24)
MAX_IDEMPOTENCY_KEY = 255
# A key's last use is written at most this often (a write per read would queue every GET
# behind SQLite's one writer).
LAST_USED_EVERY = 60.0
# An authenticated key is trusted this long without reading the store again.
AUTH_CACHE_SECONDS = 2.0
JSON_TYPES = ("application/json", "application/merge-patch+json")
HANDLER_THREADS = 8


class ApiError(Exception):
    """An answer other than success: the status, a stable code, a message and extra fields."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}
        self.extra = extra

    def response(self) -> JSONResponse:
        body = {"code": self.code, "message": self.message, **self.extra}
        return JSONResponse(body, status_code=self.status, headers=self.headers)


@dataclass
class Call:
    """One request as a handler sees it."""

    caller: Caller
    params: dict[str, str]
    query: dict[str, str]
    body: Any = None


Handler = Callable[[Session, Call], tuple[int, Any]]


# The raw-body types an upload may be sent as, and the suffix a file of that type is read as.
FILE_TYPES = {
    "text/csv": ".csv",
    "application/csv": ".csv",
    "text/tab-separated-values": ".tsv",
    "text/plain": ".csv",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/octet-stream": "",
}


@dataclass(frozen=True)
class Upload:
    """The file an upload carried: its name (as the caller gave it), type and bytes."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Operation:
    scope: str
    handler: Handler
    # Query parameters it takes (anything else is refused, as unknown body fields are).
    query: tuple[str, ...] = ()
    # The body is a file (bot/web/api/imports.py), not JSON: the handler gets the store, not
    # a session, and `call.body` is an Upload; it runs its own transactions.
    upload: bool = False


@dataclass
class Window:
    started: float
    count: int = 0


@dataclass
class RateLimiter:
    """Fixed one-minute windows per key: `RateLimit-Limit`, `-Remaining`, `-Reset` on every
    answer, and 429 with `Retry-After` once the window is used up. In-process: serve answers
    HTTP in one process."""

    windows: dict[int, Window] = field(default_factory=dict)
    period: float = 60.0

    def take(self, key_id: int, limit: int, now: float) -> tuple[bool, dict[str, str]]:
        window = self.windows.get(key_id)
        if window is None or now - window.started >= self.period:
            window = self.windows[key_id] = Window(now)
        allowed = window.count < limit
        if allowed:
            window.count += 1
        reset = max(1, math.ceil(window.started + self.period - now))
        headers = {
            "RateLimit-Limit": str(limit),
            "RateLimit-Remaining": str(max(0, limit - window.count)),
            "RateLimit-Reset": str(reset),
            "RateLimit-Policy": f"{limit};w={int(self.period)}",
        }
        if not allowed:
            headers["Retry-After"] = str(reset)
        return allowed, headers


class Api:
    """The routes' runtime: the store, limits, the rate limiter and the key cache."""

    def __init__(self, store: Store, *, rate_per_minute: int, max_body_bytes: int,
                 max_upload_bytes: int = 10 * 1024 * 1024) -> None:  # fmt: skip
        self.store = store
        self.rate_per_minute = rate_per_minute
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes
        self.limiter = RateLimiter()
        # Handlers run on threads of their own: the loop's default pool (6 threads on 2 cores)
        # is shared with serve's runners (the assigner's tick, the outbox, SMTP's commits),
        # and a read must not queue behind them.
        self.pool = ThreadPoolExecutor(HANDLER_THREADS, thread_name_prefix="api")
        self._callers: dict[str, tuple[float, Caller]] = {}
        self._used: dict[int, float] = {}

    def endpoint(self, operations: dict[str, Operation]) -> Callable[[Request], Any]:
        """The ASGI endpoint of one path: every method answers, unknown ones with a JSON 405."""
        allow = ", ".join(operations)

        async def run(request: Request) -> Response:
            try:
                operation = operations.get(request.method)
                if operation is None:
                    raise ApiError(405, "method_not_allowed",
                                   f"{request.method} is not allowed here; allowed: {allow}",
                                   headers={"Allow": allow})  # fmt: skip
                return await self._serve(request, operation)
            except ApiError as exc:
                return exc.response()
            except Exception:  # a bug: say so in JSON, and log it with its traceback
                log.exception("%s %s failed", request.method, request.url.path)
                return ApiError(500, "internal_error", "the server failed; it is logged").response()

        return run

    async def _serve(self, request: Request, operation: Operation) -> Response:
        caller = await self._authenticate(request)
        limit = caller.rate_per_minute or self.rate_per_minute
        allowed, rate_headers = self.limiter.take(caller.key_id, limit, time.monotonic())
        try:
            if not allowed:
                raise ApiError(429, "rate_limited",
                               f"more than {limit} requests this minute; retry in "
                               f"{rate_headers['Retry-After']} s")  # fmt: skip
            if operation.scope not in caller.scopes:
                raise ApiError(403, "insufficient_scope",
                               f"this key lacks the scope {operation.scope}",
                               required=operation.scope)  # fmt: skip
            query = dict(request.query_params)
            unknown = sorted(set(query) - set(operation.query))
            if unknown:
                raise ApiError(400, "unknown_parameter",
                               f"unknown query parameters: {', '.join(unknown)}",
                               known=list(operation.query))  # fmt: skip
            call = Call(caller, dict(request.path_params), query)
            raw = b""
            if operation.upload:
                if "idempotency-key" in request.headers:
                    raise ApiError(400, "idempotency_not_supported",
                                   "an upload takes no Idempotency-Key: a dry run changes "
                                   "nothing, and an import is in its journal "
                                   "(revertable)")  # fmt: skip
                call.body = await self._read_upload(request)
                status, body = await self._in_pool(self._run_upload, operation, call)
                return JSONResponse(body, status_code=status, headers=rate_headers)
            if request.method in ("POST", "PATCH", "PUT"):
                raw = await self._read_body(request)
                call.body = parse_json_object(raw)
            if request.method == "POST" and "idempotency-key" in request.headers:
                status, body, replayed = await self._in_pool(
                    self._idempotent, operation, call, request, raw
                )
            else:
                status, body = await self._in_pool(self._run, request.method, operation, call)
                replayed = False
        except ApiError as exc:
            exc.headers = {**rate_headers, **exc.headers}
            return exc.response()
        headers = dict(rate_headers)
        if replayed:
            headers["Idempotent-Replayed"] = "true"
        return JSONResponse(body, status_code=status, headers=headers)

    async def _authenticate(self, request: Request) -> Caller:
        header = request.headers.get("authorization", "")
        scheme, _, text = header.partition(" ")
        text = text.strip()
        if scheme.lower() != "bearer" or not text:
            raise ApiError(401, "unauthorized", "send Authorization: Bearer <API key>",
                           headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
        now = time.monotonic()
        cached = self._callers.get(text)
        if cached is not None and now - cached[0] < AUTH_CACHE_SECONDS:
            return cached[1]
        caller = await self._in_pool(self._load_caller, text, now)
        if caller is None:
            raise ApiError(401, "unauthorized", "unknown or revoked API key",
                           headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
        if len(self._callers) > 10_000:
            self._callers.clear()
        self._callers[text] = (now, caller)
        return caller

    def _load_caller(self, text: str, now: float) -> Caller | None:
        with self.store.reading() as session:
            key = authenticate(session, text)
            if key is None or key.id is None:
                return None
            caller = Caller(key.id, key.name, frozenset(key.scopes or ()), key.rate_per_minute)
        if now - self._used.get(caller.key_id, -LAST_USED_EVERY) >= LAST_USED_EVERY:
            self._used[caller.key_id] = now
            with self.store.transaction() as session:
                storage.api_keys.mark_used(session, caller.key_id, utcnow())
        return caller

    async def _in_pool(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.pool, function, *args)

    async def _read_body(self, request: Request) -> bytes:
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind not in JSON_TYPES:
            raise ApiError(415, "unsupported_media_type", "send the body as application/json")
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            raise ApiError(413, "body_too_large",
                           f"the body is {declared} bytes; {self.max_body_bytes} at most",
                           limit=self.max_body_bytes)  # fmt: skip
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body_bytes:
                raise ApiError(413, "body_too_large",
                               f"the body is over {self.max_body_bytes} bytes",
                               limit=self.max_body_bytes)  # fmt: skip
            chunks.append(chunk)
        return b"".join(chunks)

    async def _read_upload(self, request: Request) -> Any:
        """The file of an upload: the one `file` part of a multipart/form-data body, or the
        raw body; at most `max_upload_bytes` either way."""
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "multipart/form-data" and kind not in FILE_TYPES:
            raise ApiError(415, "unsupported_media_type",
                           "send the file as multipart/form-data (a `file` part) or as the raw "
                           "body (text/csv, text/tab-separated-values, the XLSX type)")  # fmt: skip
        limit = self.max_upload_bytes
        raw = await self._read_limited(request, limit)
        if kind != "multipart/form-data":
            return Upload("", kind, raw)
        return await multipart_file(request, raw, limit)

    async def _read_limited(self, request: Request, limit: int) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise ApiError(413, "body_too_large", f"the body is {declared} bytes; {limit} at most",
                           limit=limit)  # fmt: skip
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ApiError(413, "body_too_large", f"the body is over {limit} bytes",
                               limit=limit)  # fmt: skip
            chunks.append(chunk)
        return b"".join(chunks)

    def _run_upload(self, operation: Operation, call: Call) -> tuple[int, Any]:
        with translate_errors():
            return operation.handler(self.store, call)  # type: ignore[arg-type]

    def _run(self, method: str, operation: Operation, call: Call) -> tuple[int, Any]:
        with translate_errors():
            if method == "GET":
                with self.store.reading() as session:
                    return operation.handler(session, call)
            with self.store.transaction() as session:
                return operation.handler(session, call)

    def _idempotent(
        self, operation: Operation, call: Call, request: Request, raw: bytes
    ) -> tuple[int, Any, bool]:
        given = request.headers["idempotency-key"].strip()
        if not given or len(given) > MAX_IDEMPOTENCY_KEY:
            message = f"an Idempotency-Key is 1 to {MAX_IDEMPOTENCY_KEY} characters"
            raise ApiError(400, "bad_idempotency_key", message)
        what = f"POST {request.url.path}"
        body_hash = hashlib.sha256(raw).hexdigest()
        for _ in range(2):  # the second round answers from the winner of a race
            try:
                with translate_errors(), self.store.transaction() as session:
                    kept = storage.api_keys.answer(session, call.caller.key_id, given)
                    if kept is not None and utcnow() - kept.created_at >= IDEMPOTENCY_WINDOW:
                        storage.api_keys.forget_answer(session, kept)
                        kept = None
                    if kept is not None:
                        if kept.request != what or kept.body_hash != body_hash:
                            raise ApiError(422, "idempotency_key_reused",
                                           "this Idempotency-Key was used with another request "
                                           "in the last 24 hours")  # fmt: skip
                        return kept.status, json.loads(kept.response), True
                    status, body = operation.handler(session, call)
                    storage.api_keys.keep_answer(
                        session,
                        IdempotentAnswer(
                            api_key_id=call.caller.key_id,
                            idempotency_key=given,
                            request=what,
                            body_hash=body_hash,
                            status=status,
                            response=json.dumps(body, default=str),
                        ),
                    )
                    return status, body, False
            except IntegrityError:
                continue
        raise ApiError(409, "conflict", "another request with this Idempotency-Key is running")


async def multipart_file(request: Request, raw: bytes, limit: int) -> Any:
    """The one `file` part of a multipart body already read (`raw`), parsed by Starlette."""
    from starlette.datastructures import UploadFile
    from starlette.formparsers import MultiPartException

    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": raw, "more_body": False}

    replay = Request(request.scope, receive)
    try:
        async with replay.form(max_files=1, max_fields=10, max_part_size=limit) as form:
            unknown = sorted(set(form.keys()) - {"file"})
            if unknown:
                raise ApiError(400, "unknown_field", f"unknown form fields: {', '.join(unknown)}"
                               "; options go in the query", known=["file"])  # fmt: skip
            part = form.get("file")
            if not isinstance(part, UploadFile):
                raise ApiError(400, "missing_file", "the form has no `file` part with a file")
            data = await part.read()
            kind = (part.content_type or "").split(";")[0].strip().lower()
            return Upload(part.filename or "", kind, data)
    except MultiPartException as exc:
        raise ApiError(400, "bad_multipart", f"the multipart body cannot be read: {exc}") from None


class translate_errors:
    """The domain's refusals as API errors (a context manager)."""

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> bool:
        if exc is None or isinstance(exc, ApiError | IntegrityError):
            return False
        error = api_error_of(exc)
        if error is None:
            return False
        raise error from exc


def api_error_of(exc: BaseException) -> ApiError | None:
    if isinstance(exc, actions.LeadNotFound):
        return ApiError(404, "not_found", str(exc))
    if isinstance(exc, actions.RepNotFound):
        return ApiError(422, "unknown_rep", str(exc))
    if isinstance(exc, actions.StaleLead):
        return ApiError(409, "stale", str(exc))
    if isinstance(exc, IllegalTransition):
        return ApiError(409, "illegal_transition", str(exc))
    if isinstance(exc, NotAllowed):
        return ApiError(403, "not_allowed", str(exc))
    if isinstance(exc, commands.NeedsInput):
        return ApiError(422, "needs_input", str(exc))
    if isinstance(exc, commands.UsageError):
        return ApiError(422, "bad_action", str(exc))
    if isinstance(exc, OperationalError):
        log.warning("store unavailable: %s", exc)
        return ApiError(503, "store_unavailable", "the store is unavailable; retry shortly",
                        headers={"Retry-After": "1"})  # fmt: skip
    if isinstance(exc, ValueError):
        return ApiError(422, "invalid", str(exc))
    return None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _text_is_unicode(value: Any) -> bool:
    """No lone surrogates (`"\\ud800"` is valid JSON but no text): such a string could be
    stored, and then never be answered or shown."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(_text_is_unicode(k) and _text_is_unicode(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_text_is_unicode(item) for item in value)
    return True


def parse_json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw, parse_constant=_no_constant)  # NaN and Infinity are not JSON
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "bad_json", f"the body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "bad_json", "the body must be a JSON object")
    if not _text_is_unicode(body):
        raise ApiError(400, "bad_json", "the body holds a lone surrogate (\\ud800…): not text")
    return body
