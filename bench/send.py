"""Send benchmark: nurture emails rendered (templates, tracked links, pixel, MIME) and delivered
through the real SMTP client to a local aiosmtpd Sink (in processes of its own, sharing one port
with SO_REUSEPORT), with the same CampaignSender `leadbot campaign send` uses (claim, render,
SMTP, record; no rate limit), over 1 or more sender processes. Aim: 1,000 emails/s on SQLite
and on PostgreSQL.

In one run it prints:
- rendering alone, the EmailMessage builder (`build_message`, the old path) and the one the
  sender uses (`message_bytes` from compiled step templates): emails/s and CPU ms per email;
- the relay's pace: bare aiosmtplib clients (as many processes and connections as the sender)
  sending one pre-built email over and over to the same sink, the ceiling of any sender;
- leadbot per store and number of sender processes: emails/s, CPU ms per email of the sender
  processes and of the sink, the load average before and after (the machine may be shared:
  judge wall figures by the CPU beside them).

Stores with the leads and the campaign are built once and kept under --cache (SQLite file
copied per run; PostgreSQL database cloned from a template database).

    .venv/bin/python bench/send.py
    .venv/bin/python bench/send.py --leads 6000 --processes 1 2 --connections 4 --stores sqlite
    .venv/bin/python bench/send.py --smtp-sink /work/cache/i19s/pf/root/usr/sbin/smtp-sink
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
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
    address_text,
    build_message,
    message_bytes,
    new_message_id,
    render_email,
)
from bot.nurture.links import TrackingLinks
from bot.nurture.send import CampaignSender
from storage.engine import Store
from storage.migrate import upgrade
from storage.models import Campaign, Lead, Rep, utcnow
from tests.campaign_helpers import add_campaign, add_leads
from tests.services.ports import free_port, wait_for_port
from tests.services.postgres import create_database, postgres_server

SINK = """
import asyncio, sys
from aiosmtpd.handlers import Sink
from aiosmtpd.smtp import SMTP

async def main(port):
    loop = asyncio.get_running_loop()
    await loop.create_server(lambda: SMTP(Sink(), hostname="sink.local"), "127.0.0.1", port,
                             reuse_port=True)
    await asyncio.Event().wait()

asyncio.run(main(int(sys.argv[1])))
"""
TICK = os.sysconf("SC_CLK_TCK")


def cpu_of(pid: int) -> float:
    """CPU seconds (user + system) a running process has used, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def own_cpu() -> float:
    """CPU seconds of this process and of its children that ended (the sender processes)."""
    me, children = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def render_rates(n: int) -> list[tuple[str, float, float]]:
    links = TrackingLinks("https://t.example.com", "bench")
    campaign = Campaign(name="bench", template_set="example")
    rep = Rep(name="Ann Lee", email="ann@yourco.com", signature="Ann Lee\nHead of Sales")
    lead = Lead(email="jane@acme.io", first_name="Jane", company="Acme", reply_token="0" * 16)
    context = campaigns.lead_context(lead, rep, campaign)
    reply = "leads+0000000000000000@yourco.com"
    compiled = TemplateSet("example").compiled("welcome")
    results = []
    for name in ("EmailMessage (build_message)", "compiled + message_bytes (the sender)"):
        fast = name.startswith("compiled")
        start, cpu = time.perf_counter(), time.process_time()
        for i in range(n):
            if fast:
                rendered = render_email(compiled, "welcome", context, links, i)
                make, build = address_text, message_bytes
            else:
                rendered = render_email(TemplateSet("example"), "welcome", context, links, i)
                make, build = address, lambda e, r: build_message(e, r).as_bytes()  # type: ignore[assignment]
            envelope = Envelope(
                sender=make(rep.name, "news@yourco.com"),
                to=make("Jane", lead.email),
                reply_to=make(rep.name, reply),
                message_id=new_message_id("news@yourco.com"),
                unsubscribe_https=links.opt_out(i),
                unsubscribe_mailto=reply,
                date=utcnow(),
            )
            build(envelope, rendered)
        wall, used = time.perf_counter() - start, time.process_time() - cpu
        results.append((name, n / wall, used / n * 1000))
    return results


