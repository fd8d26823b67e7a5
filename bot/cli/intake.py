"""`leadbot intake …`: the intake quarantine, held captures and the mail the inbox could not read.

`quarantined` lists every kind, each with an id that `approve` and `reject` take: `H-12` is a
capture the intake checks held (bot/leads/intake.py), `M-7` a mail the inbox quarantined because
it could not be processed (the same mail as `leadbot inbox quarantined` lists), `F-5` a web-form
submission whose processing failed (as `leadbot form submissions NAME --state quarantined`
lists it). Approving a hold captures it for real; approving a mail is `inbox retry`, a
submission `form retry`. Rejecting any closes it, kept.
Registered on the main `leadbot` app by bot/cli/__init__.py.
"""

from __future__ import annotations

import getpass
from typing import Annotated, Any, NoReturn

import typer

from bot.cli.output import JsonOption, fail, out, print_json, services
from bot.cli.safe_text import safe_text

app = typer.Typer(
    help="The intake quarantine: captures held as junk or a flood, and mail the inbox could "
    "not read. Approve or reject each.",
    no_args_is_help=True,
)

USAGE = (
    "usage: leadbot intake {verb} ID  (ID from `leadbot intake quarantined`: H-12 is a held "
    "capture, M-7 a mail the inbox could not read, F-5 a form submission that failed)"
)


@app.command("quarantined")
def intake_quarantined(as_json: JsonOption = False) -> None:
    """What waits for a person: held captures (H-…), unreadable mail (M-…), then form
    submissions that failed (F-…), oldest first."""
    from rich.table import Table

    import storage.forms
    import storage.inbox
    import storage.intake
    from bot.forms.views import quarantined_dict
    from bot.leads.views import hold_dict, message_dict

    with services().store.reading() as session:
        rows = [hold_dict(record) for record in storage.intake.held(session)]
        rows += [
            message_dict(message)
            for message in storage.inbox.listing(session, state="quarantined", limit=1000)
        ]
        rows += [quarantined_dict(sub, name) for sub, name in storage.forms.quarantined(session)]
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print("nothing in the quarantine", highlight=False)
        return
    table = Table("id", "at", "channel", "from", "title", "why held")
    for row in rows:
        # Text cells: what came from outside is shown as written, never read as markup.
        why = "; ".join(row["reasons"])[:120]
        table.add_row(row["id"], row["at"], row["channel"], safe_text(row["from"] or ""),
                      safe_text((row["title"] or "")[:50]), safe_text(why))  # fmt: skip
    out.print(table)


@app.command("approve")
def intake_approve(
    ref: Annotated[str, typer.Argument(metavar="ID", help="H-12 or M-7.")],
    as_json: JsonOption = False,
) -> None:
    """Let it through: a hold becomes a lead, a mail or a form submission is processed again
    (as `inbox retry`, `form retry`).

    The lead's timeline says who approved the hold and why it had been held."""
    from bot.leads import capture, intake
    from bot.leads.views import lead_dict
    from bot.rules.file import RulesFile

    kind, number = _parse(ref, "approve")
    svc = services()
    if kind == "message":
        _approve_message(svc, number, as_json)
        return
    if kind == "submission":
        _approve_submission(svc, number, as_json)
        return
    actor = _actor()
    try:
        with svc.store.transaction() as session:
            result = capture.approve(
                session,
                number,
                actor,
                rules=RulesFile(svc.settings.rules_file(), announce=False).get(),
            )
            lead = result.lead
            assert lead is not None
            data = {"id": intake.hold_label(number), "state": "approved",
                    "created": result.created, "lead": lead_dict(lead)}  # fmt: skip
    except capture.NotHeld as exc:
        _refuse(str(exc), "approve")
    except capture.BadDraft as exc:
        fail(f"{ref} cannot become a lead: {exc}; reject it instead")
    if as_json:
        print_json(data)
        return
    what = "a new lead" if data["created"] else "an existing lead"
    shown = f"{data['id']} approved: {data['lead']['id']} {data['lead']['email']} ({what})"
    out.print(safe_text(shown))


