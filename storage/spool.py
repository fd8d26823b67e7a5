"""The spool: what the doors accepted (SMTP's 250, a form's 303), committed to a file of its own.

Why a file of its own: on SQLite the lead store has one write lock for the whole file, and the
inbox worker, the scorer, the assigner and the roll-ups hold it for tens of milliseconds per lead.
A door that committed there waited behind them (SMTP's 250 p99 was 160 ms at 1 sender). The spool
is a second SQLite file (WAL, `synchronous=FULL`: every commit is on the disk before the answer)
that no lead transaction ever touches, so a door answers at the disk's pace.

One thread writes it (`SpoolWriter`): what arrives while it commits goes into the next commit
together (group commit), so 20 senders cost one fsync per round rather than 20 queued ones.

`move` carries what is spooled into the lead store (the inbox queue, the form submissions) in
one transaction per batch, then deletes it from the spool. A crash between the two leaves the
items in the spool; moving them again finds them already there (a mail by its source key
`spool:<token>`, a submission by its UNIQUE nonce) and only deletes them: nothing acknowledged is
lost, nothing is moved twice. An item that cannot be moved stays in the spool with its error
(`attempts`), after MAX_ATTEMPTS it is left for a person (`leadbot inbox spool`), never dropped.
"""

from __future__ import annotations

import json
import logging
import queue
import secrets
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlmodel import Session

    from storage.engine import Store

# The movers' imports (the ORM, the models) are inside them: the SMTP listener's process imports
# this module to write the spool, and starts in a fraction of a second without them.

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    received_at TEXT NOT NULL,
    meta TEXT NOT NULL,
    body BLOB NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT
)
"""
# An item that failed to move this often stays in the spool for a person to look at.
MAX_ATTEMPTS = 5
# At most this many entries go into one group commit.
GROUP_LIMIT = 256
# Mail in the inbox queue that came through the spool carries this source key prefix.
SOURCE_KEY_PREFIX = "spool:"


@dataclass(frozen=True)
class Entry:
    """What a door spools: a kind (`smtp`, `form`), the bytes and what it knows about them."""

    kind: str
    body: bytes
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Spooled:
    id: int
    token: str
    kind: str
    received_at: datetime
    meta: dict[str, Any]
    body: bytes
    attempts: int
    error: str | None


def spool_path_for(database_url: str, setting: str) -> str | None:
    """Where the spool lives: LEADBOT_SPOOL when it names a path; "off" for none; by default
    beside a SQLite store (`leadbot.db` → `leadbot.db.spool`) and none on PostgreSQL, where the
    inbox queue's inserts take row locks only and no lead transaction makes a door wait."""
    if setting.strip().lower() == "off":
        return None
    if setting.strip():
        return setting.strip()
    prefix = "sqlite:///"
    if not database_url.startswith(prefix):
        return None
    database = database_url[len(prefix) :].split("?", 1)[0]
    if not database or database == ":memory:":
        return None
    return f"{database}.spool"


