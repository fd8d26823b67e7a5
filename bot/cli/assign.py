"""`leadbot assign …`, `leadbot rules …`, `leadbot events …` and the rep availability commands
(`reps pause/resume/set`): the assignment queue and its rules from the command line."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table

import storage.assignment
import storage.leads
import storage.reps
import storage.timeline
from bot.assignment.decide import Assigner, explain, parse_absence, parse_days, parse_hours, zone
from bot.cli.output import JsonOption, err, fail, out, print_json
from bot.cli.output import services as load_services
from bot.config import load_settings
from bot.leads import actions, intake
from bot.leads.refs import lead_label
from bot.leads.views import iso, rep_dict
from bot.rules.file import RulesError, RulesFile, describe, load_file
from bot.scoring import qualification
from storage.models import Rep, utcnow

assign_cli = typer.Typer(
    help="The assignment queue: run it, explain it, report on it.", no_args_is_help=True
)
rules_cli = typer.Typer(help="The rules file (LEADBOT_RULES): check it.", no_args_is_help=True)
events_cli = typer.Typer(
    help="Behaviour events that score leads (page visits, form posts, …).", no_args_is_help=True
)


def register(cli: typer.Typer, reps_cli: typer.Typer) -> None:
    """Add these commands to the main CLI (bot/cli/__init__.py)."""
    cli.add_typer(assign_cli, name="assign")
    cli.add_typer(rules_cli, name="rules")
    cli.add_typer(events_cli, name="events")
    reps_cli.command("pause")(reps_pause)
    reps_cli.command("resume")(reps_resume)
    reps_cli.command("set")(reps_set)


def _at(text: str | None) -> datetime:
    if not text:
        return utcnow()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        fail(f"{text!r} is not a time: use 2026-11-23T15:00:00Z", code=2)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _rules_in_force() -> RulesFile:
    source = RulesFile(load_settings().rules)
    if source.error is not None:
        err.print(f"warning: {source.error}; using the last good rules", highlight=False)
    return source


# --- assign -----------------------------------------------------------------------------------


@assign_cli.command("run")
def assign_run(
    now: Annotated[str | None, typer.Option(help="Act as if it were this time (ISO).")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the tie-breaking shuffle.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Score changed leads, offer waiting leads, reassign lapsed offers, until nothing is left."""
    services = load_services()
    moment = _at(now) if now else None
    assigner = Assigner(
        services.store,
        _rules_in_force().get,
        clock=(lambda: moment) if moment else utcnow,
        rng=random.Random(seed),
    )
    result = assigner.drain()
    data = {
        "scored": result.scored,
        "offered": result.offered,
        "reassigned": result.reassigned,
        "waiting": result.waiting,
    }
    if as_json:
        print_json(data)
    else:
        out.print(", ".join(f"{k} {v}" for k, v in data.items()), highlight=False)


@assign_cli.command("explain")
def assign_explain(
    lead: str,
    now: Annotated[str | None, typer.Option(help="Explain as of this time (ISO).")] = None,
) -> None:
    """Which rule matches the lead, which reps were considered and why each was skipped."""
    services = load_services()
    rules = _rules_in_force().get()
    try:
        with services.store.reading() as session:
            found = actions.find_lead(session, lead)
            text = explain(session, found, rules, _at(now))
    except (actions.LeadNotFound, ValueError) as exc:
        fail(str(exc))
    out.print(text, highlight=False, markup=False)


@assign_cli.command("report")
def assign_report(
    last: Annotated[int, typer.Option(help="Assignments shown per rep.")] = 10,
    as_json: JsonOption = False,
) -> None:
    """The last N assignments of each rep, with totals and loads: how evenly leads spread."""
    services = load_services()
    with services.store.reading() as session:
        reps = storage.assignment.reps(session)
        loads = storage.assignment.open_loads(session)
        totals = storage.assignment.assignments_total(session)
        recent: dict[int, list[dict[str, Any]]] = {}
        for a in storage.assignment.recent_per_rep(session, last):
            recent.setdefault(a.rep_id, []).append(
                {
                    "lead": lead_label(a.lead_id),
                    "at": iso(a.at),
                    "rule": a.rule,
                    "strategy": a.strategy,
                    "kind": a.kind,
                }
            )
        rows = [
            {
                "rep": f"R-{rep.id}",
                "name": rep.name,
                "email": rep.email,
                "assigned": totals.get(rep.id or 0, 0),
                "open": loads.get(rep.id or 0, 0),
                "capacity": rep.capacity,
                "last": recent.get(rep.id or 0, []),
            }
            for rep in reps
        ]
    if as_json:
        print_json(rows)
        return
    table = Table("rep", "name", "assigned", "open/capacity", f"last {last}")
    for row in rows:
        leads = " ".join(entry["lead"] for entry in row["last"])
        table.add_row(
            row["rep"], row["name"], str(row["assigned"]), f"{row['open']}/{row['capacity']}", leads
        )
    out.print(table)


