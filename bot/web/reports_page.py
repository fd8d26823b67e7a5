"""The reports dashboard: GET /reports?t=<signed link> and each chart's CSV,
GET /reports/<chart>.csv?t=…, read-only. A bad, expired or revoked link gets 403."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from bot.reports import rollup
from bot.reports.dashboard import PANELS
from bot.reports.figures import PERIODS, Window
from bot.reports.links import DashboardLinks
from bot.reports.output import csv_text
from bot.templates import render
from storage.engine import Store
from storage.models import utcnow

HEADERS = {"Cache-Control": "private, no-store", "X-Robots-Tag": "noindex",
           "Referrer-Policy": "no-referrer"}  # fmt: skip
# The longest window the page draws (?days=).
MAX_DAYS = 3650


class BadQuery(ValueError):
    pass


def _window(request: Request) -> Window:
    now = utcnow()
    by = request.query_params.get("by", "week")
    if by not in PERIODS:
        raise BadQuery(f"by must be one of {', '.join(PERIODS)}")
    days_text = request.query_params.get("days", "90")
    if not days_text.isdigit() or not 1 <= int(days_text) <= MAX_DAYS:
        raise BadQuery(f"days must be a whole number from 1 to {MAX_DAYS}")
    from datetime import timedelta

    return Window(now - timedelta(days=int(days_text)), now, by=by, now=now)


def reports_routes(
    store: Store, links: DashboardLinks, now: Callable[[], Any] = utcnow
) -> list[Route]:
    def allowed(token: str) -> bool:
        with store.reading() as session:
            return links.check(session, token, now()) is not None

    def panels(window: Window, names: tuple[str, ...]) -> list[Any]:
        rollup.catch_up(store)
        with store.reading() as session:
            return [PANELS[name](session, window) for name in names]

    async def guard(request: Request) -> tuple[str, Window] | Response:
        token = request.query_params.get("t", "")
        if len(token) > 500 or not await asyncio.to_thread(allowed, token):
            return HTMLResponse(render("pages/forbidden.html.j2"), 403, headers=HEADERS)
        try:
            return token, _window(request)
        except BadQuery as exc:
            return Response(str(exc), 400, media_type="text/plain", headers=HEADERS)

    async def page(request: Request) -> Response:
        checked = await guard(request)
        if isinstance(checked, Response):
            return checked
        token, window = checked
        query = {"t": token, "by": window.by,
                 "days": request.query_params.get("days", "90")}  # fmt: skip
        shown = [
            {"chart": panel.chart, "csv_url": f"/reports/{panel.chart.name}.csv?{urlencode(query)}"}
            for panel in await asyncio.to_thread(panels, window, tuple(PANELS))
        ]
        since, until = f"{window.since:%Y-%m-%d}", f"{window.until:%Y-%m-%d}"
        html = render("pages/reports.html.j2", panels=shown, by=window.by, since=since, until=until)
        return HTMLResponse(html, headers=HEADERS)

    async def csv_download(request: Request) -> Response:
        name = request.path_params["chart"]
        if name not in PANELS:
            return Response("no such chart", 404, media_type="text/plain", headers=HEADERS)
        checked = await guard(request)
        if isinstance(checked, Response):
            return checked
        _, window = checked
        (panel,) = await asyncio.to_thread(panels, window, (name,))
        headers = {**HEADERS, "Content-Disposition": f'attachment; filename="{name}.csv"'}
        return Response(csv_text(panel.report), media_type="text/csv; charset=utf-8",
                        headers=headers)  # fmt: skip

    return [
        Route("/reports", page, methods=["GET"]),
        Route("/reports/{chart}.csv", csv_download, methods=["GET"]),
    ]