class Spool:
    """The spool file. Each thread gets its own connection (sqlite3 objects stay in a thread)."""

    def __init__(self, path: str) -> None:
        self.path = str(Path(path).expanduser())
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._guard = threading.Lock()

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            # Opened on first use: a CLI command that builds the services makes no file.
            Path(self.path).resolve().parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, isolation_level=None, timeout=30,
                                         check_same_thread=False)  # fmt: skip
            connection.execute("PRAGMA journal_mode=WAL")
            # FULL: the WAL is fsynced at every commit, so what was answered survives a power
            # loss too, not only a killed process (the lead store runs NORMAL).
            connection.execute("PRAGMA synchronous=FULL")
            connection.execute("PRAGMA busy_timeout=30000")
            # A moved item is zeroed in the file, not left in its free pages (it holds mail).
            connection.execute("PRAGMA secure_delete=ON")
            connection.execute(SCHEMA)
            self._local.connection = connection
            with self._guard:
                self._connections.append(connection)
        return connection

    def append(self, entries: Sequence[Entry]) -> list[int]:
        """Commit the entries (one transaction, one fsync); their ids, in order."""
        connection = self._connection()
        received = datetime.now(UTC).isoformat()
        rows = [
            (secrets.token_hex(12), e.kind, received, json.dumps(e.meta), e.body) for e in entries
        ]
        connection.execute("BEGIN IMMEDIATE")
        try:
            ids = [
                int(
                    connection.execute(
                        "INSERT INTO spool (token, kind, received_at, meta, body)"
                        " VALUES (?, ?, ?, ?, ?) RETURNING id",
                        row,
                    ).fetchone()[0]
                )
                for row in rows
            ]
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        return ids

    def oldest(
        self, limit: int, *, stuck: bool = False, kinds: Sequence[str] | None = None
    ) -> list[Spooled]:
        """The oldest items still to move (or, with `stuck`, those left after MAX_ATTEMPTS),
        of these kinds only when `kinds` names some."""
        where = "attempts >= ?" if stuck else "attempts < ?"
        params: list[object] = [MAX_ATTEMPTS]
        if kinds is not None:
            where += f" AND kind IN ({', '.join('?' for _ in kinds)})"
            params.extend(kinds)
        rows = self._connection().execute(
            "SELECT id, token, kind, received_at, meta, body, attempts, error FROM spool"
            f" WHERE {where} ORDER BY id LIMIT ?",
            (*params, limit),
        )
        return [
            Spooled(
                row[0],
                row[1],
                row[2],
                datetime.fromisoformat(row[3]),
                json.loads(row[4]),
                bytes(row[5]),
                row[6],
                row[7],
            )
            for row in rows
        ]

    def remove(self, ids: Sequence[int]) -> None:
        """Delete moved items. When that leaves the spool empty, the write-ahead log is folded
        in and truncated too: its frames would otherwise keep the mail that was moved (and
        perhaps erased since) until they were overwritten."""
        if not ids:
            return
        connection = self._connection()
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.executemany("DELETE FROM spool WHERE id = ?", [(i,) for i in ids])
            empty = connection.execute("SELECT NOT EXISTS (SELECT 1 FROM spool)").fetchone()[0]
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        if empty:
            # A door committing meanwhile makes this give up (busy): the next empty spool folds.
            connection.execute("PRAGMA busy_timeout=0")
            try:
                connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            finally:
                connection.execute("PRAGMA busy_timeout=30000")

    def failed(self, failures: dict[int, str]) -> None:
        """Count a failed move against each item and keep its error."""
        if not failures:
            return
        connection = self._connection()
        connection.executemany(
            "UPDATE spool SET attempts = attempts + 1, error = ? WHERE id = ?",
            [(error[:4000], item_id) for item_id, error in failures.items()],
        )

    def counts(self) -> dict[str, int]:
        """Items per kind still to move, and `stuck` for those left for a person."""
        rows = self._connection().execute(
            "SELECT kind, attempts >= ?, count(*) FROM spool GROUP BY kind, attempts >= ?",
            (MAX_ATTEMPTS, MAX_ATTEMPTS),
        )
        counts: Counter[str] = Counter()
        for kind, stuck, n in rows:
            counts["stuck" if stuck else kind] += n
        return dict(counts)

    def close(self) -> None:
        with self._guard:
            for connection in self._connections:
                connection.close()
            self._connections.clear()
        self._local = threading.local()


