"""Engine and transactions: SQLite in WAL mode with one writer at a time, or PostgreSQL.

`Store.transaction()` is the unit of work every caller uses: it commits on success and rolls back
on any error, so a change and its timeline and outbox rows land together or not at all.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event, inspect
from sqlalchemy.engine import Connection, Engine, make_url
from sqlmodel import Session, create_engine

from storage.text import refused_in, storable_value

# How long a writer waits for SQLite's write lock before giving up.
LOCK_WAIT_SECONDS = 30
# Execution option that marks a read-only transaction (SQLite: a plain BEGIN, no write lock).
READ_ONLY = "leadbot_read_only"


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        _tune_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in ("", "psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _tune_sqlite(engine: Engine) -> None:
    """WAL for concurrent readers; BEGIN IMMEDIATE so writers queue rather than fail mid-way."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={LOCK_WAIT_SECONDS * 1000}")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Deleted and rewritten content is zeroed in the file, not left in free pages: an erased
        # person must not be readable from the file with a hex editor (see Store.forget_freed).
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:  # type: ignore[no-untyped-def]
        if connection.get_execution_options().get(READ_ONLY, False):
            # On the driver's connection: through SQLAlchemy's execution (its events, its
            # result) a read's BEGIN cost as much CPU as the read's own query.
            connection.connection.driver_connection.execute("BEGIN")
        else:
            _begin_immediate(connection.connection.driver_connection)


def _begin_immediate(dbapi_connection: sqlite3.Connection) -> None:
    """Take the write lock, retrying every fraction of a millisecond while another process holds
    it. SQLite's own busy handler sleeps 1, 2, 5, 10 … 100 ms between tries, so a writer that
    waits behind a 3 ms transaction may sleep 25 ms: that was the tail of the SMTP 250 reply."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=0")
    delay, deadline = 0.0002, time.monotonic() + LOCK_WAIT_SECONDS
    try:
        while True:
            try:
                cursor.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 0.002)
    finally:
        cursor.execute(f"PRAGMA busy_timeout={LOCK_WAIT_SECONDS * 1000}")
        cursor.close()


@event.listens_for(Session, "before_flush")
def _storable_values(session: Session, _context: object, _instances: object) -> None:
    """Every string (and every string inside a JSON column) written is one the store can hold:
    the safety net behind the doors' own `storable` (storage.text)."""
    for obj in (*session.new, *session.dirty):
        state = inspect(obj)
        for attr in state.mapper.column_attrs:
            key = attr.key
            if key not in state.dict:
                continue
            value = state.dict[key]
            if isinstance(value, str | dict | list) and refused_in(value):
                setattr(obj, key, storable_value(value))


# How long Store.forget_freed waits for writers and readers to let the log be truncated.
FORGET_WAIT_MS = 2000

# Session.info key of the secret the suppression list's keyed hashes are made with.
SECRET_KEY_INFO = "leadbot_secret_key"


class Store:
    """The database handle the application passes around. `secret_key` (LEADBOT_SECRET_KEY) is
    handed to every session it opens, for the keyed hashes of the suppression list
    (storage.privacy): the key never goes into the store itself. A callable is asked only when
    a hash is needed (the CLI's commands need not read or create leadbot.secret otherwise)."""

    def __init__(self, url: str, secret_key: str | Callable[[], str] = "") -> None:
        self.url = url
        self.secret_key = secret_key
        self.engine = make_engine(url)
        # The read-only view of the engine, made once: each `execution_options` call builds a
        # new engine object (25 µs here, on every read).
        self._reader = self.engine.execution_options(**{READ_ONLY: True})

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            session.info[SECRET_KEY_INFO] = self.secret_key
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A transaction that only reads: on SQLite it takes no write lock, so it never waits."""
        with Session(self._reader) as session:
            session.info[SECRET_KEY_INFO] = self.secret_key
            try:
                yield session
            finally:
                session.rollback()

    def forget_freed(self) -> None:
        """After an erasure: on SQLite, fold the write-ahead log into the file and truncate it.
        The file itself holds no old version of an erased row (secure_delete zeroes freed
        content); the log would, until its frames were overwritten. Best effort: when a reader
        keeps an older snapshot open, the log is truncated by the next erasure or at close.
        PostgreSQL's dead row versions go with its (auto)vacuum."""
        if not self.is_sqlite:
            return
        with self.engine.connect() as connection:
            raw = connection.connection.driver_connection
            assert raw is not None
            raw.execute(f"PRAGMA busy_timeout={FORGET_WAIT_MS}")
            try:
                raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            finally:
                raw.execute(f"PRAGMA busy_timeout={LOCK_WAIT_SECONDS * 1000}")

    def dispose(self) -> None:
        self.engine.dispose()

    @contextmanager
    def simulation(self) -> Iterator[Store]:
        """This store as seen by one connection whose outer transaction is rolled back at the
        end: every `transaction()` inside commits only a savepoint, so a run with a pretend
        clock (`assign run --now`) can go through the real code and leave nothing behind."""
        with self.engine.connect() as connection:
            outer = connection.begin()
            try:
                yield _Simulated(self, connection)
            finally:
                outer.rollback()


class _Simulated(Store):
    """A Store whose sessions all join one connection's transaction (see Store.simulation)."""

    def __init__(self, real: Store, connection: Connection) -> None:
        self.url, self.secret_key, self.engine = real.url, real.secret_key, real.engine
        self._connection = connection

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with Session(
            bind=self._connection,
            expire_on_commit=False,
            join_transaction_mode="create_savepoint",
        ) as session:
            session.info[SECRET_KEY_INFO] = self.secret_key
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    reading = transaction

    def dispose(self) -> None:
        """The real store is the caller's to dispose of."""
