"""`leadbot …`: run the bot, see leads and the inbox, act on leads with the Slack grammar."""

from __future__ import annotations

import asyncio
import getpass
import logging
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import track
from rich.table import Table

import storage.duplicates
import storage.inbox
import storage.leads
import storage.reps
import storage.timeline
from bot.app import serve as bot_app
from bot.cli import assign
from bot.cli.campaign import campaign_cli
from bot.cli.dedupe import account_cli, dedupe_cli
from bot.cli.output import JsonOption, err, fail, out, print_json
from bot.cli.output import services as load_services
from bot.config import load_settings
from bot.leads import actions, commands
from bot.leads.lifecycle import IllegalTransition
from bot.leads.permissions import Actor, NotAllowed
from bot.leads.views import flag_dict, inbound_dict, lead_dict, rep_dict, timeline_dict
from bot.mail_in.inbox import accept_raw
from bot.rules.file import RulesFile
from storage import migrate
from storage.models import Rep

cli = typer.Typer(
    help="leadbot: email and web leads in, worked from Slack or here.", no_args_is_help=True
)
db_cli = typer.Typer(help="The store: migrations.", no_args_is_help=True)
leads_cli = typer.Typer(help="List and show leads.", no_args_is_help=True)
reps_cli = typer.Typer(help="Sales reps: who leads are assigned to.", no_args_is_help=True)
inbox_cli = typer.Typer(
    help="The inbound-message queue: every accepted mail.", no_args_is_help=True
)
cli.add_typer(db_cli, name="db")
cli.add_typer(leads_cli, name="leads")
cli.add_typer(inbox_cli, name="inbox")
cli.add_typer(reps_cli, name="reps")
cli.add_typer(dedupe_cli, name="dedupe")
cli.add_typer(account_cli, name="account")
assign.register(cli, reps_cli)
cli.add_typer(campaign_cli, name="campaign")


