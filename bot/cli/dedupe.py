"""`leadbot dedupe …` and `leadbot account …`: duplicates across the store, and one company's view.

Registered on the main `leadbot` app by bot/cli/__init__.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

import storage.duplicates
import storage.leads
import storage.reps
from bot.cli.output import JsonOption, err, fail, out, print_json, services
from bot.dedupe import scan
from bot.leads import companies
from bot.leads.refs import lead_label
from bot.leads.views import flag_dict, lead_dict
from bot.rules.file import RulesError, load

dedupe_cli = typer.Typer(
    help="Duplicate leads: scan the store, review the pairs.", no_args_is_help=True
)
account_cli = typer.Typer(
    help="Companies: every lead, contact and opportunity of one.", no_args_is_help=True
)

PHASES = {
    "index": "indexing leads",
    "read": "reading leads",
    "scan": "matching",
    "merge": "merging",
}


@dedupe_cli.command("scan")
def dedupe_scan_command(
    apply: Annotated[bool, typer.Option("--apply", help="Merge the sure duplicates.")] = False,
    review: Annotated[
        Path, typer.Option("--review", help="Where to write the review list (CSV).")
    ] = Path("dedupe-review.csv"),
    as_json: JsonOption = False,
) -> None:
    """Find duplicates across the whole store; flag the likely ones for review, write the list,
    and with --apply merge the sure ones into the oldest lead of each group."""
    settings_services = services()
    try:
        rules = load(settings_services.settings.rules)
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

        report = scan.run(
            settings_services.store,
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


@dedupe_cli.command("review")
def dedupe_review(
    limit: Annotated[int, typer.Option(help="At most this many pairs.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """Pairs waiting for a person's decision, most alike first."""
    with services().store.reading() as session:
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
            f"{row['lead']} {row['lead_email']} looks {row['percent']}% like {row['other']} "
            f"{row['other_email']}: leadbot lead merge|notdup {row['lead']} {row['other']}",
            highlight=False,
            markup=False,
        )


@account_cli.command("show")
def account_show(
    company: Annotated[str, typer.Argument(help="A-3, a domain (acme.io) or a company name.")],
    as_json: JsonOption = False,
) -> None:
    """Every lead, contact and opportunity of one company, and who owns it."""
    with services().store.reading() as session:
        view = companies.view(session, company)
        owners = {rep.id: rep for rep in storage.reps.listing(session)}
        account = view.account
        owner = owners.get(account.owner_id) if account and account.owner_id else None
        data: dict[str, Any] = {
            "query": view.query,
            "account": (
                {
                    "id": companies.account_ref(account.id),
                    "name": account.name,
                    "domain": account.domain,
                    "owner": owner.email if owner else None,
                }
                if account is not None and account.id is not None
                else None
            ),
            "domain": view.domain or None,
            "leads": [lead_dict(lead, owners.get(lead.owner_id)) for lead in view.leads],
            "contacts": [
                {
                    "id": contact.id,
                    "name": f"{contact.first_name} {contact.last_name}".strip(),
                    "email": contact.email,
                    "title": contact.title,
                    "lead": lead_label(contact.lead_id) if contact.lead_id else None,
                }
                for contact in view.contacts
            ],
            "opportunities": [
                {
                    "id": opportunity.id,
                    "name": opportunity.name,
                    "amount": opportunity.amount,
                    "stage": opportunity.stage,
                    "close_date": opportunity.close_date.isoformat()
                    if opportunity.close_date
                    else None,
                    "lead": lead_label(opportunity.lead_id) if opportunity.lead_id else None,
                }
                for opportunity in view.opportunities
            ],
        }
    if as_json:
        print_json(data)
        return
    if data["account"] is None and not data["leads"]:
        fail(f"no account or lead matches {company!r}")
    if data["account"]:
        acc = data["account"]
        out.print(
            f"[bold]{acc['id']}[/bold] {acc['name']}  domain {acc['domain'] or '-'}  "
            f"owner {acc['owner'] or 'nobody'}",
            highlight=False,
        )
    else:
        out.print(
            f"no account yet for {company!r} (nobody converted a lead there)", highlight=False
        )
    for row in data["leads"]:
        name = f"{row['first_name']} {row['last_name']}".strip()
        owner = f" owner {row['owner']}" if row["owner"] else ""
        out.print(
            f"  {row['id']:<7} {row['status']:<10} {row['email']:<32} {name}{owner}",
            highlight=False,
            markup=False,
        )
    for contact in data["contacts"]:
        out.print(
            f"  contact {contact['name']} <{contact['email']}> from {contact['lead']}",
            highlight=False,
        )
    for opportunity in data["opportunities"]:
        amount = f" {opportunity['amount']:,.2f}" if opportunity["amount"] is not None else ""
        out.print(
            f"  opportunity {opportunity['name']}{amount} ({opportunity['stage']}, "
            f"closes {opportunity['close_date']})",
            highlight=False,
        )
