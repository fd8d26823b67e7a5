"""`leadbot rules check`: validate the rules file (LEADBOT_RULES) and print what it says."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli.output import err, fail, load_settings, out

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.rules.file import Rules

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
    unknown = _unknown_reps(rules, settings)
    if unknown:
        # A warning, not a refusal: a team writes its rules before it adds its reps.
        err.print(f"warning: {path}: no rep {', '.join(unknown)} in the store: the rules that "
                  "name them offer no lead until they are added (`leadbot reps add`)",
                  highlight=False, markup=False)  # fmt: skip


def _unknown_reps(rules: Rules, settings: Settings) -> list[str]:
    """The rep emails the rules name (a rule's rep or pool, the manager) that the store has no
    rep for: such a rule would never offer a lead. Without a store to look in, none."""
    from storage.migrate import StoreUnavailable, check_schema

    named = {rule.rep for rule in rules.rules if rule.rep}
    named |= {m for rule in rules.rules if not rule.pool_is_everyone for m in rule.pool}
    if rules.manager:
        named.add(rules.manager)
    if not named:
        return []
    try:
        check_schema(settings.database_url)
    except StoreUnavailable:
        return []
    import storage.reps
    from storage.engine import Store

    store = Store(settings.database_url)  # checked just above: open_store would check again
    try:
        with store.reading() as session:
            known = {rep.email.lower() for rep in storage.reps.listing(session)}
    finally:
        store.dispose()
    return sorted(email for email in named if email.lower() not in known)
