"""A store opened with a secret key, as every entry point opens it (the suppression list's
keyed hashes need one)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from storage.engine import Store

SECRET = "privacy-test-secret"


@pytest.fixture
def keyed(database_url: str) -> Iterator[Store]:
    store = Store(database_url, SECRET)
    yield store
    store.dispose()
