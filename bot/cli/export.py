"""`leadbot export leads [--status S] [--format csv|jsonl|xlsx] [--out FILE]`: every lead out.

The work is bot/imports/export.py (streamed a page at a time; formula cells neutralised).
Registered on the main `leadbot` app by bot/cli/__init__.py.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.text import Text

from bot.cli.output import err, fail, open_store

app = typer.Typer(help="Export leads as CSV, JSON lines or XLSX.", no_args_is_help=True)


@app.command("leads")
def export_leads(
    status: Annotated[
        list[str] | None, typer.Option("--status", help="Only this status (repeatable).")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv, jsonl or xlsx.")] = "csv",
    out_path: Annotated[
        Path | None,
        typer.Option("--out", help="The file (default: standard output; xlsx needs one)."),
    ] = None,
) -> None:
    """Every field of every lead (merged-away aliases left out), in id order."""
    from bot.imports.export import FORMATS, export

    if fmt not in FORMATS:
        fail(escape(f"--format {fmt}: one of {', '.join(FORMATS)}"), code=2)
    if fmt == "xlsx" and out_path is None:
        fail("--format xlsx needs --out FILE.xlsx", code=2)
    store = open_store()
    try:
        if fmt == "xlsx":
            assert out_path is not None
            count = export(store, out_path, fmt, tuple(status or ()))
        elif out_path is None:
            count = export(store, sys.stdout, fmt, tuple(status or ()))
        else:
            with out_path.open("w", encoding="utf-8", newline="") as handle:
                count = export(store, handle, fmt, tuple(status or ()))
    finally:
        store.dispose()
    if out_path is not None:
        err.print(Text(f"{count:,} leads written to {out_path}"))
