"""Alembic, driven from code: `leadbot db upgrade` and the test fixtures both call `upgrade`."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# The newest revision; tests/storage check it matches the migration scripts' head.
HEAD = "0010"


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


def current(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    from storage.engine import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
