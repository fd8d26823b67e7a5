"""The /api/v1 routes: leads (list, one with its timeline, create through capture, update,
actions in the Slack grammar), reps, campaigns and their stats, events; the OpenAPI document
and its docs page. Each handler parses, calls the domain and answers (bot/web/api/http.py does
keys, limits, errors and idempotency)."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

import storage.campaigns
import storage.lead_pages
import storage.reps
import storage.timeline
from bot.leads import actions, capture, commands, edit, fields, lifecycle
from bot.leads.permissions import Actor
from bot.leads.refs import lead_label, parse_lead_ref
from bot.leads.views import lead_dict, rep_dict, timeline_dict
from bot.nurture import campaigns
from bot.rules.file import Rules
from bot.scoring import qualification
from bot.templates import render
from bot.web.api.http import Api, ApiError, Call, Operation
from bot.web.api.imports import IMPORT_QUERY, Imports
from bot.web.api.openapi import ACTION_VERBS, openapi_document
from storage.models import Lead, Rep

PREFIX = "/api/v1"
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
DEFAULT_PAGE, MAX_PAGE = 50, 200
CREATE_FIELDS = ("email", *fields.NAMES, "enquiry", "subject", "custom")
LIST_QUERY = ("status", "stage", "owner", "source", "updated_since", "q", "limit", "cursor")


def api_routes(
    store: Any,
    rules: Any,
    *,
    rate_per_minute: int,
    max_body_bytes: int,
    max_import_bytes: int = 10 * 1024 * 1024,
) -> list[BaseRoute]:
    """`rules` returns the rules in force (RulesFile.get): capture and actions use them."""
    api = Api(store, rate_per_minute=rate_per_minute, max_body_bytes=max_body_bytes,
              max_upload_bytes=max_import_bytes)  # fmt: skip
    handlers = Handlers(rules)
    imports = Imports(rules)
    table: dict[str, dict[str, Operation]] = {
        "/leads": {
            "GET": Operation("leads:read", handlers.list_leads, LIST_QUERY),
            "POST": Operation("leads:write", handlers.create_lead),
        },
        "/leads/{lead}": {
            "GET": Operation("leads:read", handlers.show_lead),
            "PATCH": Operation("leads:write", handlers.update_lead),
        },
        "/leads/{lead}/actions": {"POST": Operation("leads:write", handlers.act)},
        "/reps": {"GET": Operation("reps:read", handlers.list_reps)},
        "/campaigns": {"GET": Operation("campaigns:read", handlers.list_campaigns)},
        "/campaigns/{name}/stats": {"GET": Operation("campaigns:read", handlers.campaign_stats)},
        "/events": {"POST": Operation("events:write", handlers.record_event)},
        # CSV/XLSX uploads through issue 16's importer (bot/web/api/imports.py)
        "/imports": {"POST": Operation("imports:write", imports.create, IMPORT_QUERY, upload=True)},
        "/imports/{import_id}": {"GET": Operation("imports:read", imports.show)},
    }
    routes: list[BaseRoute] = [
        Route(f"{PREFIX}/openapi.json", openapi_json, methods=["GET"]),
        Route(f"{PREFIX}/docs", docs_page, methods=["GET"]),
    ]
    routes += [
        Route(PREFIX + path, api.endpoint(operations), methods=ALL_METHODS)
        for path, operations in table.items()
    ]
    routes.append(Route(PREFIX + "/{rest:path}", not_found, methods=ALL_METHODS))
    return routes


async def openapi_json(request: Request) -> Response:
    return JSONResponse(openapi_document())


async def docs_page(request: Request) -> Response:
    document = openapi_document()
    operations = [
        {"method": method.upper(), "path": path, **operation}
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]
    html = render("pages/api_docs.html.j2", document=document, operations=operations,
                  pretty=lambda value: json.dumps(value, indent=2))  # fmt: skip
    return HTMLResponse(html)


async def not_found(request: Request) -> Response:
    return ApiError(404, "not_found", f"no route {request.url.path}; see {PREFIX}/docs").response()


def encode_cursor(lead_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": lead_id}).encode()).decode().rstrip("=")


def decode_cursor(text: str) -> int:
    try:
        data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        after = data["after"] if isinstance(data, dict) else None
    except (ValueError, binascii.Error, KeyError, UnicodeDecodeError):
        after = None
    if not isinstance(after, int) or isinstance(after, bool) or after < 0:
        raise ApiError(400, "bad_cursor", "not a cursor this API gave out (next_cursor)")
    return after


def parse_time(name: str, text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, "bad_parameter",
                       f"{name} is an ISO 8601 time (2026-11-23T15:00:00Z)") from None  # fmt: skip
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def text_of(body: dict[str, Any], name: str, *, required: bool = False) -> str:
    """A text field: "" when it is left out; a null is refused like any other non-text value
    (the schema says string, and a null that meant "empty" would hide a caller's bug)."""
    if name not in body:
        if required:
            raise ApiError(422, "missing_field", f"{name} is required", field=name)
        return ""
    value = body[name]
    if not isinstance(value, str):
        raise ApiError(422, "invalid", f"{name} is text", field=name)
    return value


def refuse_unknown(body: dict[str, Any], known: tuple[str, ...]) -> None:
    unknown = sorted(set(body) - set(known))
    if unknown:
        raise ApiError(400, "unknown_field", f"unknown fields: {', '.join(unknown)}",
                       known=list(known))  # fmt: skip


def find_lead(session: Session, ref: str, *, for_update: bool = False) -> Lead:
    try:
        return actions.find_lead(session, ref, for_update=for_update)
    except ValueError:
        raise ApiError(404, "not_found", f"no lead {ref}: use L-12 or an address") from None


class Handlers:
    def __init__(self, rules: Any) -> None:
        self.rules = rules

    def _rules(self) -> Rules:
        return self.rules()

    def _owners(self, session: Session) -> dict[int, Rep]:
        return {rep.id: rep for rep in storage.reps.listing(session) if rep.id is not None}

    def _lead(self, session: Session, lead: Lead) -> dict[str, Any]:
        owner = storage.reps.by_id(session, lead.owner_id) if lead.owner_id else None
        return lead_dict(lead, owner)

    # --- leads ---------------------------------------------------------------------------------

    def list_leads(self, session: Session, call: Call) -> tuple[int, Any]:
        q = call.query
        limit = DEFAULT_PAGE
        if "limit" in q:
            if not q["limit"].isdigit() or not 1 <= int(q["limit"]) <= MAX_PAGE:
                raise ApiError(400, "bad_parameter", f"limit is 1 to {MAX_PAGE}")
            limit = int(q["limit"])
        after = decode_cursor(q["cursor"]) if q.get("cursor") else 0
        for name, kind in (("status", lifecycle.Status), ("stage", lifecycle.Stage)):
            if name in q and q[name] not in {member.value for member in kind}:
                known = ", ".join(member.value for member in kind)
                raise ApiError(400, "bad_parameter", f"{name} is one of {known}")
        owner_id, unowned = None, False
        if q.get("owner"):
            if q["owner"].lower() == "none":
                unowned = True
            else:
                try:
                    owner = actions.find_rep(session, q["owner"])
                except actions.RepNotFound:
                    raise ApiError(400, "bad_parameter", f"no rep {q['owner']}") from None
                owner_id = owner.id
        where = storage.lead_pages.LeadFilter(
            status=q.get("status"),
            stage=q.get("stage"),
            owner_id=owner_id,
            unowned=unowned,
            source=q.get("source") or None,
            updated_since=parse_time("updated_since", q["updated_since"])
            if q.get("updated_since")
            else None,
            text=q.get("q") or None,
        )
        rows = storage.lead_pages.page(session, where, after, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        owners = self._owners(session)
        data = [lead_dict(lead, owners.get(lead.owner_id or 0)) for lead in rows]
        next_cursor = encode_cursor(rows[-1].id) if more and rows[-1].id is not None else None
        return 200, {"data": data, "next_cursor": next_cursor}

    def show_lead(self, session: Session, call: Call) -> tuple[int, Any]:
        lead = find_lead(session, call.params["lead"])
        assert lead.id is not None
        data = self._lead(session, lead)
        data["timeline"] = [timeline_dict(e) for e in storage.timeline.for_lead(session, lead.id)]
        return 200, data

    def create_lead(self, session: Session, call: Call) -> tuple[int, Any]:
        body = call.body
        refuse_unknown(body, CREATE_FIELDS)
        email = text_of(body, "email", required=True)
        values = {name: text_of(body, name) for name in fields.NAMES if name in body}
        custom = body.get("custom")
        if "custom" in body and not isinstance(custom, dict):
            raise ApiError(422, "invalid", "custom is a JSON object", field="custom")
        subject = text_of(body, "subject") or "created through the API"
        draft = capture.Draft(
            email, {k: v for k, v in values.items() if v}, text_of(body, "enquiry")
        )
        source = capture.Source("api", call.caller.actor, f"the API (key {call.caller.name})")
        evidence = capture.Evidence("api.create", subject, {"key": call.caller.name})
        result = capture.capture(session, draft, source, evidence, rules=self._rules())
        if result.held:
            assert result.hold is not None
            from bot.leads.intake import hold_label, reasons_text

            return 202, {
                "held": hold_label(result.hold.id),
                "reasons": reasons_text(result.hold.reasons),
                "message": "held in the intake quarantine for a person to approve or reject",
            }
        lead = result.lead
        assert lead is not None
        if custom:
            edit.update_fields(session, lead, {"custom": custom}, call.caller.actor)
        return (201 if result.created else 200), {
            "lead": self._lead(session, lead),
            "created": result.created,
            "merged": result.merged,
            "duplicate": result.duplicate or None,
        }

    def update_lead(self, session: Session, call: Call) -> tuple[int, Any]:
        body = dict(call.body)
        version = body.pop("version", None)
        if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
            raise ApiError(422, "invalid", "version is the lead's version number", field="version")
        refuse_unknown(body, (*fields.NAMES, "custom"))
        lead = find_lead(session, call.params["lead"], for_update=True)
        changed = edit.update_fields(
            session, lead, body, call.caller.actor, expected_version=version
        )
        return 200, {"lead": self._lead(session, lead), "changed": changed}

    def act(self, session: Session, call: Call) -> tuple[int, Any]:
        body = call.body
        refuse_unknown(body, ("verb", "args", "version"))
        verb = text_of(body, "verb", required=True).strip().lower()
        if verb not in ACTION_VERBS:
            raise ApiError(422, "unknown_verb", f"unknown verb {verb!r}; verbs: "
                           f"{', '.join(ACTION_VERBS)}", allowed=list(ACTION_VERBS))  # fmt: skip
        args = body.get("args", [])
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise ApiError(422, "invalid", "args is a list of strings", field="args")
        version = body.get("version")
        if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
            raise ApiError(422, "invalid", "version is the lead's version number", field="version")
        lead = find_lead(session, call.params["lead"], for_update=True)
        parsed = commands.parse([verb, lead_label(lead.id), *args])
        command = commands.Command(parsed.verb, parsed.lead_ref, parsed.args, version)
        actor = Actor(call.caller.actor, None, True)
        try:
            outcome = commands.execute(session, command, actor, rules=self._rules())
        except lifecycle.IllegalTransition as exc:
            allowed = lifecycle.allowed_verbs(lead.status)
            raise ApiError(409, "illegal_transition", str(exc), lead_status=lead.status,
                           allowed=allowed) from None  # fmt: skip
        result = self._lead(session, outcome.lead) if outcome.lead is not None else None
        return 200, {"message": outcome.message, "lead": result}

    # --- the rest --------------------------------------------------------------------------------

    def list_reps(self, session: Session, call: Call) -> tuple[int, Any]:
        return 200, {"data": [rep_dict(rep) for rep in storage.reps.listing(session)]}

    def list_campaigns(self, session: Session, call: Call) -> tuple[int, Any]:
        data = []
        for campaign in storage.campaigns.listing(session):
            assert campaign.id is not None
            steps = storage.campaigns.steps_of(session, campaign.id)
            data.append({
                "name": campaign.name,
                "state": campaign.state,
                "segment": campaign.segment,
                "steps": [{"template": s.template, "delay_seconds": s.delay_seconds}
                          for s in steps],
                "created_at": campaign.created_at.isoformat(),
            })  # fmt: skip
        return 200, {"data": data}

    def campaign_stats(self, session: Session, call: Call) -> tuple[int, Any]:
        campaign = storage.campaigns.by_name(session, call.params["name"])
        if campaign is None:
            raise ApiError(404, "not_found", f"no campaign {call.params['name']!r}")
        return 200, campaigns.stats(session, campaign)

    def record_event(self, session: Session, call: Call) -> tuple[int, Any]:
        body = call.body
        refuse_unknown(body, ("lead", "kind", "detail", "at"))
        ref = text_of(body, "lead", required=True)
        kind = text_of(body, "kind", required=True)
        if kind not in qualification.EXTERNAL_EVENTS:
            kinds = ", ".join(qualification.EXTERNAL_EVENTS)
            raise ApiError(422, "invalid", f"kind is one of {kinds}", field="kind")
        at = parse_time("at", text_of(body, "at")) if "at" in body else None
        try:
            parse_lead_ref(ref)
        except ValueError:
            raise ApiError(422, "invalid", f"{ref!r} is not a lead: use L-12 or an address",
                           field="lead") from None  # fmt: skip
        lead = find_lead(session, ref)
        detail = text_of(body, "detail")
        if len(detail) > 2000:
            raise ApiError(422, "invalid", "detail holds 2000 characters at most", field="detail")
        qualification.record_event(session, lead, kind, detail=detail, at=at,
                                   actor=call.caller.actor)  # fmt: skip
        return 202, {"lead": lead_label(lead.id), "recorded": kind}
