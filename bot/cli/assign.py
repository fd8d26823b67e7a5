"""`leadbot assign …`: the assignment queue from the command line: run it, explain a decision,
report on how evenly leads spread, list what waits."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bot.cli.output import (
    JsonOption,
    err,
    fail,
    load_settings,
    moment,
    open_store,
    out,
    print_json,
)
from bot.cli.safe_text import safe_text, shown

if TYPE_CHECKING:
    from bot.rules.file import RulesFile

app = typer.Typer(
    help="The assignment queue: run it, explain it, report on it.", no_args_is_help=True
)


def _rules_in_force() -> RulesFile:
    from bot.rules.file import RulesFile

    source = RulesFile(load_settings().rules_file())
    if source.error is not None:
        err.print(f"warning: {source.error}; using the last good rules", highlight=False)
    return source


@app.command("run")
def run(
    now: Annotated[str | None, typer.Option(help="Act as if it were this time (ISO).")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the tie-breaking shuffle.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Score changed leads, offer waiting leads, reassign lapsed offers, until nothing is left."""
    from bot.assignment.assigner import Assigner
    from storage.models import utcnow

    store = open_store()
    at = moment(now) if now else None
    assigner = Assigner(
        store,
        _rules_in_force().get,
        clock=(lambda: at) if at else utcnow,
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
        return
    out.print(", ".join(f"{k} {v}" for k, v in data.items()), highlight=False)
    if not result.offered:
        for hint in _why_nothing_was_offered(store, assigner.rules(), at or utcnow()):
            out.print(hint, highlight=False, markup=False)


def _why_nothing_was_offered(store: Any, rules: Any, now: Any) -> list[str]:
    """Hints after "offered 0": waiting leads nobody can take, open leads not in the queue."""
    import storage.assignment
    import storage.leads
    from bot.leads.refs import lead_label
    from bot.scoring.qualification import queue_verdict

    hints = []
    with store.reading() as session:
        reps = [rep for rep in storage.assignment.reps(session) if rep.active and not rep.paused]
        waiting = storage.assignment.counts_by_state(session).get("waiting", 0)
        if waiting and not reps:
            hints.append(f"{waiting} leads wait, but no rep is active: leadbot reps add NAME EMAIL")
        elif waiting:
            hints.append(f"{waiting} leads wait: leadbot assign explain LEAD says who was skipped")
        unqueued = [
            lead
            for lead in storage.leads.unassigned(session, limit=200)
            if lead.id is not None and storage.assignment.item_for_lead(session, lead.id) is None
        ]
        if unqueued:
            first = unqueued[0]
            hints.append(
                f"{len(unqueued)}{'+' if len(unqueued) == 200 else ''} unassigned leads are not "
                f"in the queue; {lead_label(first.id)}: "
                f"{queue_verdict(session, first, rules, now)}"
            )
            hints.append(f"  see: leadbot assign explain {lead_label(first.id)}")
    return hints


@app.command("explain")
def explain(
    lead: str,
    now: Annotated[str | None, typer.Option(help="Explain as of this time (ISO).")] = None,
) -> None:
    """Which rule matches the lead, which reps were considered and why each was skipped."""
    from bot.assignment.explain import explain
    from bot.leads import actions

    store = open_store()
    rules = _rules_in_force().get()
    try:
        with store.reading() as session:
            found = actions.find_lead(session, lead)
            text = explain(session, found, rules, moment(now))
    except (actions.LeadNotFound, ValueError) as exc:
        fail(str(exc))
    out.print(shown(text, multiline=True), highlight=False, markup=False)


@app.command("report")
def report(
    last: Annotated[int, typer.Option(help="Assignments shown per rep.")] = 10,
    as_json: JsonOption = False,
) -> None:
    """The last N assignments of each rep, with totals and loads: how evenly leads spread."""
    import storage.assignment
    from bot.leads.refs import lead_label
    from bot.leads.views import iso

    with open_store().reading() as session:
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
    from rich.table import Table

    table = Table("rep", "name", "assigned", "open/capacity", f"last {last}")
    for row in rows:
        leads = " ".join(entry["lead"] for entry in row["last"])
        table.add_row(
            *(
                safe_text(cell)
                for cell in (
                    row["rep"],
                    row["name"],
                    str(row["assigned"]),
                    f"{row['open']}/{row['capacity']}",
                    leads,
                )
            )
        )
    out.print(table)


@app.command("queue")
def queue(
    state: Annotated[str | None, typer.Option(help="waiting, offered or done.")] = None,
    as_json: JsonOption = False,
) -> None:
    """The assignment queue: waiting and offered leads, with SLA deadlines."""
    import storage.assignment
    from bot.leads.refs import lead_label
    from bot.leads.views import iso

    with open_store().reading() as session:
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
    from rich.table import Table

    table = Table("lead", "state", "offered to", "rule", "due", "hops")
    for row in rows:
        table.add_row(
            *(
                safe_text(cell)
                for cell in (
                    row["lead"],
                    row["state"],
                    row["offered_to"] or "",
                    row["rule"] or "",
                    row["due_at"] or "",
                    str(row["hops"]),
                )
            )
        )
    out.print(table)
