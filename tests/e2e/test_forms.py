"""A web form end to end, in headless Chromium, on PostgreSQL: a page on a local site embeds the
snippet `leadbot form snippet` printed; the browser fills it and lands on the thank-you URL;
the lead exists with its UTM fields and is assigned. A filled honeypot, a post too soon after
the page was shown and a replayed token put the submission in the intake quarantine and make no
lead; `leadbot intake approve` then makes it."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.services.bot import RunningBot, bot_env
from tests.services.chromium import Page, chromium_page
from tests.services.ports import free_port

RULES = """
[mql]
enquiries_enter_queue = true
[forms]
min_fill_seconds = 0.5
"""
# The form as a visitor fills it in: field → value.
JANE = {"email": "jane@acme.io", "first_name": "Jane", "last_name": "Doe", "company": "Acme"}


class Site:
    """The company's own website: a landing page with the pasted snippet, and a thank-you page."""

    def __init__(self) -> None:
        self.snippet = ""
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.startswith("/landing"):
                    body = f"<html><body><h1>Book a demo</h1>{site.snippet}</body></html>"
                else:
                    body = "<html><body><h1>Thanks, we will be in touch</h1></body></html>"
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def site() -> Iterator[Site]:
    running = Site()
    thread = threading.Thread(target=running.server.serve_forever, daemon=True)
    thread.start()
    yield running
    running.server.shutdown()
    running.server.server_close()


async def until(page: Page, expression: str, timeout: float = 20.0) -> Any:
    """Poll a JavaScript expression in the page until it is truthy."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = await page.evaluate(expression)
        except RuntimeError:  # the page is navigating
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{expression} still falsy after {timeout}s")
        await asyncio.sleep(0.05)


async def fill_and_send(page: Page, url: str, values: dict[str, str], *, wait: float) -> str:
    """Open the landing page, wait for the script's token, type the values, wait `wait`
    seconds as a person would, press Send; where the browser ends up, and the token used."""
    await page.navigate(url)
    token = await until(page, "document.querySelector('input[name=_token]').value")
    for name, value in values.items():
        await page.evaluate(f"document.querySelector('[name={name}]').value = {json.dumps(value)}")
    await asyncio.sleep(wait)
    await page.evaluate("document.querySelector('form button[type=submit]').click()")
    await until(page, "location.pathname === '/thanks'")
    return str(token)


async def visitors(landing: str, profile: Path) -> list[str]:
    async with chromium_page(profile) as page:
        first = await fill_and_send(page, landing, JANE, wait=0.7)
        honeypot = {**JANE, "email": "bot1@spam.example", "homepage": "http://spam.example"}
        await fill_and_send(page, landing, honeypot, wait=0.7)
        await fill_and_send(page, landing, {**JANE, "email": "quick@spam.example"}, wait=0)
        return [first, str(await page.evaluate("location.href"))]


def test_a_visitor_fills_the_snippet_and_spam_is_held(
    postgres_url: str, tmp_path: Path, site: Site
) -> None:
    (tmp_path / "rules.toml").write_text(RULES)
    env, smtp_port, http_port = bot_env(tmp_path, postgres_url)
    env.update({"LEADBOT_PUBLIC_URL": f"http://127.0.0.1:{http_port}",
                "LEADBOT_RULES": str(tmp_path / "rules.toml"),
                "LEADBOT_INBOX_WORKERS": "0", "LEADBOT_SLACK_WORKERS": "0"})  # fmt: skip
    bot = RunningBot(tmp_path, env, smtp_port, http_port)
    bot.cli("reps", "add", "Ann Lee", "ann@yourco.com")
    created = bot.cli_json("form", "create", "demo-request", "--field", "email:required",
                           "--field", "first_name", "--field", "last_name", "--field", "company",
                           "--field", "message", "--redirect", f"{site.url}/thanks",
                           "--origin", site.url)  # fmt: skip
    assert created["url"] == f"http://127.0.0.1:{http_port}/f/demo-request"
    site.snippet = bot.cli("form", "snippet", "demo-request").stdout
    bot.start()
    try:
        landing = f"{site.url}/landing?utm_source=newsletter&utm_campaign=spring"
        token, where = asyncio.run(visitors(landing, tmp_path / "chromium"))
        assert where == f"{site.url}/thanks"

        def assigned() -> dict[str, Any] | None:
            shown = bot.cli("leads", "show", "jane@acme.io", "--json", check=False)
            lead = json.loads(shown.stdout) if shown.returncode == 0 else {}
            return lead if lead.get("owner") == "ann@yourco.com" else None

        lead = bot.wait_until(assigned, timeout=30)
        assert (lead["first_name"], lead["company"], lead["source"]) == ("Jane", "Acme", "form")
        touch = lead["attribution"]["first_touch"]
        assert (touch["utm_source"], touch["utm_campaign"]) == ("newsletter", "spring")
        assert touch["page"] == landing and touch["form"] == "demo-request"

        # the first visitor's token, replayed by a script with other values
        replay = {**JANE, "email": "replay@spam.example", "_token": token}
        answer = httpx.post(f"{bot.http_url}/f/demo-request", json=replay)
        assert answer.status_code == 202

        def holds() -> list[dict[str, Any]] | None:
            items = [i for i in bot.cli_json("intake", "quarantined") if i["kind"] == "hold"]
            return items if len(items) == 3 else None

        held = {item["draft"]["email"]: item for item in bot.wait_until(holds)}
        assert {address: held[address]["checks"] for address in held} == {
            "bot1@spam.example": ["honeypot"],
            "quick@spam.example": ["too_fast"],
            "replay@spam.example": ["replay"],
        }
        assert bot.cli("leads", "show", "quick@spam.example", check=False).returncode == 1
        approved = bot.cli_json("intake", "approve", held["quick@spam.example"]["id"])
        assert approved["created"] is True
        assert approved["lead"]["email"] == "quick@spam.example"
        assert approved["lead"]["source"] == "form"
    finally:
        bot.stop()
