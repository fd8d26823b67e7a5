"""Reading a broker's file: CSV, TSV or XLSX, streamed one row at a time, whatever its encoding.

`open_table(path)` looks at the start of the file only (the encoding from a byte-order mark or
from which codec decodes the first megabyte, the delimiter from csv.Sniffer over the first
lines) and hands back a `Table`: the header and an iterator of `Row`s, each with the line it
started on in the file (a quoted newline makes a row span lines; the line number is where a
person finds it in an editor). Nothing holds more than one row, so memory stays flat for a
file of a million rows; an XLSX sheet is read with openpyxl's read_only mode, which streams
the sheet's XML instead of building the workbook.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

# How much of a file the encoding and delimiter are guessed from.
SNIFF_BYTES = 1 << 20
# The longest cell a row may hold (a 5 MB cell is read, then refused by the intake checks).
MAX_CELL = 64 << 20
DELIMITERS = ",;\t|"
ENCODINGS = ("utf-8-sig", "utf-8", "cp1252", "latin-1")


class Unreadable(ValueError):
    """The file cannot be read as a table (not CSV/TSV/XLSX, no header); the message says why."""


@dataclass(frozen=True)
class Row:
    """One data row: its position among the data rows (1-based), the line it starts on in the
    file (the header is line 1), and its cells as text."""

    number: int
    line: int
    cells: list[str]


@dataclass
class Table:
    """A file opened for reading: what was detected, the header, and its data rows (once)."""

    path: Path
    format: str  # csv, tsv or xlsx
    encoding: str
    delimiter: str
    header: list[str]
    rows: Iterator[Row]
    _closers: list[IO[str] | object] = field(default_factory=list, repr=False)
    # How far the reading is, out of `total` (bytes of a CSV, rows of a sheet): the progress bar.
    total: int = 0
    position: Callable[[], int] = field(default=lambda: 0, repr=False)

    def close(self) -> None:
        for item in self._closers:
            close = getattr(item, "close", None)
            if close is not None:
                close()

    def __enter__(self) -> Table:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def detect_encoding(sample: bytes) -> str:
    """UTF-8 with a byte-order mark, UTF-8, Windows-1252, else Latin-1 (which decodes any byte).

    The sample may end inside a multi-byte character; an incremental decoder is asked whether
    the bytes so far are valid, not whether they are complete."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    for encoding in ("utf-8", "cp1252"):
        try:
            codecs.getincrementaldecoder(encoding)().decode(sample, final=False)
            return encoding
        except UnicodeDecodeError:
            continue
    return "latin-1"


def detect_delimiter(text: str, suffix: str) -> str:
    """The delimiter of the first lines: `,` `;` tab or `|` (a `.tsv` is tab unless it says
    otherwise); `,` when nothing can be told."""
    lines = text.splitlines()[:20]
    sample = "\n".join(lines)
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        pass
    header = lines[0] if lines else ""
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    if counts[best]:
        return best
    return "\t" if suffix == ".tsv" else ","


def open_table(path: Path) -> Table:
    """Open `path` for streaming; Unreadable when it is no table (an empty file is one with no
    header: Unreadable too)."""
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return _open_xlsx(path)
    if suffix == ".xls":
        raise Unreadable(f"{path.name}: .xls (Excel 97) is not read; save it as .xlsx or .csv")
    with path.open("rb") as raw:
        sample = raw.read(SNIFF_BYTES)
    if sample.startswith(b"PK\x03\x04"):
        return _open_xlsx(path)
    if not sample.strip():
        raise Unreadable(f"{path.name}: the file is empty")
    encoding = detect_encoding(sample)
    text = sample.decode(encoding, errors="ignore")
    delimiter = detect_delimiter(text, suffix)
    csv.field_size_limit(MAX_CELL)
    handle = path.open("r", encoding=encoding, newline="", errors="replace")
    reader = csv.reader(handle, delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        handle.close()
        raise Unreadable(f"{path.name}: the file is empty") from None
    if not any(cell.strip() for cell in header):
        handle.close()
        raise Unreadable(f"{path.name}: the first line is not a header (it is empty)")
    fmt = "tsv" if delimiter == "\t" else "csv"

    def rows() -> Iterator[Row]:
        number = 0
        line = reader.line_num + 1
        for cells in reader:
            if any(cell.strip() for cell in cells):
                number += 1
                yield Row(number, line, cells)
            line = reader.line_num + 1

    return Table(
        path,
        fmt,
        encoding,
        delimiter,
        [c.strip() for c in header],
        rows(),
        [handle],
        total=path.stat().st_size,
        position=handle.buffer.tell,
    )


def _open_xlsx(path: Path) -> Table:
    from openpyxl import load_workbook

    try:
        # read_only streams the sheet; data_only reads a formula cell's cached value, not "=…".
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises zipfile, KeyError, InvalidFileException, …
        raise Unreadable(f"{path.name}: not a readable .xlsx ({error})") from error
    sheet = book.worksheets[0] if book.worksheets else None
    if sheet is None:
        book.close()
        raise Unreadable(f"{path.name}: the workbook has no sheet")
    values = sheet.iter_rows(values_only=True)
    header: list[str] | None = None
    header_line = 0
    for header_line, first in enumerate(values, start=1):  # noqa: B007
        cells = [_cell(value) for value in first]
        if any(cells):
            header = cells
            break
    if header is None:
        book.close()
        raise Unreadable(f"{path.name}: the sheet is empty")
    while header and not header[-1]:
        header.pop()

    at = [header_line]

    def rows() -> Iterator[Row]:
        number = 0
        for line, raw in enumerate(values, start=header_line + 1):
            at[0] = line
            cells = [_cell(value) for value in raw]
            if any(cell.strip() for cell in cells):
                number += 1
                yield Row(number, line, cells)

    return Table(
        path,
        "xlsx",
        "xlsx",
        "",
        [c.strip() for c in header],
        rows(),
        [book],
        total=int(sheet.max_row or 0),
        position=lambda: at[0],
    )


def _cell(value: object) -> str:
    """A spreadsheet value as the text a person sees (12.0 as "12", dates as ISO)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    isoformat = getattr(value, "isoformat", None)
    if isoformat is not None:
        return str(isoformat())
    return str(value)


def write_rows(
    handle: io.TextIOBase | IO[str], header: list[str] | None, rows: list[list[str]]
) -> None:
    """Rows as CSV (the errors file): the same columns as the input, in UTF-8."""
    writer = csv.writer(handle)
    if header is not None:
        writer.writerow(header)
    writer.writerows(rows)
