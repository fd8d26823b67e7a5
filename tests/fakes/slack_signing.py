"""Requests as Slack sends them to /slack/events: the real payload shapes from the shared corpora
with our fields put in, encoded as Slack encodes them, and signed as Slack signs them.

- slash commands: a form body (`slash_command_body`);
- interactivity (block_actions, view_submission): a form body with one `payload=<json>` field
  (`interactivity_body` of `block_actions_payload` / `view_submission_payload`);
- events (app_home_opened): a JSON body (`event_body`);
- every request is unique, as Slack's are (a fresh `trigger_id`, and `action_ts` for a click):
  leadbot honours a signature once, so two clicks must not be the same bytes;
- `sign(body, secret)` gives the `X-Slack-Request-Timestamp` and `X-Slack-Signature` headers
  (`v0=` HMAC-SHA256 of `v0:{timestamp}:{body}`), `signed_headers` adds the Content-Type.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
import json
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

from tests.corpora import CORPORA

PAYLOADS = CORPORA / "slack" / "payloads"
FORM = "application/x-www-form-urlencoded"
JSON_TYPE = "application/json"

TEAM_ID = "T111"
USER_ID = "U0REP0001"
CHANNEL_ID = "C0LEADS01"
TRIGGER_ID = "1700000000.111.abc"

Json = dict[str, Any]

_requests = itertools.count(1)


def fresh_trigger_id() -> str:
    """A trigger id no other request of this run has (Slack gives each request its own)."""
    return f"{TRIGGER_ID}.{next(_requests)}"


def sign(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """The two headers Slack adds to every request it sends an app."""
    ts = int(time.time()) if timestamp is None else timestamp
    base = b"v0:" + str(ts).encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": f"v0={digest}"}


def signed_headers(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """Signature headers plus the Content-Type Slack sends with this body."""
    content_type = JSON_TYPE if body.lstrip()[:1] == b"{" else FORM
    return {"Content-Type": content_type, **sign(body, secret, timestamp)}


def load_payload(name: str) -> Json:
    """A JSON payload from the corpora, e.g. `block_actions__body.json` (a fresh copy)."""
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


# ---- slash commands ----------------------------------------------------------------------


def slash_command_fields(
    text: str,
    *,
    command: str = "/lead",
    user_id: str = USER_ID,
    user_name: str = "ann",
    channel_id: str = CHANNEL_ID,
    trigger_id: str | None = None,
    response_url: str | None = None,
) -> dict[str, str]:
    """The fields of the corpora's slash command with ours in their place."""
    raw = (PAYLOADS / "slash_command__slash_command_body.form").read_text(encoding="utf-8")
    fields = dict(parse_qsl(raw.strip(), keep_blank_values=True))
    fields.update(
        command=command,
        text=text,
        user_id=user_id,
        user_name=user_name,
        channel_id=channel_id,
        trigger_id=trigger_id or fresh_trigger_id(),
    )
    if response_url is not None:
        fields["response_url"] = response_url
    return fields


def slash_command_body(text: str, **fields: Any) -> bytes:
    """The form body Slack POSTs for `/lead <text>` (keyword args as `slash_command_fields`)."""
    return urlencode(slash_command_fields(text, **fields)).encode()


# ---- interactivity -----------------------------------------------------------------------


def interactivity_body(payload: Mapping[str, Any]) -> bytes:
    """Interactivity is a form with one field, `payload`, holding the JSON."""
    return urlencode({"payload": json.dumps(payload, separators=(",", ":"))}).encode()


def block_actions_payload(
    action_id: str,
    value: str,
    *,
    user_id: str = USER_ID,
    block_id: str = "lead_actions",
    text: str = "Button",
    channel_id: str = CHANNEL_ID,
    message_ts: str | None = "1700000000.000100",
    is_ephemeral: bool = False,
    view: Mapping[str, Any] | None = None,
    response_url: str | None = None,
) -> Json:
    """A button click, from the corpora's block_actions body. With `view`, the click came from
    that view (App Home, a modal) rather than from a message."""
    payload = load_payload("block_actions__body.json")
    payload["user"] = {**payload["user"], "id": user_id}
    payload["trigger_id"] = fresh_trigger_id()
    action = payload["actions"][0]
    action.update(action_id=action_id, block_id=block_id, value=value)
    action["action_ts"] = f"{time.time():.6f}"
    action["text"] = {**action["text"], "text": text}
    if view is not None:
        payload["container"] = {"type": "view", "view_id": view.get("id", "V0000001")}
        payload["view"] = dict(view)
        payload.pop("channel", None)
        payload.pop("response_url", None)
    else:
        payload["container"] = {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": is_ephemeral,
        }
        payload["channel"] = {"id": channel_id, "name": "leads"}
    if response_url is not None:
        payload["response_url"] = response_url
    return payload


def state_value(element: Mapping[str, Any], answer: Any) -> Json:
    """What Slack reports in `view.state.values` for one input element given an answer."""
    kind = element["type"]
    if kind == "static_select":
        chosen = next(
            (option for option in element.get("options", []) if option["value"] == answer), None
        )
        if answer is not None and chosen is None:
            raise ValueError(f"{answer!r} is not an option of {element['action_id']}")
        return {"type": kind, "selected_option": copy.deepcopy(chosen)}
    if kind == "datepicker":
        return {"type": kind, "selected_date": answer}
    if kind == "number_input":
        return {"type": kind, "value": None if answer is None else str(answer)}
    if kind == "plain_text_input":
        return {"type": kind, "value": answer}
    raise ValueError(f"no state shape for {kind}")


def view_state(view: Mapping[str, Any], answers: Mapping[str, Any]) -> Json:
    """`view.state.values` as Slack builds it: every input block, answered or not. An answer
    missing from `answers` keeps the element's initial value, as when the person left it."""
    values: Json = {}
    for block in view.get("blocks", []):
        if block.get("type") != "input":
            continue
        element = block["element"]
        if block["block_id"] in answers:
            answer = answers[block["block_id"]]
        else:
            initial = element.get("initial_option") or {}
            answer = (
                initial.get("value") or element.get("initial_value") or element.get("initial_date")
            )
        values[block["block_id"]] = {element["action_id"]: state_value(element, answer)}
    return {"values": values}


def view_submission_payload(
    view: Mapping[str, Any], answers: Mapping[str, Any], *, user_id: str = USER_ID
) -> Json:
    """A modal submitted: the corpora's view_submission body carrying our view and answers."""
    payload = load_payload("view_submission__body.json")
    payload["user"] = {**payload["user"], "id": user_id}
    payload["trigger_id"] = fresh_trigger_id()
    submitted = payload["view"]
    for key in ("type", "callback_id", "private_metadata", "blocks", "title", "submit", "close"):
        if key in view:
            submitted[key] = copy.deepcopy(view[key])
    submitted["state"] = view_state(view, answers)
    return payload


# ---- events ------------------------------------------------------------------------------


def app_home_opened_event(user_id: str = USER_ID, tab: str = "home") -> Json:
    return {
        "type": "app_home_opened",
        "user": user_id,
        "channel": "D0000001",
        "tab": tab,
        "event_ts": "1700000000.000200",
    }


def event_body(event: Mapping[str, Any]) -> bytes:
    """The JSON body of an Events API callback around `event` (the corpora's envelope)."""
    envelope = load_payload("events_request_verification__event_body.json")
    envelope["event"] = dict(event)
    envelope["team_id"] = TEAM_ID
    envelope["event_id"] = f"Ev{next(_requests):08d}"  # each callback has its own, as Slack's
    return json.dumps(envelope).encode()
