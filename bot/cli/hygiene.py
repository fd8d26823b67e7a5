"""`leadbot hygiene report`: what marketing should refresh — bounced addresses, colleagues of a
hard bounce, leads retention marked stale. Registered on the main app by bot/cli/__init__.py."""

from __future__ import annotations

import typer
from rich.text import Text

from bot.cli.output import JsonOption, open_store, out, print_json

app = typer.Typer(help="Data hygiene: leads to refresh.", no_args_is_help=True)

TITLES = {
    "bounced": "Bounced addresses",
    "colleagues_of_bounces": "Colleagues of a hard bounce (does the domain still take mail?)",
    "stale": "Stale leads (no activity; offered a re-permission, erased if nothing happens)",
}


@app.command("report")
def hygiene_report(as_json: JsonOption = False) -> None:
    """Bounced addresses, leads at domains with hard bounces, and stale leads."""
    from rich.table import Table

    from bot.privacy import hygiene

    with open_store().reading() as session:
        report = hygiene.report(session)
    if as_json:
        print_json(report)
        return
    for key, title in TITLES.items():
        rows = report[key]
        out.print(Text(f"{title}: {len(rows)}"))
        if not rows:
            continue
        table = Table("lead", "email", "name", "company", "status", "last activity")
        for row in rows:
            table.add_row(row["lead"], Text(row["email"]), Text(row["name"]),
                          Text(row["company"]), row["status"], row["last_activity_at"])  # fmt: skip
        out.print(table)
