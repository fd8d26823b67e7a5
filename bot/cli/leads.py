"""`leadbot leads list|show`: the leads in the store, as a table or `--json`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from bot.cli.output import JsonOption, err, fail, one_of, open_store, out, print_json, showing
from bot.cli.safe_text import safe_markup, safe_text, shown

app = typer.Typer(help="List and show leads.", no_args_is_help=True)


@app.command("list")
def list_leads(
    status: Annotated[str | None, typer.Option(help="Only leads in this status.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 100,
    offset: int = 0,
    as_json: JsonOption = False,
) -> None:
    """List leads, oldest first (at most --limit; the last line says when there are more)."""
    import storage.leads
    import storage.reps
    from bot.leads.lifecycle import Status
    from bot.leads.views import lead_dict

    one_of(status, tuple(Status), "status")
    if limit < 1 or offset < 0:
        fail("--limit must be at least 1 and --offset at least 0", code=2)
    with open_store().transaction() as session:
        owners = {rep.id: rep for rep in storage.reps.listing(session)}
        rows = [
            lead_dict(lead, owners.get(lead.owner_id))
            for lead in storage.leads.listing(session, status=status, limit=limit, offset=offset)
        ]
        total = storage.leads.count_with(session, status=status)
    if as_json:
        print_json(rows)
        return
    from rich.table import Table

    table = Table("id", "email", "name", "company", "status", "stage", "owner", "created")
    for row in rows:
        name = f"{row['first_name']} {row['last_name']}".strip()
        table.add_row(
            *(
                safe_text(cell)
                for cell in (
                    row["id"],
                    row["email"],
                    name,
                    row["company"],
                    row["status"],
                    row["stage"],
                    row["owner"] or "",
                    row["created_at"],
                )
            )
        )
    out.print(table)
    if note := showing(len(rows), total, limit, offset):
        err.print(note, highlight=False, markup=False)


@app.command("show")
def show(lead: str, as_json: JsonOption = False) -> None:
    """Show one lead (L-12 or an email address) with its timeline."""
    show_lead(lead, as_json)


def lead_with_timeline(ref: str) -> dict[str, Any]:
    """The lead's `--json` shape plus its proposed owner, open duplicate flags and timeline."""
    import storage.duplicates
    import storage.reps
    import storage.timeline
    from bot.forms import views as form_views
    from bot.leads import actions
    from bot.leads.views import flag_dict, lead_dict, timeline_dict

    with open_store().transaction() as session:
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
    # Where the lead came from: first and last touch of its web-form posts (UTM, pages).
    data["attribution"] = form_views.attribution(data["timeline"])
    return data


def show_lead(ref: str, as_json: bool) -> None:
    """Print one lead: shared by `leads show` and the grammar's `lead show`."""
    from bot.leads import actions

    try:
        data = lead_with_timeline(ref)
    except (actions.LeadNotFound, ValueError) as exc:
        fail(str(exc))
    if as_json:
        print_json(data)
        return
    name = f"{data['first_name']} {data['last_name']}".strip() or data["email"]
    out.print(f"[bold]{data['id']}[/bold] {safe_markup(name)} <{safe_markup(data['email'])}>",
              highlight=False)  # fmt: skip
    for field in ("company", "title", "phone", "website", "status", "stage", "owner",
                  "proposed_owner", "account", "merged_into", "source", "email_status",
                  "created_at"):  # fmt: skip
        if data.get(field):
            out.print(f"  {field:<15} {shown(data[field])}", highlight=False, markup=False)
        if field == "stage":  # score and grade always: a 0 and a D say something too
            out.print(f"  {'score':<15} {data['score']:g}", highlight=False, markup=False)
            out.print(f"  {'grade':<15} {data['grade'] or '-'}", highlight=False, markup=False)
    for flag in data["duplicates"]:
        out.print(f"  possible duplicate of {flag['other']} ({flag['percent']}%): "
                  f"leadbot lead merge {data['id']} {flag['other']} | "
                  f"leadbot lead notdup {data['id']} {flag['other']}",
                  highlight=False, markup=False)  # fmt: skip
    for touch in ("first_touch", "last_touch"):
        seen = (data.get("attribution") or {}).get(touch)
        if seen:
            where = " ".join(f"{k}={v}" for k, v in seen.items() if k not in ("at",) and v)
            out.print(f"  {touch:<15} {where}", highlight=False, markup=False)
    if data["enquiry"]:
        out.print("  enquiry", highlight=False)
        for line in data["enquiry"].splitlines()[:12]:
            out.print(f"    {shown(line)}", highlight=False, markup=False)
    out.print("  timeline", highlight=False)
    for entry in data["timeline"]:
        out.print(f"    {entry['at']}  {shown(entry['actor']):<28} {shown(entry['summary'])}",
                  highlight=False, markup=False)  # fmt: skip
