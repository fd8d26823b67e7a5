"""Web-to-lead forms over HTTP: GET /f/NAME (the hosted page), POST /f/NAME (a submission).

The route only translates: it reads the body (at most LEADBOT_FORM_MAX_BODY_BYTES, else 413),
as application/x-www-form-urlencoded, multipart/form-data or JSON, hands it to
bot.forms.submit.accept, which commits it before this answers, and answers: 303 to the form's
configured thank-you URL (never a URL from the request), or for JSON 202 `{"status":
"received"}`; 422 with the field and the reason (the hosted page shows it next to the field);
404 for an unknown or disabled form. CORS headers are sent only to the form's own origins.

Also: GET /f/NAME/token (a fresh fill token, for the snippet's script), GET /f/NAME/form.js
(that script), GET /f/NAME/thanks (leadbot's thank-you page, for a form without a URL of its
own) and GET|POST /f/NAME/confirm?t=… (double opt-in: the GET shows a button, so a mail
scanner following the link confirms nothing; the POST confirms).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy.exc import SQLAlchemyError
from starlette.datastructures import Headers
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route

import storage.forms
from bot.forms import confirm as confirmation
from bot.forms import definitions as d
from bot.forms import submit
from bot.forms.tokens import FormTokens
from bot.rules.forms import FormRules
from bot.templates import render
from storage.engine import Store
from storage.models import WebForm
from storage.spool import Entry, SpoolWriter

PAGE_HEADERS = {"Cache-Control": "private, no-store", "X-Robots-Tag": "noindex",
                "Referrer-Policy": "strict-origin-when-cross-origin"}  # fmt: skip
# A form definition is read from the store at most this often per name (a disable takes
# effect within this many seconds).
FORM_CACHE_SECONDS = 2.0
JSON_TYPE = "application/json"

log = logging.getLogger("leadbot.forms")


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


class TooLarge(Exception):
    pass


class BadBody(ValueError):
    pass


class FormsWeb:
    def __init__(
        self,
        store: Store,
        tokens: FormTokens,
        rules: Callable[[], FormRules],
        *,
        public_url: str,
        max_body_bytes: int,
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        self.store = store
        self.tokens = tokens
        self.rules = rules
        self.public_url = public_url.rstrip("/")
        self.max_body = max_body_bytes
        self.wake = wake
        self._forms: dict[str, tuple[float, WebForm | None]] = {}
        # Set by serve when the store has a spool: submissions are committed there.
        self.spool: SpoolWriter | None = None
        self.script = resources.files("bot").joinpath("templates/pages/forms/form.js").read_bytes()

    @property
    def routes(self) -> list[Route]:
        return [
            Route("/f/{name}", self.form, methods=["GET", "POST", "OPTIONS"]),
            Route("/f/{name}/token", self.token, methods=["GET", "OPTIONS"]),
            Route("/f/{name}/form.js", self.form_js, methods=["GET"]),
            Route("/f/{name}/thanks", self.thanks, methods=["GET"]),
            Route("/f/{name}/confirm", self.confirm, methods=["GET", "POST"]),
        ]

    # --- the form ------------------------------------------------------------------------

    def load_form(self, name: str) -> WebForm | None:
        now = time.monotonic()
        cached = self._forms.get(name)
        if cached is not None and now - cached[0] < FORM_CACHE_SECONDS:
            return cached[1]
        if not d.NAME.match(name):
            return None
        with self.store.reading() as session:
            form = storage.forms.form_by_name(session, name)
            if form is not None:
                session.expunge(form)
        self._forms[name] = (now, form)
        return form

    async def active_form(self, request: Request) -> WebForm | None:
        name = request.path_params["name"]
        cached = self._forms.get(name)
        if cached is not None and time.monotonic() - cached[0] < FORM_CACHE_SECONDS:
            form = cached[1]
        else:
            form = await asyncio.to_thread(self.load_form, name)
        return form if form is not None and form.state == "active" else None

    async def form(self, request: Request) -> Response:
        form = await self.active_form(request)
        if request.method == "OPTIONS":
            return self.preflight(request, form)
        wants_json = JSON_TYPE in request.headers.get("accept", "") or request.headers.get(
            "content-type", ""
        ).startswith(JSON_TYPE)
        if form is None:
            if wants_json:
                return JSONResponse({"status": "not_found", "error": "no such form"}, 404)
            return self.message(404, "Form not found", "There is no form here (any more).")
        if request.method == "GET":
            return self.page(form, request, {})
        return await self.post(request, form, wants_json)

    async def post(self, request: Request, form: WebForm, wants_json: bool) -> Response:
        cors = self.cors_headers(request, form)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        try:
            values = await self.read_values(request, content_type)
        except TooLarge:
            return PlainTextResponse(f"the body is over {self.max_body} bytes", 413, headers=cors)
        except BadBody as exc:
            if wants_json:
                return JSONResponse(
                    {"status": "invalid", "errors": [{"field": "(body)", "reason": str(exc)}]},
                    422,
                    headers=cors,
                )
            return PlainTextResponse(f"the body cannot be read: {exc}", 400, headers=cors)
        posted = submit.Posted(
            values,
            client_ip=request.client.host if request.client else "",
            user_agent=request.headers.get("user-agent", ""),
            referer=request.headers.get("referer", ""),
            origin=request.headers.get("origin", ""),
            content_type=content_type,
        )
        own = (
            submit.origin_of(self.public_url),
            f"{request.url.scheme}://{request.url.netloc}".lower(),
        )
        try:
            if self.spool is not None:
                outcome = await self.spooled(form, posted, own)
            else:
                outcome = await asyncio.to_thread(
                    submit.accept, self.store, form, posted, self.tokens, self.rules(), own
                )
        except (SQLAlchemyError, sqlite3.Error):
            # Not stored, so not accepted: the visitor is asked to send again, nothing is lost.
            log.exception("form %s: a submission could not be stored", form.name)
            if wants_json:
                return JSONResponse({"status": "unavailable"}, 503, headers=cors)
            sorry = "We could not take your message just now; please send it again."
            return self.message(503, "Please try again", sorry)
        if outcome.kind == "missing":
            return self.message(404, "Form not found", "There is no form here (any more).")
        if outcome.kind == "invalid":
            if wants_json:
                errors = [e.as_data() for e in outcome.errors]
                return JSONResponse({"status": "invalid", "errors": errors}, 422, headers=cors)
            errors_by = {e.field: e.reason for e in outcome.errors}
            return self.page(form, request, outcome.values, errors_by, status=422)
        if outcome.kind == "confirm":
            notice = "Almost done: please check your entries and press Send once more."
            return self.page(form, request, outcome.values, notice=notice)
        self.wake()
        redirect = form.redirect_url or f"{self.public_url}/f/{form.name}/thanks"
        if wants_json:
            return JSONResponse({"status": "received", "redirect": redirect}, 202, headers=cors)
        return RedirectResponse(redirect, 303, headers=cors)

    async def spooled(self, form: WebForm, posted: submit.Posted,
                      own: tuple[str, ...]) -> submit.Outcome:  # fmt: skip
        """The checks here, then one group commit to the spool (storage/spool.py): the answer
        never waits for SQLite's write lock, which the form worker's captures hold."""
        assert self.spool is not None
        outcome = submit.checked(form, posted, self.tokens, self.rules(), own)
        if outcome.kind != "checked" or outcome.submission is None:
            return outcome
        body = json.dumps(outcome.submission, default=_iso).encode()
        spooled_id = await asyncio.wrap_future(self.spool.submit(Entry("form", body)))
        log.debug("form %s: submission spooled as %s", form.name, spooled_id)
        return submit.Outcome("stored", form)

    async def read_values(self, request: Request, content_type: str) -> dict[str, Any]:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            raise TooLarge
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > self.max_body:
                raise TooLarge
        raw = bytes(body)
        if content_type == JSON_TYPE:
            try:
                data = json.loads(raw or b"{}")
            except (ValueError, UnicodeDecodeError) as exc:
                raise BadBody(f"not JSON: {exc}") from None
            if not isinstance(data, dict):
                raise BadBody("the JSON body must be an object")
            return data
        if content_type == "multipart/form-data":
            return await self.read_multipart(request.headers, raw)
        if content_type in ("application/x-www-form-urlencoded", ""):
            try:
                return dict(
                    parse_qsl(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=200)
                )
            except (UnicodeDecodeError, ValueError) as exc:
                raise BadBody(str(exc)) from None
        raise BadBody(f"{content_type} is not a form body (urlencoded, multipart or JSON)")

    async def read_multipart(self, headers: Headers, raw: bytes) -> dict[str, Any]:
        async def stream() -> AsyncIterator[bytes]:
            yield raw

        parser = MultiPartParser(headers, stream(), max_files=0, max_fields=200,
                                 max_part_size=self.max_body)  # fmt: skip
        try:
            form = await parser.parse()
        except MultiPartException as exc:
            raise BadBody(exc.message) from None
        return {key: value for key, value in form.multi_items() if isinstance(value, str)}

    # --- CORS ----------------------------------------------------------------------------

    def cors_headers(self, request: Request, form: WebForm | None) -> dict[str, str]:
        origin = request.headers.get("origin", "").lower()
        if form is None or not origin or origin not in form.origins:
            return {"Vary": "Origin"}
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}

    def preflight(self, request: Request, form: WebForm | None) -> Response:
        headers = self.cors_headers(request, form)
        if "Access-Control-Allow-Origin" not in headers:
            return Response(status_code=403, headers=headers)
        headers.update({"Access-Control-Allow-Methods": "GET, POST",
                        "Access-Control-Allow-Headers": "Content-Type, Accept",
                        "Access-Control-Max-Age": "600"})  # fmt: skip
        return Response(status_code=204, headers=headers)

    async def token(self, request: Request) -> Response:
        form = await self.active_form(request)
        if request.method == "OPTIONS":
            return self.preflight(request, form)
        if form is None or form.id is None:
            return JSONResponse({"status": "not_found"}, 404)
        headers = {**self.cors_headers(request, form), "Cache-Control": "no-store"}
        return JSONResponse({"token": self.tokens.fill_token(form.id)}, headers=headers)

    async def form_js(self, request: Request) -> Response:
        return Response(self.script, media_type="text/javascript",
                        headers={"Cache-Control": "public, max-age=3600"})  # fmt: skip

    # --- pages ---------------------------------------------------------------------------

    def page(self, form: WebForm, request: Request, values: dict[str, str],
             errors: dict[str, str] | None = None, *, status: int = 200,
             notice: str = "") -> HTMLResponse:  # fmt: skip
        assert form.id is not None
        if not values.get(d.PAGE):
            # The hosted page is the landing page: its own query carries the UTM parameters.
            landing = (
                str(request.url) if request.method == "GET" else request.headers.get("referer", "")
            )
            values = {**values, d.PAGE: landing}
            values.update({k: request.query_params[k] for k in d.UTM if k in request.query_params})
            if request.method == "GET":
                values[d.REFERRER] = request.headers.get("referer", "")
        html = render(
            "pages/forms/hosted.html.j2",
            title=form.name.replace("-", " ").capitalize(),
            **self.form_context(form, values, errors or {}, self.tokens.fill_token(form.id)),
            notice=notice,
        )
        return HTMLResponse(html, status, headers=PAGE_HEADERS)

    def form_context(self, form: WebForm, values: dict[str, str], errors: dict[str, str],
                     token: str) -> dict[str, Any]:  # fmt: skip
        return {
            "form": form,
            "fields": d.form_fields(form),
            "action": f"{self.public_url}/f/{form.name}",
            "values": values,
            "errors": errors,
            "token": token,
            "utm": d.UTM,
        }

    def message(self, status: int, title: str, text: str, action: str = "",
                button: str = "") -> HTMLResponse:  # fmt: skip
        html = render("pages/forms/message.html.j2", title=title, text=text, action=action,
                      button=button)  # fmt: skip
        return HTMLResponse(html, status, headers=PAGE_HEADERS)

    async def thanks(self, request: Request) -> Response:
        form = await self.active_form(request)
        if form is None:
            return self.message(404, "Form not found", "There is no form here (any more).")
        return self.message(200, "Thank you", "We received your message and will be in touch.")

    async def confirm(self, request: Request) -> Response:
        token = request.query_params.get("t", "")
        if self.tokens.check_confirm(token) is None:
            return self.message(404, "This link is not valid",
                                "It was changed, cut short or has expired.")  # fmt: skip
        if request.method == "GET":
            return self.message(200, "Confirm your address",
                                "Press the button to confirm that we may write to you.",
                                action=str(request.url), button="Confirm")  # fmt: skip
        await asyncio.to_thread(confirmation.confirm, self.store, self.tokens, token)
        return self.message(200, "Thank you", "Your address is confirmed.")
