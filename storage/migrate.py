"""Alembic, driven from code: `leadbot db upgrade` and the test fixtures both call `upgrade`."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, inspect, text

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# The newest revision; tests/storage check it matches the migration scripts' head.
HEAD = "0020"


def alembic_config(url: str):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def ensure_schema(url: str) -> None:
    """Upgrade only when needed: reading one row is cheap, loading Alembic is not (0.3 s)."""
    from storage.engine import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            if inspect(connection).has_table("alembic_version"):
                rows = connection.execute(text("select version_num from alembic_version")).all()
                if [row[0] for row in rows] == [HEAD]:
                    return
    finally:
        engine.dispose()
    upgrade(url)


class StoreUnavailable(RuntimeError):
    """The store at the URL does not exist, cannot be reached or is not migrated; the message
    says which and what to do. Only `leadbot db upgrade` and `serve` create or migrate a store."""


def check_schema(url: str) -> None:
    """Raise StoreUnavailable unless the store exists and is at HEAD; creates nothing (a
    mistyped URL must not become an empty store that a read command shows as empty)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError

    from storage.engine import make_engine
    from storage.urls import shown_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database).expanduser().resolve()
        if not path.is_file():
            raise StoreUnavailable(
                f"no store at {path} (LEADBOT_DATABASE_URL={url}): check the URL, "
                "or create it with `leadbot db upgrade`"
            )
        revision = _sqlite_revision(path)
    else:
        engine = make_engine(url)
        try:
            with engine.connect() as connection:
                revision = _revision(connection)
        except DBAPIError as exc:
            reason = str(exc.orig or exc).strip().splitlines()[0]
            raise StoreUnavailable(f"cannot open the store at {shown_url(url)}: {reason}") from None
        finally:
            engine.dispose()
    if revision is None:
        raise StoreUnavailable(
            f"the store at {shown_url(url)} is not a migrated leadbot store: "
            "run `leadbot db upgrade` (or `leadbot serve`) first"
        )
    if revision != HEAD:
        raise StoreUnavailable(
            f"the store at {shown_url(url)} is at schema revision {revision}, this leadbot "
            f"needs {HEAD}: run `leadbot db upgrade` (or `leadbot serve`)"
        )


def _revision(connection: Connection) -> str | None:
    if not inspect(connection).has_table("alembic_version"):
        return None
    rows = connection.execute(text("select version_num from alembic_version")).all()
    return rows[0][0] if rows else None


def _sqlite_revision(path: Path) -> str | None:
    """The revision of a SQLite file, read without writing to it (the engine's WAL set-up
    would turn an empty file into a database)."""
    import sqlite3

    try:
        connection = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
        try:
            tables = connection.execute(
                "select name from sqlite_master where type = 'table' and name = 'alembic_version'"
            ).fetchall()
            if not tables:
                return None
            row = connection.execute("select version_num from alembic_version").fetchone()
        finally:
            connection.close()
    except sqlite3.Error as exc:
        raise StoreUnavailable(f"cannot open the store at {path}: {exc}") from None
    return row[0] if row else None


def current(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    from storage.engine import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
