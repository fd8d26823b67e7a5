"""`leadbot reps …`: the sales reps leads are assigned to, their availability and routing fit."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bot.cli.output import JsonOption, fail, open_store, out, print_json
from bot.cli.safe_text import safe_text, shown

if TYPE_CHECKING:
    from storage.models import Rep

app = typer.Typer(help="Sales reps: who leads are assigned to.", no_args_is_help=True)

# `leadbot reps --help` has always listed pause, resume and set before add and list: the
# commands are declared in that order.


@app.command("pause")
def pause(rep: str, as_json: JsonOption = False) -> None:
    """Stop offering leads to a rep (their open leads stay theirs)."""
    _change_rep(rep, lambda r: setattr(r, "paused", True), as_json)


@app.command("resume")
def resume(rep: str, as_json: JsonOption = False) -> None:
    """Offer leads to a paused rep again; waiting leads are looked at at once."""
    _change_rep(rep, lambda r: setattr(r, "paused", False), as_json)


@app.command("set")
def set_rep(
    rep: str,
    capacity: Annotated[int | None, typer.Option(help="Open leads at most.")] = None,
    tz: Annotated[str | None, typer.Option("--tz", help="IANA time zone.")] = None,
    hours: Annotated[
        str | None, typer.Option(help='Working hours "09:00-17:00" ("" = any).')
    ] = None,
    days: Annotated[str | None, typer.Option(help='Working days "mon-fri" ("" = every).')] = None,
    ooo: Annotated[
        str | None, typer.Option("--ooo", help="Out of office: 2026-12-24..2026-12-31,…")
    ] = None,
    skills: Annotated[str | None, typer.Option(help="Comma-separated.")] = None,
    languages: Annotated[str | None, typer.Option(help="Comma-separated (en,de).")] = None,
    territories: Annotated[str | None, typer.Option(help="Countries or territories.")] = None,
    weight: Annotated[int | None, typer.Option(help="Share in weighted round robin.")] = None,
    active: Annotated[bool | None, typer.Option("--active/--inactive")] = None,
    name: Annotated[str | None, typer.Option(help="The rep's name.")] = None,
    role: Annotated[str | None, typer.Option(help="rep, manager or admin.")] = None,
    email: Annotated[str | None, typer.Option(help="The rep's address (unique).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Change a rep's name, role, address, capacity, availability or routing fit (only the
    options given)."""
    if role is not None and role not in ("rep", "manager", "admin"):
        fail("role must be rep, manager or admin", code=2)
    if email is not None and not _looks_like_email(email):
        fail(f"{email!r} is not an email address (name@domain)", code=2)
    if name is not None and not name.strip():
        fail("a rep's name cannot be empty", code=2)

    def change(r: Rep) -> None:
        if name is not None:
            r.name = name.strip()
        if role is not None:
            r.role = role
        if email is not None:
            r.email = email.strip().lower()
        apply_rep_options(
            r,
            capacity=capacity,
            timezone=tz,
            hours=hours,
            days=days,
            out_of_office=ooo,
            skills=skills,
            languages=languages,
            territories=territories,
            weight=weight,
        )
        if active is not None:
            r.active = active

    _change_rep(rep, change, as_json)


