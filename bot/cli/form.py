"""`leadbot form …`: web-to-lead forms: define one, list them, show one, disable it, print the
snippet a page embeds, and look at (and retry) its submissions. Registered on the main `leadbot`
app by bot/cli/__init__.py; the store and the domain are imported inside each command."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.text import Text

from bot.cli.output import JsonOption, fail, load_settings, open_store, out, print_json

app = typer.Typer(
    help="Web-to-lead forms: the hosted page /f/NAME, a snippet for any page, their submissions.",
    no_args_is_help=True,
)

NameArg = Annotated[str, typer.Argument(metavar="NAME", help="The form's name (demo-request).")]


@app.command("create")
def form_create(
    name: NameArg,
    field: Annotated[
        list[str], typer.Option("--field", help="NAME or NAME:required; repeat.")
    ] = [],  # noqa: B006
    redirect: Annotated[str, typer.Option(help="The thank-you URL browsers are sent to.")] = "",
    origin: Annotated[
        list[str],
        typer.Option("--origin", help="A site allowed to post with JavaScript (CORS); repeat."),
    ] = [],  # noqa: B006
    double_opt_in: Annotated[
        bool,
        typer.Option("--double-opt-in", help="Confirm the address by mail before it is nurtured."),
    ] = False,
    consent: Annotated[
        str, typer.Option(help="The consent checkbox's text (kept with each submission).")
    ] = "",
    tag: Annotated[
        list[str], typer.Option("--tag", help="A tag every lead from the form gets; repeat.")
    ] = [],  # noqa: B006
    as_json: JsonOption = False,
) -> None:
    """Define a form; it is served at LEADBOT_PUBLIC_URL/f/NAME at once."""
    from bot.forms import definitions

    settings = load_settings()
    store = open_store(settings)
    try:
        with store.transaction() as session:
            form = definitions.create(
                session, name, field, redirect=redirect, origins=origin,
                double_opt_in=double_opt_in, consent=consent, tags=tag,
            )  # fmt: skip
            data = definitions.form_dict(session, form, settings.public_url)
    except definitions.FormError as exc:
        fail(str(exc))
    if as_json:
        print_json(data)
        return
    out.print(f"form {data['name']}: {data['url']}", highlight=False, markup=False)
    out.print(f"  snippet: leadbot form snippet {data['name']}", highlight=False, markup=False)


@app.command("list")
def form_list(as_json: JsonOption = False) -> None:
    """Every form with its URL and counts."""
    from rich.table import Table

    import storage.forms
    from bot.forms import definitions

    settings = load_settings()
    with open_store(settings).reading() as session:
        rows = [definitions.form_dict(session, f, settings.public_url)
                for f in storage.forms.all_forms(session)]  # fmt: skip
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print(
            "no forms yet: leadbot form create NAME --field email:required …", highlight=False
        )
        return
    table = Table("name", "state", "url", "submissions", "leads", "held", "quarantined")
    for row in rows:
        c = row["counts"]
        table.add_row(row["name"], row["state"], Text(row["url"]), str(c["submissions"]),
                      str(c["leads"]), str(c["held"]), str(c["quarantined"]))  # fmt: skip
    out.print(table)


def _show(data: dict[str, Any]) -> None:
    line = lambda text: out.print(text, highlight=False, markup=False)  # noqa: E731
    line(f"form {data['name']} ({data['state']}): {data['url']}")
    fields = ", ".join(f["name"] + (" (required)" if f["required"] else "") for f in data["fields"])
    line(f"  fields        {fields}")
    line(f"  thank-you     {data['redirect'] or data['url'] + '/thanks'}")
    origins = ", ".join(data["origins"]) or "(none: no JavaScript posts from other sites)"
    line(f"  origins       {origins}")
    line(f"  double opt-in {'yes' if data['double_opt_in'] else 'no'}")
    if data["consent"]:
        line(f"  consent       {data['consent']['text']} (version {data['consent']['version']})")
    if data["tags"]:
        line(f"  tags          {', '.join(data['tags'])}")
    c = data["counts"]
    line(f"  submissions   {c['submissions']}: {c['done']} done, {c['queued']} queued, "
         f"{c['held']} held, {c['quarantined']} quarantined, {c['duplicate']} duplicate; "
         f"{c['leads']} leads")  # fmt: skip


@app.command("show")
def form_show(name: NameArg, as_json: JsonOption = False) -> None:
    """One form: its fields, URL, thank-you URL, origins and counts."""
    from bot.forms import definitions

    settings = load_settings()
    try:
        with open_store(settings).reading() as session:
            data = definitions.form_dict(
                session, definitions.get(session, name), settings.public_url
            )
    except definitions.FormError as exc:
        fail(str(exc))
    if as_json:
        print_json(data)
    else:
        _show(data)


@app.command("disable")
def form_disable(name: NameArg, as_json: JsonOption = False) -> None:
    """Stop taking submissions (the page and POST answer 404); what it received is kept."""
    from bot.forms import definitions

    settings = load_settings()
    try:
        with open_store(settings).transaction() as session:
            form = definitions.disable(session, name)
            data = definitions.form_dict(session, form, settings.public_url)
    except definitions.FormError as exc:
        fail(str(exc))
    if as_json:
        print_json(data)
    else:
        out.print(f"form {data['name']} disabled", highlight=False, markup=False)


@app.command("snippet")
def form_snippet(name: NameArg, as_json: JsonOption = False) -> None:
    """The HTML to paste into any page: a plain form, with an optional script."""
    from bot.forms import definitions
    from bot.forms.snippet import snippet_html

    settings = load_settings()
    try:
        with open_store(settings).reading() as session:
            form = definitions.get(session, name)
            html = snippet_html(form, settings.public_url)
    except definitions.FormError as exc:
        fail(str(exc))
    if as_json:
        print_json({"name": name, "html": html})
    else:
        typer.echo(html)


@app.command("submissions")
def form_submissions(
    name: NameArg,
    state: Annotated[
        str | None, typer.Option(help="queued, done, held, quarantined, duplicate, rejected.")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """A form's submissions, newest first, with their state, lead and error."""
    from rich.table import Table

    import storage.forms
    from bot.forms import definitions
    from bot.forms.views import submission_dict

    try:
        with open_store().reading() as session:
            form = definitions.get(session, name)
            assert form.id is not None
            rows = [
                submission_dict(s)
                for s in storage.forms.submissions_of(session, form.id, state, limit)
            ]
    except definitions.FormError as exc:
        fail(str(exc))
    if as_json:
        print_json(rows)
        return
    table = Table("id", "received", "state", "address", "lead", "why / error")
    for row in rows:
        why = (
            "; ".join(f"{r['check']}: {r['detail']}" for r in row["reasons"])
            or (row["error"] or "").split("\n")[0]
        )
        table.add_row(str(row["id"]), row["received_at"], row["state"], Text(row["address"]),
                      row["lead"] or "", Text(why[:100]))  # fmt: skip
    out.print(table)


@app.command("retry")
def form_retry(
    ids: Annotated[list[int], typer.Argument(metavar="ID…", help="Quarantined submission ids.")],
) -> None:
    """Process quarantined submissions again now (a processing failure, once fixed)."""
    from bot.forms.process import FormProcessor
    from bot.rules.file import RulesFile

    settings = load_settings()
    store = open_store(settings)
    processor = FormProcessor(store, RulesFile(settings.rules_file()).get)
    queued = [i for i in ids if processor.retry(i)]
    for i in set(ids) - set(queued):
        out.print(f"submission {i} is not quarantined", highlight=False)
    done = processor.drain()
    out.print(f"queued {len(queued)} again; processed {done}", highlight=False)


@app.command("process")
def form_process() -> None:
    """Process what is queued now (what `serve` does continuously)."""
    from bot.forms.process import FormProcessor
    from bot.rules.file import RulesFile

    settings = load_settings()
    done = FormProcessor(open_store(settings), RulesFile(settings.rules_file()).get).drain()
    out.print(f"processed {done}", highlight=False)
