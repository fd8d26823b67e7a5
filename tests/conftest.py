"""Shared fixtures: a fresh store per test on a real SQLite file and on a real PostgreSQL."""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.engine import Store
from storage.migrate import upgrade
from tests.services.postgres import create_database, drop_database, postgres_server

_db_counter = itertools.count()
# Each pytest-xdist worker (gw0, gw1, …) starts its own PostgreSQL; with a shared one
# (LEADBOT_TEST_POSTGRES_URL) its databases must still not be another worker's.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
# Under pytest-xdist these run first, longest first (pytest --durations), so that no worker
# is left running one of them alone at the end; every other test keeps its place after them.
LONGEST_FIRST = (
    "tests/dedupe/test_scan.py",
    "tests/e2e/",
    "tests/mail_in/test_imap.py",
    "tests/mail_in/test_corpus_pipeline.py",
    "tests/storage/test_assignment_concurrency.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return  # one process runs everything anyway: keep the order of the files

    def rank(item: pytest.Item) -> int:
        starts = [i for i, prefix in enumerate(LONGEST_FIRST) if item.nodeid.startswith(prefix)]
        return starts[0] if starts else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: the order within each group stays


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file, copied for each test (migrating each time is slower)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def postgres_template(postgres_admin_url: str) -> str:
    """A migrated database that each test's database is created from."""
    name = f"leadbot_template_{_WORKER}"
    upgrade(create_database(postgres_admin_url, name))
    return name


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "leadbot.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def postgres_url(postgres_admin_url: str, postgres_template: str) -> Iterator[str]:
    name = f"leadbot_test_{_WORKER}_{next(_db_counter)}"
    yield create_database(postgres_admin_url, name, template=postgres_template)
    drop_database(postgres_admin_url, name)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Runs the test once on SQLite and once on PostgreSQL."""
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def module_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """One fresh store per module, on SQLite and on PostgreSQL: for modules whose tests share one
    `leadbot serve` (each test then works on data of its own)."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("module-store") / "leadbot.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    admin_url = request.getfixturevalue("postgres_admin_url")
    name = f"leadbot_test_{_WORKER}_{next(_db_counter)}"
    yield create_database(admin_url, name, template=request.getfixturevalue("postgres_template"))
    drop_database(admin_url, name)


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    store = Store(database_url)
    yield store
    store.dispose()