@app.command("add")
def add(
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
    import storage.reps
    from bot.leads.views import rep_dict
    from storage.models import Rep

    if role not in ("rep", "manager", "admin"):
        fail("role must be rep, manager or admin", code=2)
    if not _looks_like_email(email):
        fail(f"{email!r} is not an email address (name@domain)", code=2)
    rep = Rep(name=name, email=email.strip().lower(), role=role, slack_user_id=slack_id)
    try:
        apply_rep_options(rep, capacity=capacity, timezone=tz, hours=hours, days=days,
                          skills=skills, languages=languages, territories=territories,
                          weight=weight)  # fmt: skip
    except ValueError as exc:
        fail(str(exc), code=2)
    with open_store().transaction() as session:
        if storage.reps.by_email(session, email):
            fail(f"a rep with email {email} exists already")
        rep = storage.reps.add(session, rep)
        data = rep_dict(rep)
    if as_json:
        print_json(data)
    else:
        out.print(shown(f"{data['id']} {name} <{data['email']}> {role}"), highlight=False,
                  markup=False)  # fmt: skip


@app.command("list")
def list_reps(as_json: JsonOption = False) -> None:
    """List reps."""
    import storage.reps
    from bot.leads.views import rep_dict

    with open_store().transaction() as session:
        rows = [rep_dict(rep) for rep in storage.reps.listing(session)]
    if as_json:
        print_json(rows)
        return
    from rich.table import Table

    table = Table("id", "name", "email", "role", "slack", "active")
    for row in rows:
        table.add_row(
            *(
                safe_text(cell)
                for cell in (
                    row["id"],
                    row["name"],
                    row["email"],
                    row["role"],
                    row["slack_user_id"] or "",
                    "yes" if row["active"] else "no",
                )
            )
        )
    out.print(table)


@app.command("remove")
def remove(
    rep: Annotated[str, typer.Argument(help="R-3, an email address or the rep's name.")],
    reassign: Annotated[
        bool,
        typer.Option(
            "--reassign", help="Put the rep's open leads back in the assignment queue first."
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Remove a rep who left. A rep with open leads is refused (with the count) unless
    `--reassign` puts those leads back in the assignment queue. A rep with history (leads worked,
    deals owned, offers made) is kept, inactive, so that history still names them; one with none
    is deleted."""
    import storage.assignment
    import storage.reps
    from bot.leads import actions

    with open_store().transaction() as session:
        try:
            found = actions.find_rep(session, rep)
        except actions.RepNotFound as exc:
            fail(str(exc))
        assert found.id is not None
        label, name = f"R-{found.id}", found.name
        open_count = storage.reps.open_lead_count(session, found.id)
        if open_count and not reassign:
            fail(
                f"{label} {name} has {open_count:,} open lead{'s' if open_count != 1 else ''}: "
                f"reassign them first, or run `leadbot reps remove {label} --reassign` to put "
                "them back in the assignment queue"
            )
        released = [
            lead.id
            for lead in storage.reps.open_leads_for_update(session, found.id)
            if actions.release(session, lead, "cli", f"{name} was removed")
        ]
        withdrawn = storage.assignment.withdraw_offers(session, found.id)
        found.active, found.paused = False, True
        session.add(found)
        session.flush()
        kept = storage.reps.referenced(session, found.id)
        if not kept:
            storage.reps.delete(session, found)
        storage.assignment.wake_waiting(session)
    data = {
        "id": label,
        "name": name,
        "removed": "deleted" if not kept else "deactivated",
        "requeued": [f"L-{lead_id}" for lead_id in released],
        "offers_withdrawn": withdrawn,
    }
    if as_json:
        print_json(data)
        return
    how = "deleted" if not kept else "kept inactive for the history that names them"
    line = f"{label} {name} removed ({how})"
    if released:
        line += f"; {len(released):,} open lead{'s' if len(released) != 1 else ''} back in the "
        line += "assignment queue"
    if withdrawn:
        line += f"; {withdrawn} pending offer{'s' if withdrawn != 1 else ''} withdrawn"
    out.print(shown(line), highlight=False, markup=False)


def _csv(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [part.strip() for part in text.split(",") if part.strip()]


def apply_rep_options(
    rep: Rep,
    *,
    capacity: int | None = None,
    timezone: str | None = None,
    hours: str | None = None,
    days: str | None = None,
    out_of_office: str | None = None,
    skills: str | None = None,
    languages: str | None = None,
    territories: str | None = None,
    weight: int | None = None,
) -> None:
    """Set the given availability and routing options on a rep; ValueError on a bad value."""
    from bot.assignment.hours import parse_absence, parse_days, parse_hours, zone

    if capacity is not None:
        if capacity < 0:
            raise ValueError("capacity is a number of open leads, 0 or more")
        rep.capacity = capacity
    if timezone is not None:
        zone(timezone)
        rep.timezone = timezone
    if hours is not None:
        if hours:
            parse_hours(hours)
        rep.working_hours = hours
    if days is not None:
        if days:
            parse_days(days)
        rep.working_days = days
    if out_of_office is not None:
        entries = _csv(out_of_office) or []
        for entry in entries:
            parse_absence(entry)
        rep.out_of_office = entries
    if skills is not None:
        rep.skills = [s.lower() for s in _csv(skills) or []]
    if languages is not None:
        rep.languages = [s.lower() for s in _csv(languages) or []]
    if territories is not None:
        rep.territories = _csv(territories) or []
    if weight is not None:
        if weight < 1:
            raise ValueError("weight is 1 or more")
        rep.weight = weight


def _change_rep(ref: str, change: Callable[[Rep], None], as_json: bool) -> None:
    """Apply `change` to one rep and wake the waiting leads: availability may have opened up."""
    import storage.assignment
    import storage.reps
    from bot.leads import actions
    from bot.leads.views import rep_dict

    store = open_store()
    try:
        with store.transaction() as session:
            rep = actions.find_rep(session, ref)
            change(rep)
            with session.no_autoflush:  # the changed row must not be found as its own twin
                twin = storage.reps.by_email(session, rep.email)
            if twin is not None and twin.id != rep.id:
                raise ValueError(f"a rep with email {rep.email} exists already")
            session.add(rep)
            storage.assignment.wake_waiting(session)
            data = rep_dict(rep)
    except (actions.RepNotFound, ValueError) as exc:
        fail(str(exc))
    if as_json:
        print_json(data)
    else:
        out.print(shown(_rep_line(data)), highlight=False, markup=False)


def _rep_line(data: dict[str, Any]) -> str:
    state = "paused" if data["paused"] else ("active" if data["active"] else "inactive")
    hours = f"{data['working_hours'] or 'any time'} {data['working_days'] or 'every day'}"
    return (
        f"{data['id']} {data['name']} <{data['email']}> {state}, capacity {data['capacity']}, "
        f"{hours} {data['timezone']}"
    )


def _looks_like_email(text: str) -> bool:
    """name@domain.tld, no spaces: what a rep's address must be for mail and Slack matching."""
    import re

    return re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", text.strip()) is not None
