"""Pixel benchmark: the open pixel of a real `leadbot serve` (one uvicorn worker) next to the same
GIF as a static file served by nginx (the ceiling) and from a bare ASGI app on uvicorn (the floor
of any Python answer). All are loaded with wrk (Debian packages `wrk` and `nginx`:
`bash scripts/install-test-deps.sh --bench`) for the same time and number of connections; it
prints requests per second, p50/p99 latency, the CPU seconds each server used during its
measured run (the process and its children, from /proc) and the load average around it (the
machine may be shared: judge the rates by the CPU beside them), and the pixel's share of
nginx's rate. Aims: at least 35% of nginx, p99 under 5 ms. Afterwards it checks that every pixel
hit was written to the store (each hit is appended to the hit spool before it is answered; the
tracking writer process drains the spool into the store every second, and at stop).

    .venv/bin/python bench/pixel.py
    .venv/bin/python bench/pixel.py --seconds 10 --connections 20 --nginx-workers 1
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import storage.campaigns
from bot.nurture.links import TrackingLinks
from bot.web.tracking import GIF
from storage.engine import Store
from storage.migrate import upgrade
from tests.campaign_helpers import add_campaign, add_leads, sent_sends
from tests.services.bot import running_bot
from tests.services.ports import free_port, wait_for_port

NGINX_CONF = """
worker_processes {workers};
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {root}/tmp;
    proxy_temp_path {root}/tmp;
    fastcgi_temp_path {root}/tmp;
    uwsgi_temp_path {root}/tmp;
    scgi_temp_path {root}/tmp;
    server {{
        listen 127.0.0.1:{port};
        location / {{ root {root}/www; add_header Cache-Control "no-store"; }}
    }}
}}
"""


TICK = os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int) -> tuple[float, float]:
    """CPU seconds used so far by `pid` and by its running children, from /proc."""
    own = children = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        used = (int(fields[11]) + int(fields[12])) / TICK
        if int(stat.parent.name) == pid:
            own += used
        elif int(fields[1]) == pid:
            children += used
    return own, children


def measured(pid: int, url: str, args: argparse.Namespace) -> dict[str, float]:
    """wrk against `url`, with the CPU the server (pid and children) used and the load."""
    wrk(url, 2, args.connections, "warm-up")
    # What the server burns with no requests (serve's background loops), to take off below.
    idle = tree_cpu(pid)
    time.sleep(2)
    figures_idle = tree_cpu(pid)
    before, load = tree_cpu(pid), os.getloadavg()[0]
    figures = wrk(url, args.seconds, args.connections, args.user_agent)
    after = tree_cpu(pid)
    figures["cpu"], figures["cpu_children"] = after[0] - before[0], after[1] - before[1]
    idle_rate = (figures_idle[0] - idle[0]) / 2
    figures["cpu_net"] = max(0.0, figures["cpu"] - idle_rate * args.seconds)
    figures["load"] = (load + os.getloadavg()[0]) / 2
    return figures


def wrk(url: str, seconds: int, connections: int, user_agent: str) -> dict[str, float]:
    """Requests/s and latency percentiles from `wrk --latency`."""
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency",
         "-H", f"User-Agent: {user_agent}", url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    figures = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}  # type: ignore[union-attr]
    figures["requests"] = float(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    for pct in ("50", "99"):
        value, unit = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        figures[f"p{pct}"] = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    figures["errors"] = float(errors.group(1)) if errors else 0.0
    return figures


def nginx_figures(root: Path, args: argparse.Namespace) -> dict[str, float]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    # nginx's workers drop root for `nobody`, who must be able to read the file.
    for folder in (root.parent, root):
        folder.chmod(0o755)
    (root / "www").mkdir()
    (root / "tmp").mkdir()
    (root / "www" / "pixel.gif").write_bytes(GIF)
    port = free_port()
    conf = root / "nginx.conf"
    conf.write_text(NGINX_CONF.format(workers=args.nginx_workers, root=root, port=port))
    process = subprocess.Popen([nginx, "-c", str(conf), "-p", str(root)])
    try:
        wait_for_port(port)
        return measured(process.pid, f"http://127.0.0.1:{port}/pixel.gif", args)
    finally:
        process.terminate()
        process.wait()


BARE_APP = """
GIF = {gif!r}
HEADERS = [(b"content-type", b"image/gif")]
START = {{"type": "http.response.start", "status": 200, "headers": HEADERS}}


