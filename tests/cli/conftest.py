"""The `leadbot` command run in-process on a fresh SQLite store, as a user types it."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from bot.cli import cli, output
from storage.engine import Store


@dataclass
class Leadbot:
    """Runs `leadbot …` with typer's runner (a subprocess per call would cost a second each)."""

    store: Store
    workdir: Path
    runner: CliRunner

    def __call__(self, *args: str, code: int = 0) -> Result:
        result = self.runner.invoke(cli, list(args), prog_name="leadbot")
        if result.exit_code != code:
            raise AssertionError(
                f"leadbot {' '.join(args)} exited {result.exit_code}, not {code}:\n"
                f"{result.stdout}{result.stderr}"
            ) from result.exception
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json").stdout)


@pytest.fixture
def leadbot(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Leadbot]:
    """`leadbot` on a migrated SQLite file, in an empty folder, with no other LEADBOT_* set."""
    for key in [key for key in os.environ if key.startswith("LEADBOT_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("LEADBOT_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("LEADBOT_SECRET_KEY", "test-secret")
    monkeypatch.setenv("COLUMNS", "200")  # rich tables wide enough that no cell is cut
    # The consoles read COLUMNS when bot.cli.output is first imported, which in a pytest
    # worker may be before this fixture (another test imported the CLI): widen them here too.
    for console in (output.out, output.err):
        monkeypatch.setattr(console, "_width", 200)
    monkeypatch.chdir(tmp_path)
    store = Store(sqlite_url)
    yield Leadbot(store, tmp_path, CliRunner())
    store.dispose()
