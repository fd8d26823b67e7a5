"""The IMAP poller against a real Dovecot: each mail in the folder is stored once, then marked done.

Each test runs on SQLite and on PostgreSQL (the `store` fixture). Some of the appended mails are
real ones from the shared corpora, the rest are generated; all go in with IMAP APPEND.
"""

from __future__ import annotations

import asyncio
import email
import logging
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from email.utils import make_msgid, parseaddr
from pathlib import Path

import pytest
from imapclient import IMAPClient

import storage.imap_cursors
import storage.inbox
import storage.leads
from bot.app.services import build_services
from bot.config import Settings
from bot.mail_in.imap import ImapAccount, ImapPoller, backoff_seconds, run_imap_poller
from bot.mail_in.inbox import InboundMailHandler, message_id_of
from storage.engine import Store
from storage.models import ImapCursor, InboundMessage
from tests.corpora import CORPORA
from tests.services.bot import bot_env, children_of, wait_gone
from tests.services.dovecot import DovecotServer
from tests.services.ports import free_port

DONE = "Processed"
REPLY_ADDRESS = "leads@localhost"
CORPUS_MAILS = (
    "talon/fixtures/standard_replies/yahoo.eml",
    "talon/fixtures/standard_replies/outlook.eml",  # has no Message-ID: one is added
    "imap_tools/plain_emails/raw_email.eml",
    "imap_tools/plain_emails/raw_email_simple.eml",
)

MakePoller = Callable[..., ImapPoller]


# --- mail ----------------------------------------------------------------------------------------