async def app(scope, receive, send):
    if scope["type"] == "http":
        await send(START)
        await send({{"type": "http.response.body", "body": GIF}})
"""


def bare_figures(root: Path, args: argparse.Namespace) -> dict[str, float]:
    """A bare ASGI app answering the GIF on one uvicorn worker: what routing costs nothing."""
    root.mkdir()
    (root / "bare_pixel.py").write_text(BARE_APP.format(gif=GIF))
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bare_pixel:app", "--app-dir", str(root),
         "--port", str(port), "--log-level", "warning", "--no-access-log",
         "--loop", "uvloop", "--http", "httptools"],
    )  # fmt: skip
    try:
        wait_for_port(port)
        return measured(process.pid, f"http://127.0.0.1:{port}/t/o/x", args)
    finally:
        process.terminate()
        process.wait()


def pixel_figures(root: Path, args: argparse.Namespace) -> tuple[dict[str, float], int]:
    url = f"sqlite:///{root / 'leadbot.db'}"
    upgrade(url)
    store = Store(url)
    add_leads(store, 1)
    campaign_id = add_campaign(store)
    [send_id] = sent_sends(store, campaign_id, ["https://example.com/"])
    # A production serve's defaults (the test harness polls faster than that).
    extra = {
        "LEADBOT_TRACKING_FLUSH_SECONDS": str(args.flush_seconds),
        "LEADBOT_WORKER_IDLE_SECONDS": "0.5",
    }
    with running_bot(root, url, **extra) as bot:
        links = TrackingLinks(bot.http_url, bot.env["LEADBOT_SECRET_KEY"])
        assert bot.process is not None
        figures = measured(bot.process.pid, links.pixel(send_id), args)
    with store.reading() as session:
        stored = len(storage.campaigns.events_of(session, campaign_id))
    store.dispose()
    return figures, stored


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument(
        "--flush-seconds",
        type=float,
        default=1.0,
        help="LEADBOT_TRACKING_FLUSH_SECONDS: how often hits are written",
    )
    parser.add_argument("--nginx-workers", default="1", help="nginx worker_processes (1 or auto)")
    parser.add_argument("--user-agent", default="Mozilla/5.0 (X11; Linux x86_64) Thunderbird/128.3")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: bash scripts/install-test-deps.sh --bench")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "nginx").mkdir()
        (Path(tmp) / "bot").mkdir()
        ceiling = nginx_figures(Path(tmp) / "nginx", args)
        bare = bare_figures(Path(tmp) / "bare", args)
        pixel, stored = pixel_figures(Path(tmp) / "bot", args)
    load = f"wrk -t1 -c{args.connections} -d{args.seconds}s"
    print(f"{load}, nginx worker_processes {args.nginx_workers}")
    print(
        "CPU s: the server process during the measured run; µs/req: that CPU less what it uses "
        "idle (2 s measured before), per request; children: its child processes (the tracking "
        "writer drains the spool there)"
    )
    print(f"{'':<28}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}{'CPU s':>8}"
          f"{'µs/req':>8}{'children CPU s':>16}{'load':>7}")  # fmt: skip
    rows = (("nginx static GIF", ceiling), ("bare ASGI app (1 worker)", bare),
            ("leadbot pixel (1 worker)", pixel))  # fmt: skip
    for name, f in rows:
        per = f["cpu_net"] / max(1.0, f["requests"]) * 1e6
        print(f"{name:<28}{f['rps']:>10.0f}{f['p50']:>9.2f}{f['p99']:>9.2f}{f['errors']:>9.0f}"
              f"{f['cpu']:>8.1f}{per:>8.0f}{f['cpu_children']:>16.1f}"
              f"{f['load']:>7.1f}")  # fmt: skip
    share = pixel["rps"] / ceiling["rps"]
    print(f"bare ASGI / nginx: {bare['rps'] / ceiling['rps']:.0%}; pixel / bare ASGI: "
          f"{pixel['rps'] / bare['rps']:.0%}")  # fmt: skip
    print(f"pixel / nginx: {share:.0%} (aim >= 35%); pixel p99 {pixel['p99']:.2f} ms (aim < 5 ms)")
    hits = pixel["requests"]
    print(f"events written by the stop: {stored} (measured hits {hits:.0f}, plus the warm-up)")


if __name__ == "__main__":
    main()
