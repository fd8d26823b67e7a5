"""storage.personal_data declares every table and every text column, one way or the other."""

from __future__ import annotations

from sqlalchemy import Column, Integer, MetaData, String, Table
from sqlmodel import SQLModel

from storage.personal_data import PLACES, holds_text, undeclared


def test_every_table_and_text_column_is_declared_personal_or_kept() -> None:
    """Export, erase and retention walk storage.personal_data: a table or a text column that
    is not declared there would be left out of all three (add one Place line, or a column to
    `personal` or `kept`)."""
    assert undeclared(SQLModel.metadata) == []


def test_a_new_table_or_column_that_is_not_declared_is_named() -> None:
    metadata = MetaData()
    for table in SQLModel.metadata.sorted_tables:
        table.to_metadata(metadata)
    Table("lead_horoscopes", metadata, Column("id", Integer, primary_key=True),
          Column("payload", String))  # fmt: skip
    metadata.tables["leads"].append_column(Column("nickname", String))
    assert undeclared(metadata) == ["lead_horoscopes (table)", "leads.nickname"]


def test_declarations_name_real_columns_and_never_both_ways() -> None:
    for place in PLACES:
        columns = place.table.__table__.columns
        for name in (*place.personal, *place.kept, *place.address):
            assert name in columns, f"{place.name}.{name} is not a column"
        assert not set(place.personal) & set(place.kept), place.name
        for name in place.personal:
            assert holds_text(columns[name]), f"{place.name}.{name} holds no text"
