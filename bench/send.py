"""Send benchmark: nurture emails rendered (templates, tracked links, pixel, MIME) and delivered
through the real SMTP client to a local aiosmtpd sink running in its own process, with the same
CampaignSender `leadbot campaign send` uses (claim, render, SMTP, record; no rate limit).
Prints emails per second rendered alone, and rendered and delivered end to end. Aim: 200/s.

    .venv/bin/python bench/send.py
    .venv/bin/python bench/send.py --leads 3000 --connections 4 --stores sqlite postgres
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import storage.campaigns
from bot.config import Settings
from bot.nurture import campaigns
from bot.nurture.compose import (
    Envelope,
    TemplateSet,
    address,
    build_message,
    new_message_id,
    render_email,
)
from bot.nurture.links import TrackingLinks
from bot.nurture.send import CampaignSender
from storage.engine import Store
from storage.migrate import upgrade
from storage.models import Campaign, utcnow
from tests.campaign_helpers import add_campaign, add_leads
from tests.services.ports import free_port, wait_for_port
from tests.services.postgres import create_database, postgres_server


def render_rate(leads: int) -> float:
    links = TrackingLinks("https://t.example.com", "bench")
    templates = TemplateSet("example")
    campaign = Campaign(name="bench", template_set="example")
    from storage.models import Lead, Rep

    rep = Rep(name="Ann Lee", email="ann@yourco.com", signature="Ann Lee\nHead of Sales")
    lead = Lead(email="jane@acme.io", first_name="Jane", company="Acme", reply_token="0" * 16)
    start = time.perf_counter()
    for i in range(leads):
        rendered = render_email(
            templates, "welcome", campaigns.lead_context(lead, rep, campaign), links, i
        )
        envelope = Envelope(
            sender=address(rep.name, "news@yourco.com"),
            to=address("Jane", lead.email),
            reply_to=address(rep.name, "leads+0000000000000000@yourco.com"),
            message_id=new_message_id("news@yourco.com"),
            unsubscribe_https=links.opt_out(i),
            unsubscribe_mailto="leads+0000000000000000@yourco.com",
            date=utcnow(),
        )
        build_message(envelope, rendered).as_bytes()
    return leads / (time.perf_counter() - start)


def delivery_rate(url: str, sink_port: int, leads: int, connections: int) -> tuple[float, dict]:
    upgrade(url)
    store = Store(url)
    add_leads(store, leads)
    campaign_id = add_campaign(store)
    settings = Settings(database_url=url, outbound_smtp_url=f"smtp://127.0.0.1:{sink_port}",
                        secret_key="bench", public_url="https://t.example.com",
                        reply_address="leads@acme-leads.test", outbound_rate=0,
                        outbound_connections=connections)  # type: ignore[call-arg]  # fmt: skip
    sender = CampaignSender(store, settings)
    start = time.perf_counter()
    totals = asyncio.run(sender.run(campaign_id))
    elapsed = time.perf_counter() - start
    with store.reading() as session:
        sent = sum(1 for s in storage.campaigns.sends_of(session, campaign_id) if s.state == "sent")
    store.dispose()
    return sent / elapsed, dict(totals)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--leads", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--stores", nargs="+", default=["sqlite", "postgres"])
    args = parser.parse_args()
    rendered = render_rate(args.leads)
    print(f"rendered only (templates, tracked links, MIME bytes): {rendered:.0f} emails/s")
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        sink = subprocess.Popen(
            [sys.executable, "-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Sink",
             "-l", f"127.0.0.1:{port}"],
        )  # fmt: skip
        stack.callback(sink.wait)
        stack.callback(sink.terminate)
        wait_for_port(port)
        for name in args.stores:
            if name == "sqlite":
                url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            else:
                admin = stack.enter_context(postgres_server())
                url = create_database(admin, "leadbot_bench_send")
            rate, totals = delivery_rate(url, port, args.leads, args.connections)
            print(f"{name}: {args.leads} emails rendered and delivered over {args.connections} "
                  f"SMTP connections: {rate:.0f} emails/s (aim >= 200); {totals}")  # fmt: skip


if __name__ == "__main__":
    main()
