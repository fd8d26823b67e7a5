"""The end-to-end fixture: a running `leadbot serve` on a fresh store (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services.bot import RunningBot, running_bot


@pytest.fixture
def bot(database_url: str, tmp_path: Path) -> Iterator[RunningBot]:
    with running_bot(tmp_path, database_url) as running:
        yield running
