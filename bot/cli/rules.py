"""`leadbot rules check`: validate the rules file (LEADBOT_RULES) and print what it says."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bot.cli.output import fail, load_settings, out

app = typer.Typer(help="The rules file (LEADBOT_RULES): check it.", no_args_is_help=True)


@app.command("check")
def check(
    file: Annotated[str | None, typer.Argument(help="Rules file; default LEADBOT_RULES.")] = None,
) -> None:
    """Validate a rules file and print what it says; a bad file exits 1 with line and reason."""
    from bot.rules.file import RulesError, default_rules, describe, load_file

    settings = load_settings()
    path = file or str(settings.rules_file())
    if file is None and not Path(path).exists():
        if settings.rules_named():
            fail(f"{path} does not exist (LEADBOT_RULES names it)")
        out.print(f"{path} does not exist; the embedded default applies", highlight=False)
        out.print(describe(default_rules()), highlight=False, markup=False)
        return
    try:
        rules = load_file(path)
    except RulesError as exc:
        fail(str(exc))
    out.print(describe(rules), highlight=False, markup=False)
