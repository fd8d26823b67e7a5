"""Privacy end to end against a real `leadbot serve` (SQLite file and PostgreSQL), with a real
SMTP client and sink, the Slack Web API stand-in and a real HTTP client.

The canary: a person with unique markers in every field, the subject, the body and an
attachment's name of the mail they sent, a campaign send, an open and a click, and a Slack
card. The export holds every marker; after `privacy erase`, no file beside the SQLite store
(read raw: the store, its log, the accept spool, the pixel's hit segments) nor a `pg_dump` of
the PostgreSQL store holds any, the stand-in received
the card's redraw, and the report figures (`lead report`, `campaign stats`, `assign report`,
`leads list`) are the same as before. The self-service flow: the opt-out page's link, the
confirmation mail (one an hour), the signed link, the export by mail and the erase.
"""

from __future__ import annotations

import json
import re
import smtplib
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

import storage.campaigns
import storage.leads
from bot.dedupe.index import index
from bot.leads.reply_address import new_reply_token
from storage.engine import Store
from storage.models import Lead
from tests.fakes.slack_api import SlackApiStandIn, slack_api_server
from tests.fakes.smtp_sink import Sink, smtp_sink
from tests.services.bot import RunningBot, bot_env
from tests.services.ports import free_port
from tests.services.postgres import _pg_bin, create_database

ADDRESS = "zqc-addr@zqc-domain.test"
FIELDS = {
    "first_name": "Zqcfirst", "last_name": "Zqclast", "company": "Zqccompany",
    "title": "Zqctitle", "phone": "+44 20 7946 0958", "website": "https://zqc-site.test",
    "street": "Zqcstreet 1", "city": "Zqccity", "state": "Zqcstate", "postal_code": "ZQC 9PC",
    "country": "Zqccountry", "language": "zqclang", "industry": "Zqcindustry",
    "company_size": "Zqcsize",
}  # fmt: skip
SUBJECT, BODY, ATTACHMENT = "Zqcsubject pricing", "Zqcbody: forty seats?", "zqc-attachment.pdf"
CUSTOM, AGENT = "Zqccustom", "Mozilla/5.0 Zqcagent"
MARKERS = [ADDRESS, *FIELDS.values(), SUBJECT, BODY, ATTACHMENT, CUSTOM, AGENT, "zqc-domain",
           "20 7946 0958"]  # fmt: skip
RULES = """
[retention]
raw_mail_days = 90
tracking_months = 24
"""


