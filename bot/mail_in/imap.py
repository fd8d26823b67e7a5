"""The IMAP poller (imapclient): copy new mail of a folder into the inbox queue, then mark it done.

It knows nothing of leads. Each poll selects the folder, reads UIDVALIDITY and the cursor kept in
the store (the last UID committed), fetches every newer message with BODY.PEEK[] (so fetching
does not set \\Seen) and, in ONE transaction, stores the raw bytes under the source key
`imap:<user>@<host>:<port>/<folder>/<uidvalidity>/<uid>` and advances the cursor. Only after that
commit is the message marked done on the server: moved to the done folder when one is set (MOVE,
or COPY + \\Deleted + EXPUNGE where the server lacks MOVE), else flagged \\Seen.

A crash between the commit and the marking loses nothing and creates nothing twice: the next
poll also looks at the messages at or below the cursor that are still waiting in the folder,
finds their source key already stored and only marks them done. When UIDVALIDITY changes the
folder is read again from the start; the inbox stores a repeated Message-ID as a duplicate, so
that makes no second lead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

import storage.imap_cursors
import storage.inbox
from bot.mail_in.inbox import message_id_of
from storage.engine import Store
from storage.models import InboundMessage

if TYPE_CHECKING:
    from sqlmodel import Session

    from bot.config import Settings

log = logging.getLogger(__name__)

SECURITY_MODES = ("ssl", "starttls", "plain")
CHANNEL = "imap"
SEEN = b"\\Seen"
# Longest wait between two attempts while the server keeps failing.
MAX_BACKOFF_SECONDS = 300.0


@dataclass(frozen=True)
class ImapAccount:
    """Where and how to log in, which folder to read and where processed mail goes."""

    host: str
    port: int
    user: str
    password: str
    folder: str = "INBOX"
    done_folder: str = ""
    security: str = "ssl"
    verify_tls: bool = True
    timeout: float = 60.0

    @classmethod
    def from_settings(cls, settings: Settings) -> ImapAccount:
        return cls(
            host=settings.imap_host,
            port=settings.imap_port,
            user=settings.imap_user,
            password=settings.imap_password,
            folder=settings.imap_folder,
            done_folder=settings.imap_done_folder,
            security=settings.imap_security,
            verify_tls=settings.imap_verify_tls,
        )

    @property
    def mailbox_key(self) -> str:
        """The cursor's key, and the stem of every source key: user@host:port/FOLDER."""
        return f"{self.user}@{self.host}:{self.port}/{self.folder}"

    def source_key(self, uidvalidity: int, uid: int) -> str:
        return f"imap:{self.mailbox_key}/{uidvalidity}/{uid}"

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if not self.verify_tls:  # a self-signed test or lab server
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


