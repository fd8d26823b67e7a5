"""The OpenAPI 3.1 document of /api/v1, built from the same declarations the routes use (the
lead fields, the verbs, the scopes, the event kinds), so the two cannot drift apart quietly;
tests/web/api fuzz the running server against it with schemathesis."""

from __future__ import annotations

from functools import cache
from typing import Any

from bot.leads import fields, lifecycle
from bot.scoring.qualification import EXTERNAL_EVENTS
from bot.web.api.keys import SCOPES

# The verbs that change a lead, as the Slack grammar has them (reads have routes of their own).
ACTION_VERBS = (
    "work",
    "qualify",
    "nurture",
    "trash",
    "reopen",
    "convert",
    "unconvert",
    "assign",
    "note",
    "merge",
    "notdup",
    "unmerge",
)

STR = {"type": "string"}
NSTR = {"type": ["string", "null"]}
INT = {"type": "integer"}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(properties: dict[str, Any], required: tuple[str, ...] = (), **more: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required), **more}


def json_body(schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    return {"description": description or "OK", "content": {"application/json": {"schema": schema}}}


ERRORS = {"default": json_body(ref("Error"), "An error: a stable `code` and a message")}


def op(
    summary: str,
    scope: str,
    responses: dict[str, Any],
    *,
    body: dict[str, Any] | None = None,
    parameters: list[dict[str, Any]] | None = None,
    idempotent: bool = False,
    example: str = "",
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "description": f"Scope: `{scope}`." + (f"\n\n```sh\n{example}\n```" if example else ""),
        "security": [{"bearer": [scope]}],
        "responses": {**responses, **ERRORS},
    }
    params = list(parameters or [])
    if idempotent:
        params.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "The same key and body within 24 hours answer the first answer "
                "again and change nothing.",
                "schema": {"type": "string", "minLength": 1, "maxLength": 255},
            }
        )
    if params:
        operation["parameters"] = params
    if body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": body}},
        }
    return operation


def query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or STR,
    }


