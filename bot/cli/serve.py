"""`leadbot serve`: start the whole bot in this process."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

import typer

from bot.cli.output import fail, load_settings, writable_store_folder

app = typer.Typer()


@app.command()
def serve(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Start the bot: SMTP listener, HTTP server, inbox worker, notifications (and IMAP if set)."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from bot import log_masking as masking

    masking.install()  # addresses in log lines are masked
    import uvloop

    from bot.app.serve import serve as serve_bot

    settings = load_settings()
    from bot.mail_in.pipeline import check_steps

    try:
        check_steps(settings.inbound_steps)
    except ValueError as exc:
        fail(f"LEADBOT_INBOUND_STEPS: {exc}", code=2)
    writable_store_folder(settings.database_url)
    for what, host, port, variable in (
        ("SMTP", settings.smtp_host, settings.smtp_port, "LEADBOT_SMTP_PORT"),
        ("HTTP", settings.http_host, settings.http_port, "LEADBOT_HTTP_PORT"),
    ):
        if problem := _cannot_listen(host, port):
            fail(f"cannot listen on {host}:{port} for {what}: {problem} (set {variable})")
    uvloop.install()  # a faster event loop for the listeners (acks, SMTP replies)
    try:
        asyncio.run(serve_bot(settings))
    except KeyboardInterrupt:
        raise typer.Exit(130) from None  # Ctrl-C: stopped, quietly


def _cannot_listen(host: str, port: int) -> str | None:
    """Why a listener could not bind host:port (in use, not allowed), or None. Checked before
    anything starts, so the operator reads one line instead of a traceback from a runner."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        return f"unknown host ({exc.strerror or exc})"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            return (exc.strerror or str(exc)).lower()
    return None