class SpoolWriter:
    """The one thread that writes the spool: a door submits an entry and awaits its future,
    which is resolved once the commit holding it is on the disk (or failed: the door then
    answers 451/503 and the sender retries). `on_written` hears the kinds of each commit."""

    def __init__(
        self, spool: Spool, on_written: Callable[[frozenset[str]], None] = lambda kinds: None
    ) -> None:
        self.spool = spool
        self.on_written = on_written
        self._queue: queue.SimpleQueue[tuple[Entry, Future[int]] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()

    def submit(self, entry: Entry) -> Future[int]:
        future: Future[int] = Future()
        if self._thread is None:
            with self._start:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="spool-writer",
                                                    daemon=True)  # fmt: skip
                    self._thread.start()
        self._queue.put((entry, future))
        return future

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < GROUP_LIMIT:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)  # stop after this commit
                    break
                batch.append(more)
            try:
                ids = self.spool.append([entry for entry, _ in batch])
            except Exception as exc:
                log.exception("could not write %d entries to the spool", len(batch))
                for _, future in batch:
                    future.set_exception(exc)
                continue
            for (_, future), spooled_id in zip(batch, ids, strict=True):
                future.set_result(spooled_id)
            try:
                self.on_written(frozenset(entry.kind for entry, _ in batch))
            except Exception:
                log.exception("spool: waking the mover failed")

    def stop(self, timeout: float = 10.0) -> None:
        """Commit what was submitted, then end the thread."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
            self._thread = None


# --- moving into the lead store ------------------------------------------------------------


def _move_mail(session: Session, item: Spooled) -> bool:
    """Into the inbox queue, as the door would have stored it; False when it is there already."""
    import storage.inbox
    from storage.models import InboundMessage

    source_key = SOURCE_KEY_PREFIX + item.token
    if storage.inbox.by_source_key(session, source_key) is not None:
        return False
    meta = item.meta
    storage.inbox.enqueue(
        session,
        InboundMessage(
            received_at=item.received_at,
            channel=meta.get("channel", item.kind),
            source_key=source_key,
            mail_from=meta.get("mail_from", ""),
            rcpt_tos=list(meta.get("rcpt_tos", [])),
            message_id=meta.get("message_id"),
            raw=item.body,
        ),
    )
    return True


def _move_submission(session: Session, item: Spooled) -> bool:
    """Into the form submissions. The fill token's nonce is UNIQUE there: moved again, it is
    stored as a `duplicate` of the first (same values) and never processed twice. A submission
    without a token (a JSON post, held as `token: missing`) gets the spool token as its nonce."""
    import storage.forms

    values = json.loads(item.body)
    values["received_at"] = datetime.fromisoformat(values["received_at"])
    if values.get("nonce") is None:
        values["nonce"] = SOURCE_KEY_PREFIX + item.token
    storage.forms.add_submission(session, values)
    return True


MOVERS: dict[str, Callable[[Session, Spooled], bool]] = {
    "smtp": _move_mail,
    "form": _move_submission,
}


def move(
    spool: Spool, store: Store, limit: int = 200, kinds: Sequence[str] | None = None
) -> Counter[str]:
    """Move the oldest `limit` items (of `kinds`, else of every kind) in one transaction of the
    lead store (a failing item alone in a savepoint, kept in the spool with its error); how
    many of each kind were moved."""
    from sqlalchemy.exc import SQLAlchemyError

    items = spool.oldest(limit, kinds=kinds)
    if not items:
        return Counter()
    moved: Counter[str] = Counter()
    failures: dict[int, str] = {}
    done: list[int] = []
    with store.transaction() as session:
        for item in items:
            mover = MOVERS.get(item.kind)
            if mover is None:
                failures[item.id] = f"no mover for kind {item.kind!r}"
                continue
            try:
                with session.begin_nested():
                    if mover(session, item):
                        moved[item.kind] += 1
                    session.flush()
            except (SQLAlchemyError, ValueError, KeyError, TypeError) as exc:
                log.warning("spool item %s (%s) not moved: %s", item.id, item.kind, exc)
                failures[item.id] = f"{type(exc).__name__}: {exc}"
                continue
            done.append(item.id)
    spool.remove(done)
    spool.failed(failures)
    return moved


def wait_until_empty(spool: Spool, timeout: float) -> bool:
    """For tools and tests: whether the spool emptied (moved, or stuck) within `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not spool.oldest(1):
            return True
        time.sleep(0.02)
    return False
