"""A local stand-in of the Slack Web API: a real HTTP server that slack_sdk's `WebClient` and
`AsyncWebClient` talk to with `base_url=server.url`. It records every call in order and answers
the way Slack does, and can be told to fail the next calls of a method (429 with Retry-After,
a 5xx, an `ok: false` body, or a dropped connection).

    with slack_api_server() as slack:
        slack.users["ann@yourco.com"] = {"id": "U0ANN", "real_name": "Ann Lee"}
        client = WebClient(token="xoxb-test", base_url=slack.url)
        slack.fail_next("chat.postMessage", status=429, retry_after=1)
        ...
        assert slack.calls_to("chat.postMessage")[0].params["channel"] == "D0000001"

For Socket Mode, `apps.connections.open` hands out `socket_url` (`slack_api_server(socket_url=…)`
or set the attribute): the URL of a `tests.fakes.slack_socket.socket_mode_server()`.

Response shapes follow Slack's (the `view` object is the one in the corpora's view_submission
payload; `auth.test` adds to the corpora's web_response_api_test).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.corpora import CORPORA
from tests.services.ports import free_port

TEAM_ID = "T0LEADBOT"
TEAM_NAME = "leadbot test"
BOT_USER_ID = "U0LEADBOT"
BOT_ID = "B0LEADBOT"
APP_ID = "A0LEADBOT"
FIRST_TS = 1_700_000_000_000_100  # microseconds: "1700000000.000100"

Json = dict[str, Any]


@dataclass
class SlackCall:
    """One request as the server saw it."""

    method: str
    # Query, form and JSON body merged; form values holding JSON (blocks, view) are decoded.
    params: Json
    headers: dict[str, str]
    http_method: str
    # The URL's path: which request's response_url a "response_url" call went to.
    path: str = ""
    # What was answered: the HTTP status and the JSON body.
    status: int = 200
    response: Json = field(default_factory=dict)

    @property
    def token(self) -> str | None:
        auth = self.headers.get("Authorization") or self.headers.get("authorization") or ""
        if auth.startswith("Bearer "):
            return auth.removeprefix("Bearer ")
        token = self.params.get("token")
        return str(token) if token else None

    @property
    def ok(self) -> bool:
        return self.status == 200 and bool(self.response.get("ok"))


@dataclass
class _Failure:
    status: int
    retry_after: float
    error: str | None
    # Only calls posting to this channel (a user id stands for their DM) fail; None: any call.
    channel: str | None = None


class SlackApiStandIn:
    """The server's state: calls made, users known, messages posted, failures to inject."""

    def __init__(self, url: str) -> None:
        self.url = url
        # What apps.connections.open hands out (a Socket Mode stand-in's websocket URL).
        self.socket_url: str | None = None
        # Where a request's response_url points: replies there are recorded as "response_url".
        self.response_url = url.replace("/api/", "/response/T111/1")
        self.calls: list[SlackCall] = []
        # email → user: a user id (str) or a (partial) Slack user object with at least "id".
        self.users: dict[str, str | Json] = {}
        # (channel, ts) → message, as chat.postMessage stored it and chat.update changed it.
        self.messages: dict[tuple[str, str], Json] = {}
        self.views: dict[str, Json] = {}
        self._dm_channels: dict[str, str] = {}
        self._failures: dict[str, deque[_Failure]] = defaultdict(deque)
        # method → seconds the answer takes once the call is recorded (a slow Slack: the call
        # took effect, the caller has not heard yet; a crash then leaves it in flight).
        self.latency: dict[str, float] = {}
        self._lock = threading.Lock()
        self._ts = itertools.count(FIRST_TS, 100)
        self._ids = itertools.count(1)
        # Calls before this index belong to an earlier test on the same server (see mark()).
        self._since = 0

    # ---- what tests use -----------------------------------------------------------------

    def calls_to(self, method: str) -> list[SlackCall]:
        with self._lock:
            return [call for call in self.calls[self._since :] if call.method == method]

    def mark(self) -> None:
        """From now on calls_to() sees only the calls made after this one: tests that share one
        server (and one serve) each read their own calls; messages and views stay for the
        serve's late redraws."""
        with self._lock:
            self._since = len(self.calls)

    def fail_next(
        self,
        method: str,
        status: int = 429,
        retry_after: float = 1,
        times: int = 1,
        error: str | None = None,
        channel: str | None = None,
    ) -> None:
        """Fail the next `times` calls of `method`: 429 with `Retry-After: retry_after`, a 5xx,
        200 with `{"ok": false, "error": error}`, or 0 to drop the connection unanswered; with
        `channel` (or a user id: their DM) only the calls posting there."""
        with self._lock:
            where = self._channel_for(channel) if channel else None
            for _ in range(times):
                self._failures[method].append(_Failure(status, retry_after, error, where))

    def dm_channel(self, user_id: str) -> str:
        """The IM channel id of a user (the same one conversations.open returns)."""
        with self._lock:
            return self._dm_channel_locked(user_id)

    def reset(self) -> None:
        """Forget calls, pending failures, messages and views; users stay configured."""
        with self._lock:
            self.calls.clear()
            self._since = 0
            self._failures.clear()
            self.messages.clear()
            self.views.clear()

    # ---- the server side ----------------------------------------------------------------

    def handle(self, method: str, call: SlackCall) -> tuple[int, dict[str, str], Json | None]:
        """Answer one call: (status, extra headers, JSON body or None to drop the connection)."""
        with self._lock:
            self.calls.append(call)
            failure = self._next_failure(method, call.params)
            if failure is not None:
                status, headers, body = self._failure_answer(failure)
            elif call.token is None and method not in ("api.test", "response_url"):
                status, headers, body = 200, {}, {"ok": False, "error": "not_authed"}
            else:
                answer = self._answers().get(method)
                body = answer(call.params) if answer else {"ok": True}
                status, headers = 200, {}
            call.status = status
            call.response = body or {}
            return status, headers, body

    def _next_failure(self, method: str, params: Json) -> _Failure | None:
        failures = self._failures.get(method)
        if not failures:
            return None
        channel = self._channel_for(str(params["channel"])) if params.get("channel") else None
        for failure in failures:
            if failure.channel is None or failure.channel == channel:
                failures.remove(failure)
                return failure
        return None

    def _failure_answer(self, failure: _Failure) -> tuple[int, dict[str, str], Json | None]:
        if failure.status == 0:
            return 0, {}, None
        if failure.status == 429:
            retry_after = f"{failure.retry_after:g}"
            return 429, {"Retry-After": retry_after}, {"ok": False, "error": "ratelimited"}
        if failure.status >= 500:
            return failure.status, {}, {"ok": False, "error": failure.error or "internal_error"}
        return failure.status, {}, {"ok": False, "error": failure.error or "fatal_error"}

    def _answers(self) -> dict[str, Callable[[Json], Json]]:
        return {
            "api.test": self._api_test,
            "apps.connections.open": self._connections_open,
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.postEphemeral": self._post_ephemeral,
            "conversations.open": self._conversations_open,
            "users.lookupByEmail": self._lookup_by_email,
            "users.info": self._users_info,
            "views.open": self._views_open,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
        }

    def _next_ts(self) -> str:
        micros = next(self._ts)
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _dm_channel_locked(self, user_id: str) -> str:
        if user_id not in self._dm_channels:
            self._dm_channels[user_id] = f"D{len(self._dm_channels) + 1:07d}"
        return self._dm_channels[user_id]

    def _channel_for(self, channel: str) -> str:
        """Posting to a user id posts to their DM, as Slack does."""
        if channel[:1] in ("U", "W"):
            return self._dm_channel_locked(channel)
        return channel

    # ---- answers, one per method ---------------------------------------------------------

    def _api_test(self, params: Json) -> Json:
        body = _corpus_json("views/web_response_api_test.json")
        if params:
            body["args"] = {key: str(value) for key, value in params.items()}
        return body

    def _auth_test(self, params: Json) -> Json:
        return {
            **_corpus_json("views/web_response_api_test.json"),
            "url": "https://leadbot-test.slack.com/",
            "team": TEAM_NAME,
            "user": "leadbot",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _message(self, params: Json, ts: str) -> Json:
        message: Json = {
            "user": BOT_USER_ID,
            "type": "message",
            "ts": ts,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "text": params.get("text", ""),
            "team": TEAM_ID,
            "bot_profile": {
                "id": BOT_ID,
                "app_id": APP_ID,
                "name": "leadbot",
                "deleted": False,
                "team_id": TEAM_ID,
            },
        }
        if params.get("blocks") is not None:
            message["blocks"] = params["blocks"]
        if params.get("thread_ts"):
            message["thread_ts"] = params["thread_ts"]
        return message

    def _post_message(self, params: Json) -> Json:
        if not params.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        if not params.get("text") and not params.get("blocks") and not params.get("attachments"):
            return {"ok": False, "error": "no_text"}
        channel = self._channel_for(str(params["channel"]))
        ts = self._next_ts()
        message = self._message(params, ts)
        self.messages[(channel, ts)] = message
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _update(self, params: Json) -> Json:
        channel, ts = str(params.get("channel", "")), str(params.get("ts", ""))
        old = self.messages.get((channel, ts))
        if old is None:
            return {"ok": False, "error": "message_not_found"}
        message = {**self._message(params, ts), "edited": {"user": BOT_USER_ID, "ts": ts}}
        if params.get("blocks") is None and "blocks" in old:
            message["blocks"] = old["blocks"]
        self.messages[(channel, ts)] = message
        return {
            "ok": True,
            "channel": channel,
            "ts": ts,
            "text": message["text"],
            "message": message,
        }

    def _post_ephemeral(self, params: Json) -> Json:
        if not params.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        if not params.get("user"):
            return {"ok": False, "error": "user_not_in_channel"}
        return {"ok": True, "message_ts": self._next_ts()}

    def _conversations_open(self, params: Json) -> Json:
        users = [u for u in str(params.get("users", "")).split(",") if u]
        if params.get("channel"):
            return {
                "ok": True,
                "no_op": True,
                "already_open": True,
                "channel": {"id": params["channel"]},
            }
        if not users:
            return {"ok": False, "error": "users_list_not_supplied"}
        if len(users) > 1:
            channel_id = f"C{next(self._ids):07d}"
            return {"ok": True, "channel": {"id": channel_id}}
        known = users[0] in self._dm_channels
        channel: Json = {"id": self._dm_channel_locked(users[0])}
        if _truthy(params.get("return_im")):
            channel.update(
                {"created": 1700000000, "is_im": True, "is_org_shared": False, "user": users[0]}
            )
            channel.update({"last_read": "0000000000.000000", "latest": None, "unread_count": 0})
            channel.update({"unread_count_display": 0, "is_open": True, "priority": 0})
        if known:
            return {"ok": True, "no_op": True, "already_open": True, "channel": channel}
        return {"ok": True, "channel": channel}

    def _user_object(self, email: str, entry: str | Json) -> Json:
        partial: Json = {"id": entry} if isinstance(entry, str) else dict(entry)
        name = str(partial.get("real_name") or email.partition("@")[0])
        profile = {
            "real_name": name,
            "display_name": partial.get("name", email.partition("@")[0]),
            "real_name_normalized": name,
            "display_name_normalized": partial.get("name", email.partition("@")[0]),
            "email": email,
            "image_48": "https://secure.gravatar.com/avatar/0.jpg?s=48",
            "team": TEAM_ID,
            **partial.get("profile", {}),
        }
        return {
            "id": partial["id"],
            "team_id": TEAM_ID,
            "name": partial.get("name", email.partition("@")[0]),
            "deleted": False,
            "color": "9f69e7",
            "real_name": name,
            "tz": "Europe/London",
            "tz_label": "Greenwich Mean Time",
            "tz_offset": 0,
            "is_admin": False,
            "is_owner": False,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": False,
            "is_app_user": False,
            "updated": 1700000000,
            "is_email_confirmed": True,
            **{key: value for key, value in partial.items() if key != "profile"},
            "profile": profile,
        }

    def _lookup_by_email(self, params: Json) -> Json:
        email = str(params.get("email", "")).lower()
        for known, entry in self.users.items():
            if known.lower() == email:
                return {"ok": True, "user": self._user_object(known, entry)}
        return {"ok": False, "error": "users_not_found"}

    def _connections_open(self, params: Json) -> Json:
        if self.socket_url is None:
            return {"ok": False, "error": "not_allowed_token_type"}
        return {"ok": True, "url": self.socket_url}

    def _users_info(self, params: Json) -> Json:
        user_id = str(params.get("user", ""))
        for email, entry in self.users.items():
            user = self._user_object(email, entry)
            if user["id"] == user_id:
                return {"ok": True, "user": user}
        return {"ok": False, "error": "user_not_found"}

    def _view_object(self, view: Json, view_id: str | None = None) -> Json:
        shape = _corpus_json("payloads/view_submission__body.json")["view"]
        view_id = view_id or f"V{next(self._ids):07d}"
        stored: Json = {
            **shape,
            "id": view_id,
            "team_id": TEAM_ID,
            "type": view.get("type", "modal"),
            "blocks": view.get("blocks", []),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "state": {"values": {}},
            "hash": f"{self._next_ts()}.leadbot{next(self._ids)}",
            "title": view.get("title"),
            "close": view.get("close"),
            "submit": view.get("submit"),
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "previous_view_id": None,
            "root_view_id": view_id,
            "app_id": APP_ID,
            "external_id": view.get("external_id", ""),
            "app_installed_team_id": TEAM_ID,
            "bot_id": BOT_ID,
        }
        if stored["type"] == "home":
            for key in ("title", "close", "submit"):
                stored.pop(key, None)
        self.views[view_id] = stored
        return stored

    def _views_open(self, params: Json) -> Json:
        if not params.get("trigger_id"):
            return {"ok": False, "error": "invalid_arguments"}
        if not isinstance(params.get("view"), dict):
            return {"ok": False, "error": "invalid_arguments"}
        return {"ok": True, "view": self._view_object(params["view"])}

    def _views_update(self, params: Json) -> Json:
        view_id = params.get("view_id")
        if view_id is None and params.get("external_id"):
            view_id = next(
                (k for k, v in self.views.items() if v["external_id"] == params["external_id"]),
                None,
            )
        if view_id not in self.views or not isinstance(params.get("view"), dict):
            return {"ok": False, "error": "not_found"}
        return {"ok": True, "view": self._view_object(params["view"], str(view_id))}

    def _views_publish(self, params: Json) -> Json:
        if not params.get("user_id") or not isinstance(params.get("view"), dict):
            return {"ok": False, "error": "invalid_arguments"}
        return {"ok": True, "view": self._view_object(params["view"])}


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("1", "true")


def _corpus_json(relative: str) -> Json:
    path = CORPORA / "slack" / relative
    return json.loads(path.read_text(encoding="utf-8"))


def _decode_form_value(value: str) -> Any:
    """slack_sdk sends lists and dicts in a form as JSON strings (blocks, view)."""
    if value[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _handler_for(state: SlackApiStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "SlackStandIn/1.0"

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            if parts.path.startswith("/response/"):
                method = "response_url"  # what a listener said through the request's response_url
            elif parts.path.startswith("/api/"):
                method = parts.path.removeprefix("/api/")
            else:
                self._send(404, {}, {"ok": False, "error": "unknown_method"})
                return
            params: Json = dict(parse_qsl(parts.query, keep_blank_values=True))
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            content_type = self.headers.get("Content-Type", "")
            if raw and content_type.startswith("application/json"):
                params.update(json.loads(raw.decode("utf-8")))
            elif raw and content_type.startswith("application/x-www-form-urlencoded"):
                form = parse_qsl(raw.decode("utf-8"), keep_blank_values=True)
                params.update({key: _decode_form_value(value) for key, value in form})
            call = SlackCall(method, params, dict(self.headers.items()), self.command, parts.path)
            status, headers, body = state.handle(method, call)
            if state.latency.get(method):
                time.sleep(state.latency[method])
            if body is None:  # a dropped connection
                self.close_connection = True
                return
            self._send(status, headers, body)

        def _send(self, status: int, headers: dict[str, str], body: Json) -> None:
            data = json.dumps(body).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the calls are recorded; no noise on stderr

    return Handler


@contextmanager
def slack_api_server(socket_url: str | None = None) -> Iterator[SlackApiStandIn]:
    """Serve the stand-in on a free loopback port for the duration of the block; `socket_url`
    (a `socket_mode_server()`'s `.url`) is what apps.connections.open hands out."""
    port = free_port()
    state = SlackApiStandIn(f"http://127.0.0.1:{port}/api/")
    state.socket_url = socket_url
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(state))
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="slack-api-stand-in", daemon=True
    )
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
