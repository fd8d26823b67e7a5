"""bot/imports/read.py and columns.py on real files: encodings, delimiters, xlsx, ragged rows."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook

from bot.imports.columns import BadMapping, map_columns, parse_pairs
from bot.imports.read import Unreadable, open_table


def rows_of(path: Path) -> tuple[list[str], list[tuple[int, int, list[str]]], str, str]:
    with open_table(path) as table:
        rows = [(row.number, row.line, row.cells) for row in table.rows]
        return table.header, rows, table.encoding, table.delimiter


def test_windows_1252_with_semicolons(tmp_path: Path) -> None:
    path = tmp_path / "broker.csv"
    street = "Hauptstraße 5 \u2013 Hof"  # an en dash: 0x96 in Windows-1252, no Latin-1 letter
    text = (
        "E-Mail;Vorname;Nachname;Firma;Straße\r\n"
        f"jürgen@müller.de;Jürgen;Müller;Müller GmbH;{street}\r\n"
    )
    path.write_bytes(text.encode("cp1252"))
    header, rows, encoding, delimiter = rows_of(path)
    assert (encoding, delimiter) == ("cp1252", ";")
    assert header == ["E-Mail", "Vorname", "Nachname", "Firma", "Straße"]
    assert rows == [(1, 2, ["jürgen@müller.de", "Jürgen", "Müller", "Müller GmbH", street])]
    mapping = map_columns(header)
    assert mapping.targets == ("email", "first_name", "last_name", "company", "street")


def test_utf8_with_bom_latin1_and_tabs(tmp_path: Path) -> None:
    bom = tmp_path / "bom.csv"
    bom.write_bytes("\ufeffEmail Address,First Name\nann@acme.io,Ann\n".encode())
    assert rows_of(bom)[0] == ["Email Address", "First Name"]
    assert rows_of(bom)[2] == "utf-8-sig"
    latin = tmp_path / "latin.tsv"
    latin.write_bytes("Courriel\tPrénom\tSociété\nzoé@x.fr\tZoé\tA\x81B\n".encode("latin-1"))
    header, rows, encoding, delimiter = rows_of(latin)
    assert (encoding, delimiter) == ("latin-1", "\t")  # \x81 is not Windows-1252
    assert map_columns(header).targets == ("email", "first_name", "company")
    assert rows[0][2][:2] == ["zoé@x.fr", "Zoé"]


def test_quoted_newlines_keep_line_numbers_and_ragged_rows_are_read(tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text('email,name,note\na@x.io,"Ann\nLee",one\n\nb@x.io\nc@x.io,Cy,two,extra\n')
    _, rows, _, _ = rows_of(path)
    assert rows == [
        (1, 2, ["a@x.io", "Ann\nLee", "one"]),
        (2, 5, ["b@x.io"]),
        (3, 6, ["c@x.io", "Cy", "two", "extra"]),
    ]


def test_empty_and_header_only_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(Unreadable, match="empty"):
        open_table(empty)
    header_only = tmp_path / "header.csv"
    header_only.write_text("email,company\n")
    assert rows_of(header_only)[:2] == (["email", "company"], [])


def test_a_five_megabyte_cell_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    big = "x" * (5 << 20)
    path.write_text(f"email,company\nbig@x.io,{big}\nsmall@x.io,Small\n")
    _, rows, _, _ = rows_of(path)
    assert len(rows[0][2][1]) == 5 << 20
    assert rows[1] == (2, 3, ["small@x.io", "Small"])


def test_xlsx_made_with_openpyxl(tmp_path: Path) -> None:
    path = tmp_path / "list.xlsx"
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Email", "Company", "Employees", "Sum"])
    sheet.append(["ann@acme.io", "Acme", 250, "=1+2"])
    sheet.append([None, None, None, None])
    sheet.append(["bob@globex.test", "Globex", 12.5, None])
    book.save(path)
    header, rows, encoding, _ = rows_of(path)
    assert (header, encoding) == (["Email", "Company", "Employees", "Sum"], "xlsx")
    # A formula is never imported as a formula: its cached value (none, unsaved by Excel) is.
    assert rows == [(1, 2, ["ann@acme.io", "Acme", "250", ""]),
                    (2, 4, ["bob@globex.test", "Globex", "12.5", ""])]  # fmt: skip
    assert map_columns(header).targets == ("email", "company", "company_size", "custom.Sum")


def test_mapping_overrides_and_ignores() -> None:
    header = ["Mail", "Firma", "Firm", "Notes"]
    mapping = map_columns(header, parse_pairs("Firm=company,Notes=custom.note"), ["Firma"])
    assert mapping.targets == ("email", None, "company", "custom.note")
    assert map_columns(header, ignore_unknown=True).targets == ("email", "company", None, None)
    with pytest.raises(BadMapping, match="no column 'Nope'"):
        map_columns(header, {"Nope": "email"})
    with pytest.raises(BadMapping, match="not a field"):
        map_columns(header, {"Mail": "e-mail"})
