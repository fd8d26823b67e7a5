"""`leadbot lead <verb> <lead> [args]`: the Slack grammar (bot/leads/commands.py) from a shell."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer

from bot.cli.leads import show_lead
from bot.cli.output import JsonOption, fail, load_settings, open_store, out, print_json
from bot.cli.safe_text import shown

app = typer.Typer()


@app.command(
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
    import storage.reps
    from bot.leads import actions, commands
    from bot.leads.lifecycle import IllegalTransition
    from bot.leads.permissions import Actor, NotAllowed
    from bot.leads.views import lead_dict
    from bot.rules.file import RulesFile

    if words and words[0] == "link":
        print_link(words[1:], as_json)
        return
    if words and words[0] == "edit":
        edit_lead(words[1:], as_rep, as_json)
        return
    try:
        command = commands.parse(words or [])
    except commands.UsageError as exc:
        fail(str(exc), code=2)
    if command.verb == "help":
        out.print(commands.usage_text(), highlight=False, markup=False)
        return
    if command.verb == "show":
        show_lead(command.lead_ref, as_json)
        return
    settings = load_settings()
    store = open_store(settings)
    try:
        with store.transaction() as session:
            actor = Actor.operator(getpass.getuser())
            if as_rep:
                rep = storage.reps.by_email(session, as_rep)
                if rep is None:
                    fail(f"no rep {as_rep} (see leadbot reps list)")
                actor = Actor.for_rep(rep)
            rules = RulesFile(settings.rules_file(), announce=False).get()
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
    out.print(shown(outcome.message, multiline=True), highlight=False, markup=False)
    for row in listed:
        name = f"{row['first_name']} {row['last_name']}".strip()
        out.print(
            shown(
                f"  {row['id']:<7} {row['status']:<10} {row['email']:<32} {name} {row['company']}"
            ),
            highlight=False,
            markup=False,
        )


def print_link(words: list[str], as_json: bool) -> None:
    """`lead link L-1`: the lead's signed page URL, as a Slack card's "Open in full" links it.
    Signed with the key every process of this store reads, so `serve` opens it."""
    from bot.leads import actions
    from bot.public_links import PublicLinks

    if len(words) != 1:
        fail("usage: leadbot lead link <lead>", code=2)
    settings = load_settings()
    store = open_store(settings)
    try:
        with store.reading() as session:
            lead_id = actions.find_lead(session, words[0]).id
    except (actions.LeadNotFound, ValueError) as exc:
        fail(str(exc))
    finally:
        store.dispose()
    assert lead_id is not None
    url = PublicLinks(settings.public_url, settings.signing_key()).lead_page(lead_id)
    if as_json:
        print_json({"lead": f"L-{lead_id}", "url": url})
        return
    out.print(url, highlight=False, markup=False, soft_wrap=True)


EDIT_USAGE = "usage: leadbot lead edit <lead> [--set FIELD=VALUE]… [--tag TAG]… [--untag TAG]…"


def edit_lead(words: list[str], as_rep: str | None, as_json: bool) -> None:
    """`lead edit L-1 --set country=DE --tag webinar`: person fields and tags by hand."""
    import storage.reps
    from bot.leads import actions
    from bot.leads.permissions import Actor, NotAllowed, authorize
    from bot.leads.views import lead_dict

    if not words or words[0].startswith("-"):
        fail(EDIT_USAGE, code=2)
    ref, rest = words[0], words[1:]
    fields: dict[str, str] = {}
    tags: list[str] = []
    untags: list[str] = []
    while rest:
        option = rest.pop(0)
        option, _, inline = option.partition("=") if option.startswith("--") else (option, "", "")
        if option not in ("--set", "--tag", "--untag") or (not inline and not rest):
            fail(f"{EDIT_USAGE}\n(not understood: {option})", code=2)
        value = inline or rest.pop(0)
        if option == "--set":
            name, equals, field_value = value.partition("=")
            if not equals:
                fail(f"--set takes FIELD=VALUE, not {value!r}", code=2)
            fields[name.strip()] = field_value
        else:
            (tags if option == "--tag" else untags).append(value)
    if not (fields or tags or untags):
        fail(EDIT_USAGE, code=2)
    store = open_store()
    try:
        with store.transaction() as session:
            actor = Actor.operator(getpass.getuser())
            if as_rep:
                rep = storage.reps.by_email(session, as_rep)
                if rep is None:
                    fail(f"no rep {as_rep} (see leadbot reps list)")
                actor = Actor.for_rep(rep)
            lead = actions.find_lead(session, ref, for_update=True)
            owner = storage.reps.by_id(session, lead.owner_id) if lead.owner_id else None
            authorize(actor, lead, owner)
            version = lead.version
            actions.edit(
                session, lead, actor.label, fields=fields, add_tags=tags, remove_tags=untags
            )
            changed = lead.version != version
            result = lead_dict(lead, owner)
    except (actions.LeadNotFound, NotAllowed, ValueError) as exc:
        fail(str(exc))
    finally:
        store.dispose()
    message = f"{result['id']} {'edited' if changed else 'unchanged'}"
    if as_json:
        print_json({"message": message, "lead": result, "leads": []})
        return
    out.print(message, highlight=False, markup=False)
