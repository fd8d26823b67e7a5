"""`leadbot import FILE` (a dry run; `--apply` does it), `import list`, `show`, `revert`.

`import FILE` and `import list` share the noun: a word that is not a subcommand is the file
(`_FileOrCommand`), so `leadbot import leads.csv --apply` reads as a user types it. The work is
bot/imports/ (read, map, capture in batches, the journal, revert). Registered on the main
`leadbot` app by bot/cli/__init__.py.
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from rich.markup import escape
from rich.text import Text
from typer.core import TyperGroup

from bot.cli.output import JsonOption, err, fail, load_settings, open_store, out, print_json


class _FileOrCommand(TyperGroup):
    """`leadbot import FILE …` runs the hidden `file` command; `list`, `show`, `revert` are
    commands as usual."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["file", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_FileOrCommand,
    help="Import leads from a CSV, TSV or XLSX file: `leadbot import FILE` is a dry run, "
    "`--apply` does it (options: `leadbot import FILE --help`); list, show and revert imports.",
    no_args_is_help=True,
)


def _actor() -> str:
    from bot.leads.permissions import Actor

    return Actor.operator(getpass.getuser()).label


def _fields(text: str) -> frozenset[str]:
    return frozenset(name.strip() for name in text.split(",") if name.strip())


@app.command("file", hidden=True)
def import_file(
    path: Annotated[Path, typer.Argument(metavar="FILE", help="A .csv, .tsv or .xlsx file.")],
    apply: Annotated[
        bool, typer.Option("--apply", help="Import for real (default: dry run).")
    ] = False,
    mapping: Annotated[
        str, typer.Option("--map", help="'Column=field,…' (field, custom.NAME or ignore).")
    ] = "",
    ignore: Annotated[
        str, typer.Option("--ignore", help="'Column,…' to leave out; '*' = every unknown column.")
    ] = "",
    source: Annotated[str, typer.Option("--source", help="The leads' source (broker-x).")] = "csv",
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="A tag for every row (repeatable).")
    ] = None,
    overwrite: Annotated[
        str, typer.Option("--overwrite", help="'field,…' the file overwrites when set.")
    ] = "",
    keep: Annotated[
        str, typer.Option("--keep", help="'field,…' the file never changes on a stored lead.")
    ] = "",
    queue: Annotated[
        bool, typer.Option("--queue", help="Put new unowned leads in the assignment queue.")
    ] = False,
    errors: Annotated[
        Path | None,
        typer.Option("--errors", help="Where the bad rows go (default FILE.errors.csv)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Read FILE and print what importing it would do; --apply does it."""
    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from bot.imports.columns import BadMapping, parse_pairs
    from bot.imports.run import ImportFailed, Options, run_import
    from bot.leads import fields
    from bot.rules.file import RulesError, load

    if not path.is_file():
        fail(escape(f"no file {path}"), code=2)
    try:
        pairs = parse_pairs(mapping)
    except BadMapping as exc:
        fail(escape(str(exc)), code=2)
    policy_fields = {*fields.NAMES, "custom"}
    for option, names in (("--overwrite", _fields(overwrite)), ("--keep", _fields(keep))):
        unknown = sorted(names - policy_fields)
        if unknown:
            fail(
                escape(
                    f"{option} {','.join(unknown)}: not a field; fields: "
                    f"{', '.join(sorted(policy_fields))}"
                ),
                code=2,
            )
    ignored = tuple(name.strip() for name in ignore.split(",") if name.strip() and name != "*")
    options = Options(
        mapping=pairs,
        ignore=ignored,
        ignore_unknown=ignore.strip() == "*",
        source=source,
        tags=tuple(tag or ()),
        overwrite=_fields(overwrite),
        keep=_fields(keep),
        queue=queue,
        actor=_actor(),
    )
    settings = load_settings()
    try:
        rules = load(settings.rules_file())
    except RulesError as exc:
        fail(escape(str(exc)))
    store = open_store(settings)
    errors_path = errors or path.with_name(f"{path.stem}.errors.csv")
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[rows]:,} rows"),
        TextColumn("{task.fields[rate]:,.0f} rows/s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    try:
        with Progress(*columns, console=err, transient=as_json) as bar:
            task = bar.add_task("apply" if apply else "dry run", total=None, rows=0, rate=0.0)

            def progress(rows: int, position: int, total: int) -> None:
                elapsed = bar.tasks[task].elapsed or 0.0
                rate = rows / elapsed if elapsed else 0.0
                bar.update(task, completed=position, total=total or None, rows=rows, rate=rate)

            report = run_import(
                store,
                path,
                options,
                rules,
                dry_run=not apply,
                errors_path=errors_path,
                progress=progress,
            )
    except (ImportFailed, BadMapping) as exc:
        fail(escape(str(exc)), code=2)
    except KeyboardInterrupt:
        err.print(
            Text(
                "interrupted: what was committed stays; run the same command again to "
                "resume, or `leadbot import revert` the import (`leadbot import list`)"
            )
        )
        raise typer.Exit(130) from None
    finally:
        store.dispose()
    if as_json:
        print_json(report.as_data())
        return
    _print_report(report.as_data())


def _print_report(data: dict[str, Any]) -> None:
    from rich.table import Table

    counts = data["counts"]
    head = "dry run, nothing changed" if data["dry_run"] else f"{data['id']} done"
    if data.get("resumed_from"):
        head += f" (resumed after row {data['resumed_from']:,})"
    out.print(
        Text(
            f"{data['file']}: {data['format']}, {data['encoding']}"
            + (f", delimiter {data['delimiter']!r}" if data["delimiter"] else "")
            + f" — {head}"
        )
    )
    table = Table("column", "field", "how")
    for column in data["columns"]:
        table.add_row(Text(column["column"]), Text(column["field"]), column["how"])
    out.print(table)
    would = "would be " if data["dry_run"] else ""
    lines = [
        f"{counts['rows']:,} rows",
        f"{counts['new']:,} new leads {would}created",
        f"{counts['updated']:,} stored leads {would}updated, {counts['unchanged']:,} unchanged",
        f"{counts['matched_store']:,} rows match stored leads, {counts['duplicates_in_file']:,} "
        "repeat an earlier row of the file",
        f"{counts['merged']:,} {would}merged as sure duplicates, {counts['flagged']:,} "
        "flagged as possible duplicates",
        f"{counts['held']:,} {would}held in the intake quarantine",
        f"{counts['bad']:,} bad rows {would}skipped",
    ]
    if counts.get("queued"):
        lines.append(f"{counts['queued']:,} {would}queued for assignment")
    for line in lines:
        out.print(Text(line))
    for update in data["updates"]:
        out.print(
            Text(
                f"  line {update['line']}: {update['lead']} {update['email']}: "
                f"{', '.join(update['fields'])}"
            )
        )
    for hold in data["held"]:
        out.print(Text(f"  line {hold['line']}: held {hold['hold']}: {hold['reason']}"))
    for bad in data["bad"]:
        out.print(Text(f"  line {bad['line']}: {bad['reason']}"))
    if data["errors_file"]:
        out.print(Text(f"bad rows written to {data['errors_file']}"))
    if data["dry_run"]:
        out.print(Text("run again with --apply to import"))


@app.command("list")
def import_list(as_json: JsonOption = False) -> None:
    """Imports, newest first."""
    from rich.table import Table

    import storage.imports
    from bot.imports.views import run_dict

    store = open_store()
    with store.reading() as session:
        rows = [run_dict(run) for run in storage.imports.runs(session)]
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print("no imports yet", highlight=False)
        return
    table = Table("id", "file", "state", "at", "rows", "new", "updated", "merged", "held", "bad")
    for row in rows:
        c = row["counts"]
        table.add_row(
            row["id"],
            Text(row["file"]),
            row["state"],
            row["created_at"][:19],
            str(c["rows"]),
            str(c["new"]),
            str(c["updated"]),
            str(c["merged"]),
            str(c["held"]),
            str(c["bad"]),
        )
    out.print(table)


def _run_id(text: str) -> int:
    digits = text.strip().upper().removeprefix("I-")
    if not digits.isdigit():
        fail(escape(f"{text!r} is not an import: I-3 or 3 (`leadbot import list`)"), code=2)
    return int(digits)


@app.command("show")
def import_show(
    ref: Annotated[str, typer.Argument(metavar="ID", help="I-3 or 3.")],
    as_json: JsonOption = False,
) -> None:
    """One import: counts, and its reported rows (bad, held, updated, merged, flagged)."""
    import storage.imports
    from bot.imports.views import row_dict, run_dict

    run_id = _run_id(ref)
    store = open_store()
    with store.reading() as session:
        run = storage.imports.run_by_id(session, run_id)
        if run is None:
            fail(f"no import I-{run_id}")
        data = run_dict(run)
        data["rows"] = [
            row_dict(row) for row in storage.imports.rows_of(session, run_id, limit=1000)
        ]
    if as_json:
        print_json(data)
        return
    c = data["counts"]
    out.print(
        Text(
            f"{data['id']} {data['file']}: {data['state']}, {data['rows_done']:,} rows "
            f"read; {c['new']} new, {c['updated']} updated, {c['merged']} merged, "
            f"{c['held']} held, {c['bad']} bad"
        )
    )
    for row in data["rows"]:
        what = f"line {row['line']}: {row['action']}"
        if row["lead"]:
            what += f" {row['lead']}"
        if row["fields"]:
            what += f" ({', '.join(row['fields'])})"
        if row["reason"]:
            what += f": {row['reason']}"
        out.print(Text(what))
    if data["revert"]:
        out.print(Text(f"reverted by {data['reverted_by']}: {data['revert']}"))


@app.command("revert")
def import_revert(
    ref: Annotated[str, typer.Argument(metavar="ID", help="I-3 or 3.")],
    as_json: JsonOption = False,
) -> None:
    """Take an import back: delete the leads it created that nobody touched since, restore the
    fields it changed (unless changed since: it says which), undo its merges."""
    from bot.imports.revert import NotRevertible, revert

    store = open_store()
    try:
        report = revert(store, _run_id(ref), _actor())
    except NotRevertible as exc:
        fail(escape(str(exc)))
    finally:
        store.dispose()
    data = report.as_data()
    if as_json:
        print_json(data)
        return
    out.print(
        Text(f"{data['id']} reverted: {data['deleted']} leads deleted, {data['restored']} restored")
    )
    for lead in data["kept_leads"]:
        out.print(Text(f"  {lead} kept: changed since the import"))
    for kept in data["kept_fields"]:
        out.print(Text(f"  {kept['lead']} {kept['field']} kept: changed since the import"))
