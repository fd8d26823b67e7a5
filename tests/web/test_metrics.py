"""/metrics and /readyz on a real `leadbot serve` over PostgreSQL: the Prometheus figures are
the store's, and readiness fails (503) while the inbox worker or the store is down."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text

from storage.engine import Store
from tests.cli.helpers import add_lead
from tests.services.bot import RunningBot, children_of, running_bot
from tests.services.postgres import create_database


@pytest.fixture(scope="module")
def database(postgres_admin_url: str, postgres_template: str) -> str:
    return create_database(postgres_admin_url, "leadbot_test_metrics", template=postgres_template)


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory, database: str) -> Iterator[RunningBot]:
    store = Store(database)
    add_lead(store, "ann@acme.example", source="email")
    add_lead(store, "bob@beta.example", source="form")
    add_lead(store, "cy@gamma.example", source="email")
    store.dispose()
    with running_bot(tmp_path_factory.mktemp("metrics-bot"), database,
                     LEADBOT_INBOX_WORKERS="1") as running:  # fmt: skip
        yield running


def samples(bot: RunningBot) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = httpx.get(f"{bot.http_url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def until(predicate, timeout: float = 20.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)
    return value


def test_metrics_are_the_stores_figures(bot: RunningBot) -> None:
    found = samples(bot)
    assert found[("leadbot_leads_captured_total", (("channel", "email"),))] == 2
    assert found[("leadbot_leads_captured_total", (("channel", "form"),))] == 1
    assert found[("leadbot_intake_quarantine_size", ())] == 0
    assert found[("leadbot_assignment_queue_depth", ())] == 0
    assert ("leadbot_arrival_to_first_touch_seconds_count", ()) in found
    assert found[("leadbot_arrival_to_lead_seconds_bucket", (("le", "+Inf"),))] == 0


def test_readyz_fails_while_no_inbox_worker_runs(bot: RunningBot) -> None:
    """Its inbox worker killed, serve is ready again once a new one runs. The 503 in between
    lasts until the supervisor's next watch (under a second, too short to catch reliably from
    outside): tests/app/test_supervisor.py shows `alive` false in that window."""
    assert httpx.get(f"{bot.http_url}/readyz").json() == {"status": "ready"}
    assert bot.process is not None
    # serve's spawned children: multiprocessing's resource tracker, and the inbox worker.
    workers = [pid for pid in children_of(bot.process.pid)
               if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]  # fmt: skip
    assert len(workers) == 1, "serve runs one worker: its inbox worker"
    os.kill(workers[0], signal.SIGKILL)
    until(lambda: httpx.get(f"{bot.http_url}/readyz").status_code == 200
          and [pid for pid in children_of(bot.process.pid) if pid != workers[0]
               and b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()])  # fmt: skip


def test_readyz_fails_while_the_store_is_down(bot: RunningBot, postgres_admin_url: str) -> None:
    admin = create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text("ALTER DATABASE leadbot_test_metrics ALLOW_CONNECTIONS false"))
        connection.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                "WHERE datname = 'leadbot_test_metrics'"))  # fmt: skip
    try:
        response = until(lambda: (r := httpx.get(f"{bot.http_url}/readyz")).status_code == 503
                         and r)  # fmt: skip
        assert "store" in response.json()["problems"][0]
        assert httpx.get(f"{bot.http_url}/metrics").status_code == 503
    finally:
        with admin.connect() as connection:
            connection.execute(text("ALTER DATABASE leadbot_test_metrics ALLOW_CONNECTIONS true"))
        admin.dispose()
    until(lambda: httpx.get(f"{bot.http_url}/readyz").status_code == 200)
