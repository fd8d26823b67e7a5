"""`leadbot privacy …`: a person's data exported as one JSON bundle, or erased on request, and
the privacy log of both. Registered on the main `leadbot` app by bot/cli/__init__.py."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.text import Text

from bot.cli.output import JsonOption, err, fail, open_store, out, print_json

app = typer.Typer(
    help="A person's data: export it (one JSON bundle) or erase it on request.",
    no_args_is_help=True,
)

Person = Annotated[str, typer.Argument(metavar="PERSON", help="jane@acme.io or L-12.")]


def _actor() -> str:
    from bot.leads.permissions import Actor

    return Actor.operator(getpass.getuser()).label


@app.command("export")
def privacy_export(
    person: Person,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write the bundle here (default: stdout).")
    ] = None,
) -> None:
    """Everything held about a person, across every lead record (merged aliases included):
    fields, timeline, raw mails, held captures, campaign sends, opens, clicks, Slack cards."""
    import storage.privacy
    from bot.privacy import export
    from bot.privacy.subject import NotFound, resolve

    store = open_store()
    with store.transaction() as session:
        try:
            subject = resolve(session, person)
        except NotFound as exc:
            fail(escape(str(exc)))
        bundle = export.bundle(session, subject)
        storage.privacy.log(session, _actor(), "export", f"--out {out_file or '-'}",
                            {"leads": subject.labels})  # fmt: skip
    text = json.dumps(bundle, indent=2, ensure_ascii=False, default=str) + "\n"
    if out_file is None:
        typer.echo(text, nl=False)
        return
    out_file.write_text(text)
    rows = sum(len(rows) for rows in bundle["places"].values())
    err.print(Text(f"{', '.join(bundle['leads']) or 'no lead'}: {rows} rows written to {out_file}"))


@app.command("erase")
def privacy_erase(
    person: Person,
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the privacy log).")],
    as_json: JsonOption = False,
) -> None:
    """Erase a person's data everywhere it is kept, in one transaction: lead records become
    tombstones (status, stage, source, owner, dates stay), the address goes on the suppression
    list, Slack cards are redrawn "erased on request", a `lead.erased` webhook is queued."""
    from bot.privacy import erase
    from bot.privacy.subject import NotFound, resolve

    if not reason.strip():
        fail("--reason must say why", code=2)
    store = open_store()
    with store.transaction() as session:
        try:
            subject = resolve(session, person)
        except NotFound as exc:
            fail(escape(str(exc)))
        result = erase.erase(session, subject, actor=_actor(), reason=reason)
    store.forget_freed()
    data = {"leads": result.leads, "rows": result.rows, "cards": len(result.cards),
            "privacy_log": result.log_id, "suppressed": result.suppressed}  # fmt: skip
    if as_json:
        print_json(data)
        return
    rows = ", ".join(f"{name} {count}" for name, count in sorted(result.rows.items()))
    out.print(Text(f"erased {', '.join(result.leads) or 'unowned records'}: {rows}"))
    out.print(Text(f"{len(result.cards)} Slack cards to redraw; privacy log #{result.log_id}"))


@app.command("log")
def privacy_log(
    limit: Annotated[int, typer.Option("--limit", help="Newest N entries.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """The privacy log, newest first: who erased or exported which records, when and why."""
    from rich.table import Table

    import storage.privacy

    with open_store().reading() as session:
        rows = [
            {
                "id": e.id,
                "at": e.at.isoformat(),
                "actor": e.actor,
                "action": e.action,
                "reason": e.reason,
                "records": e.records,
            }
            for e in storage.privacy.log_entries(session, limit)
        ]
    if as_json:
        print_json(rows)
        return
    table = Table("id", "at", "actor", "action", "leads", "reason")
    for row in rows:
        leads = ", ".join(row["records"].get("leads", []))
        table.add_row(str(row["id"]), row["at"], Text(row["actor"]), row["action"], Text(leads),
                      Text(row["reason"]))  # fmt: skip
    out.print(table)
