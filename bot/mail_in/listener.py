"""The SMTP listener as a process of its own, on a spooled store: a 250 at the disk's pace,
whatever serve's process is doing.

serve's process runs the HTTP server, the scorer and assigner, the outbox and the roll-ups; on a
busy machine their threads hold the GIL, and a 250 waited behind them (at 20 senders a third of
what a bare listener that fsyncs each mail answers). This process runs only the listener and
the spool's one writer (Mailman's LMTP runner, in small): it parses nothing but the headers'
Message-ID and touches only the spool. After each commit it sends a byte on `spooled`, which
serve turns into a wake-up of whoever moves the mail into the store.

Supervised by serve like the workers (bot/app/supervisor.py): closing its pipe, or serve's death,
stops it; it commits what it was handed before it exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import select
import signal
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from bot import log_masking as masking
from bot.config import Settings
from bot.mail_in.smtp import InboxSMTPHandler, start_smtp_server
from storage.spool import Spool, SpoolWriter

log = logging.getLogger(__name__)

PROCESS_NAME = "leadbot-smtp-listener"


def listener_main(
    settings_data: dict[str, Any], log_level: int, spooled: Connection, pipe: Connection
) -> None:
    """Entry point of the listener process; returns when the parent closes the pipe or dies."""
    logging.basicConfig(
        level=log_level, format="%(asctime)s %(levelname)s %(name)s[smtp]: %(message)s"
    )
    masking.install()
    # Ctrl-C reaches the whole process group: serve decides when its listener stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    settings = Settings(**settings_data)
    asyncio.run(_listen(settings, spooled, pipe))


def _no_store(raw: bytes, mail_from: str, rcpt_tos: list[str]) -> int:
    raise RuntimeError("the listener process commits to the spool only")


async def _listen(settings: Settings, spooled: Connection, pipe: Connection) -> None:
    path = settings.spool_path()
    assert path is not None, "a listener process needs a spool"

    def written(kinds: frozenset[str]) -> None:
        # From the writer's thread; a full pipe already holds a wake-up, so never block on it.
        with contextlib.suppress(OSError):
            if select.select([], [spooled.fileno()], [], 0)[1]:
                spooled.send_bytes(b"!")

    writer = SpoolWriter(Spool(path), written)
    handler = InboxSMTPHandler(_no_store, settings.inbound_address_list(), lambda: None,
                               spool=writer)  # fmt: skip
    server = await start_smtp_server(
        handler, settings.smtp_host, settings.smtp_port, settings.smtp_max_message_size
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def heard() -> None:
        try:
            while pipe.poll(0):
                pipe.recv_bytes()
        except (EOFError, OSError):
            stop.set()  # serve closed the pipe (stop) or died

    loop.add_reader(pipe.fileno(), heard)
    try:
        await stop.wait()
    finally:
        loop.remove_reader(pipe.fileno())
        server.close()
        await server.wait_closed()
        # What was handed to the writer is committed (and was or will be answered) first.
        await asyncio.to_thread(writer.stop)


def exited(process: BaseProcess) -> None:
    """Logged when the listener died and the supervisor starts another."""
    log.error("SMTP listener %s exited (%s); restarting", process.pid, process.exitcode)
