"""The SMTP listener against real smtplib clients: who it accepts, and 250 only once stored."""

from __future__ import annotations

import asyncio
import smtplib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import storage.inbox
from bot.mail_in.inbox import accept_raw
from bot.mail_in.smtp import InboxSMTPHandler, is_inbound_address, start_smtp_server
from storage import spool as spooling
from storage.engine import Store
from storage.spool import Spool, SpoolWriter
from tests.services.ports import free_port

ALLOWED = ["leads@acme-leads.test", "@inbound.test"]
MESSAGE = b"From: jane@acme.io\r\nSubject: hi\r\nMessage-ID: <m1@acme.io>\r\n\r\nPricing?\r\n"


@contextmanager
def smtp_listener(accept: Callable[[bytes, str, list[str]], int], max_size: int = 1_000_000,
                  spool: SpoolWriter | None = None) -> Iterator[int]:  # fmt: skip
    """The real listener on a free port, its loop in a thread."""
    port = free_port()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    stored: list[int] = []

    async def main() -> asyncio.Server:
        handler = InboxSMTPHandler(accept, ALLOWED, lambda: stored.append(1), spool=spool)
        return await start_smtp_server(handler, "127.0.0.1", port, max_size)

    server = loop.run_until_complete(main())
    thread = threading.Thread(target=lambda: (started.set(), loop.run_forever()), daemon=True)
    thread.start()
    started.wait()
    try:
        yield port
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        server.close()
        loop.run_until_complete(server.wait_closed())
        loop.close()


def accept_into(store: Store) -> Callable[[bytes, str, list[str]], int]:
    def accept(raw: bytes, mail_from: str, rcpt_tos: list[str]) -> int:
        row = accept_raw(store, raw, channel="smtp", mail_from=mail_from, rcpt_tos=rcpt_tos)
        assert row.id is not None
        return row.id

    return accept


@pytest.mark.parametrize(
    ("address", "accepted"),
    [
        ("leads@acme-leads.test", True),
        ("LEADS@Acme-Leads.TEST", True),
        ("leads+0123456789abcdef@acme-leads.test", True),
        ("sales@acme-leads.test", False),
        ("anyone@inbound.test", True),
        ("anyone@sub.inbound.test", False),
        ("victim@gmail.com", False),
        ("no-domain", False),
    ],
)
def test_inbound_address_policy(address: str, accepted: bool) -> None:
    assert is_inbound_address(address, ALLOWED) is accepted


def test_stored_message_gets_250_with_its_queue_id(store: Store) -> None:
    with smtp_listener(accept_into(store)) as port, smtplib.SMTP("127.0.0.1", port) as client:
        client.ehlo()
        client.mail("jane@acme.io")
        client.rcpt("leads@acme-leads.test")
        code, reply = client.data(MESSAGE)
    assert code == 250 and reply.startswith(b"2.0.0 OK queued as ")
    stored_id = int(reply.rsplit(b" ", 1)[1])
    with store.transaction() as session:
        row = storage.inbox.by_id(session, stored_id)
        assert row is not None
        assert (row.channel, row.mail_from, row.rcpt_tos) == (
            "smtp", "jane@acme.io", ["leads@acme-leads.test"],
        )  # fmt: skip
        assert row.raw.replace(b"\r\n", b"\n") == MESSAGE.replace(b"\r\n", b"\n")
        assert (row.message_id, row.state) == ("<m1@acme.io>", "queued")


def test_store_down_answers_451_and_the_retry_lands(sqlite_url: str) -> None:
    unreachable = Store("postgresql+psycopg://leadbot@127.0.0.1:1/nowhere")
    with smtp_listener(accept_into(unreachable)) as port, smtplib.SMTP("127.0.0.1", port) as c:
        c.ehlo()
        c.mail("jane@acme.io")
        c.rcpt("leads@acme-leads.test")
        code, reply = c.data(MESSAGE)
    unreachable.dispose()
    assert (code, reply) == (451, b"4.3.0 Could not store the message, try again later")

    working = Store(sqlite_url)  # the sender retries later, against a store that works
    with smtp_listener(accept_into(working)) as port, smtplib.SMTP("127.0.0.1", port) as c:
        assert c.sendmail("jane@acme.io", ["leads@acme-leads.test"], MESSAGE) == {}
    with working.transaction() as session:
        assert [m.message_id for m in storage.inbox.listing(session)] == ["<m1@acme.io>"]
    working.dispose()


def test_with_a_spool_the_250_waits_for_the_spool_s_commit_not_the_store(
    store: Store, tmp_path: Path
) -> None:
    def no_store(raw: bytes, mail_from: str, rcpt_tos: list[str]) -> int:
        raise AssertionError("a spooled 250 does not touch the store")

    spool = Spool(str(tmp_path / "inbox.spool"))
    writer = SpoolWriter(spool)
    with smtp_listener(no_store, spool=writer) as port, smtplib.SMTP("127.0.0.1", port) as c:
        c.ehlo()
        c.mail("jane@acme.io")
        c.rcpt("leads@acme-leads.test")
        assert c.data(MESSAGE) == (250, b"2.0.0 OK queued as S1")
    writer.stop()
    [item] = Spool(spool.path).oldest(10)  # committed: another connection sees it
    assert item.kind == "smtp" and item.meta["message_id"] == "<m1@acme.io>"
    spooling.move(spool, store)
    with store.reading() as session:
        [row] = storage.inbox.listing(session)
        assert (row.channel, row.mail_from, row.rcpt_tos, row.message_id, row.state) == (
            "smtp", "jane@acme.io", ["leads@acme-leads.test"], "<m1@acme.io>", "queued",
        )  # fmt: skip
        assert row.raw.replace(b"\r\n", b"\n") == MESSAGE.replace(b"\r\n", b"\n")


def test_a_spool_that_cannot_be_written_answers_451(store: Store, tmp_path: Path) -> None:
    (tmp_path / "a-directory").mkdir()
    writer = SpoolWriter(Spool(str(tmp_path / "a-directory")))
    with smtp_listener(accept_into(store), spool=writer) as port, smtplib.SMTP("127.0.0.1", port
                                                                                ) as c:  # fmt: skip
        c.ehlo()
        c.mail("jane@acme.io")
        c.rcpt("leads@acme-leads.test")
        assert c.data(MESSAGE) == (451, b"4.3.0 Could not store the message, try again later")
    writer.stop()


def test_refusals_have_clear_codes(store: Store) -> None:
    with (
        smtp_listener(accept_into(store), max_size=2000) as port,
        smtplib.SMTP("127.0.0.1", port) as client,
    ):
        client.ehlo()
        assert client.esmtp_features["size"] == "2000"
        client.mail("x@y.test")
        code, reply = client.rcpt("victim@gmail.com")
        assert code == 550 and reply.startswith(b"5.7.1 <victim@gmail.com>: relay access denied")
        for n in range(100):
            assert client.rcpt(f"r{n}@inbound.test")[0] == 250
        assert client.rcpt("r100@inbound.test") == (452, b"4.5.3 Too many recipients")
        client.rset()
        client.mail("x@y.test")
        client.rcpt("leads@acme-leads.test")
        code, reply = client.data(b"Subject: big\r\n\r\n" + (b"x" * 70 + b"\r\n") * 50)
        assert (code, reply) == (552, b"Error: Too much mail data")
    with store.transaction() as session:
        assert storage.inbox.listing(session) == []
