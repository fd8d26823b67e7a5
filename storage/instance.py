"""Named queries on the installation's own settings (instance_settings): read one, set one once."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, select

from storage.models import InstanceSetting


def value_of(session: Session, name: str) -> str | None:
    row = session.exec(select(InstanceSetting).where(InstanceSetting.name == name)).first()
    return row.value if row is not None else None


def set_once(session: Session, name: str, value: str) -> str:
    """Store `value` under `name` unless a value is there already; the value in force either way.
    Two processes racing both read the one that won (the primary key decides, not a look-up)."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(insert(InstanceSetting).values(name=name, value=value).on_conflict_do_nothing())
    stored = value_of(session, name)
    assert stored is not None
    return stored
