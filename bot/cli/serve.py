"""`leadbot serve`: start the whole bot in this process."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

import typer

from bot.cli.output import load_settings

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

    uvloop.install()  # a faster event loop for the listeners (acks, SMTP replies)
    asyncio.run(serve_bot(load_settings()))