def crlf(raw: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def corpus_mail(relative: str) -> bytes:
    raw = crlf((CORPORA / "mail" / relative).read_bytes())
    if message_id_of(raw) is None:
        raw = f"Message-ID: {make_msgid(domain='corpus.test')}\r\n".encode() + raw
    return raw


FIRST = ("Ann", "Ben", "Cleo", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jude")
LAST = ("Adler", "Brook", "Castro", "Dorsey", "Egan", "Flynn", "Gupta", "Haas", "Ito", "Jansen",
        "Kowalski", "Lindqvist", "Moreau", "Nakamura", "Okafor", "Petrov", "Quist", "Rossi",
        "Sato", "Tanaka")  # fmt: skip


def prospect_name(n: int) -> str:
    """A different person per n (up to 200): look-alike names would rightly be merged."""
    return f"{FIRST[n % len(FIRST)]} {LAST[n // len(FIRST) % len(LAST)]}"


def generated_mail(n: int, domain: str = "prospects.test") -> bytes:
    message = EmailMessage()
    message["From"] = f"{prospect_name(n)} <prospect{n}@{domain}>"
    message["To"] = REPLY_ADDRESS
    message["Subject"] = f"Quote for {n + 10} seats"
    message["Message-ID"] = make_msgid(idstring=f"p{n}", domain=domain)
    message.set_content(
        f"Hello,\n\nwe need a quote for {n + 10} seats.\n\nThanks,\n{prospect_name(n)}\n"
    )
    return crlf(message.as_bytes())


def some_mails(generated: int = 3) -> list[bytes]:
    return [corpus_mail(path) for path in CORPUS_MAILS] + [
        generated_mail(n) for n in range(generated)
    ]


def sender_of(raw: bytes) -> str:
    return parseaddr(email.message_from_bytes(raw)["From"])[1].lower()


# --- the poller, the store and the server as the tests see them ----------------------------------


@pytest.fixture
def make_poller(dovecot: DovecotServer) -> Iterator[MakePoller]:
    """Pollers for the test's Dovecot (plain IMAP unless told), logged out after the test."""
    made: list[ImapPoller] = []

    def make(
        store: Store,
        *,
        security: str = "plain",
        done_folder: str = "",
        folder: str = "INBOX",
        verify_tls: bool = False,
    ) -> ImapPoller:
        account = ImapAccount(
            host=dovecot.host,
            port=dovecot.ssl_port if security == "ssl" else dovecot.port,
            user=dovecot.user,
            password=dovecot.password,
            folder=folder,
            done_folder=done_folder,
            security=security,
            verify_tls=verify_tls,
            timeout=10,
        )
        made.append(ImapPoller(store, account))
        return made[-1]

    yield make
    for poller in made:
        poller.close()


def inbound_rows(store: Store) -> list[InboundMessage]:
    with store.transaction() as session:
        return list(storage.inbox.listing(session, limit=100_000))


def lead_count(store: Store) -> int:
    with store.transaction() as session:
        return storage.leads.count(session)


def cursor_of(store: Store, poller: ImapPoller) -> ImapCursor | None:
    with store.transaction() as session:
        return storage.imap_cursors.get(session, poller.account.mailbox_key)


def folder_messages(dovecot: DovecotServer, folder: str) -> list[tuple[int, str, set[bytes]]]:
    """(UID, Message-ID, flags) of every message in `folder`, read without touching \\Seen."""
    client = dovecot.connect()
    try:
        if not client.folder_exists(folder):
            return []
        client.select_folder(folder, readonly=True)
        uids = client.search("ALL")
        fetched = client.fetch(uids, ["FLAGS", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
    finally:
        client.logout()
    return [
        (
            uid,
            message_id_of(data[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"]) or "",
            set(data[b"FLAGS"]),
        )
        for uid, data in sorted(fetched.items())
    ]


def uidvalidity_of(dovecot: DovecotServer, folder: str) -> int:
    client = dovecot.connect()
    try:
        return int(client.folder_status(folder, [b"UIDVALIDITY"])[b"UIDVALIDITY"])
    finally:
        client.logout()


SEEN = b"\\Seen"


# --- tests ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("security", ["plain", "starttls", "ssl"])
@pytest.mark.parametrize("done_folder", ["", DONE], ids=["flag-seen", "move-to-done"])
def test_mail_in_the_folder_becomes_leads_and_is_marked_done(
    store: Store,
    dovecot: DovecotServer,
    make_poller: MakePoller,
    security: str,
    done_folder: str,
) -> None:
    raws = some_mails()
    uids = dovecot.append_many(raws)
    poller = make_poller(store, security=security, done_folder=done_folder)

    assert poller.poll_once() == len(raws)

    rows = inbound_rows(store)
    assert [row.raw for row in rows] == raws  # whole messages, byte for byte, in UID order
    assert {(row.channel, row.state) for row in rows} == {("imap", "queued")}
    assert [row.message_id for row in rows] == [message_id_of(raw) for raw in raws]
    cursor = cursor_of(store, poller)
    assert cursor is not None and cursor.last_uid == uids[-1]
    assert cursor.uidvalidity == uidvalidity_of(dovecot, "INBOX")
    port = dovecot.ssl_port if security == "ssl" else dovecot.port
    assert [row.source_key for row in rows] == [
        f"imap:{dovecot.user}@{dovecot.host}:{port}/INBOX/{cursor.uidvalidity}/{uid}"
        for uid in uids
    ]

    assert InboundMailHandler(store, REPLY_ADDRESS).drain() == len(raws)
    with store.transaction() as session:
        for raw in raws:
            assert storage.leads.by_email(session, sender_of(raw)) is not None, sender_of(raw)
    assert lead_count(store) == len(raws)

    inbox = folder_messages(dovecot, "INBOX")
    if done_folder:
        assert inbox == []
        done = folder_messages(dovecot, done_folder)
        assert [mid for _, mid, _ in done] == [message_id_of(raw) for raw in raws]
        assert not any(SEEN in flags for _, _, flags in done)  # fetched with BODY.PEEK[]
    else:
        assert [uid for uid, _, _ in inbox] == uids
        assert all(SEEN in flags for _, _, flags in inbox)
        assert not folder_messages(dovecot, DONE)


def test_without_move_the_poller_copies_flags_deleted_and_expunges(
    store: Store,
    dovecot: DovecotServer,
    make_poller: MakePoller,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    has_capability = IMAPClient.has_capability
    monkeypatch.setattr(
        IMAPClient,
        "has_capability",
        lambda self, name: name.upper() != "MOVE" and has_capability(self, name),
    )
    raws = some_mails(generated=1)
    dovecot.append_many(raws)
    poller = make_poller(store, done_folder=DONE)

    assert poller.poll_once() == len(raws)
    assert poller.poll_once() == 0

    assert folder_messages(dovecot, "INBOX") == []
    done = folder_messages(dovecot, DONE)
    assert [mid for _, mid, _ in done] == [message_id_of(raw) for raw in raws]
    assert not any(b"\\Deleted" in flags for _, _, flags in done)
    assert len(inbound_rows(store)) == len(raws)


def test_a_self_signed_certificate_is_refused_while_verification_is_on(
    sqlite_url: str, dovecot: DovecotServer, make_poller: MakePoller
) -> None:
    store = Store(sqlite_url)
    try:
        poller = make_poller(store, security="ssl", verify_tls=True)
        with pytest.raises(ssl.SSLCertVerificationError):
            poller.poll_once()
        assert inbound_rows(store) == []
    finally:
        store.dispose()


def test_polling_again_stores_nothing_twice_and_a_new_mail_once(
    store: Store, dovecot: DovecotServer, make_poller: MakePoller
) -> None:
    dovecot.append_many(some_mails(generated=1))
    poller = make_poller(store)
    assert poller.poll_once() == 5
    assert poller.poll_once() == 0  # `UID n:*` answers the last message again: it is filtered
    assert len(inbound_rows(store)) == 5

    late = generated_mail(99)
    uid = dovecot.append(late)
    assert poller.poll_once() == 1
    assert poller.poll_once() == 0
    rows = inbound_rows(store)
    assert len(rows) == 6 and rows[-1].raw == late
    cursor = cursor_of(store, poller)
    assert cursor is not None and cursor.last_uid == uid
    assert InboundMailHandler(store, REPLY_ADDRESS).drain() == 6
    assert lead_count(store) == 6


@pytest.mark.parametrize("done_folder", ["", DONE], ids=["flag-seen", "move-to-done"])
def test_a_crash_between_commit_and_marking_neither_doubles_nor_loses(
    store: Store,
    dovecot: DovecotServer,
    make_poller: MakePoller,
    monkeypatch: pytest.MonkeyPatch,
    done_folder: str,
) -> None:
    raws = some_mails(generated=2)
    dovecot.append_many(raws)
    poller = make_poller(store, done_folder=done_folder)
    mark_done = ImapPoller._mark_done
    failures: list[list[int]] = []

    def fail_once(self: ImapPoller, client: IMAPClient, uids: list[int]) -> None:
        if not failures:
            failures.append(uids)
            raise ConnectionResetError("the server went away after the commit")
        mark_done(self, client, uids)

    monkeypatch.setattr(ImapPoller, "_mark_done", fail_once)

    with pytest.raises(ConnectionResetError):
        poller.poll_once()
    assert len(inbound_rows(store)) == 1  # committed, but not marked on the server
    assert len(folder_messages(dovecot, "INBOX")) == len(raws)
    assert not any(SEEN in flags for _, _, flags in folder_messages(dovecot, "INBOX"))

    assert poller.poll_once() == len(raws) - 1
    assert poller.poll_once() == 0

    rows = inbound_rows(store)
    assert [row.message_id for row in rows] == [message_id_of(raw) for raw in raws]
    assert {row.state for row in rows} == {"queued"}
    if done_folder:
        assert folder_messages(dovecot, "INBOX") == []
        assert sorted(mid for _, mid, _ in folder_messages(dovecot, DONE)) == sorted(
            message_id_of(raw) or "" for raw in raws
        )
    else:
        assert all(SEEN in flags for _, _, flags in folder_messages(dovecot, "INBOX"))
    assert InboundMailHandler(store, REPLY_ADDRESS).drain() == len(raws)
    assert lead_count(store) == len(raws)


def test_a_new_uidvalidity_rereads_the_folder_and_repeats_are_duplicates(
    store: Store, dovecot: DovecotServer, make_poller: MakePoller
) -> None:
    """A real UIDVALIDITY change: the folder is deleted and made again with the same mails."""
    folder = "Leads"
    first = [corpus_mail(CORPUS_MAILS[0]), generated_mail(1)]
    dovecot.append_many(first, folder)
    before = uidvalidity_of(dovecot, folder)
    poller = make_poller(store, folder=folder)
    assert poller.poll_once() == 2
    assert InboundMailHandler(store, REPLY_ADDRESS).drain() == 2

    client = dovecot.connect()
    client.delete_folder(folder)
    client.logout()
    dovecot.append_many([*first, generated_mail(2)], folder)
    after = uidvalidity_of(dovecot, folder)
    assert after != before

    assert poller.poll_once() == 3
    rows = inbound_rows(store)
    assert [row.state for row in rows] == ["done", "done", "duplicate", "duplicate", "queued"]
    assert [row.duplicate_of for row in rows[2:4]] == [rows[0].id, rows[1].id]
    assert all(f"/{folder}/{after}/" in (row.source_key or "") for row in rows[2:])
    cursor = cursor_of(store, poller)
    assert cursor is not None and cursor.uidvalidity == after

    assert InboundMailHandler(store, REPLY_ADDRESS).drain() == 1
    assert lead_count(store) == 3


def test_a_cursor_with_another_uidvalidity_rereads_without_storing_twice(
    store: Store, dovecot: DovecotServer, make_poller: MakePoller
) -> None:
    """A stale cursor (saved under another UIDVALIDITY): read again from UID 1; the source keys
    already stored are only marked done, and the cursor is set right."""
    uids = dovecot.append_many([generated_mail(1), generated_mail(2)])
    poller = make_poller(store)
    assert poller.poll_once() == 2
    cursor = cursor_of(store, poller)
    assert cursor is not None
    with store.transaction() as session:
        storage.imap_cursors.save(
            session, poller.account.mailbox_key, cursor.uidvalidity + 7, uids[-1] + 100
        )
    client = dovecot.connect()
    client.select_folder("INBOX")
    client.remove_flags(uids, [SEEN])
    client.logout()

    assert poller.poll_once() == 0

    assert all(SEEN in flags for _, _, flags in folder_messages(dovecot, "INBOX"))
    repaired = cursor_of(store, poller)
    assert repaired is not None
    assert (repaired.uidvalidity, repaired.last_uid) == (cursor.uidvalidity, uids[-1])
    assert len(inbound_rows(store)) == 2


def test_serve_killed_mid_poll_then_restarted_stores_every_message_once(
    store: Store, dovecot: DovecotServer, make_poller: MakePoller, tmp_path: Path
) -> None:
    total = 200
    raws = some_mails(generated=total - len(CORPUS_MAILS))
    dovecot.append_many(raws)
    env, _, _ = bot_env(
        tmp_path,
        store.url,
        LEADBOT_CONFIG=str(tmp_path / "absent.toml"),
        LEADBOT_IMAP_HOST=dovecot.host,
        LEADBOT_IMAP_PORT=str(dovecot.port),
        LEADBOT_IMAP_USER=dovecot.user,
        LEADBOT_IMAP_PASSWORD=dovecot.password,
        LEADBOT_IMAP_SECURITY="plain",
        LEADBOT_IMAP_DONE_FOLDER=DONE,
        LEADBOT_IMAP_POLL_SECONDS="0.2",
    )
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        # A process of its own, as an operator starts it (not a fork of the tests' CLI server):
        # killed, it must leave no worker process behind.
        process = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve"], cwd=tmp_path,
                                   env=env, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while len(inbound_rows(store)) < 10:
            assert process.poll() is None, f"leadbot serve exited:\n{log_path.read_text()}"
            assert time.monotonic() < deadline, f"nothing stored in 60s:\n{log_path.read_text()}"
            time.sleep(0.005)
        workers = children_of(process.pid)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    wait_gone(workers)  # its orphaned inbox worker finishes what it holds, then leaves
    stored_by_serve = len(inbound_rows(store))
    assert stored_by_serve < total, "serve finished before it was killed: the test proves nothing"

    poller = make_poller(store, done_folder=DONE)
    assert poller.poll_once() == total - stored_by_serve
    assert poller.poll_once() == 0

    rows = inbound_rows(store)
    message_ids = [row.message_id for row in rows]
    assert len(rows) == total
    assert set(message_ids) == {message_id_of(raw) for raw in raws}
    assert "duplicate" not in {row.state for row in rows}
    assert folder_messages(dovecot, "INBOX") == []
    done_ids = [mid for _, mid, _ in folder_messages(dovecot, DONE)]
    assert sorted(done_ids) == sorted(str(mid) for mid in message_ids)

    InboundMailHandler(store, REPLY_ADDRESS).drain()
    assert lead_count(store) == total
    assert {row.state for row in inbound_rows(store)} == {"done"}


def test_run_imap_poller_wakes_the_worker_and_outlives_a_dead_server(
    sqlite_url: str, dovecot: DovecotServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.mail_in.imap")
    common = dict(
        database_url=sqlite_url,
        imap_host=dovecot.host,
        imap_user=dovecot.user,
        imap_password=dovecot.password,
        imap_security="plain",
        imap_poll_seconds=0.05,
    )
    alive = Settings(imap_port=dovecot.port, **common)  # type: ignore[arg-type]
    dead = Settings(imap_port=free_port(), **common)  # type: ignore[arg-type]
    services = build_services(alive, migrate=False)
    mail = generated_mail(1)
    dovecot.append(mail)

    async def run() -> None:
        wake = asyncio.Event()
        polling = asyncio.create_task(run_imap_poller(alive, services, wake))
        failing = asyncio.create_task(run_imap_poller(dead, services, asyncio.Event()))
        await asyncio.wait_for(wake.wait(), timeout=10)
        await asyncio.sleep(0.3)
        assert not failing.done(), "a connection error must not end the poller"
        for task in (polling, failing):
            task.cancel()
        await asyncio.gather(polling, failing, return_exceptions=True)

    try:
        asyncio.run(run())
        [row] = inbound_rows(services.store)
        assert row.raw == mail
    finally:
        services.store.dispose()
    failures = [r for r in caplog.records if "failed" in r.getMessage()]
    assert failures and f":{dead.imap_port}/INBOX" in failures[0].getMessage()
    assert backoff_seconds(30, 1) == 30 and backoff_seconds(30, 3) == 120
    assert backoff_seconds(30, 50) == 300 and backoff_seconds(0.05, 1) == 1
