"""Named queries on the installation's own settings (instance_settings): read one, set one once."""

from __future__ import annotations

from sqlmodel import Session, select

from storage.inserts import insert_ignoring
from storage.models import InstanceSetting


def value_of(session: Session, name: str) -> str | None:
    row = session.exec(select(InstanceSetting).where(InstanceSetting.name == name)).first()
    return row.value if row is not None else None


def set_once(session: Session, name: str, value: str) -> str:
    """Store `value` under `name` unless a value is there already; the value in force either way.
    Two processes racing both read the one that won (the primary key decides, not a look-up)."""
    insert_ignoring(session, InstanceSetting.__table__, {"name": name, "value": value})  # type: ignore[attr-defined]
    stored = value_of(session, name)
    assert stored is not None
    return stored
