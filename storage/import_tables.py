"""SQLModel tables of the import journal: one row per import, one per lead it created or
touched (with the lead as it was before, for revert), one per row worth reporting (bad, held,
updated, merged). Imported by storage.models, so Alembic sees them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class ImportRun(SQLModel, table=True):
    """One `leadbot import FILE --apply`: what was read, how, and how far it got."""

    __tablename__ = "imports"

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow)
    actor: str = ""
    file_name: str
    # sha256 of the file: `--apply` on the same file resumes an unfinished import of it.
    file_sha256: str = Field(index=True)
    file_size: int = 0
    format: str = ""
    encoding: str = ""
    delimiter: str = ""
    # mapping, ignore, source, tags, overwrite, keep, queue: what the run was asked to do.
    options: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # running, interrupted, done, reverted
    state: str = Field(default="running", index=True)
    # Data rows committed so far: a resumed import starts after them.
    rows_done: int = 0
    counts: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    finished_at: datetime | None = None
    reverted_at: datetime | None = None
    reverted_by: str | None = None
    # What revert did (deleted, restored, kept because changed since).
    revert_report: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )


class ImportLead(SQLModel, table=True):
    """A lead an import created or changed. `before` is the whole lead row before the import
    first touched it (None: the import created it); `version` its version when the import last
    touched it, so revert can tell whether anyone changed it since; `written` the ids of rows
    the import added to an existing lead (timeline entries, queue items), per table."""

    __tablename__ = "import_leads"
    __table_args__ = (Index("ix_import_leads_import_lead", "import_id", "lead_id", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    import_id: int = Field(foreign_key="imports.id")
    lead_id: int = Field(foreign_key="leads.id", index=True)
    created: bool = False
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # The columns the import changed on an existing lead, with the value it gave each.
    after: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    version: int = 0
    written: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class ImportRow(SQLModel, table=True):
    """A row of the file worth reporting: bad (with its cells, for the errors file), held,
    an update of a stored lead (with the fields changed), a merge or a flag."""

    __tablename__ = "import_rows"
    __table_args__ = (Index("ix_import_rows_import_row", "import_id", "row"),)

    id: int | None = Field(default=None, primary_key=True)
    import_id: int = Field(foreign_key="imports.id")
    row: int
    line: int
    # bad, held, updated, unchanged, merged, flagged, duplicate
    action: str
    lead_id: int | None = Field(default=None, foreign_key="leads.id", index=True)
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
