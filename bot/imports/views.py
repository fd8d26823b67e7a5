"""The JSON shapes of imports (`leadbot import list/show --json`; the REST API's import status)."""

from __future__ import annotations

from typing import Any

from bot.imports.run import COUNTS, import_label
from bot.leads.refs import lead_label
from storage.import_tables import ImportRow, ImportRun


def run_dict(run: ImportRun) -> dict[str, Any]:
    """An import as `import list --json` prints it; `rows_done` grows while it runs, so a
    caller polls this for progress and `state` (running, interrupted, done, reverted)."""
    return {
        "id": import_label(run.id),
        "file": run.file_name,
        "state": run.state,
        "actor": run.actor,
        "created_at": run.created_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "format": run.format,
        "encoding": run.encoding,
        "delimiter": run.delimiter,
        "rows_done": run.rows_done,
        "counts": {name: int(run.counts.get(name, 0)) for name in COUNTS},
        "options": run.options,
        "reverted_at": run.reverted_at.isoformat() if run.reverted_at else None,
        "reverted_by": run.reverted_by,
        "revert": run.revert_report or None,
    }


def row_dict(row: ImportRow) -> dict[str, Any]:
    return {
        "row": row.row,
        "line": row.line,
        "action": row.action,
        "lead": lead_label(row.lead_id) if row.lead_id else None,
        "reason": row.reason,
        "fields": row.detail.get("fields", []),
        "hold": row.detail.get("hold"),
    }