def path(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": STR}


def schemas() -> dict[str, Any]:
    person = {f.name: STR for f in fields.PERSON_FIELDS}
    lead = obj(
        {
            "id": STR,
            "email": STR,
            **person,
            "source": STR,
            "status": {"type": "string", "enum": [s.value for s in lifecycle.Status]},
            "stage": STR,
            "score": {"type": "number"},
            "grade": NSTR,
            "email_status": STR,
            "trash_reason": NSTR,
            "owner": NSTR,
            "custom": {"type": "object"},
            "enquiry": STR,
            "version": INT,
            "merged_into": NSTR,
            "account": NSTR,
            "company_domain": STR,
            "created_at": STR,
            "updated_at": STR,
        },
        ("id", "email", "status", "stage", "version", "created_at", "updated_at"),
    )
    entry = obj(
        {
            "at": STR,
            "actor": STR,
            "kind": STR,
            "summary": STR,
            "data": {"type": "object"},
            "inbound_message": {"type": ["integer", "null"]},
        },
        ("at", "actor", "kind", "summary"),
    )
    limited = {f.name: {"type": "string", "maxLength": f.max_chars} for f in fields.PERSON_FIELDS}
    return {
        "Error": obj({"code": STR, "message": STR}, ("code", "message"), additionalProperties=True),
        "Lead": lead,
        "TimelineEntry": entry,
        "LeadWithTimeline": {
            "allOf": [
                ref("Lead"),
                obj({"timeline": {"type": "array", "items": ref("TimelineEntry")}}, ("timeline",)),
            ]
        },
        "LeadPage": obj(
            {"data": {"type": "array", "items": ref("Lead")}, "next_cursor": NSTR},
            ("data", "next_cursor"),
        ),
        # No lengths here: what is too long is the intake checks' call ([intake.max_chars] of
        # the rules file), and a capture they hold is kept in the quarantine (202), not refused.
        "LeadCreate": obj(
            {"email": STR, **person, "enquiry": STR, "subject": STR, "custom": {"type": "object"}},
            ("email",),
            additionalProperties=False,
        ),
        "LeadCaptured": obj(
            {
                "lead": ref("Lead"),
                "created": {"type": "boolean"},
                "merged": {"type": "boolean"},
                "duplicate": NSTR,
            },
            ("lead", "created", "merged"),
        ),
        "LeadHeld": obj({"held": STR, "reasons": STR, "message": STR}, ("held", "reasons")),
        "LeadUpdate": obj(
            {**limited, "custom": {"type": "object"}, "version": INT}, additionalProperties=False
        ),
        "LeadUpdated": obj(
            {"lead": ref("Lead"), "changed": {"type": "array", "items": STR}}, ("lead", "changed")
        ),
        "Action": obj(
            {
                "verb": {"type": "string", "enum": list(ACTION_VERBS)},
                "args": {"type": "array", "items": STR},
                "version": INT,
            },
            ("verb",),
            additionalProperties=False,
        ),
        "ActionResult": obj(
            {"message": STR, "lead": {"anyOf": [ref("Lead"), {"type": "null"}]}},
            ("message", "lead"),
        ),
        "Rep": obj(
            {
                "id": STR,
                "name": STR,
                "email": STR,
                "role": STR,
                "slack_user_id": NSTR,
                "active": {"type": "boolean"},
                "capacity": INT,
                "paused": {"type": "boolean"},
                "timezone": STR,
            },
            ("id", "name", "email", "role"),
        ),
        "RepList": obj({"data": {"type": "array", "items": ref("Rep")}}, ("data",)),
        "Campaign": obj(
            {
                "name": STR,
                "state": STR,
                "segment": {"type": "object"},
                "steps": {"type": "array", "items": obj({"template": STR, "delay_seconds": INT})},
                "created_at": STR,
            },
            ("name", "state", "steps"),
        ),
        "CampaignList": obj({"data": {"type": "array", "items": ref("Campaign")}}, ("data",)),
        "CampaignStats": obj(
            {
                "campaign": STR,
                "state": STR,
                "planned": INT,
                "sent": INT,
                "delivered": INT,
                "bounced": INT,
                "opened_human": INT,
                "opened_machine": INT,
                "clicked": INT,
                "replied": INT,
                "opted_out": INT,
            },
            ("campaign", "sent"),
        ),
        "Event": obj(
            {
                "lead": {"type": "string", "description": "L-12 or an email address"},
                "kind": {"type": "string", "enum": list(EXTERNAL_EVENTS)},
                "detail": {"type": "string", "maxLength": 2000},
                "at": {"type": "string", "format": "date-time"},
            },
            ("lead", "kind"),
            additionalProperties=False,
        ),
        "EventRecorded": obj({"lead": STR, "recorded": STR}, ("lead", "recorded")),
        # The importer's report (`leadbot import FILE --json`) and journal (`import show`).
        "ImportReport": obj(
            {
                "id": NSTR,
                "dry_run": {"type": "boolean"},
                "file": STR,
                "format": STR,
                "encoding": STR,
                "delimiter": STR,
                "columns": {"type": "array"},
                "counts": {"type": "object", "additionalProperties": INT},
                "state": STR,
                "updates": {"type": "array"},
                "bad": {"type": "array"},
                "held": {"type": "array"},
            },
            ("dry_run", "file", "counts", "state"),
        ),
        "ImportStarted": obj(
            {"id": STR, "state": STR, "status": STR, "message": STR}, ("id", "state", "status")
        ),
        "ImportJournal": obj(
            {
                "id": STR,
                "file": STR,
                "state": STR,
                "actor": STR,
                "created_at": STR,
                "finished_at": NSTR,
                "rows_done": INT,
                "counts": {"type": "object", "additionalProperties": INT},
                "options": {"type": "object"},
                "rows": {"type": "array", "items": {"type": "object"}},
            },
            ("id", "file", "state", "counts", "rows"),
        ),
    }


def import_operations(auth: str, base: str) -> dict[str, Any]:
    """POST /imports (a file, not JSON) and GET /imports/{import_id}."""
    boolean = {"type": "string", "enum": ["true", "false"]}
    upload = op(
        "Import a CSV, TSV or XLSX file through the one capture path: a dry run unless "
        "apply=true (then 202 once the import is in its journal; poll GET /imports/{id})",
        "imports:write",
        {"200": json_body(ref("ImportReport"), "The dry run: what importing would do"),
         "202": json_body(ref("ImportStarted"), "Importing, in the journal as `id`")},
        parameters=[
            query("apply", "true imports for real (default false: a dry run)", boolean),
            query("source", "The leads' source (default csv)"),
            query("tag", "Tags for every row, comma-separated"),
            query("queue", "true puts new unowned leads in the assignment queue", boolean),
            query("ignore_unknown", "true leaves out columns with no known field", boolean),
            query("map", "'Column=field,…' (field, custom.NAME or ignore)"),
            query("ignore", "'Column,…' to leave out; '*' = every unknown column"),
            query("overwrite", "'field,…' the file overwrites when set"),
            query("keep", "'field,…' the file never changes on a stored lead"),
            query("filename", "The file's name when it is the raw body (its suffix says "
                  "csv, tsv or xlsx)"),
        ],
        example=f"curl {auth} -F file=@brokers.csv '{base}/imports?apply=true&source=broker-x'",
    )  # fmt: skip
    upload["requestBody"] = {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": obj({"file": {"type": "string", "format": "binary"}}, ("file",))
            },
            "text/csv": {"schema": STR},
        },
    }
    show = op(
        "An import's journal: state, counts and reported rows (as `leadbot import show`)",
        "imports:read",
        {"200": json_body(ref("ImportJournal"))},
        parameters=[path("import_id", "I-3 or 3")],
        example=f"curl {auth} {base}/imports/I-3",
    )
    return {"/imports": {"post": upload}, "/imports/{import_id}": {"get": show}}


