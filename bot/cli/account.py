"""`leadbot account show`: one company's view: its account and owner, every lead, contact and
opportunity."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from bot.cli.output import JsonOption, fail, open_store, out, print_json
from bot.cli.safe_text import safe_markup, shown

app = typer.Typer(
    help="Companies: every lead, contact and opportunity of one.", no_args_is_help=True
)


@app.command("show")
def show(
    company: Annotated[
        str, typer.Argument(help="A-3, an opportunity O-4, a domain (acme.io) or a company name.")
    ],
    as_json: JsonOption = False,
) -> None:
    """Every lead, contact and opportunity of one company, and who owns it."""
    import storage.reps
    from bot.leads import companies
    from bot.leads.refs import lead_label, opportunity_label
    from bot.leads.views import lead_dict

    with open_store().reading() as session:
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
                    "ref": opportunity_label(opportunity.id),
                    "currency": opportunity.currency,
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
            f"[bold]{acc['id']}[/bold] {safe_markup(acc['name'])}  "
            f"domain {safe_markup(acc['domain'] or '-')}  "
            f"owner {safe_markup(acc['owner'] or 'nobody')}",
            highlight=False,
        )
    else:
        out.print(
            shown(f"no account yet for {company!r} (nobody converted a lead there)"),
            highlight=False,
            markup=False,
        )
    for row in data["leads"]:
        name = f"{row['first_name']} {row['last_name']}".strip()
        owner = f" owner {row['owner']}" if row["owner"] else ""
        out.print(
            shown(f"  {row['id']:<7} {row['status']:<10} {row['email']:<32} {name}{owner}"),
            highlight=False,
            markup=False,
        )
    for contact in data["contacts"]:
        out.print(
            shown(f"  contact {contact['name']} <{contact['email']}> from {contact['lead']}"),
            highlight=False,
            markup=False,
        )
    for opportunity in data["opportunities"]:
        amount = ""
        if opportunity["amount"] is not None:
            amount = f" {opportunity['currency'] or ''} {opportunity['amount']:,.2f}".replace(
                "  ", " "
            )
        out.print(
            shown(
                f"  opportunity {opportunity['ref']} {opportunity['name']}{amount} "
                f"({opportunity['stage']}, "
                f"closes {opportunity['close_date']})"
            ),
            highlight=False,
            markup=False,
        )
