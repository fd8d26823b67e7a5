"""`leadbot …`: run the bot, see leads and the inbox, act on leads with the Slack grammar.

One module per noun; this one only puts them together. Each noun module imports typer and
rich and nothing heavier at its top (the store, the domain and the transports are imported by
the command that runs), so `leadbot --help` and every script's `leadbot … --json` start fast.
"""

from __future__ import annotations

import typer

from bot.cli import (
    account,
    apikey,
    assign,
    campaign,
    db,
    dedupe,
    events,
    export,
    form,
    hygiene,
    import_,
    inbox,
    intake,
    lead,
    leads,
    privacy,
    report,
    reps,
    retention,
    rules,
    serve,
    webhook,
)

cli = typer.Typer(
    help="leadbot: email and web leads in, worked from Slack or here.", no_args_is_help=True
)

# (noun, its commands), in the order `leadbot --help` lists them. No noun: the module's commands
# sit at the top level (`leadbot serve`, `leadbot lead qualify L-1`).
NOUNS: tuple[tuple[str | None, typer.Typer], ...] = (
    (None, serve.app),
    (None, lead.app),
    ("db", db.app),
    ("leads", leads.app),
    ("inbox", inbox.app),
    ("intake", intake.app),
    ("reps", reps.app),
    ("dedupe", dedupe.app),
    ("account", account.app),
    ("assign", assign.app),
    ("rules", rules.app),
    ("events", events.app),
    ("campaign", campaign.app),
    ("form", form.app),
    ("apikey", apikey.app),
    ("webhook", webhook.app),
    ("import", import_.app),
    ("export", export.app),
    ("report", report.app),
    ("privacy", privacy.app),
    ("retention", retention.app),
    ("hygiene", hygiene.app),
)
for noun, commands in NOUNS:
    cli.add_typer(commands, name=noun)


def main() -> None:
    from bot.cli.output import fit_width

    fit_width()
    cli()
