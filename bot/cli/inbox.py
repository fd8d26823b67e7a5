"""`leadbot inbox …`: the inbound-message queue: list it, retry quarantined mail, import .eml."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from bot.cli.output import JsonOption, err, fail, one_of, open_store, out, print_json
from bot.cli.output import services as load_services
from bot.cli.safe_text import safe_text, shown

app = typer.Typer(help="The inbound-message queue: every accepted mail.", no_args_is_help=True)


@app.command("list")
def list_messages(
    state: Annotated[
        str | None, typer.Option(help="queued, done, quarantined or duplicate.")
    ] = None,
    limit: int = 200,
    offset: int = 0,
    as_json: JsonOption = False,
) -> None:
    """Every inbound message: classification, the lead it touched, and errors."""
    import storage.inbox
    from bot.leads.views import inbound_dict

    one_of(state, ("queued", "done", "quarantined", "duplicate", "rejected"), "state")
    with open_store().transaction() as session:
        rows = [inbound_dict(m) for m in storage.inbox.listing(session, state=state, limit=limit,
                                                                 offset=offset)]  # fmt: skip
    _print_inbox(rows, as_json)


@app.command("quarantined")
def quarantined(as_json: JsonOption = False) -> None:
    """Messages that could not be processed, with the error; retry them with `inbox retry`."""
    import storage.inbox
    from bot.leads.views import inbound_dict

    with open_store().transaction() as session:
        rows = [inbound_dict(m) for m in storage.inbox.listing(session, state="quarantined")]
    _print_inbox(rows, as_json)


def _print_inbox(rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        print_json(rows)
        return
    from rich.table import Table

    table = Table("id", "received", "state", "class", "lead", "from", "subject", "error")
    for row in rows:
        error = (row["error"] or "").splitlines()[0] if row["error"] else ""
        table.add_row(
            *(
                safe_text(cell)
                for cell in (
                    str(row["id"]),
                    row["received_at"],
                    row["state"],
                    row["classification"] or "",
                    row["lead"] or "",
                    row["from"] or "",
                    (row["subject"] or "")[:50],
                    error[:60],
                )
            )
        )
    out.print(table)


@app.command("retry")
def retry(
    ids: Annotated[list[int] | None, typer.Argument(help="Message ids.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every quarantined message.")] = False,
) -> None:
    """Queue quarantined messages again and process them now."""
    import storage.inbox

    services = load_services()
    if all_:
        with services.store.transaction() as session:
            ids = [m.id for m in storage.inbox.listing(session, state="quarantined", limit=100000)
                   if m.id is not None]  # fmt: skip
    if not ids:
        fail("name message ids or --all", code=2)
    queued = [i for i in ids or [] if services.inbound.retry(i)]
    services.inbound.drain()
    with services.store.transaction() as session:
        for message_id in queued:
            row = storage.inbox.by_id(session, message_id)
            assert row is not None
            out.print(shown(f"{message_id}: {row.state} {row.classification or row.error or ''}"
                            .strip()),
                      highlight=False, markup=False)  # fmt: skip
    missing = sorted(set(ids or []) - set(queued))
    for message_id in missing:
        err.print(f"{message_id}: not a quarantined message", highlight=False)
    with services.store.reading() as session:
        failed_again = [
            i
            for i in queued
            if (row := storage.inbox.by_id(session, i)) and row.state == "quarantined"
        ]
    if missing or failed_again:
        raise typer.Exit(1)  # a script learns that not everything went through


@app.command("import")
def import_files(
    files: Annotated[list[Path], typer.Argument(help=".eml files or folders of them.")],
) -> None:
    """Feed saved mails (.eml) through the pipeline, as if they had arrived by SMTP."""
    from rich.progress import track

    from bot.mail_in.inbox import accept_raw

    missing = [path for path in files if not path.exists()]
    if missing:
        fail(f"no such file or folder: {missing[0]} (nothing imported)")
    paths: list[Path] = []
    for path in files:
        paths += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    unreadable = [path for path in paths if not os.access(path, os.R_OK)]
    if unreadable:
        fail(f"cannot read {unreadable[0]} (nothing imported)")
    services = load_services()
    for path in track(paths, description="importing", console=err, disable=len(paths) < 20):
        accept_raw(services.store, path.read_bytes(), channel="file", mail_from="")
    processed = services.inbound.drain()
    out.print(f"imported {len(paths)} messages, processed {processed}")


@app.command("process")
def process() -> None:
    """Process whatever is queued now (what `serve` does continuously)."""
    out.print(f"processed {load_services().inbound.drain()} messages")


@app.command("discard")
def discard(
    message_id: Annotated[int, typer.Argument(metavar="ID", help="A quarantined message's id.")],
    reason: Annotated[str, typer.Option("--reason", help="Why, for the record.")] = "",
) -> None:
    """Close a quarantined message nobody wants (as `intake reject M-ID`): kept, marked
    rejected with who did it and why, never processed again."""
    import getpass

    import storage.intake
    from bot.leads.permissions import Actor

    actor = Actor.operator(getpass.getuser()).label
    with open_store().transaction() as session:
        if not storage.intake.reject_message(session, message_id, actor, reason):
            fail(f"{message_id} is not a quarantined message (see leadbot inbox quarantined)")
    out.print(f"{message_id}: discarded by {actor}", highlight=False, markup=False)
