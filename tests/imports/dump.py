"""A dump of the store's rows, to compare a store before an import and after its revert."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlmodel import SQLModel

from storage.engine import Store

# The journal of imports itself, and the notices that an import ran, are what stays.
LEFT_OUT = {"imports", "import_leads", "import_rows", "alembic_version"}


def dump(store: Store) -> dict[str, list[str]]:
    tables: dict[str, list[str]] = {}
    with store.engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            if table.name in LEFT_OUT:
                continue
            rows = []
            for row in connection.execute(select(table)).mappings():
                data: dict[str, Any] = dict(row)
                if table.name == "outbox" and str(data["kind"]).startswith("import."):
                    continue
                rows.append(json.dumps(data, sort_keys=True, default=str))
            tables[table.name] = sorted(rows)
    return tables
