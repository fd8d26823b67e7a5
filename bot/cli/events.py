"""`leadbot events add`: record a behaviour event (page visit, form post, …) that scores a lead."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperCommand

from bot.cli.output import fail, moment, open_store, out

app = typer.Typer(
    help="Behaviour events that score leads (page visits, form posts, …).", no_args_is_help=True
)


class KindsInHelp(TyperCommand):
    """Names the event kinds in the help of KIND, read from the scorer only when help is shown:
    every `leadbot` process builds every command, and the scorer imports the whole store."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        from bot.scoring.qualification import EXTERNAL_EVENTS

        for param in self.params:
            if param.name == "kind":
                param.help = ", ".join(EXTERNAL_EVENTS)  # type: ignore[attr-defined]
        super().format_help(ctx, formatter)


@app.command("add", cls=KindsInHelp)
def add(
    lead: str,
    kind: str,
    detail: Annotated[str, typer.Option(help="What happened (a URL, a form name).")] = "",
    at: Annotated[str | None, typer.Option(help="When (ISO); default now.")] = None,
) -> None:
    """Record a behaviour event on a lead; the scorer counts it within a tick."""
    from bot.leads import actions
    from bot.scoring import qualification

    store = open_store()
    try:
        with store.transaction() as session:
            found = actions.find_lead(session, lead)
            qualification.record_event(
                session, found, kind, detail=detail, at=moment(at), actor="cli"
            )
    except (actions.LeadNotFound, ValueError) as exc:
        fail(str(exc))
    out.print(f"{kind} recorded on {lead}", highlight=False)
