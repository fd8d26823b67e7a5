"""`leadbot report …`: the funnel, sources, reps, speed to lead, aging and campaigns, as a
table, JSON or CSV; the dashboard's signed links (`link`, `links`, `revoke`); `rebuild`, which
derives the reports' roll-up from the timeline again. Registered by bot/cli/__init__.py.
"""

from __future__ import annotations

import getpass
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from bot.cli.output import JsonOption, fail, moment, open_store, out, print_json

if TYPE_CHECKING:
    from bot.reports.figures import Report, Window

app = typer.Typer(
    help="Reports: funnel, sources, reps, speed to lead, aging, campaigns; dashboard links.",
    no_args_is_help=True,
)

SinceOption = Annotated[
    str, typer.Option("--since", help="From this day or time (UTC); default: 90 days ago.")
]
UntilOption = Annotated[str, typer.Option("--until", help="Up to this day or time; default: now.")]
ByOption = Annotated[str, typer.Option("--by", help="Group periods by day, week or month.")]
SourceOption = Annotated[
    str, typer.Option("--source", help="Only leads of this channel or UTM source.")
]
RepOption = Annotated[str, typer.Option("--rep", help="Only this rep's leads (name, email, R-3).")]
CsvOption = Annotated[bool, typer.Option("--csv", help="Print CSV.")]


def _window(since: str, until: str, by: str, source: str, rep: str) -> Window:
    from bot.leads.actions import RepNotFound, find_rep
    from bot.reports.figures import PERIODS, Window
    from storage.models import utcnow

    if by not in PERIODS:
        fail(f"--by {by!r}: use one of {', '.join(PERIODS)}", code=2)
    now = utcnow()
    window = Window.default(now, by=by, source=source or None)
    if since:
        window = _replace(window, since=moment(since))
    if until:
        window = _replace(window, until=moment(until))
    if window.until <= window.since:
        fail("--until must come after --since", code=2)
    if rep:
        with open_store().reading() as session:
            try:
                rep_id = find_rep(session, rep).id
            except RepNotFound as exc:
                fail(str(exc))
        window = _replace(window, rep_id=rep_id)
    return window


def _replace(window: Window, **changes: Any) -> Window:
    from dataclasses import replace

    return replace(window, **changes)


def _run(name: str, window: Window) -> Report:
    from bot.reports import rollup
    from bot.reports.figures import REPORTS

    store = open_store()
    try:
        rollup.catch_up(store)  # figures right after a merge, an undo or an un-conversion
        with store.reading() as session:
            return REPORTS[name](session, window)
    finally:
        store.dispose()


def _show(report: Report, as_json: bool, as_csv: bool) -> None:
    from rich.table import Table

    from bot.reports.output import cell, csv_text

    if as_json:
        print_json(report.as_data())
        return
    if as_csv:
        out.file.write(csv_text(report))
        return
    window = report.window
    assert window is not None
    title = f"{report.name}: {window.since:%Y-%m-%d %H:%M} to {window.until:%Y-%m-%d %H:%M} UTC"
    table = Table(*report.columns, title=title)
    for row in report.rows:
        # Text cells: sources and names come from outside and are shown as written.
        table.add_row(*(Text(cell(column, row[column])) for column in report.columns))
    out.print(table)


def _report_command(name: str) -> None:
    def command(
        since: SinceOption = "",
        until: UntilOption = "",
        by: ByOption = "week",
        source: SourceOption = "",
        rep: RepOption = "",
        as_json: JsonOption = False,
        as_csv: CsvOption = False,
    ) -> None:
        _show(_run(name, _window(since, until, by, source, rep)), as_json, as_csv)

    command.__doc__ = HELP[name]
    app.command(name)(command)