def _approve_message(svc: Any, message_id: int, as_json: bool) -> None:
    import storage.inbox
    import storage.leads
    from bot.leads import intake
    from bot.leads.views import lead_dict, message_dict

    if not svc.inbound.retry(message_id):
        _refuse(f"{intake.message_label(message_id)} is not a quarantined message", "approve")
    svc.inbound.drain()
    with svc.store.reading() as session:
        message = storage.inbox.by_id(session, message_id)
        assert message is not None
        lead = storage.leads.by_id(session, message.lead_id) if message.lead_id else None
        data = {**message_dict(message), "classification": message.classification,
                "lead": lead_dict(lead) if lead else None}  # fmt: skip
    if as_json:
        print_json(data)
    elif data["state"] == "done":
        shown = f"{data['id']}: {data['classification']}"
        if data["lead"]:
            shown += f", {data['lead']['id']} {data['lead']['email']}"
        out.print(safe_text(shown))
    else:
        out.print(safe_text(f"{data['id']}: {data['state']} ({'; '.join(data['reasons'])})"))
    if data["state"] != "done":
        raise typer.Exit(1)


def _approve_submission(svc: Any, submission_id: int, as_json: bool) -> None:
    import storage.forms
    from bot.forms.process import FormProcessor
    from bot.forms.views import quarantined_dict
    from bot.leads import intake
    from bot.rules.file import RulesFile

    processor = FormProcessor(svc.store, RulesFile(svc.settings.rules_file(), announce=False).get)
    if not processor.retry(submission_id):
        label = intake.submission_label(submission_id)
        _refuse(f"{label} is not a quarantined form submission", "approve")
    processor.drain()
    with svc.store.reading() as session:
        submission = storage.forms.submission_by_id(session, submission_id)
        assert submission is not None
        form = storage.forms.form_by_id(session, submission.form_id)
        data = quarantined_dict(submission, form.name if form else "")
    if as_json:
        print_json(data)
    elif data["state"] in ("done", "held"):
        shown = f"{data['id']}: {data['state']}" + (f", {data['lead']}" if data["lead"] else "")
        out.print(safe_text(shown))
    else:
        out.print(safe_text(f"{data['id']}: {data['state']} ({'; '.join(data['reasons'])})"))
    if data["state"] not in ("done", "held"):
        raise typer.Exit(1)


@app.command("reject")
def intake_reject(
    ref: Annotated[str, typer.Argument(metavar="ID", help="H-12 or M-7.")],
    reason: Annotated[str, typer.Option("--reason", help="Why, for the record.")] = "",
    as_json: JsonOption = False,
) -> None:
    """Close it as junk: kept with who rejected it and why; no lead is made."""
    import storage.inbox
    import storage.intake
    from bot.leads import capture
    from bot.leads.views import hold_dict, message_dict

    kind, number = _parse(ref, "reject")
    actor = _actor()
    with services().store.transaction() as session:
        if kind == "submission":
            import storage.forms
            from bot.forms.views import quarantined_dict

            if not storage.forms.reject_quarantined(session, number, actor, reason):
                _refuse(f"{ref.upper()} is not a quarantined form submission", "reject")
            submission = storage.forms.submission_by_id(session, number)
            assert submission is not None
            form = storage.forms.form_by_id(session, submission.form_id)
            data = quarantined_dict(submission, form.name if form else "")
        elif kind == "message":
            if not storage.intake.reject_message(session, number, actor, reason):
                _refuse(f"{ref.upper()} is not a quarantined message", "reject")
            message = storage.inbox.by_id(session, number)
            assert message is not None
            session.refresh(message)
            data = message_dict(message)
        else:
            try:
                data = hold_dict(capture.reject(session, number, actor, reason))
            except capture.NotHeld as exc:
                _refuse(str(exc), "reject")
    if as_json:
        print_json(data)
        return
    out.print(safe_text(f"{data['id']} rejected by {actor}" + (f": {reason}" if reason else "")))


def _actor() -> str:
    from bot.leads.permissions import Actor

    return Actor.operator(getpass.getuser()).label


def _parse(ref: str, verb: str) -> tuple[str, int]:
    from bot.leads import intake

    try:
        return intake.parse_ref(ref)
    except ValueError as exc:
        _refuse(str(exc), verb)


def _refuse(message: str, verb: str) -> NoReturn:
    fail(f"{message}\n{USAGE.format(verb=verb)}", code=2)
