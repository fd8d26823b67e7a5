"""`leadbot import …` and `leadbot export leads` as a user types them, on a SQLite file."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import cli, output
from storage.engine import Store

FILE = (
    "Email Address;First Name;Surname;Company;Phone;Notes\n"
    'ann@acme.io;Ann;Lee;=HYPERLINK("http://evil");+1 415 555 0100;met at the fair\n'
    "bob@globex.test;Bob;Ray;Globex;;\n"
    ";Nobody;Here;X;;\n"
    "ann@acme.io;Ann;Lee;Acme;;again\n"
)


@pytest.fixture
def leadbot(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for key in [key for key in os.environ if key.startswith("LEADBOT_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("LEADBOT_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("LEADBOT_SECRET_KEY", "test-secret")
    monkeypatch.setenv("COLUMNS", "250")
    for console in (output.out, output.err):
        monkeypatch.setattr(console, "_width", 250)
    monkeypatch.setenv("USER", "ann")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "leads.csv").write_bytes(FILE.encode("cp1252"))
    yield tmp_path


def run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, list(args), prog_name="leadbot")
    assert result.exit_code == code, f"{args}: {result.exit_code}\n{result.stdout}{result.stderr}"
    return result.stdout


def test_dry_run_apply_list_show_revert_export(leadbot: Path, sqlite_url: str) -> None:
    shown = run("import", "leads.csv", "--tag", "fair-2026")
    assert "dry run, nothing changed" in shown
    assert "2 new leads would be created" in shown
    assert "1 repeat an earlier row of the file" in shown
    assert "line 4: no email address" in shown
    assert "Notes" in shown and "custom.Notes" in shown
    errors = (leadbot / "leads.errors.csv").read_text()
    assert errors.splitlines() == [
        "Email Address,First Name,Surname,Company,Phone,Notes,reason",
        ",Nobody,Here,X,,,no email address",
    ]
    assert json.loads(run("leads", "list", "--json")) == []
    report = json.loads(run("import", "leads.csv", "--apply", "--tag", "fair-2026", "--json"))
    assert (report["id"], report["state"], report["counts"]["new"]) == ("I-1", "done", 2)
    imports = json.loads(run("import", "list", "--json"))
    assert [(i["id"], i["state"]) for i in imports] == [("I-1", "done")]
    detail = json.loads(run("import", "show", "I-1", "--json"))
    assert [row["action"] for row in detail["rows"]] == ["bad", "unchanged"]
    leads = json.loads(run("leads", "list", "--json"))
    assert [lead["email"] for lead in leads] == ["ann@acme.io", "bob@globex.test"]
    # the unknown column, the tag, and the time zone enrichment read from the +1 415 phone
    assert leads[0]["custom"] == {
        "Notes": "met at the fair", "tags": "fair-2026", "timezone": "America/Los_Angeles"
    }  # fmt: skip
    exported = run("export", "leads", "--format", "csv")
    assert '\'=HYPERLINK(""http://evil"")' in exported and "'+1 415 555 0100" in exported
    assert len(run("export", "leads", "--format", "jsonl").splitlines()) == 2
    assert "2 leads deleted" in run("import", "revert", "I-1")
    assert json.loads(run("leads", "list", "--json")) == []
    run("import", "revert", "I-1", code=1)
    Store(sqlite_url).dispose()


def test_bad_options_are_refused_with_what_is_allowed(leadbot: Path) -> None:
    result = CliRunner().invoke(cli, ["import", "leads.csv", "--map", "Nope=email"])
    assert result.exit_code == 2 and "no column 'Nope'" in result.stderr
    result = CliRunner().invoke(cli, ["import", "leads.csv", "--overwrite", "emial"])
    assert result.exit_code == 2 and "not a field" in result.stderr
    result = CliRunner().invoke(cli, ["import", "missing.csv"])
    assert result.exit_code == 2 and "no file" in result.stderr


def test_an_xlsx_file_and_an_xlsx_export(leadbot: Path) -> None:
    from openpyxl import Workbook, load_workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Correo electrónico", "Nombre", "Apellidos", "Empresa", "País"])
    sheet.append(["lucia@acme.es", "Lucía", "García", "Acme S.L.", "ES"])
    sheet.append(["marc@acme.es", "Marc", "Puig", "=1+1", "ES"])
    book.save(leadbot / "lista.xlsx")
    report = json.loads(run("import", "lista.xlsx", "--apply", "--json"))
    assert (report["format"], report["counts"]["new"]) == ("xlsx", 2)
    assert [c["field"] for c in report["columns"]] == [
        "email", "first_name", "last_name", "company", "country"]  # fmt: skip
    leads = json.loads(run("leads", "list", "--json"))
    # a formula cell imports its saved value (none: openpyxl saves no value), never its text
    assert [(lead["first_name"], lead["company"]) for lead in leads] == [
        ("Lucía", "Acme S.L."),
        ("Marc", ""),
    ]  # fmt: skip
    run("export", "leads", "--format", "xlsx", "--out", "out.xlsx")
    rows = list(load_workbook(leadbot / "out.xlsx").active.iter_rows(values_only=True))  # type: ignore[union-attr]
    assert rows[1][:3] == ("L-1", "lucia@acme.es", "Lucía") and len(rows) == 3


def test_headers_and_cells_from_the_file_are_shown_as_text(leadbot: Path) -> None:
    (leadbot / "markup.csv").write_text("email,[bold red]x[/bold red]\n[b]ann[/b]@x.io,1\n")
    shown = run("import", "markup.csv")
    assert "custom.[bold red]x[/bold red]" in shown
    assert "line 2: not an email address: '[b]ann[/b]@x.io'" in shown