class ImapPoller:
    """Polls one folder; `poll_once` is blocking and keeps one connection between polls."""

    def __init__(self, store: Store, account: ImapAccount) -> None:
        if account.security not in SECURITY_MODES:
            raise ValueError(
                f"imap_security must be one of {', '.join(SECURITY_MODES)}, "
                f"not {account.security!r}"
            )
        self.store = store
        self.account = account
        self._client: IMAPClient | None = None
        self._busy = threading.Lock()
        self._closed = False

    @classmethod
    def from_settings(cls, settings: Settings, store: Store) -> ImapPoller:
        return cls(store, ImapAccount.from_settings(settings))

    # --- connection ----------------------------------------------------------------------------

    def _connect(self) -> IMAPClient:
        account = self.account
        use_ssl = account.security == "ssl"
        client = IMAPClient(
            account.host,
            port=account.port,
            ssl=use_ssl,
            ssl_context=account.ssl_context() if use_ssl else None,
            timeout=account.timeout,
        )
        try:
            if account.security == "starttls":
                client.starttls(account.ssl_context())
            client.login(account.user, account.password)
            if account.done_folder and not client.folder_exists(account.done_folder):
                try:
                    client.create_folder(account.done_folder)
                except IMAPClientError:  # created meanwhile by another client: fine if it exists
                    if not client.folder_exists(account.done_folder):
                        raise
        except BaseException:
            client.shutdown()
            raise
        log.info("IMAP connected to %s (%s)", account.mailbox_key, account.security)
        return client

    def _connection(self) -> IMAPClient:
        """The open connection if it still answers, else a new one."""
        if self._client is not None:
            try:
                self._client.noop()
                return self._client
            except Exception:
                self._drop()
        self._client = self._connect()
        return self._client

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):  # already broken; nothing more to do
                client.shutdown()

    def close(self) -> None:
        """Log out now, or, when a poll is running in another thread (its task was cancelled
        while the thread went on), as soon as that poll ends: no connection is left to the
        garbage collector."""
        self._closed = True
        if not self._busy.acquire(blocking=False):
            return
        try:
            self._logout()
        finally:
            self._busy.release()

    def _logout(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.logout()
            except Exception:
                client.shutdown()

    # --- one poll ------------------------------------------------------------------------------

    def poll_once(self) -> int:
        """Store every new message and mark it done; returns how many were newly stored.

        Any connection or protocol error drops the connection (the next poll reconnects) and is
        raised to the caller.
        """
        with self._busy:
            try:
                client = self._connection()
                try:
                    return self._poll(client)
                except BaseException:
                    self._drop()
                    raise
            finally:
                if self._closed:
                    self._logout()

    def _poll(self, client: IMAPClient) -> int:
        account = self.account
        selected = client.select_folder(account.folder)
        uidvalidity = int(selected[b"UIDVALIDITY"])
        last_uid = self._last_uid(uidvalidity)

        pending = self._waiting_at_or_below(client, last_uid)
        found = client.search(["UID", f"{last_uid + 1}:*", "NOT", "DELETED"])
        new = [uid for uid in found if uid > last_uid]  # `n:*` always matches the highest UID
        stored = 0
        for uid in sorted(set(pending) | set(new)):
            if self._store(client, uidvalidity, uid):
                stored += 1
            self._mark_done(client, [uid])
        if stored:
            log.info("IMAP %s: stored %d new message(s)", account.mailbox_key, stored)
        return stored

    def _last_uid(self, uidvalidity: int) -> int:
        """The cursor's last UID; under a new UIDVALIDITY the cursor starts again from 0."""
        mailbox = self.account.mailbox_key
        with self.store.transaction() as session:
            cursor = storage.imap_cursors.get(session, mailbox)
            if cursor is None:
                return 0
            if cursor.uidvalidity == uidvalidity:
                return cursor.last_uid
            log.warning(
                "IMAP %s: UIDVALIDITY changed from %s to %s; reading the folder again "
                "(repeated Message-IDs are kept as duplicates)",
                mailbox,
                cursor.uidvalidity,
                uidvalidity,
            )
            storage.imap_cursors.save(session, mailbox, uidvalidity, 0)
            return 0

    def _waiting_at_or_below(self, client: IMAPClient, last_uid: int) -> list[int]:
        """Messages already committed but not yet marked done (a crash came in between)."""
        if last_uid <= 0:
            return []
        criteria = ["UID", f"1:{last_uid}", "NOT", "DELETED"]
        if not self.account.done_folder:
            criteria.append("UNSEEN")
        return [uid for uid in client.search(criteria) if uid <= last_uid]

    def _store(self, client: IMAPClient, uidvalidity: int, uid: int) -> bool:
        """Commit the message and the cursor together; False when it was stored before."""
        key = self.account.source_key(uidvalidity, uid)
        with self.store.transaction() as session:
            if storage.inbox.by_source_key(session, key) is not None:
                self._advance_cursor(session, uidvalidity, uid)
                return False
        fetched = client.fetch([uid], [b"BODY.PEEK[]"])
        raw = fetched.get(uid, {}).get(b"BODY[]")
        if raw is None:  # expunged by someone else since the search
            log.info("IMAP %s: UID %s vanished before it was fetched", key, uid)
            return False
        try:
            with self.store.transaction() as session:
                storage.inbox.enqueue(session, _inbound_message(key, raw))
                self._advance_cursor(session, uidvalidity, uid)
        except Exception:
            # A second poller of the same folder may have committed it first (the unique source
            # key refused ours): then it is stored, and only needs marking done.
            with self.store.transaction() as session:
                if storage.inbox.by_source_key(session, key) is None:
                    raise
            return False
        return True

    def _advance_cursor(self, session: Session, uidvalidity: int, uid: int) -> None:
        """Move the cursor up to `uid` (never back), starting afresh under a new UIDVALIDITY."""
        mailbox = self.account.mailbox_key
        cursor = storage.imap_cursors.get(session, mailbox)
        last_uid = cursor.last_uid if cursor and cursor.uidvalidity == uidvalidity else 0
        storage.imap_cursors.save(session, mailbox, uidvalidity, max(last_uid, uid))

    def _mark_done(self, client: IMAPClient, uids: list[int]) -> None:
        """Runs only after the commit: move to the done folder, or flag \\Seen."""
        done_folder = self.account.done_folder
        if not done_folder:
            client.add_flags(uids, [SEEN])
        elif client.has_capability("MOVE"):
            client.move(uids, done_folder)
        else:
            client.copy(uids, done_folder)
            client.delete_messages(uids)
            if client.has_capability("UIDPLUS"):
                client.uid_expunge(uids)
            else:
                client.expunge()


def _inbound_message(source_key: str, raw: bytes) -> InboundMessage:
    """The queue row, as `accept_raw` builds it; IMAP has no envelope to record."""
    return InboundMessage(
        channel=CHANNEL,
        source_key=source_key,
        mail_from="",
        rcpt_tos=[],
        message_id=message_id_of(raw),
        raw=raw,
    )


def backoff_seconds(poll_seconds: float, failures: int) -> float:
    """The wait after `failures` failed polls in a row: doubling from the poll interval."""
    base = max(poll_seconds, 1.0)
    return min(base * 2 ** max(failures - 1, 0), max(MAX_BACKOFF_SECONDS, poll_seconds))


class HasStore(Protocol):
    """What the poller needs of serve's services (bot.app.services.Services): the store."""

    store: Store


async def run_imap_poller(settings: Settings, services: HasStore, wake: asyncio.Event) -> None:
    """Poll every `imap_poll_seconds` in a worker thread until cancelled; never raises.

    A failed poll is logged and retried after a growing pause (the connection is opened again);
    `wake` is set whenever new messages were stored, so the inbox worker takes them at once.
    """
    try:
        poller = ImapPoller.from_settings(settings, services.store)
    except ValueError:
        log.exception("IMAP poller not started")
        return
    failures = 0
    try:
        while True:
            try:
                stored = await asyncio.to_thread(poller.poll_once)
            except Exception as exc:
                failures += 1
                delay = backoff_seconds(settings.imap_poll_seconds, failures)
                log.warning(
                    "IMAP poll of %s failed (%s: %s); trying again in %.0fs",
                    poller.account.mailbox_key,
                    type(exc).__name__,
                    exc,
                    delay,
                    exc_info=failures == 1,
                )
            else:
                failures = 0
                delay = settings.imap_poll_seconds
                if stored:
                    wake.set()
            await asyncio.sleep(delay)
    finally:
        poller.close()
