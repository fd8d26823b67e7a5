"""What every command shares: the JSON it prints and how it fails."""

from __future__ import annotations

from datetime import date

import pytest
import typer

from bot.cli.output import fail, print_json


def test_json_is_indented_unicode_and_prints_anything(capsys: pytest.CaptureFixture[str]) -> None:
    print_json({"name": "Zoë", "on": date(2026, 11, 2), "ids": [1, 2]})
    assert capsys.readouterr().out == (
        '{\n  "name": "Zoë",\n  "on": "2026-11-02",\n  "ids": [\n    1,\n    2\n  ]\n}\n'
    )


def test_fail_says_why_on_stderr_and_exits_with_the_code(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(typer.Exit) as exited:
        fail("no lead L-9", code=2)
    assert exited.value.exit_code == 2
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", "error: no lead L-9\n")
