"""storage.lead_rows declares every table that points at a lead."""

from __future__ import annotations

from sqlmodel import SQLModel

from storage.lead_rows import LEAD_ROWS


def test_every_table_with_a_lead_column_is_declared_in_lead_rows() -> None:
    """Merge, export, erase and retention walk storage.lead_rows: a new table that points at a
    lead and is not declared there would be left behind by all four."""
    declared = {(rows.table.__tablename__, rows.column) for rows in LEAD_ROWS.values()}
    pointing = {
        (table.name, column.name)
        for table in SQLModel.metadata.sorted_tables
        for column in table.columns
        for key in column.foreign_keys
        if key.column.table.name == "leads" and table.name != "leads"
    }
    assert pointing - declared == set()