# The reports, as `leadbot report --help` lists them (bot/reports/figures.py computes them).
HELP = {
    "funnel": "Leads per period and stage, and the ratio from each stage to the next.",
    "sources": "Leads, MQLs, conversions, time to convert and amount per source and UTM tag.",
    "reps": "Assigned, worked, converted, time to convert, SLA misses and speed per rep.",
    "speed": "Arrival to first human touch: p50/p90 per rep and source, wall and work hours.",
    "aging": "Open leads by age (0-1 d, 1-7 d, 7-30 d, older) and those nobody touched yet.",
    "campaigns": "Per campaign and step: sent, delivered, bounced, opens, clicks, replies.",
}
for _name in HELP:
    _report_command(_name)


@app.command("link")
def report_link(
    days: Annotated[float, typer.Option("--days", help="How long the link works.")] = 7,
    as_json: JsonOption = False,
) -> None:
    """Print a signed link to the /reports dashboard (revoke it with `report revoke`)."""
    from bot.cli.output import load_settings
    from bot.reports.links import DashboardLinks
    from storage.models import utcnow

    settings = load_settings()
    links = DashboardLinks(settings.public_url, settings.signing_key())
    store = open_store(settings)
    try:
        with store.transaction() as session:
            try:
                link = links.issue(session, days, f"cli:{getpass.getuser()}", utcnow())
            except ValueError as exc:
                fail(str(exc), code=2)
            url = links.url(link)
            data = {"id": link.id, "url": url, "expires_at": link.expires_at.isoformat()}
    finally:
        store.dispose()
    if as_json:
        print_json(data)
        return
    out.print(Text(url))
    out.print(f"link {data['id']} works until {data['expires_at']}", highlight=False)


@app.command("links")
def report_links(as_json: JsonOption = False) -> None:
    """The dashboard links handed out, and whether each still works."""
    from rich.table import Table

    import storage.reports
    from storage.models import utcnow

    now = utcnow()
    store = open_store()
    with store.reading() as session:
        rows = [
            {
                "id": link.id,
                "created_at": link.created_at.isoformat(),
                "expires_at": link.expires_at.isoformat(),
                "created_by": link.created_by,
                "state": "revoked"
                if link.revoked_at
                else ("expired" if link.expires_at <= now else "active"),
            }
            for link in storage.reports.links(session)
        ]
    store.dispose()
    if as_json:
        print_json(rows)
        return
    table = Table("id", "created", "expires", "by", "state")
    for row in rows:
        table.add_row(str(row["id"]), row["created_at"][:16], row["expires_at"][:16],
                      Text(row["created_by"]), row["state"])  # fmt: skip
    out.print(table)


@app.command("revoke")
def report_revoke(
    link_id: Annotated[int, typer.Argument(help="The id `report links` shows.")],
) -> None:
    """Close a dashboard link at once."""
    import storage.reports
    from storage.models import utcnow

    store = open_store()
    with store.transaction() as session:
        done = storage.reports.revoke_link(session, link_id, f"cli:{getpass.getuser()}", utcnow())
    store.dispose()
    if not done:
        fail(f"no active link {link_id}")
    out.print(f"link {link_id} revoked", highlight=False)


@app.command("digest")
def report_digest(
    send: Annotated[bool, typer.Option("--send", help="Queue it for the digest channel.")] = False,
) -> None:
    """Print the weekly digest: last week's numbers against the week before."""
    from bot.reports import digest, rollup
    from storage.models import utcnow

    store = open_store()
    rollup.catch_up(store)
    with store.transaction() as session:
        text = digest.text(session, utcnow())
        if send:
            import storage.outbox

            storage.outbox.put(session, digest.KIND, payload={"text": text})
    store.dispose()
    out.print(Text(text))
    if send:
        out.print("queued for LEADBOT_SLACK_DIGEST_CHANNEL", highlight=False)


@app.command("rebuild")
def report_rebuild() -> None:
    """Derive the reports' roll-up from the whole timeline again."""
    from rich.progress import Progress

    from bot.reports import rollup

    store = open_store()
    with Progress(console=out, transient=True) as progress:
        task = progress.add_task("rebuilding the roll-up", total=None)

        def tell(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        leads = rollup.rebuild(store, tell)
    store.dispose()
    out.print(f"roll-up rebuilt: {leads} leads", highlight=False)
