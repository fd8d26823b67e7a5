"""`leadbot db …`: the store's schema, migrated with Alembic."""

from __future__ import annotations

import typer

from bot.cli.output import fail, load_settings, out, writable_store_folder

app = typer.Typer(help="The store: migrations.", no_args_is_help=True)


@app.command("upgrade")
def upgrade(revision: str = "head") -> None:
    """Apply the schema migrations (Alembic) to LEADBOT_DATABASE_URL."""
    from storage import migrate

    settings = load_settings()
    writable_store_folder(settings.database_url)
    migrate.upgrade(settings.database_url, revision)
    out.print(f"database at revision {migrate.current(settings.database_url)}")


@app.command("current")
def current() -> None:
    """Print the schema revision the store is at."""
    from storage import migrate
    from storage.urls import sqlite_file

    url = load_settings().database_url
    store_file = sqlite_file(url)
    if store_file is not None and not store_file.is_file():
        fail(f"no store at {store_file}: check LEADBOT_DATABASE_URL, or run leadbot db upgrade")
    out.print(migrate.current(url) or "empty (run leadbot db upgrade)")