@cache
def openapi_document() -> dict[str, Any]:
    auth = '-H "Authorization: Bearer $LEADBOT_API_KEY"'
    base = "http://127.0.0.1:8000/api/v1"
    lead_ref = path("lead", "L-12, 12 or the lead's email address")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "leadbot API",
            "version": "1",
            "description": "Leads, their timelines and actions, reps, campaigns and events. "
            "Every request carries `Authorization: Bearer <key>` (`leadbot apikey create`); "
            "a key acts only within its scopes. Every error is JSON with a stable `code`. "
            "Rate limits per key are announced in `RateLimit-*` headers; over them, `429` "
            "with `Retry-After`.",
        },
        "servers": [{"url": "/api/v1"}],
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": ", ".join(f"`{s}`: {what}" for s, what in SCOPES.items()),
                },
            },
            "schemas": schemas(),
        },
        "paths": {
            "/leads": {
                "get": op(
                    "List leads, oldest first, a page at a time",
                    "leads:read",
                    {"200": json_body(ref("LeadPage"), "A page; next_cursor is null on the last")},
                    parameters=[
                        query(
                            "status",
                            "The workflow state",
                            {"type": "string", "enum": [s.value for s in lifecycle.Status]},
                        ),
                        query(
                            "stage",
                            "The funnel stage",
                            {"type": "string", "enum": [s.value for s in lifecycle.Stage]},
                        ),
                        query("owner", "The owner (R-3, email or name), or `none`"),
                        query("source", "email, form, api, csv, …"),
                        query(
                            "updated_since",
                            "ISO 8601 time",
                            {"type": "string", "format": "date-time"},
                        ),
                        query("q", "Text in the email, name or company"),
                        query(
                            "limit",
                            "Leads a page (50)",
                            {"type": "integer", "minimum": 1, "maximum": 200},
                        ),
                        query("cursor", "next_cursor of the page before"),
                    ],
                    example=f"curl {auth} '{base}/leads?status=new&limit=100'",
                ),
                "post": op(
                    "Create a lead through the one capture path (de-duplicated, scored, queued)",
                    "leads:write",
                    {
                        "201": json_body(ref("LeadCaptured"), "A new lead"),
                        "200": json_body(ref("LeadCaptured"), "An existing lead (same person)"),
                        "202": json_body(ref("LeadHeld"), "Held in the intake quarantine"),
                    },
                    body=ref("LeadCreate"),
                    idempotent=True,
                    example=f"curl {auth} -H 'Idempotency-Key: 5f1c…' -H 'Content-Type: "
                    f'application/json\' -d \'{{"email":"jane@acme.io","company":"Acme"}}\' '
                    f"{base}/leads",
                ),
            },
            "/leads/{lead}": {
                "get": op(
                    "One lead with its timeline",
                    "leads:read",
                    {"200": json_body(ref("LeadWithTimeline"))},
                    parameters=[lead_ref],
                    example=f"curl {auth} {base}/leads/L-12",
                ),
                "patch": op(
                    "Change person fields (and custom fields)",
                    "leads:write",
                    {"200": json_body(ref("LeadUpdated"))},
                    parameters=[lead_ref],
                    body=ref("LeadUpdate"),
                    example=f"curl -X PATCH {auth} -H 'Content-Type: application/json' "
                    f'-d \'{{"title":"CTO"}}\' {base}/leads/L-12',
                ),
            },
            "/leads/{lead}/actions": {
                "post": op(
                    "Act on a lead with the Slack grammar; an illegal move is a 409 "
                    "that says what is allowed",
                    "leads:write",
                    {"200": json_body(ref("ActionResult"))},
                    parameters=[lead_ref],
                    body=ref("Action"),
                    idempotent=True,
                    example=f"curl {auth} -H 'Content-Type: application/json' "
                    f'-d \'{{"verb":"qualify"}}\' {base}/leads/L-12/actions',
                ),
            },
            "/reps": {
                "get": op(
                    "List reps",
                    "reps:read",
                    {"200": json_body(ref("RepList"))},
                    example=f"curl {auth} {base}/reps",
                ),
            },
            "/campaigns": {
                "get": op(
                    "List campaigns",
                    "campaigns:read",
                    {"200": json_body(ref("CampaignList"))},
                    example=f"curl {auth} {base}/campaigns",
                ),
            },
            "/campaigns/{name}/stats": {
                "get": op(
                    "A campaign's stats",
                    "campaigns:read",
                    {"200": json_body(ref("CampaignStats"))},
                    parameters=[path("name", "The campaign's name")],
                    example=f"curl {auth} {base}/campaigns/spring-webinar/stats",
                ),
            },
            "/events": {
                "post": op(
                    "Record a behaviour event on a lead's timeline (scored within a tick)",
                    "events:write",
                    {"202": json_body(ref("EventRecorded"))},
                    body=ref("Event"),
                    idempotent=True,
                    example=f"curl {auth} -H 'Content-Type: application/json' -d "
                    f'\'{{"lead":"L-12","kind":"page.visit","detail":'
                    f'"/pricing"}}\' {base}/events',
                ),
            },
            **import_operations(auth, base),
        },
    }
