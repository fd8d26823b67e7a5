"""A nurture campaign end to end: `leadbot campaign send` delivers to a real SMTP sink through the
real client; headless Chromium opens the delivered HTML against the running `leadbot serve` (the
pixel fires) and clicks a tracked link; a mail provider's one-click POST opts the address out;
the store shows the open, the click and the opt-out, and the next campaign skips the address."""

from __future__ import annotations

import asyncio
import email
import os
import re
import signal
import threading
from collections.abc import Iterator
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

import storage.campaigns
from bot.nurture.links import TrackingLinks
from storage.engine import Store
from storage.models import Lead
from tests.campaign_helpers import add_campaign, add_leads, make_next_steps_due, sent_sends
from tests.fakes.smtp_sink import Sink, smtp_sink
from tests.services.bot import RunningBot, bot_env, children_of
from tests.services.chromium import chromium_page
from tests.services.ports import free_port


class Landing(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html><body><h1>Pricing for teams</h1></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def landing() -> Iterator[str]:
    """The site the email links to (the network here is closed: a local page stands in)."""
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Landing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def sink() -> Iterator[Sink]:
    with smtp_sink() as running:
        yield running


def campaign_folder(tmp_path: Path, landing: str) -> Path:
    folder = tmp_path / "my-campaign"
    folder.mkdir()
    (folder / "hello.subject.j2").write_text(
        "Pricing for {{ lead.company }}, {{ lead.first_name }}"
    )
    (folder / "hello.txt.j2").write_text(
        f"Hi {{{{ lead.first_name }}}}, see {landing}/pricing\n{{{{ rep.signature }}}}\n"
        "Unsubscribe: {{ unsubscribe_url }}\n"
    )
    (folder / "hello.html.j2").write_text(
        f'<html><body><p>Hi {{{{ lead.first_name }}}},</p><p><a href="{landing}/pricing">'
        "See pricing</a></p><p>{{ opt_out_link() }}</p></body></html>"
    )
    return folder


def start_bot(tmp_path: Path, database_url: str, sink: Sink, **extra: str) -> RunningBot:
    env, smtp_port, http_port = bot_env(tmp_path, database_url)
    env.update({
        "LEADBOT_OUTBOUND_SMTP_URL": sink.url,
        "LEADBOT_PUBLIC_URL": f"http://127.0.0.1:{http_port}",
        "LEADBOT_OUTBOUND_RATE": "0",
        "LEADBOT_SCANNER_WINDOW_SECONDS": "0",
        "LEADBOT_TRACKING_FLUSH_SECONDS": "0.2",
        "LEADBOT_CAMPAIGN_TICK_SECONDS": "3600",
        "LEADBOT_INBOX_WORKERS": "0",
        "LEADBOT_SLACK_WORKERS": "0",
        **extra,
    })  # fmt: skip
    bot = RunningBot(tmp_path, env, smtp_port, http_port)
    bot.start()
    return bot


async def open_and_click(html_file: Path, profile: Path) -> tuple[str, str]:
    async with chromium_page(profile) as page:
        await page.navigate(html_file.as_uri())  # the load event waits for the pixel
        await page.evaluate("document.querySelector('a[href*=\"/t/c/\"]').click()")
        await page.wait_for("Page.loadEventFired")
        return await page.evaluate("location.href"), await page.evaluate("document.body.innerText")


def test_campaign_open_click_opt_out_and_suppression(
    database_url: str, tmp_path: Path, sink: Sink, landing: str
) -> None:
    store = Store(database_url)
    [lead_id] = add_leads(store, 1)
    folder = campaign_folder(tmp_path, landing)
    bot = start_bot(tmp_path, database_url, sink)
    try:
        bot.cli("campaign", "create", "spring", "--templates", str(folder), "--step", "hello:0")
        assert bot.cli_json("campaign", "send", "spring")["sent"] == 1
        [delivered] = sink.delivered
        message = delivered.message()
        assert delivered.rcpt_tos == ["lead0@acme.io"]
        assert message["Subject"] == "Pricing for Acme, Lead0"
        assert message.get_content_type() == "multipart/alternative"
        html = message.get_body(("html",)).get_content()
        assert landing not in html  # the link is a tracked one
        html_file = tmp_path / "email.html"
        html_file.write_text(html)

        final_url, text = asyncio.run(open_and_click(html_file, tmp_path / "chromium"))
        assert final_url == f"{landing}/pricing"
        assert "Pricing for teams" in text

        # a link scanner's GET of the opt-out link changes nothing; the one-click POST does
        https = re.search(r"<(https?://[^>]+)>", message["List-Unsubscribe"]).group(1)
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert "Unsubscribe" in httpx.get(https, timeout=10).text
        assert bot.cli_json("leads", "show", "L-1")["email_status"] == "ok"
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        one_click = httpx.post(https, content=b"List-Unsubscribe=One-Click", headers=form)
        assert one_click.status_code == 200

        def tracked() -> dict | None:
            stats = bot.cli_json("campaign", "stats", "spring")
            done = stats["opened_human"] == 1 and stats["clicked"] == 1
            return stats if done and stats["opted_out"] == 1 else None

        stats = bot.wait_until(tracked)
        assert (stats["sent"], stats["delivered"], stats["opened_machine"]) == (1, 1, 0)
        lead = bot.cli_json("leads", "show", f"L-{lead_id}")
        assert lead["email_status"] == "opted_out"
        kinds = [entry["kind"] for entry in lead["timeline"]]
        assert {"email.opened", "email.clicked", "email.opt_out"} <= set(kinds)

        # the same address on another lead record (the alias a merge left: the store keeps one
        # live lead per address), in another campaign: never mailed again
        [other] = add_leads(store, 1, domain="elsewhere.test")
        with store.transaction() as session:
            alias = session.get(Lead, other)
            assert alias is not None
            alias.email, alias.merged_into_id = "lead0@acme.io", lead_id
            session.add(alias)
        bot.cli("campaign", "create", "autumn", "--templates", str(folder), "--step", "hello:0")
        assert bot.cli_json("campaign", "send", "autumn")["sent"] == 0
        assert len(sink.delivered) == 1
    finally:
        bot.stop()
        store.dispose()


def test_buffered_opens_are_written_on_a_clean_stop(
    database_url: str, tmp_path: Path, sink: Sink, landing: str
) -> None:
    store = Store(database_url)
    add_leads(store, 1)
    folder = campaign_folder(tmp_path, landing)
    bot = start_bot(tmp_path, database_url, sink, LEADBOT_TRACKING_FLUSH_SECONDS="3600")
    try:
        bot.cli("campaign", "create", "spring", "--templates", str(folder), "--step", "hello:0")
        bot.cli("campaign", "send", "spring")
        html = sink.delivered[0].message().get_body(("html",)).get_content()
        pixel = re.search(r'<img src="([^"]+)"', html).group(1)
        with httpx.Client(timeout=10) as client:
            for _ in range(25):
                assert client.get(pixel, headers={"User-Agent": "Thunderbird/128"}).content
        with store.reading() as session:  # still in the buffer: the writer waits an hour
            assert storage.campaigns.events_of(session, 1) == []
    finally:
        assert bot.stop() == 0  # SIGTERM
    with store.reading() as session:
        events = storage.campaigns.events_of(session, 1)
        assert len(events) == 25 and {e.kind for e in events} == {"open"}
    store.dispose()


def test_the_scheduler_in_serve_sends_the_next_step_when_it_falls_due(
    database_url: str, tmp_path: Path, sink: Sink
) -> None:
    store = Store(database_url)
    add_leads(store, 2)
    bot = start_bot(tmp_path, database_url, sink, LEADBOT_CAMPAIGN_TICK_SECONDS="0.3")
    try:
        bot.cli("campaign", "create", "spring", "--step", "welcome:0", "--step", "followup:3d")
        bot.cli("campaign", "send", "spring")
        assert len(sink.delivered) == 2
        [campaign] = bot.cli_json("campaign", "list")
        assert campaign["state"] == "active"
        make_next_steps_due(store, 1)  # three days pass
        bot.wait_until(lambda: len(sink.delivered) == 4)
        subjects = sorted(d.message()["Subject"] for d in sink.delivered[2:])
        assert subjects == ["Still thinking it over, Lead0?", "Still thinking it over, Lead1?"]
        stats = bot.cli_json("campaign", "stats", "spring")
        assert (stats["planned"], stats["sent"], stats["pending"]) == (4, 4, 0)
    finally:
        bot.stop()
        store.dispose()


def test_campaign_commands_create_list_and_preview(tmp_path: Path, sqlite_url: str) -> None:
    env, smtp_port, http_port = bot_env(tmp_path, sqlite_url)
    cli = RunningBot(tmp_path, env, smtp_port, http_port)  # the CLI only: no serve
    store = Store(sqlite_url)
    add_leads(store, 1, custom={"tags": ["webinar"]})
    store.dispose()
    steps = ("--step", "welcome:0", "--step", "followup:3d")
    created = cli.cli_json("campaign", "create", "spring", *steps, "--tag", "webinar",
                           "--grade", "A,B")  # fmt: skip
    assert created["steps"] == [{"template": "welcome", "delay_seconds": 0},
                                {"template": "followup", "delay_seconds": 259200}]  # fmt: skip
    assert created["segment"]["grade"] == ["A", "B"] and created["state"] == "draft"
    assert [c["name"] for c in cli.cli_json("campaign", "list")] == ["spring"]

    out = tmp_path / "welcome.eml"
    cli.cli("campaign", "preview", "spring", "--lead", "L-1", "--out", str(out))
    preview = email.message_from_bytes(out.read_bytes(), policy=policy.default)
    assert preview["To"] == "Lead0 Doe <lead0@acme.io>"
    assert "Head of Sales" in preview.get_body(("plain",)).get_content()
    html = tmp_path / "followup.html"
    cli.cli("campaign", "preview", "spring", "--lead", "lead0@acme.io", "--step", "2",
            "--out", str(html))  # fmt: skip
    assert "/t/c/" in html.read_text() and "/t/o/" in html.read_text()

    broken = tmp_path / "broken"
    broken.mkdir()
    for part, text in (("subject", "Hi"), ("txt", "{{ lead.custom.industry_fact }}"),
                       ("html", "<p>hi</p>")):  # fmt: skip
        (broken / f"oops.{part}.j2").write_text(text)
    cli.cli("campaign", "create", "broken", "--templates", str(broken), "--step", "oops:0")
    failed = cli.cli("campaign", "preview", "broken", "--lead", "L-1", "--out", str(out),
                     check=False)  # fmt: skip
    assert failed.returncode == 1 and "industry_fact" in failed.stderr
    bad_step = cli.cli("campaign", "create", "x", "--step", "welcome:soon", check=False)
    assert bad_step.returncode == 2 and "TEMPLATE:DELAY" in bad_step.stderr
    missing = cli.cli("campaign", "create", "y", "--step", "nosuch:0", check=False)
    assert missing.returncode == 1 and "nosuch" in missing.stderr


def test_pixel_hits_answered_before_serve_is_killed_are_all_written(
    sqlite_url: str, tmp_path: Path, sink: Sink
) -> None:
    """Answered means spooled: serve and its tracking writer killed (SIGKILL) before writing a
    single hit, the next serve writes every one of them, once."""
    store = Store(sqlite_url)
    add_leads(store, 1)
    campaign_id = add_campaign(store, steps=(("welcome", 0),))
    [send_id] = sent_sends(store, campaign_id, ["https://acme.example/"])
    bot = start_bot(tmp_path, sqlite_url, sink, LEADBOT_TRACKING_FLUSH_SECONDS="3600")
    pixel = TrackingLinks(bot.http_url, "test-secret").pixel(send_id)
    try:
        with httpx.Client(timeout=10) as client:
            for _ in range(30):
                assert client.get(pixel, headers={"User-Agent": "Thunderbird/128"}).content
        with store.reading() as session:  # the writer waits an hour: all of them spooled only
            assert storage.campaigns.events_of(session, campaign_id) == []
        assert bot.process is not None
        for pid in [*children_of(bot.process.pid), bot.process.pid]:
            os.kill(pid, signal.SIGKILL)
    finally:
        bot.stop()
    again = start_bot(tmp_path, sqlite_url, sink)
    try:

        def written() -> int:
            with store.reading() as session:
                return len(storage.campaigns.events_of(session, campaign_id))

        again.wait_until(lambda: written() >= 30)
        assert again.stop() == 0 and written() == 30
    finally:
        again.stop()
        store.dispose()