def ceiling_worker(port: int, count: int, connections: int, data: bytes) -> None:
    import aiosmtplib

    async def one(n: int) -> None:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, local_hostname="bench")
        await smtp.connect()
        for _ in range(n):
            await smtp.sendmail("leads@acme-leads.test", ["jane@acme.io"], data)
        await smtp.quit()

    async def main() -> None:
        share = [count // connections + (i < count % connections) for i in range(connections)]
        await asyncio.gather(*(one(n) for n in share))

    asyncio.run(main())


def ceiling(port: int, n: int, processes: int, connections: int, sinks: list[int]) -> str:
    """Pre-built emails through bare aiosmtplib clients: what the sink and client take alone."""
    import multiprocessing

    links = TrackingLinks("https://t.example.com", "bench")
    rendered = render_email(TemplateSet("example").compiled("welcome"), "welcome",
                            campaigns.lead_context(Lead(email="jane@acme.io", first_name="Jane"),
                                                   None, Campaign(name="b", template_set="x")),
                            links, 1)  # fmt: skip
    data = message_bytes(Envelope(sender="news@yourco.com", to="jane@acme.io",
                                  reply_to="leads@yourco.com", message_id="<1@yourco.com>",
                                  unsubscribe_https=links.opt_out(1),
                                  unsubscribe_mailto="leads@yourco.com", date=utcnow()),
                         rendered)  # fmt: skip
    spawn = multiprocessing.get_context("spawn")
    before, sink_before, load_before = own_cpu(), sum(map(cpu_of, sinks)), load()
    start = time.perf_counter()
    workers = [spawn.Process(target=ceiling_worker,
                             args=(port, n // processes, connections, data))
               for _ in range(processes)]  # fmt: skip
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    wall = time.perf_counter() - start
    sent = n // processes * processes
    client = (own_cpu() - before) / sent * 1000
    sink = (sum(map(cpu_of, sinks)) - sink_before) / sent * 1000
    return (f"{sent / wall:>7.0f}/s  client {client:.2f} CPU ms/email, sink {sink:.2f}; "
            f"load {load_before} -> {load()}")  # fmt: skip


def build_store(url: str, leads: int) -> None:
    upgrade(url)
    store = Store(url)
    add_leads(store, leads)
    add_campaign(store)
    store.dispose()


def deliver(url: str, port: int, processes: int, connections: int, sinks: list[int]) -> str:
    store = Store(url)
    with store.reading() as session:
        [campaign_id] = [c.id for c in storage.campaigns.listing(session)]
    settings = Settings(database_url=url, outbound_smtp_url=f"smtp://127.0.0.1:{port}",
                        secret_key="bench", public_url="https://t.example.com",
                        reply_address="leads@acme-leads.test", outbound_rate=0,
                        outbound_connections=connections,
                        outbound_processes=processes)  # type: ignore[call-arg]  # fmt: skip
    sender = CampaignSender(store, settings)
    before, sink_before, load_before = own_cpu(), sum(map(cpu_of, sinks)), load()
    start = time.perf_counter()
    totals = asyncio.run(sender.run(campaign_id))
    wall = time.perf_counter() - start
    with store.reading() as session:
        sent = sum(1 for s in storage.campaigns.sends_of(session, campaign_id) if s.state == "sent")
    store.dispose()
    cpu = (own_cpu() - before) / max(1, sent) * 1000
    sink = (sum(map(cpu_of, sinks)) - sink_before) / max(1, sent) * 1000
    return (f"{sent / wall:>7.0f}/s  senders {cpu:.2f} CPU ms/email, sink {sink:.2f}; "
            f"load {load_before} -> {load()}; {dict(totals)}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--leads", type=int, default=6000)
    parser.add_argument("--connections", type=int, default=4, help="per sender process")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--sinks", type=int, default=2, help="aiosmtpd sink processes")
    parser.add_argument("--smtp-sink", metavar="BIN",
                        help="Postfix's smtp-sink binary as the sink instead of aiosmtpd "
                             "(apt-get download postfix; dpkg -x postfix_*.deb DIR: "
                             "DIR/usr/sbin/smtp-sink)")  # fmt: skip
    parser.add_argument("--stores", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--render", type=int, default=1000, help="emails for the render figures")
    parser.add_argument("--cache", type=Path, default=Path("/work/cache/i19s"))
    args = parser.parse_args()
    print(f"load average {load()}")
    for name, rate, cpu in render_rates(args.render):
        print(f"rendered only, {name}: {rate:.0f} emails/s, {cpu:.2f} CPU ms/email")
    args.cache.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        sinks = []
        if args.smtp_sink:
            # Postfix's smtp-sink (C, one process): a relay that costs next to nothing per email.
            binary = Path(args.smtp_sink).resolve()
            libs = binary.parents[1] / "lib" / "postfix"
            env = {**os.environ, "LD_LIBRARY_PATH": str(libs)} if libs.is_dir() else None
            commands = [[str(binary), "-u", "nobody", f"127.0.0.1:{port}", "256"]]
            what = f"Postfix smtp-sink ({binary})"
        else:
            env = None
            commands = [[sys.executable, "-c", SINK, str(port)]] * args.sinks
            what = f"{args.sinks} aiosmtpd Sink processes on one port"
        for command in commands:
            sink = subprocess.Popen(command, env=env)
            stack.callback(sink.wait)
            stack.callback(sink.terminate)
            sinks.append(sink.pid)
        wait_for_port(port)
        time.sleep(0.5)  # every sink process listening before the connections are spread
        print(f"sink: {what}; {args.leads} emails per run")
        for processes in args.processes:
            print(
                f"relay's pace, {processes} client process(es) x {args.connections} "
                f"connections: {ceiling(port, args.leads, processes, args.connections, sinks)}"
            )
        admin = None
        for name in args.stores:
            for processes in args.processes:
                if name == "sqlite":
                    cached = args.cache / f"send-{args.leads}.db"
                    if not cached.exists():
                        build_store(f"sqlite:///{cached}", args.leads)
                    shutil.copy(cached, Path(tmp) / "bench.db")
                    url = f"sqlite:///{Path(tmp) / 'bench.db'}"
                else:
                    if admin is None:
                        admin = stack.enter_context(postgres_server())
                        build_store(create_database(admin, "leadbot_send_template"), args.leads)
                    url = create_database(admin, "leadbot_send", template="leadbot_send_template")
                figures = deliver(url, port, processes, args.connections, sinks)
                print(
                    f"leadbot {name}, {processes} sender process(es) x {args.connections} "
                    f"connections: {figures}"
                )


if __name__ == "__main__":
    main()
