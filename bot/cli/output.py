"""What every `leadbot` command shares: the consoles, `--json`, errors, times, and the store.

Every `leadbot …` process imports this module and every noun module before it runs a command
(the e2e tests run hundreds), so only typer and rich are imported here: the settings, the store
and the domain are imported by the functions that need them, when a command runs.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console

if TYPE_CHECKING:
    from bot.app.services import Services
    from bot.config import Settings
    from storage.engine import Store

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
# Piped into a file or another program, a table keeps every column whole instead of being cut
# to the 80 columns rich assumes without a terminal (COLUMNS, when set, still decides).
WIDE = 4000


def fit_width() -> None:
    """Size both consoles for where this command's output goes, when the command starts: the
    module may have been imported long before, by a process with another terminal (a warm
    process that forks commands) or another COLUMNS."""
    columns = os.environ.get("COLUMNS", "")
    for console in (out, err):
        if columns.isdigit():
            console.width = int(columns)
        elif not console.is_terminal:
            console.width = WIDE
        else:
            console._width = None  # the terminal's own width, asked on each print


fit_width()

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def load_settings() -> Settings:
    """The settings from LEADBOT_* and the config file (pydantic-settings: imported on use); a
    config file that is not TOML, names a key leadbot does not know, or a value of the wrong
    kind is one line naming the file (and line), exit 2, not a traceback."""
    import tomllib

    from pydantic import ValidationError

    from bot.config import Settings as Known
    from bot.config import config_file
    from bot.config import load_settings as read_settings

    path = config_file()
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            fail(f"{path}: not valid TOML: {exc}", code=2)
        unknown = sorted(set(data) - set(Known.model_fields))
        if unknown:
            fail(f"{path}: unknown setting {unknown[0]!r} (settings are the LEADBOT_* names in "
                 "lower case without the prefix, e.g. database_url)", code=2)  # fmt: skip
    try:
        return read_settings()
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        fail(f"setting {where}: {problem['msg']} (LEADBOT_{where.upper()} or {path})", code=2)


def open_store(settings: Settings | None = None) -> Store:
    """The store at LEADBOT_DATABASE_URL, all most commands need (without the inbox worker and
    notifiers `services()` builds). It must exist and be migrated: only `db upgrade` and `serve`
    create or migrate one, so a mistyped URL is an error (exit 1), never a new empty store."""
    from storage.engine import Store

    settings = settings or load_settings()
    require_store(settings.database_url)
    return Store(settings.database_url, settings.signing_key)


def writable_store_folder(url: str) -> None:
    """Exit 1 in one line when a SQLite store's folder cannot be made or written (a path
    through a file, a read-only disk, no permission): `db upgrade` and `serve` create the
    store there, and would otherwise end in a traceback."""
    import tempfile

    from storage.urls import sqlite_file

    path = sqlite_file(url)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as exc:
        fail(f"cannot write the store's folder {path.parent}: {exc.strerror or exc} "
             "(check LEADBOT_DATABASE_URL)")  # fmt: skip


def require_store(url: str) -> None:
    """Exit 1 with what to do unless the store at `url` exists at the current schema."""
    from storage.migrate import StoreUnavailable, check_schema

    try:
        check_schema(url)
    except StoreUnavailable as exc:
        fail(str(exc))


def services() -> Services:
    """The bot's services (store, inbox worker, outbox), for the commands that process mail;
    the store must exist, as for `open_store`."""
    from bot.app.services import build_services

    settings = load_settings()
    require_store(settings.database_url)
    return build_services(settings, migrate=False)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def fail(message: str, code: int = 1) -> NoReturn:
    """Print `message` (which may hold outside text: it is shown as text) and exit with `code`;
    a command run with --json gets the error as JSON on stderr (`{"error": …, "code": …}`), so a
    script parses failures as it parses results."""
    if "--json" in sys.argv[1:]:
        sys.stderr.write(json.dumps({"error": message, "code": code}, ensure_ascii=False) + "\n")
        raise typer.Exit(code)
    from bot.cli.safe_text import safe_markup

    err.print(f"[red]error:[/red] {safe_markup(message, multiline=True)}", markup=True,
              highlight=False)  # fmt: skip
    raise typer.Exit(code)


def one_of(value: str | None, allowed: tuple[str, ...], what: str) -> None:
    """Refuse (exit 2) a value that is not one of `allowed`, saying which are."""
    if value is not None and value not in allowed:
        fail(f"{what} {value!r} is not one of: {', '.join(allowed)}", code=2)


def showing(shown: int, total: int, limit: int, offset: int = 0) -> str | None:
    """ "showing 100 of 2,431; --limit/--offset for more" when a list was cut, else None."""
    if offset == 0 and shown >= total:
        return None
    return (
        f"showing {offset + 1 if shown else 0}-{offset + shown} of {total:,}; "
        f"--limit N and --offset N for others (limit now {limit})"
    )


def moment(text: str | None) -> datetime:
    """An ISO time given on the command line (UTC unless it says otherwise); now when empty."""
    from storage.models import utcnow

    if not text:
        return utcnow()
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        fail(f"{text!r} is not a time: use 2026-11-23T15:00:00Z", code=2)
    return at if at.tzinfo else at.replace(tzinfo=UTC)
