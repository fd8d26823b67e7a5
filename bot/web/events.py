"""POST /api/events: behaviour events (page visits, form posts, …) reported by a website.

A JSON body `{"lead": "L-12" | "jane@acme.test", "kind": "page.visit", "detail": "/pricing"}`,
authorised with `Authorization: Bearer <LEADBOT_SECRET_KEY>` (the `Bearer ` scheme is required).
The event lands on the lead's timeline; the scorer picks it up within a tick. The body is
limited (bot/web/limits.py: size, nesting), its text cleaned of what the store refuses, and an
`at` in the future is taken as now: a time that never comes would make a score that never
decays.
"""

from __future__ import annotations

import asyncio
import hmac
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.leads import actions
from bot.leads.refs import lead_label
from bot.scoring import qualification
from bot.web.limits import json_object
from storage.engine import Store
from storage.models import utcnow
from storage.text import storable


def events_routes(store: Store, token: str) -> list[Route]:
    def record(body: dict[str, Any]) -> str:
        at = body.get("at")
        moment = datetime.fromisoformat(str(at).replace("Z", "+00:00")) if at else None
        if moment is not None and moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        if moment is not None:
            moment = min(moment, utcnow())
        with store.transaction() as session:
            lead = actions.find_lead(session, storable(str(body.get("lead", ""))))
            qualification.record_event(
                session,
                lead,
                storable(str(body.get("kind", ""))),
                detail=storable(str(body.get("detail", ""))),
                at=moment,
            )
            return lead_label(lead.id)

    async def post_event(request: Request) -> JSONResponse:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if (
            not token
            or scheme.lower() != "bearer"
            or not hmac.compare_digest(given.strip().encode(), token.encode())
        ):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        try:
            body = json_object(await request.body())
            label = await asyncio.to_thread(record, body)
        except actions.LeadNotFound as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"lead": label, "recorded": body["kind"]}, status_code=202)

    return [Route("/api/events", post_event, methods=["POST"])]
