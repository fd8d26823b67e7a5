"""INSERT … ON CONFLICT DO NOTHING as a cached text statement, the same on SQLite and PostgreSQL.

Why not `sqlalchemy.dialects.postgresql.insert(...).on_conflict_do_nothing()`: the dialects'
INSERT constructs carry no cache key ("no key" in the engine's log), so SQLAlchemy compiles them
again on every execution. On the forms' POST that compile was an eighth of serve's CPU on
PostgreSQL (py-spy, bench/forms.py at 20 clients). The text here is built once per table,
columns and conflict target, with each parameter typed as its column (JSON, datetimes), and
SQLite (3.35 and later) and PostgreSQL read the same syntax.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import Table, bindparam, text
from sqlalchemy.engine import Result
from sqlalchemy.sql.elements import TextClause
from sqlmodel import Session


def insert_ignoring(
    session: Session,
    table: Table,
    values: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    *,
    conflict: Collection[str] = (),
    returning: str | None = None,
) -> Result[Any]:
    """Insert `values` (one row, or many of the same columns as one executemany) unless a row
    conflicts on `conflict` (any unique constraint when empty); with `returning`, the result
    holds that column of each row inserted, and nothing for a row that conflicted."""
    one = isinstance(values, Mapping)
    rows = [_with_defaults(table, row) for row in ([values] if one else values)]
    statement = _statement(table, tuple(sorted(rows[0])), tuple(conflict), returning)
    return session.execute(statement, rows[0] if one else rows)


def _with_defaults(table: Table, row: Mapping[str, Any]) -> dict[str, Any]:
    """The row with its columns' Python-side defaults filled in, as SQLAlchemy's own INSERT
    does (a text statement knows no defaults)."""
    filled = dict(row)
    for column in table.columns:
        default = column.default
        if column.key in filled or default is None:
            continue
        if default.is_scalar:
            filled[column.key] = default.arg  # type: ignore[attr-defined]
        elif default.is_callable:
            filled[column.key] = default.arg(None)  # type: ignore[attr-defined]
        elif default.is_clause_element:
            raise TypeError(f"{table.name}.{column.name}: a SQL default cannot be bound")
    return filled


@functools.lru_cache(maxsize=64)
def _statement(
    table: Table, keys: tuple[str, ...], conflict: tuple[str, ...], returning: str | None
) -> TextClause:
    columns = [table.c[key] for key in keys]  # a KeyError names a column the table lacks
    target = f" ({', '.join(_quoted(table.c[n].name) for n in conflict)})" if conflict else ""
    sql = (
        f"INSERT INTO {_quoted(table.name)} ({', '.join(_quoted(c.name) for c in columns)})"
        f" VALUES ({', '.join(f':{key}' for key in keys)}) ON CONFLICT{target} DO NOTHING"
    )
    if returning is not None:
        sql += f" RETURNING {_quoted(table.c[returning].name)}"
    return text(sql).bindparams(*(bindparam(c.key, type_=c.type) for c in columns))


def _quoted(name: str) -> str:
    """An identifier as both SQLite and PostgreSQL read it, whatever it is (`offset` is a
    keyword)."""
    return '"' + name.replace('"', '""') + '"'
