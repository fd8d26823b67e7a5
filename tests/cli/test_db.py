"""`leadbot db …`: the schema revision of the store, and migrating it."""

from __future__ import annotations

import pytest

from storage.migrate import HEAD
from tests.cli.conftest import Leadbot


def test_upgrade_an_empty_store_and_say_where_it_is(
    leadbot: Leadbot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADBOT_DATABASE_URL", f"sqlite:///{leadbot.workdir / 'empty.db'}")
    # A store that does not exist is not created by a read: `db current` says so, exit 1.
    assert "no store at" in leadbot("db", "current", code=1).stderr
    assert leadbot("db", "upgrade").stdout == f"database at revision {HEAD}\n"
    assert leadbot("db", "current").stdout == f"{HEAD}\n"
    assert leadbot("db", "upgrade").stdout == f"database at revision {HEAD}\n"
