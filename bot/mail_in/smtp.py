"""The SMTP listener (aiosmtpd): accept mail for the inbound addresses, commit it, then say 250.

It decides nothing about leads. RCPT is refused for any address that is not ours (no open
relay); DATA answers 250 only once `accept` has committed the raw bytes, and 451 when it could
not, so the sender retries and nothing is lost. With a spool writer (storage/spool.py, on a
SQLite store) the bytes are committed to the spool instead, which no lead transaction locks, so
the 250 waits for the disk only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from aiosmtpd.smtp import SMTP, Envelope, Session

from bot.mail_in.envelope import spool_entry
from storage.spool import SpoolWriter

log = logging.getLogger(__name__)
# aiosmtpd logs every SMTP command at INFO; an operator wants refusals and errors, not chatter.
logging.getLogger("mail.log").setLevel(logging.WARNING)

MAX_RECIPIENTS = 100

# accept(raw, mail_from, rcpt_tos) -> stored message id; blocking, run in a worker thread.
Accept = Callable[[bytes, str, list[str]], int]


def is_inbound_address(address: str, allowed: list[str]) -> bool:
    """`allowed` holds addresses (plus-variants of them count) and @domains, lower-case."""
    local, _, domain = address.strip().lower().partition("@")
    if not local or not domain:
        return False
    base = f"{local.partition('+')[0]}@{domain}"
    for entry in allowed:
        if entry.startswith("@"):
            if domain == entry[1:]:
                return True
        elif entry in (address.strip().lower(), base):
            return True
    return False


class InboxSMTPHandler:
    """aiosmtpd handler hooks: RCPT checks the address, DATA hands the bytes to `accept`."""

    def __init__(
        self,
        accept: Accept,
        allowed: list[str],
        on_stored: Callable[[], None],
        *,
        spool: SpoolWriter | None = None,
    ) -> None:
        self.accept = accept
        self.allowed = allowed
        self.on_stored = on_stored
        self.spool = spool
        # `accept`'s own threads: the loop's default pool is shared with serve's runners, and a
        # 250 must not queue behind them.
        self._accepting = ThreadPoolExecutor(4, thread_name_prefix="smtp-accept")

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list
    ) -> str:
        if not is_inbound_address(address, self.allowed):
            return f"550 5.7.1 <{address}>: relay access denied, not an address leadbot serves"
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        try:
            if self.spool is not None:
                entry = spool_entry(raw, channel="smtp", mail_from=envelope.mail_from or "",
                                    rcpt_tos=list(envelope.rcpt_tos))  # fmt: skip
                stored_id: int | str = f"S{await asyncio.wrap_future(self.spool.submit(entry))}"
            else:
                stored_id = await asyncio.get_running_loop().run_in_executor(
                    self._accepting, self.accept, raw, envelope.mail_from or "",
                    list(envelope.rcpt_tos),
                )  # fmt: skip
        except Exception:
            log.exception("could not store an inbound message; answering 451")
            return "451 4.3.0 Could not store the message, try again later"
        self.on_stored()
        return f"250 2.0.0 OK queued as {stored_id}"


async def start_smtp_server(
    handler: InboxSMTPHandler, host: str, port: int, max_size: int
) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    factory = partial(
        SMTP,
        handler,
        data_size_limit=max_size,
        enable_SMTPUTF8=True,
        hostname="leadbot",
        ident="leadbot ESMTP",
    )
    return await loop.create_server(factory, host=host, port=port)
