"""Mail text in the terminal (issue 11, item 5): markup and escape sequences from a subject, a
name, a company and a body are shown as text by `inbox list`, `leads list`, `leads show`,
and errors, with the console drawing styles and links as a real terminal does. On SQLite only, as
tests/cli: the rendering is the same on both stores, and the in-process CLI leaves PostgreSQL
connections to the process's exit."""

from __future__ import annotations

import os
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from rich.color import ColorSystem
from typer.testing import CliRunner

from bot.cli import cli, output

SUBJECT = "[/] pricing [link=http://evil.example]click[/link] \x1b[2J"
NAME = "[bold]Jane[/bold] \x1b]8;;http://evil.example\x07Doe\x1b]8;;\x07"
BODY = (
    "Can you send pricing?\x1b[2J\x1b[H [link=http://evil.example]here[/link]\n\n"
    "Best,\nJane Doe\nHead of IT, [/] Corp Ltd\n"
)


@pytest.fixture
def terminal(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[CliRunner]:
    """`leadbot` in-process on the store, its consoles drawing colour and hyperlinks."""
    for key in [key for key in os.environ if key.startswith("LEADBOT_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("LEADBOT_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("LEADBOT_SECRET_KEY", "test-secret")
    for console in (output.out, output.err):
        monkeypatch.setattr(console, "_width", 200)
        monkeypatch.setattr(console, "_force_terminal", True)
        monkeypatch.setattr(console, "_color_system", ColorSystem.TRUECOLOR)
    monkeypatch.chdir(tmp_path)
    yield CliRunner()


def run(runner: CliRunner, *args: str, code: int = 0) -> str:
    result = runner.invoke(cli, list(args), prog_name="leadbot")
    assert result.exit_code == code, f"{result.stdout}{result.stderr}{result.exception!r}"
    return result.stdout + result.stderr


def assert_shown_as_text(printed: str) -> None:
    assert "\x1b]8;" not in printed  # no hyperlink, neither from markup nor from the mail
    assert "\x1b[2J" not in printed and "\x1b[H" not in printed  # no clear screen, no home
    assert "\x07" not in printed


def test_markup_and_escapes_from_a_mail_are_printed_as_text(
    terminal: CliRunner, tmp_path: Path
) -> None:
    message = EmailMessage()
    message["From"] = f'"{NAME}" <jane@corp.test>'
    message["To"] = "leads@localhost"
    message["Subject"] = SUBJECT
    message.set_content(BODY)
    (tmp_path / "hostile.eml").write_bytes(message.as_bytes())
    run(terminal, "inbox", "import", str(tmp_path / "hostile.eml"))

    listed = run(terminal, "inbox", "list")
    assert "[/] pricing" in listed and "[link=http://evil.example]" in listed
    assert_shown_as_text(listed)
    leads = run(terminal, "leads", "list")
    assert "jane@corp.test" in leads and "[/] Corp Ltd" in leads
    assert_shown_as_text(leads)
    shown = run(terminal, "leads", "show", "L-1")
    assert "[/] pricing" in shown and "␛[2J" in shown  # the escape is visible, not acting
    assert_shown_as_text(shown)
    # An error quoting outside text is text too.
    missing = run(terminal, "leads", "show", "[/]nobody@x.test", code=1)
    assert "[/]nobody@x.test" in missing
    assert_shown_as_text(missing)