class Landing(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html><body>Pricing</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def landing() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Landing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@dataclass
class World:
    bot: RunningBot
    url: str
    slack: SlackApiStandIn
    sink: Sink


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, landing: str
) -> Iterator[World]:
    """One `leadbot serve` per store for the module (self-service first, the canary last), with
    its own Slack stand-in and SMTP sink."""
    workdir = tmp_path_factory.mktemp(f"privacy-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{workdir / 'leadbot.db'}"
    else:
        admin = request.getfixturevalue("postgres_admin_url")
        url = create_database(admin, f"leadbot_privacy_{workdir.name.replace('-', '_')}")
    (workdir / "rules.toml").write_text(RULES)
    env, smtp_port, http_port = bot_env(workdir, url)
    env.update({
        "LEADBOT_PUBLIC_URL": f"http://127.0.0.1:{http_port}",
        "LEADBOT_OUTBOUND_RATE": "0", "LEADBOT_SCANNER_WINDOW_SECONDS": "0",
        "LEADBOT_TRACKING_FLUSH_SECONDS": "0.2", "LEADBOT_CAMPAIGN_TICK_SECONDS": "3600",
        "LEADBOT_INBOX_WORKERS": "0", "LEADBOT_SLACK_WORKERS": "0",
        "LEADBOT_SLACK_BOT_TOKEN": "xoxb-test",
        "LEADBOT_SLACK_CHANNEL": "C0LEADS", "LEADBOT_RULES": str(workdir / "rules.toml"),
    })  # fmt: skip
    with slack_api_server() as slack, smtp_sink() as sink:
        slack.users.update({"ann@sales.test": "U0ANN"})
        env.update({"LEADBOT_OUTBOUND_SMTP_URL": sink.url, "LEADBOT_SLACK_API_URL": slack.url})
        bot = RunningBot(workdir, env, smtp_port, http_port)
        bot.start()
        try:
            yield World(bot, url, slack, sink)
        finally:
            bot.stop()


def send_mail(bot: RunningBot, sender: str, subject: str, body: str, attachment: str) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, "leads@acme-leads.test", subject
    message.set_content(body)
    message.add_attachment(b"%PDF-1.4 not really", maintype="application", subtype="pdf",
                           filename=attachment)  # fmt: skip
    with smtplib.SMTP("127.0.0.1", bot.smtp_port, timeout=10) as client:
        client.send_message(message)


def lead_of(bot: RunningBot, address: str) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        leads = [lead for lead in bot.cli_json("leads", "list") if lead["email"] == address]
        return leads[0] if leads else None

    return bot.wait_until(found)


def mails_to(sink: Sink, address: str) -> list[EmailMessage]:
    with sink.lock:
        return [d.message() for d in sink.delivered if address in d.rcpt_tos]


# --- self-service ------------------------------------------------------------------------------


def test_self_service_export_and_erase_by_mail(world: World) -> None:
    bot, url, sink = world.bot, world.url, world.sink
    asker, leaver = "self.ask@selfserve.test", "self.leave@selfserve.test"
    store = Store(url)
    with store.transaction() as session:
        for address in (asker, leaver):
            storage.leads.add(session, Lead(email=address, reply_token=new_reply_token(),
                                            enquiry=f"Zqsbody from {address}"))  # fmt: skip
    store.dispose()
    leaver_lead = lead_of(bot, leaver)
    with httpx.Client(base_url=bot.http_url, timeout=10) as http:
        # the opt-out page (here: a link cut short) links to the privacy page
        assert 'href="/privacy"' in http.get("/t/u/not-a-token").text
        assert 'name="address"' in http.get("/privacy").text

        asked = http.post("/privacy", data={"address": asker, "action": "export"})
        assert asked.status_code == 200 and "Check your mail" in asked.text
        [confirmation] = bot.wait_until(lambda: mails_to(sink, asker))
        # again within the hour, and for someone not in the store: the same page, no mail
        assert http.post("/privacy", data={"address": asker, "action": "erase"}).status_code == 200
        stranger = http.post("/privacy", data={"address": "nobody@else.test", "action": "erase"})
        assert "Check your mail" in stranger.text
        link = re.search(r"(http://\S+/privacy/confirm\?t=\S+)", confirmation.get_content())
        assert link is not None
        token = link.group(1).split("t=", 1)[1]
        page = http.get(link.group(1))  # a link scanner's GET does nothing
        assert page.status_code == 200 and 'id="confirm"' in page.text
        done = http.post("/privacy/confirm", data={"t": token})
        assert done.status_code == 200 and "On its way" in done.text
        mails = bot.wait_until(lambda: len(mails_to(sink, asker)) == 2 and mails_to(sink, asker))
        [attachment] = list(mails[1].iter_attachments())
        assert attachment.get_filename() == "my-data.json"
        bundle = json.loads(attachment.get_content())
        assert f"Zqsbody from {asker}" in json.dumps(bundle)
        assert len(mails_to(sink, "nobody@else.test")) == 0

        # bad input: 4xx, never 500
        assert http.post("/privacy/confirm", data={"t": token[:-3] + "xyz"}).status_code == 404
        assert http.post("/privacy", data={"address": "not an address"}).status_code == 400
        assert http.post("/privacy", content=b"address=" + b"a" * 5000).status_code == 413

        http.post("/privacy", data={"address": leaver, "action": "erase"})
        [ask] = bot.wait_until(lambda: mails_to(sink, leaver))
        erase_link = re.search(r"(http://\S+/privacy/confirm\?t=\S+)", ask.get_content())
        assert erase_link is not None
        gone = http.post("/privacy/confirm", data={"t": erase_link.group(1).split("t=", 1)[1]})
        assert gone.status_code == 200 and "Deleted" in gone.text
    tomb = bot.cli_json("leads", "show", leaver_lead["id"])
    assert tomb["email"] == "" and tomb["status"] == leaver_lead["status"]
    [entry, *_] = json.loads(bot.cli("privacy", "log", "--json").stdout)
    assert (entry["actor"], entry["action"]) == ("self-service", "erase")


# --- the canary --------------------------------------------------------------------------------


def reports(bot: RunningBot) -> dict[str, Any]:
    return {
        "lead report": bot.cli("lead", "report").stdout,
        "campaign stats": bot.cli_json("campaign", "stats", "canary"),
        "assign report": bot.cli_json("assign", "report"),
    }


def dump_of(bot: RunningBot, url: str) -> bytes:
    """Every byte the store holds: for SQLite, every file beside it as the running serve has
    them (the store, its write-ahead log, the accept spool and its log, the pixel's hit
    segments), read raw: no checkpoint or VACUUM first, so a freed page or an old log frame
    that still held a value would show; or `pg_dump`."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        beside = [p for p in path.parent.glob(path.name + "*") if p.is_file()]
        hits = [p for p in path.parent.glob(path.name + "-hits/*") if p.is_file()]
        return b"".join(p.read_bytes() for p in [*beside, *hits])
    libpq = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    return subprocess.run([_pg_bin("pg_dump"), "--dbname", libpq], check=True,
                          capture_output=True).stdout  # fmt: skip


def test_canary_export_has_every_marker_and_erase_leaves_none(world: World, landing: str) -> None:
    bot, url, slack, sink = world.bot, world.url, world.slack, world.sink
    bot.cli("reps", "add", "Ann Lee", "ann@sales.test")
    send_mail(bot, ADDRESS, SUBJECT, BODY, ATTACHMENT)
    lead = lead_of(bot, ADDRESS)
    lead_id = int(lead["id"].removeprefix("L-"))

    def card() -> Any:
        posts = [c for c in slack.calls_to("chat.postMessage") if ADDRESS in json.dumps(c.params)]
        return posts[0] if posts else None

    posted = bot.wait_until(card)
    # the person's other fields, as a rep or an import would have filled them in
    store = Store(url)
    with store.transaction() as session:
        row = storage.leads.by_id(session, lead_id)
        assert row is not None
        for name, value in FIELDS.items():
            setattr(row, name, value)
        row.custom, row.status = {"note": CUSTOM}, "nurturing"
        session.add(row)
        index(session, row)
    store.dispose()

    folder = bot.workdir / "canary-templates"
    folder.mkdir(exist_ok=True)
    (folder / "hello.subject.j2").write_text("For {{ lead.company }}, {{ lead.first_name }}")
    (folder / "hello.txt.j2").write_text(f"Hi, see {landing}/pricing\n{{{{ unsubscribe_url }}}}\n")
    (folder / "hello.html.j2").write_text(
        f'<html><body><a href="{landing}/pricing">Pricing</a>{{{{ opt_out_link() }}}}</body></html>'
    )
    bot.cli("campaign", "create", "canary", "--templates", str(folder), "--step", "hello:0")
    assert bot.cli_json("campaign", "send", "canary")["sent"] == 1
    [mail] = mails_to(sink, ADDRESS)
    html = mail.get_body(("html",)).get_content()
    pixel = re.search(r'<img src="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    click = re.search(r'href="([^"]+/t/c/[^"]+)"', html).group(1)  # type: ignore[union-attr]
    with httpx.Client(timeout=10, headers={"User-Agent": AGENT}) as http:
        assert http.get(pixel).status_code == 200
        assert http.get(click).status_code == 302
    store = Store(url)

    def tracked() -> bool:  # read from the store: a CLI call per poll costs a fork each time
        with store.reading() as session:
            return {e.kind for e in storage.campaigns.events_of(session, 1)} == {"open", "click"}

    bot.wait_until(tracked)
    store.dispose()
    before = reports(bot)

    bundle_file = bot.workdir / "canary-export.json"
    bot.cli("privacy", "export", ADDRESS, "--out", str(bundle_file))
    exported = bundle_file.read_text()
    missing = [marker for marker in MARKERS if marker not in exported]
    assert missing == []
    assert lead["id"] in json.loads(exported)["leads"]

    erased = json.loads(bot.cli("privacy", "erase", ADDRESS, "--reason", "GDPR request",
                                "--json").stdout)  # fmt: skip
    # its card in the channel, and with the default rules (queued, offered) its owner's DM too
    assert erased["leads"] == [lead["id"]] and erased["cards"] >= 1 and erased["suppressed"]

    def redrawn() -> Any:
        channel, ts = posted.response["channel"], posted.response["ts"]
        updates = [c for c in slack.calls_to("chat.update")
                   if c.params.get("channel") == channel and c.params.get("ts") == ts
                   and "erased on request" in json.dumps(c.params)]  # fmt: skip
        return updates

    [update] = bot.wait_until(redrawn)
    assert ADDRESS not in json.dumps(update.params)
    assert reports(bot) == before
    again = bot.cli("privacy", "export", ADDRESS, check=False)
    assert again.returncode == 1 and "nothing is held" in again.stderr
    assert ADDRESS not in bot.log()  # serve's log masks addresses

    dump = dump_of(bot, url)
    assert len(dump) > 4096  # the dump is the store, not an error message
    left = [marker for marker in MARKERS if marker.encode() in dump]
    assert left == []
