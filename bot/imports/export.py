"""`leadbot export leads`: every lead, every field, streamed as CSV, JSON lines or XLSX.

The store is read a page at a time in id order and each page written before the next is read,
so an export of a million leads holds a page. The columns are the `leads show --json` shape
(bot/leads/views.py), custom fields flattened to `custom.<name>` columns in CSV and XLSX.

A cell that begins with `=`, `+`, `-`, `@` (or a tab or carriage return, which some spreadsheets
skip before reading a formula) is neutralised for CSV and XLSX by a leading `'`, as OWASP's CSV
injection advice says: a broker's "=HYPERLINK(…)" in a company name stays text when a rep opens
the file. JSON lines keep values as they are (no spreadsheet reads them).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import storage.imports
from bot.leads import fields
from bot.leads.refs import lead_label
from storage.engine import Store
from storage.models import Lead

PAGE = 1000
FORMATS = ("csv", "jsonl", "xlsx")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
COLUMNS = (
    "id",
    "email",
    *fields.NAMES,
    "source",
    "status",
    "stage",
    "score",
    "grade",
    "email_status",
    "trash_reason",
    "owner",
    "created_at",
    "updated_at",
    "enquiry",
)


def neutralise(value: str) -> str:
    """`'=1+2` for `=1+2`: text a spreadsheet shows, never a formula it runs."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def lead_row(lead: Lead, owners: dict[int, str]) -> dict[str, Any]:
    row: dict[str, Any] = {"id": lead_label(lead.id), "email": lead.email}
    for name in fields.NAMES:
        row[name] = getattr(lead, name)
    row.update(
        source=lead.source,
        status=lead.status,
        stage=lead.stage,
        score=lead.score,
        grade=lead.grade or "",
        email_status=lead.email_status,
        trash_reason=lead.trash_reason or "",
        owner=owners.get(lead.owner_id or 0, ""),
        created_at=lead.created_at.isoformat(),
        updated_at=lead.updated_at.isoformat(),
        enquiry=lead.enquiry,
        custom=dict(lead.custom or {}),
    )
    return row


def leads(store: Store, status: tuple[str, ...] = ()) -> Iterator[dict[str, Any]]:
    """Every active lead as a row, in id order, a page of the store at a time."""
    after = 0
    with store.reading() as session:
        owners = storage.imports.rep_emails(session)
    while True:
        with store.reading() as session:
            page = storage.imports.leads_page(session, after, PAGE, status)
            rows = [lead_row(lead, owners) for lead in page]
        if not rows:
            return
        after = int(str(rows[-1]["id"]).removeprefix("L-"))
        yield from rows


def custom_names(store: Store, status: tuple[str, ...]) -> list[str]:
    """The custom field names of the leads exported (a first pass: the header comes first)."""
    names: dict[str, None] = {}
    for row in leads(store, status):
        names.update(dict.fromkeys(row["custom"]))
    return list(names)


def _flat(row: dict[str, Any], custom: list[str]) -> list[str]:
    cells = [_text(row[name]) for name in COLUMNS]
    cells += [_text(row["custom"].get(name, "")) for name in custom]
    return [neutralise(cell) for cell in cells]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def export(
    store: Store,
    out: IO[str] | Path,
    fmt: str = "csv",
    status: tuple[str, ...] = (),
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write every lead to `out` (a text stream for csv and jsonl, a path for xlsx); how many."""
    if fmt not in FORMATS:
        raise ValueError(f"--format {fmt}: one of {', '.join(FORMATS)}")
    count = 0
    if fmt == "jsonl":
        assert not isinstance(out, Path)
        for row in leads(store, status):
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
            if progress and count % PAGE == 0:
                progress(count)
        return count
    custom = custom_names(store, status)
    header = [*COLUMNS, *(f"custom.{name}" for name in custom)]
    if fmt == "csv":
        assert not isinstance(out, Path)
        writer = csv.writer(out)
        writer.writerow(header)
        for row in leads(store, status):
            writer.writerow(_flat(row, custom))
            count += 1
            if progress and count % PAGE == 0:
                progress(count)
        return count
    from openpyxl import Workbook

    assert isinstance(out, Path)
    book = Workbook(write_only=True)  # streams rows to the file's XML, as read_only reads them
    sheet = book.create_sheet("leads")
    sheet.append(header)
    for row in leads(store, status):
        sheet.append([_xlsx_cell(cell) for cell in _flat(row, custom)])
        count += 1
        if progress and count % PAGE == 0:
            progress(count)
    book.save(out)
    return count


def _xlsx_cell(text: str) -> str:
    """openpyxl stores a str that begins with `=` as a formula; neutralised text begins with
    `'`, which it stores as text. Control characters XML cannot hold are dropped."""
    return "".join(ch for ch in text if ch >= " " or ch in "\t\n\r")