@assign_cli.command("queue")
def assign_queue(
    state: Annotated[str | None, typer.Option(help="waiting, offered or done.")] = None,
    as_json: JsonOption = False,
) -> None:
    """The assignment queue: waiting and offered leads, with SLA deadlines."""
    services = load_services()
    with services.store.reading() as session:
        rows = [
            {
                "lead": lead_label(item.lead_id),
                "state": item.state,
                "offered_to": f"R-{item.offered_to}" if item.offered_to else None,
                "rule": item.rule,
                "due_at": iso(item.due_at),
                "hops": item.hops,
                "enqueued_at": iso(item.enqueued_at),
            }
            for item in storage.assignment.listing(session, state=state, limit=1000)
        ]
    if as_json:
        print_json(rows)
        return
    table = Table("lead", "state", "offered to", "rule", "due", "hops")
    for row in rows:
        table.add_row(
            row["lead"],
            row["state"],
            row["offered_to"] or "",
            row["rule"] or "",
            row["due_at"] or "",
            str(row["hops"]),
        )
    out.print(table)


# --- rules ------------------------------------------------------------------------------------


@rules_cli.command("check")
def rules_check(
    file: Annotated[str | None, typer.Argument(help="Rules file; default LEADBOT_RULES.")] = None,
) -> None:
    """Validate a rules file and print what it says; a bad file exits 1 with line and reason."""
    path = file or load_settings().rules
    from pathlib import Path

    if file is None and not Path(path).exists():
        from bot.rules.file import default_rules

        out.print(f"{path} does not exist; the embedded default applies", highlight=False)
        out.print(describe(default_rules()), highlight=False, markup=False)
        return
    try:
        rules = load_file(path)
        intake.parse(Path(path).read_text(encoding="utf-8"), str(path))  # [intake], its own reader
    except RulesError as exc:
        fail(str(exc))
    out.print(describe(rules), highlight=False, markup=False)


# --- events -----------------------------------------------------------------------------------


@events_cli.command("add")
def events_add(
    lead: str,
    kind: Annotated[str, typer.Argument(help=", ".join(qualification.EXTERNAL_EVENTS))],
    detail: Annotated[str, typer.Option(help="What happened (a URL, a form name).")] = "",
    at: Annotated[str | None, typer.Option(help="When (ISO); default now.")] = None,
) -> None:
    """Record a behaviour event on a lead; the scorer counts it within a tick."""
    services = load_services()
    try:
        with services.store.transaction() as session:
            found = actions.find_lead(session, lead)
            qualification.record_event(session, found, kind, detail=detail, at=_at(at), actor="cli")
    except (actions.LeadNotFound, ValueError) as exc:
        fail(str(exc))
    out.print(f"{kind} recorded on {lead}", highlight=False)


# --- reps -------------------------------------------------------------------------------------


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


def _change_rep(ref: str, change: Any, as_json: bool) -> None:
    services = load_services()
    try:
        with services.store.transaction() as session:
            rep = actions.find_rep(session, ref)
            change(rep)
            session.add(rep)
            storage.assignment.wake_waiting(session)
            data = rep_dict(rep)
    except (actions.RepNotFound, ValueError) as exc:
        fail(str(exc))
    if as_json:
        print_json(data)
    else:
        out.print(_rep_line(data), highlight=False, markup=False)


def _rep_line(data: dict[str, Any]) -> str:
    state = "paused" if data["paused"] else ("active" if data["active"] else "inactive")
    hours = f"{data['working_hours'] or 'any time'} {data['working_days'] or 'every day'}"
    return (
        f"{data['id']} {data['name']} <{data['email']}> {state}, capacity {data['capacity']}, "
        f"{hours} {data['timezone']}"
    )


def reps_pause(rep: str, as_json: JsonOption = False) -> None:
    """Stop offering leads to a rep (their open leads stay theirs)."""
    _change_rep(rep, lambda r: setattr(r, "paused", True), as_json)


def reps_resume(rep: str, as_json: JsonOption = False) -> None:
    """Offer leads to a paused rep again; waiting leads are looked at at once."""
    _change_rep(rep, lambda r: setattr(r, "paused", False), as_json)


def reps_set(
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
    as_json: JsonOption = False,
) -> None:
    """Change a rep's capacity, availability or routing fit (only the options given)."""

    def change(r: Rep) -> None:
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
