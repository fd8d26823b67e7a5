"""The HTTP server's ASGI app (Starlette): health now; tracking, forms and Slack mount here."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

HealthProbe = Callable[[], dict[str, Any]]


def build_http_app(health: HealthProbe, extra_routes: list[BaseRoute] | None = None) -> Starlette:
    # The probe's own threads: not the event loop (a probe that waits for the store must not
    # stop it), nor the loop's default pool, where serve's runners may all be busy.
    probes = ThreadPoolExecutor(2, thread_name_prefix="healthz")

    async def healthz(request: Request) -> JSONResponse:
        try:
            body = await asyncio.get_running_loop().run_in_executor(probes, health)
        except Exception as exc:  # the store is down: say so, with 503 for load balancers
            return JSONResponse({"status": "error", "error": str(exc)}, status_code=503)
        return JSONResponse(body)

    return Starlette(routes=[Route("/healthz", healthz), *(extra_routes or [])])
