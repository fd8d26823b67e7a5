"""`leadbot retention run`: the `[retention]` rules of the rules file, now or as a dry run
(`serve` runs them daily). Registered on the main `leadbot` app by bot/cli/__init__.py."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from bot.cli.output import JsonOption, err, fail, load_settings, moment, open_store, out, print_json

app = typer.Typer(
    help="Retention: remove what the rules file's retention table keeps too long.",
    no_args_is_help=True,
)


@app.command("run")
def retention_run(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would go, change nothing.")
    ] = False,
    now: Annotated[
        str | None, typer.Option("--now", help="Run as at this time (ISO, UTC).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Each retention rule with how many records it removes (or would, with --dry-run)."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from bot.privacy import retention
    from bot.rules.checks import Invalid
    from bot.rules.file import RulesError, RulesFile

    settings = load_settings()
    at = moment(now)
    try:
        rules = RulesFile(settings.rules_file()).get()
        parsed = retention.RetentionRules.from_table(rules.tables.get("retention"))
    except (RulesError, Invalid) as exc:
        fail(f"{settings.rules_file()}: {exc}", code=2)
    if not parsed.periods:
        fail(f"no [retention] rules in {settings.rules_file()}: nothing to do", code=2)
    store = open_store(settings)
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=err, disable=as_json, transient=True) as progress:
        progress.add_task("retention " + ("(dry run)" if dry_run else "running"), total=None)
        with store.transaction() as session:
            outcomes = retention.run(session, parsed, at, dry_run=dry_run)
            if dry_run:
                session.rollback()
        if not dry_run:
            store.forget_freed()
    rows = [{"rule": o.rule, "count": o.count, "what": o.what} for o in outcomes]
    if as_json:
        print_json({"dry_run": dry_run, "at": at.isoformat(), "rules": rows})
        return
    verb = "would remove" if dry_run else "removed"
    for row in rows:
        out.print(Text(f"{row['rule']:<18} {verb} {row['count']:>6}  {row['what']}"))
