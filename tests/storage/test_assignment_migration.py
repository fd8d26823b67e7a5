"""Migration 0005 on a store that already has reps: they get defaults that keep them working."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select, text

from storage.engine import Store
from storage.migrate import upgrade
from storage.models import Rep
from tests.services.postgres import create_database


def test_upgrading_a_store_with_reps_gives_them_working_defaults(
    postgres_admin_url: str, tmp_path: Path
) -> None:
    for url in (f"sqlite:///{tmp_path / 'old.db'}",
                create_database(postgres_admin_url, "leadbot_upgrade_0003")):  # fmt: skip
        upgrade(url, "0003")
        store = Store(url)
        with store.transaction() as session:
            session.execute(text(
                "insert into reps (name, email, role, active, created_at) "
                "values ('Ann', 'ann@sales.test', 'rep', true, '2026-01-01 00:00:00+00')"
            ))  # fmt: skip
        store.dispose()
        upgrade(url)
        store = Store(url)
        with store.reading() as session:
            rep = session.execute(select(Rep)).scalar_one()
            assert (rep.capacity, rep.timezone, rep.paused, rep.skills, rep.weight) == (
                50, "UTC", False, [], 1)  # fmt: skip
        store.dispose()
