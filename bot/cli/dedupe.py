"""`leadbot dedupe train|scan|review`: the match model, duplicates across the whole store, and
the pairs to review."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from bot.cli.output import JsonOption, err, fail, load_settings, open_store, out, print_json
from bot.cli.safe_text import shown

app = typer.Typer(help="Duplicate leads: scan the store, review the pairs.", no_args_is_help=True)

PHASES = {
    "index": "indexing leads",
    "read": "reading leads",
    "scan": "matching",
    "merge": "merging",
    "train": "fitting (EM)",
}


@app.command("train")
def train(
    if_grown: Annotated[
        bool,
        typer.Option("--if-grown", help="Only when the store outgrew the model (what serve runs)."),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Fit the match model on the store's own leads (m and u of every comparison level by
    expectation-maximisation, term frequencies of names, city and postal code) and save it:
    capture and the scan use it from then on. `serve` refits as the store grows."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from bot.dedupe import store_train
    from bot.rules.file import RulesError, load

    settings = load_settings()
    store = open_store(settings)
    try:
        rules = load(settings.rules_file())
    except RulesError as exc:
        fail(str(exc))
    columns = (TextColumn("{task.description:<15}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=err, transient=as_json) as bar:
        tasks: dict[str, Any] = {}

        def progress(phase: str, total: int, advance: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(PHASES[phase], total=total)
            bar.update(tasks[phase], advance=advance)

        if if_grown:
            trained = store_train.refit_if_grown(store, rules.match, "serve:dedupe-refit")
        else:
            trained = store_train.train(store, rules.match, "cli:dedupe-train", progress)
    if trained is None:
        if as_json:
            print_json(None)
        else:
            out.print("the model in force still fits the store: not fitted again")
        return
    if as_json:
        print_json(trained.as_dict())
        return
    model = trained.model
    out.print(
        f"model M-{trained.model_id} fitted on {model.trained_on:,} leads "
        f"({model.pairs:,} candidate pairs) in {trained.seconds:.1f} s; match weights in bits:",
        highlight=False,
    )
    for line in model.summary():
        out.print(f"  {line}", highlight=False, markup=False)


@app.command("scan")
def scan(
    apply: Annotated[bool, typer.Option("--apply", help="Merge the sure duplicates.")] = False,
    review: Annotated[
        Path, typer.Option("--review", help="Where to write the review list (CSV).")
    ] = Path("dedupe-review.csv"),
    as_json: JsonOption = False,
) -> None:
    """Find duplicates across the whole store; flag the likely ones for review, write the list,
    and with --apply merge the sure ones into the oldest lead of each group."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from bot.dedupe import scan as store_scan
    from bot.rules.file import RulesError, load

    settings = load_settings()
    store = open_store(settings)
    try:
        rules = load(settings.rules_file())
    except RulesError as exc:
        fail(str(exc))
    columns = (
        TextColumn("{task.description:<15}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=as_json) as bar:
        tasks: dict[str, Any] = {}

        def progress(phase: str, total: int, advance: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(PHASES[phase], total=total)
            bar.update(tasks[phase], advance=advance)

        report = store_scan.run(
            store,
            rules,
            apply=apply,
            review_file=review,
            actor="cli:dedupe-scan",
            progress=progress,
        )
    if as_json:
        print_json(report.as_dict())
        return
    out.print(
        f"{report.leads:,} leads scanned in {report.seconds:.1f} s: "
        f"{report.sure_pairs:,} sure duplicates in {len(report.clusters):,} groups, "
        f"{len(report.review):,} pairs to review ({report.flagged:,} newly flagged)",
        highlight=False,
    )
    if apply:
        out.print(f"merged {report.merged:,} leads (undo one with: leadbot lead unmerge L-n)")
    elif report.clusters:
        out.print("merge the sure ones with: leadbot dedupe scan --apply")
    out.print(f"review list: {report.review_file}", highlight=False)


@app.command("review")
def review(
    limit: Annotated[int, typer.Option(help="At most this many pairs.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """Pairs waiting for a person's decision, most alike first."""
    import storage.duplicates
    from bot.leads.views import flag_dict

    with open_store().reading() as session:
        flags = storage.duplicates.open_flags(session, limit=limit)
        rows = []
        for flag in flags:
            pair = storage.duplicates.leads_by_ids(session, [flag.lead_id, flag.other_id])
            if any(lead.merged_into_id is not None for lead in pair):
                continue
            by_id = {lead.id: lead for lead in pair}
            row = flag_dict(flag, flag.lead_id)
            row["lead_email"] = by_id[flag.lead_id].email
            row["other_email"] = by_id[flag.other_id].email
            rows.append(row)
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print("no pairs waiting for review")
    for row in rows:
        out.print(
            shown(
                f"{row['lead']} {row['lead_email']} looks {row['percent']}% like {row['other']} "
                f"{row['other_email']}: leadbot lead merge|notdup {row['lead']} {row['other']}"
            ),
            highlight=False,
            markup=False,
        )