@cli.command()
def serve(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Start the bot: SMTP listener, HTTP server, inbox worker, notifications (and IMAP if set)."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    import uvloop

    uvloop.install()  # a faster event loop for the listeners (acks, SMTP replies)
    asyncio.run(bot_app.serve(load_settings()))


@db_cli.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply the schema migrations (Alembic) to LEADBOT_DATABASE_URL."""
    settings = load_settings()
    migrate.upgrade(settings.database_url, revision)
    out.print(f"database at revision {migrate.current(settings.database_url)}")


@db_cli.command("current")
def db_current() -> None:
    """Print the schema revision the store is at."""
    out.print(migrate.current(load_settings().database_url) or "empty (run leadbot db upgrade)")


@leads_cli.command("list")
def leads_list(
    status: Annotated[str | None, typer.Option(help="Only leads in this status.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 100,
    offset: int = 0,
    as_json: JsonOption = False,
) -> None:
    """List leads, oldest first."""
    services = load_services()
    with services.store.transaction() as session:
        owners = {rep.id: rep for rep in storage.reps.listing(session)}
        rows = [
            lead_dict(lead, owners.get(lead.owner_id))
            for lead in storage.leads.listing(session, status=status, limit=limit, offset=offset)
        ]
    if as_json:
        print_json(rows)
        return
    table = Table("id", "email", "name", "company", "status", "stage", "owner", "created")
    for row in rows:
        name = f"{row['first_name']} {row['last_name']}".strip()
        table.add_row(row["id"], row["email"], name, row["company"], row["status"],
                      row["stage"], row["owner"] or "", row["created_at"])  # fmt: skip
    out.print(table)


def _lead_with_timeline(ref: str) -> dict[str, Any]:
    services = load_services()
    with services.store.transaction() as session:
        lead = actions.find_lead(session, ref)
        owner = storage.reps.by_id(session, lead.owner_id) if lead.owner_id else None
        data = lead_dict(lead, owner)
        assert lead.id is not None
        proposed = (
            storage.reps.by_id(session, lead.proposed_owner_id) if lead.proposed_owner_id else None
        )
        data["proposed_owner"] = proposed.email if proposed else None
        data["duplicates"] = [
            flag_dict(flag, lead.id) for flag in storage.duplicates.open_flags(session, lead.id)
        ]
        data["timeline"] = [timeline_dict(e) for e in storage.timeline.for_lead(session, lead.id)]
    return data


def _show_lead(ref: str, as_json: bool) -> None:
    try:
        data = _lead_with_timeline(ref)
    except (actions.LeadNotFound, ValueError) as exc:
        fail(str(exc))
    if as_json:
        print_json(data)
        return
    name = f"{data['first_name']} {data['last_name']}".strip() or data["email"]
    out.print(f"[bold]{data['id']}[/bold] {name} <{data['email']}>", highlight=False)
    for field in ("company", "title", "phone", "website", "status", "stage", "owner",
                  "proposed_owner", "account", "merged_into", "source", "email_status",
                  "created_at"):  # fmt: skip
        if data.get(field):
            out.print(f"  {field:<15} {data[field]}", highlight=False, markup=False)
    for flag in data["duplicates"]:
        out.print(f"  possible duplicate of {flag['other']} ({flag['percent']}%): "
                  f"leadbot lead merge {data['id']} {flag['other']} | "
                  f"leadbot lead notdup {data['id']} {flag['other']}",
                  highlight=False, markup=False)  # fmt: skip
    if data["enquiry"]:
        out.print("  enquiry", highlight=False)
        for line in data["enquiry"].splitlines()[:12]:
            out.print(f"    {line}", highlight=False, markup=False)
    out.print("  timeline", highlight=False)
    for entry in data["timeline"]:
        out.print(f"    {entry['at']}  {entry['actor']:<28} {entry['summary']}",
                  highlight=False, markup=False)  # fmt: skip


@leads_cli.command("show")
def leads_show(lead: str, as_json: JsonOption = False) -> None:
    """Show one lead (L-12 or an email address) with its timeline."""
    _show_lead(lead, as_json)


@cli.command(
    "lead",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def lead_command(
    words: Annotated[
        list[str] | None, typer.Argument(help="<verb> <lead> [args], as in Slack.")
    ] = None,
    as_rep: Annotated[
        str | None,
        typer.Option("--as", help="Act as this rep (email), with a rep's permissions."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Act on leads with the Slack grammar: qualify, nurture, trash, convert, assign, mine, …"""
    try:
        command = commands.parse(words or [])
    except commands.UsageError as exc:
        fail(str(exc), code=2)
    if command.verb == "help":
        out.print(commands.usage_text(), highlight=False, markup=False)
        return
    if command.verb == "show":
        _show_lead(command.lead_ref, as_json)
        return
    services = load_services()
    try:
        with services.store.transaction() as session:
            actor = Actor.operator(getpass.getuser())
            if as_rep:
                rep = storage.reps.by_email(session, as_rep)
                if rep is None:
                    fail(f"no rep {as_rep} (see leadbot reps list)")
                actor = Actor.for_rep(rep)
            rules = RulesFile(services.settings.rules, announce=False).get()
            outcome = commands.execute(session, command, actor, rules=rules)
            result = lead_dict(outcome.lead) if outcome.lead else None
            listed = [lead_dict(lead) for lead in outcome.leads]
    except commands.NeedsInput as exc:
        fail(str(exc), code=2)
    except (
        actions.LeadNotFound,
        actions.RepNotFound,
        actions.StaleLead,
        IllegalTransition,
        NotAllowed,
        ValueError,
    ) as exc:
        fail(str(exc))
    if as_json:
        print_json({"message": outcome.message, "lead": result, "leads": listed})
        return
    out.print(outcome.message, highlight=False, markup=False)
    for row in listed:
        name = f"{row['first_name']} {row['last_name']}".strip()
        out.print(
            f"  {row['id']:<7} {row['status']:<10} {row['email']:<32} {name} {row['company']}",
            highlight=False,
            markup=False,
        )


@reps_cli.command("add")
def reps_add(
    name: str,
    email: str,
    role: Annotated[str, typer.Option(help="rep, manager or admin.")] = "rep",
    slack_id: Annotated[
        str | None, typer.Option("--slack-id", help="Slack user id (U…); else matched by email.")
    ] = None,
    capacity: Annotated[int, typer.Option(help="Open leads at most.")] = 50,
    tz: Annotated[str, typer.Option("--tz", help="IANA time zone of the hours.")] = "UTC",
    hours: Annotated[str, typer.Option(help='Working hours "09:00-17:00" ("" = any).')] = "",
    days: Annotated[str, typer.Option(help='Working days "mon-fri" ("" = every).')] = "",
    skills: Annotated[str, typer.Option(help="Comma-separated skills.")] = "",
    languages: Annotated[str, typer.Option(help="Comma-separated languages (en,de).")] = "",
    territories: Annotated[str, typer.Option(help="Countries or territories.")] = "",
    weight: Annotated[int, typer.Option(help="Share in weighted round robin.")] = 1,
    as_json: JsonOption = False,
) -> None:
    """Add a rep (Slack users are matched to reps by email on first contact)."""
    if role not in ("rep", "manager", "admin"):
        fail("role must be rep, manager or admin", code=2)
    rep = Rep(name=name, email=email.strip().lower(), role=role, slack_user_id=slack_id)
    try:
        assign.apply_rep_options(rep, capacity=capacity, timezone=tz, hours=hours, days=days,
                                     skills=skills, languages=languages,
                                     territories=territories, weight=weight)  # fmt: skip
    except ValueError as exc:
        fail(str(exc), code=2)
    services = load_services()
    with services.store.transaction() as session:
        if storage.reps.by_email(session, email):
            fail(f"a rep with email {email} exists already")
        rep = storage.reps.add(session, rep)
        data = rep_dict(rep)
    if as_json:
        print_json(data)
    else:
        out.print(f"{data['id']} {name} <{data['email']}> {role}", highlight=False, markup=False)


@reps_cli.command("list")
def reps_list(as_json: JsonOption = False) -> None:
    """List reps."""
    services = load_services()
    with services.store.transaction() as session:
        rows = [rep_dict(rep) for rep in storage.reps.listing(session)]
    if as_json:
        print_json(rows)
        return
    table = Table("id", "name", "email", "role", "slack", "active")
    for row in rows:
        table.add_row(row["id"], row["name"], row["email"], row["role"],
                      row["slack_user_id"] or "", "yes" if row["active"] else "no")  # fmt: skip
    out.print(table)


@inbox_cli.command("list")
def inbox_list(
    state: Annotated[
        str | None, typer.Option(help="queued, done, quarantined or duplicate.")
    ] = None,
    limit: int = 200,
    offset: int = 0,
    as_json: JsonOption = False,
) -> None:
    """Every inbound message: classification, the lead it touched, and errors."""
    services = load_services()
    with services.store.transaction() as session:
        rows = [inbound_dict(m) for m in storage.inbox.listing(session, state=state, limit=limit,
                                                                 offset=offset)]  # fmt: skip
    _print_inbox(rows, as_json)


@inbox_cli.command("quarantined")
def inbox_quarantined(as_json: JsonOption = False) -> None:
    """Messages that could not be processed, with the error; retry them with `inbox retry`."""
    services = load_services()
    with services.store.transaction() as session:
        rows = [inbound_dict(m) for m in storage.inbox.listing(session, state="quarantined")]
    _print_inbox(rows, as_json)


def _print_inbox(rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        print_json(rows)
        return
    table = Table("id", "received", "state", "class", "lead", "from", "subject", "error")
    for row in rows:
        error = (row["error"] or "").splitlines()[0] if row["error"] else ""
        table.add_row(str(row["id"]), row["received_at"], row["state"],
                      row["classification"] or "", row["lead"] or "", row["from"] or "",
                      (row["subject"] or "")[:50], error[:60])  # fmt: skip
    out.print(table)


@inbox_cli.command("retry")
def inbox_retry(
    ids: Annotated[list[int] | None, typer.Argument(help="Message ids.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every quarantined message.")] = False,
) -> None:
    """Queue quarantined messages again and process them now."""
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
            out.print(f"{message_id}: {row.state} {row.classification or row.error or ''}".strip(),
                      highlight=False, markup=False)  # fmt: skip
    for missing in sorted(set(ids or []) - set(queued)):
        err.print(f"{missing}: not a quarantined message", highlight=False)


@inbox_cli.command("import")
def inbox_import(
    files: Annotated[list[Path], typer.Argument(help=".eml files or folders of them.")],
) -> None:
    """Feed saved mails (.eml) through the pipeline, as if they had arrived by SMTP."""
    paths: list[Path] = []
    for path in files:
        paths += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    services = load_services()
    for path in track(paths, description="importing", console=err, disable=len(paths) < 20):
        accept_raw(services.store, path.read_bytes(), channel="file", mail_from="")
    processed = services.inbound.drain()
    out.print(f"imported {len(paths)} messages, processed {processed}")


@inbox_cli.command("process")
def inbox_process() -> None:
    """Process whatever is queued now (what `serve` does continuously)."""
    services = load_services()
    out.print(f"processed {services.inbound.drain()} messages")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
