"""The "Open in full" page of a lead: GET /leads/{id}?t=<signed token>, read-only."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

import storage.leads
import storage.reps
import storage.timeline
from bot.leads.views import lead_dict, timeline_dict
from bot.public_links import PublicLinks
from bot.templates import render
from storage.engine import Store

FIELDS = (
    ("Email", "email"), ("Company", "company"), ("Title", "title"), ("Phone", "phone"),
    ("Website", "website"), ("Status", "status"), ("Stage", "stage"), ("Owner", "owner"),
    ("Source", "source"), ("Email status", "email_status"), ("Created", "created_at"),
)  # fmt: skip
# Private pages: never cached by a shared proxy, never shown in search engines.
HEADERS = {"Cache-Control": "private, no-store", "X-Robots-Tag": "noindex"}


def lead_page_routes(store: Store, links: PublicLinks) -> list[Route]:
    def load(lead_id: int) -> dict[str, Any] | None:
        with store.reading() as session:
            lead = storage.leads.by_id(session, lead_id)
            if lead is None or lead.id is None:
                return None
            owner = storage.reps.by_id(session, lead.owner_id) if lead.owner_id else None
            data = lead_dict(lead, owner)
            data["timeline"] = [
                timeline_dict(e) for e in storage.timeline.for_lead(session, lead.id)
            ]
            return data

    async def lead_page(request: Request) -> HTMLResponse:
        # /leads/12 and /leads/L-12 (the id as leadbot prints it) are the same page.
        found = re.fullmatch(r"(?:[Ll]-?)?(\d{1,18})", request.path_params["lead_id"])
        if found is None:
            return HTMLResponse(render("pages/forbidden.html.j2"), 404, headers=HEADERS)
        lead_id = int(found.group(1))
        if not links.lead_page_allows(request.query_params.get("t", ""), lead_id):
            return HTMLResponse(render("pages/forbidden.html.j2"), 403, headers=HEADERS)
        lead = await asyncio.to_thread(load, lead_id)
        if lead is None:
            return HTMLResponse(render("pages/forbidden.html.j2"), 404, headers=HEADERS)
        name = f"{lead['first_name']} {lead['last_name']}".strip() or lead["email"]
        fields = [(label, lead[key]) for label, key in FIELDS]
        html = render("pages/lead.html.j2", lead=lead, name=name, fields=fields)
        return HTMLResponse(html, headers=HEADERS)

    return [Route("/leads/{lead_id}", lead_page, methods=["GET"])]
