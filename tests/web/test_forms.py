"""POST /f/NAME and friends against a real `leadbot serve` (one per module, on a SQLite file) with
a real HTTP client: the three body types, 303 only to the configured URL, 422 with the field
and the reason, 404, 413, CORS for the form's origins only, and double opt-in through a real
SMTP sink (one confirmation an hour, no visitor text in it, a scanner's GET confirms nothing)."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import storage.leads
import storage.timeline
from bot.forms import definitions
from bot.forms.tokens import FormTokens
from bot.leads.views import lead_dict, timeline_dict
from storage.engine import Store
from tests.fakes.smtp_sink import Sink, smtp_sink
from tests.services.bot import RunningBot, bot_env

ORIGIN = "https://yourco.example"
THANKS = "https://yourco.example/thanks"
# The serve's LEADBOT_SECRET_KEY (tests.services.bot): a token rendered ten seconds ago.
FILLED = FormTokens("test-secret", clock=lambda: time.time() - 10)
SPAM_NAME = "BUY CHEAP PILLS http://spam.example"


@pytest.fixture(scope="module")
def sink() -> Iterator[Sink]:
    with smtp_sink() as running:
        yield running


@pytest.fixture(scope="module")
def bot(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path, sink: Sink
) -> Iterator[RunningBot]:
    workdir = tmp_path_factory.mktemp("forms-web")
    shutil.copy(sqlite_template, workdir / "leadbot.db")
    env, smtp_port, http_port = bot_env(workdir, f"sqlite:///{workdir / 'leadbot.db'}")
    env.update({
        "LEADBOT_OUTBOUND_SMTP_URL": sink.url,
        "LEADBOT_PUBLIC_URL": f"http://127.0.0.1:{http_port}",
        "LEADBOT_FORM_MAX_BODY_BYTES": "4096",
        "LEADBOT_INBOX_WORKERS": "0",
    })  # fmt: skip
    running = RunningBot(workdir, env, smtp_port, http_port)
    store = Store(env["LEADBOT_DATABASE_URL"])
    with store.transaction() as session:
        definitions.create(session, "demo-request", ["email:required", "first_name",
                           "company:required", "message"], redirect=THANKS, origins=[ORIGIN],
                           tags=["webinar"])  # fmt: skip
        definitions.create(session, "newsletter", ["email", "first_name"], double_opt_in=True,
                           consent="Send me the newsletter")  # fmt: skip
        definitions.create(session, "gone", ["email"])
        definitions.disable(session, "gone")
    store.dispose()
    running.start()
    try:
        yield running
    finally:
        running.stop()


def form_id(bot: RunningBot, name: str) -> int:
    # The fill token names the form by id, in the order the forms were created.
    return {"demo-request": 1, "newsletter": 2, "gone": 3}[name]


def fields(bot: RunningBot, name: str = "demo-request", **values: str) -> dict[str, str]:
    return {"_token": FILLED.fill_token(form_id(bot, name)), "email": "jane@acme.io",
            "company": "Acme", **values}  # fmt: skip


def lead_of(bot: RunningBot, address: str) -> dict[str, Any]:
    """The lead as `leads show --json` has it (read from the store: quicker than a process)."""
    store = Store(bot.env["LEADBOT_DATABASE_URL"])

    def found() -> dict[str, Any] | None:
        with store.transaction() as session:
            lead = storage.leads.by_email(session, address)
            if lead is None or lead.id is None:
                return None
            data = lead_dict(lead)
            data["timeline"] = [
                timeline_dict(e) for e in storage.timeline.for_lead(session, lead.id)
            ]
            return data

    try:
        return bot.wait_until(found)
    finally:
        store.dispose()


def test_the_three_body_types_answer_303_or_202_and_become_leads(bot: RunningBot) -> None:
    url = f"{bot.http_url}/f/demo-request"
    urlencoded = httpx.post(url, data=fields(bot, email="a@acme.io", first_name="Ann"))
    assert (urlencoded.status_code, urlencoded.headers["location"]) == (303, THANKS)
    multipart = httpx.post(url, files={"x": (None, "")}, data=fields(bot, email="b@acme.io"))
    assert (multipart.status_code, multipart.headers["location"]) == (303, THANKS)
    as_json = httpx.post(url, json=fields(bot, email="c@acme.io"), headers={"Origin": ORIGIN})
    assert as_json.status_code == 202
    assert as_json.json() == {"status": "received", "redirect": THANKS}
    assert as_json.headers["access-control-allow-origin"] == ORIGIN
    for address in ("a@acme.io", "b@acme.io", "c@acme.io"):
        lead = lead_of(bot, address)
        assert lead["source"] == "form" and lead["custom"]["tags"] == ["webinar"]
        kinds = [e["kind"] for e in lead["timeline"] if e["kind"] != "queued"]  # the assigner's
        assert kinds[-1] == "form.post"
    assert lead_of(bot, "a@acme.io")["first_name"] == "Ann"


def test_the_redirect_is_never_taken_from_the_request(bot: RunningBot) -> None:
    answer = httpx.post(
        f"{bot.http_url}/f/demo-request?return=https://evil.example",
        data=fields(bot, email="r@acme.io", _redirect="https://evil.example",
                    redirect="https://evil.example", **{"mauticform[return]": "https://evil.example"}),
    )  # fmt: skip
    assert (answer.status_code, answer.headers["location"]) == (303, THANKS)


def test_bad_input_gets_422_with_the_field_and_the_reason(bot: RunningBot) -> None:
    url = f"{bot.http_url}/f/demo-request"
    answer = httpx.post(url, json={**fields(bot), "email": "jane@", "company": ""})
    assert answer.status_code == 422
    errors = {e["field"]: e["reason"] for e in answer.json()["errors"]}
    assert errors["company"] == "is required"
    assert errors["email"].startswith("is not an email address")
    page = httpx.post(url, data={**fields(bot), "email": "jane@", "first_name": "<b>Jane</b>"})
    assert page.status_code == 422 and page.headers["content-type"].startswith("text/html")
    # the reason next to its field, and what was typed kept, escaped
    assert re.search(r'data-error-for="email">Email is not an email address', page.text)
    assert "&lt;b&gt;Jane&lt;/b&gt;" in page.text and "<b>Jane</b>" not in page.text
    not_text = httpx.post(url, json={**fields(bot), "email": ["a@acme.io", "b@acme.io"]})
    assert not_text.status_code == 422
    assert not_text.json()["errors"] == [{"field": "email", "reason": "must be text"}]
    assert (
        httpx.post(
            url, content=b"{not json", headers={"content-type": "application/json"}
        ).status_code
        == 422
    )
    assert httpx.post(url, content=b"x", headers={"content-type": "text/csv"}).status_code == 400


def test_unknown_disabled_and_too_large(bot: RunningBot) -> None:
    assert httpx.get(f"{bot.http_url}/f/nothing-here").status_code == 404
    assert httpx.get(f"{bot.http_url}/f/gone").status_code == 404
    assert httpx.post(f"{bot.http_url}/f/gone", data={"email": "a@acme.io"}).status_code == 404
    assert httpx.post(f"{bot.http_url}/f/..%2fx", data={}).status_code == 404
    big = httpx.post(f"{bot.http_url}/f/demo-request",
                     data=fields(bot, message="x" * 5000))  # fmt: skip
    assert big.status_code == 413
    chunked = httpx.post(f"{bot.http_url}/f/demo-request", content=iter([b"email=a", b"x" * 5000]),
                         headers={"content-type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert chunked.status_code == 413


def test_cors_only_for_the_forms_origins(bot: RunningBot) -> None:
    url = f"{bot.http_url}/f/demo-request"
    asks = {"Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type"}  # fmt: skip
    ok = httpx.options(url, headers={"Origin": ORIGIN, **asks})
    assert ok.status_code == 204 and ok.headers["access-control-allow-origin"] == ORIGIN
    other = httpx.options(url, headers={"Origin": "https://evil.example", **asks})
    assert other.status_code == 403 and "access-control-allow-origin" not in other.headers
    token = httpx.get(f"{url}/token", headers={"Origin": "https://evil.example"})
    assert token.status_code == 200 and "access-control-allow-origin" not in token.headers


def test_a_page_without_javascript_is_shown_once_more_with_a_token(bot: RunningBot) -> None:
    url = f"{bot.http_url}/f/demo-request"
    first = httpx.post(url, data={"email": "nojs@acme.io", "company": "Acme"})
    assert first.status_code == 200 and "press Send once more" in first.text
    token = re.search(r'name="_token" value="([^"]+)"', first.text)
    assert token is not None and 'value="nojs@acme.io"' in first.text


def test_hosted_page_and_the_snippet(bot: RunningBot) -> None:
    page = httpx.get(f"{bot.http_url}/f/demo-request?utm_campaign=spring")
    assert page.status_code == 200
    assert re.search(r'name="_token" value="[^"]+"', page.text)
    assert 'name="utm_campaign" value="spring"' in page.text
    assert 'name="homepage"' in page.text
    snippet = bot.cli("form", "snippet", "demo-request").stdout
    assert f'action="{bot.http_url}/f/demo-request"' in snippet
    assert f'src="{bot.http_url}/f/demo-request/form.js"' in snippet
    assert httpx.get(f"{bot.http_url}/f/demo-request/form.js").status_code == 200
    shown = bot.cli_json("form", "show", "demo-request")
    assert shown["url"] == f"{bot.http_url}/f/demo-request" and shown["redirect"] == THANKS
    assert [f["name"] for f in shown["fields"]] == ["email", "first_name", "company", "message"]
    assert [f["name"] for f in bot.cli_json("form", "list")] == [
        "demo-request",
        "newsletter",
        "gone",
    ]


def test_double_opt_in_mails_once_an_hour_without_visitor_text(bot: RunningBot, sink: Sink) -> None:
    url = f"{bot.http_url}/f/newsletter"
    for _ in range(3):  # a mail bomber posting one victim's address again and again
        body = fields(
            bot, "newsletter", email="victim@acme.io", first_name=SPAM_NAME, consent="yes"
        )
        assert httpx.post(url, data=body).status_code == 303
    lead = lead_of(bot, "victim@acme.io")
    assert lead["email_status"] == "unconfirmed"
    bot.wait_until(lambda: "victim@acme.io" in sink.recipients())
    bot.wait_until(lambda: len([e for e in lead_of(bot, "victim@acme.io")["timeline"]
                                if e["kind"] == "form.confirmation"]) == 3)  # fmt: skip
    assert sink.recipients().count("victim@acme.io") == 1
    [mail] = [d for d in sink.delivered if "victim@acme.io" in d.rcpt_tos]
    raw = mail.raw.decode()
    assert "PILLS" not in raw and "spam.example" not in raw
    text = mail.message().get_body(("plain",)).get_content()
    link = re.search(r"(http://\S+/f/newsletter/confirm\?t=\S+)", text)
    assert link is not None
    assert "Confirm" in httpx.get(link.group(1)).text  # a scanner's GET changes nothing
    assert lead_of(bot, "victim@acme.io")["email_status"] == "unconfirmed"
    assert httpx.post(link.group(1)).status_code == 200
    assert lead_of(bot, "victim@acme.io")["email_status"] == "confirmed"
    assert httpx.post(link.group(1).replace("?t=", "?t=x")).status_code == 404
    [submission, *_] = bot.cli_json("form", "submissions", "newsletter")
    assert submission["consent"]["text"] == "Send me the newsletter"
    assert submission["consent"]["checked"] is True
