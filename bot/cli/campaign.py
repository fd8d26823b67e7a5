"""`leadbot campaign …`: create nurture campaigns, preview one lead's email, send, and see stats."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bot.cli.output import (
    JsonOption,
    err,
    fail,
    load_settings,
    one_of,
    open_store,
    out,
    print_json,
)
from bot.cli.safe_text import safe_text

if TYPE_CHECKING:
    from storage.models import Campaign

app = typer.Typer(
    help="Nurture campaigns: personalized emails with tracked opens and clicks.",
    no_args_is_help=True,
)
Many = Annotated[list[str] | None, typer.Option()]


def _campaign(session: Any, name: str) -> Campaign:
    import storage.campaigns

    campaign = storage.campaigns.by_name(session, name)
    if campaign is None:
        fail(f"no campaign named {name!r} (see `leadbot campaign list`)")
    assert campaign is not None
    return campaign


def _split(values: list[str] | None) -> list[str]:
    return [v.strip() for value in values or [] for v in value.split(",") if v.strip()]


@app.command("create")
def create(
    name: str,
    step: Annotated[
        list[str], typer.Option(help="TEMPLATE:DELAY, in order: welcome:0, followup:3d, …")
    ],
    template_set: Annotated[
        str, typer.Option(help="Templates under bot/templates/email/nurture/<set>/.")
    ] = "example",
    templates: Annotated[
        Path | None, typer.Option(help="A folder of your own with <step>.{subject,txt,html}.j2.")
    ] = None,
    status: Annotated[
        list[str] | None, typer.Option(help="Lead statuses (default nurturing; 'any' for all).")
    ] = None,
    grade: Many = None,
    stage: Many = None,
    source: Many = None,
    score_min: float | None = None,
    score_max: float | None = None,
    tag: Annotated[list[str] | None, typer.Option(help="Tags in the lead's custom 'tags'.")] = None,
    not_contacted_days: Annotated[
        int | None, typer.Option(help="Only leads with no activity for this many days.")
    ] = None,
    stale: Annotated[
        bool, typer.Option("--stale", help="Only leads retention marked stale (re-permission).")
    ] = False,
    sender: Annotated[str, typer.Option("--from", help="From address.")] = "",
    as_json: JsonOption = False,
) -> None:
    """Create a campaign (a draft until `campaign send`): a segment and a sequence of steps."""
    from jinja2 import TemplateError

    import storage.campaigns
    from bot.nurture import campaigns
    from bot.nurture.compose import TemplateSet, builtin_sets
    from storage.models import Campaign

    try:
        steps = [campaigns.parse_step(spec) for spec in step]
    except campaigns.CampaignError as exc:
        fail(str(exc), 2)
    from bot.leads.lifecycle import Stage, Status

    statuses = _split(status) or ["nurturing"]
    for value in statuses:
        if value != "any" or len(statuses) > 1:
            one_of(value, tuple(Status), "--status")
    for value in _split(grade):
        one_of(value.upper(), ("A", "B", "C", "D"), "--grade")
    for value in _split(stage):
        one_of(value, tuple(Stage), "--stage")
    segment = campaigns.Segment(
        status=[] if statuses == ["any"] else statuses,
        grade=_split(grade), stage=_split(stage), source=_split(source),
        score_min=score_min, score_max=score_max, tags=_split(tag),
        not_contacted_days=not_contacted_days, stale=stale,
    )  # fmt: skip
    folder = str(templates.resolve()) if templates else ""
    if not folder and template_set not in builtin_sets():
        fail(f"no template set {template_set!r}; built in: {', '.join(builtin_sets())}")
    template_files = TemplateSet(template_set if not folder else "", folder)
    for template, _ in steps:
        try:
            template_files.check(template)
        except TemplateError as exc:
            fail(f"step {template!r}: templates missing or broken ({exc})")
    with open_store().transaction() as session:
        if storage.campaigns.by_name(session, name):
            fail(f"a campaign named {name!r} exists")
        campaign = storage.campaigns.add(
            session,
            Campaign(
                name=name, template_set=template_files.name, template_dir=folder,
                segment=segment.to_dict(), sender=sender,
            ),
            steps,
        )  # fmt: skip
        from bot.nurture.control import segment_size

        matches = segment_size(session, campaign)
    if as_json:
        print_json(_campaign_dict(campaign, steps))
        return
    plan = ", ".join(f"{t} after {campaigns.format_delay(d)}" for t, d in steps)
    out.print(f"campaign {name} created (draft): {segment.describe()}; {plan}", highlight=False)
    out.print(
        f"the segment matches {matches} leads now; `leadbot campaign send {name} --dry-run` "
        "shows what a send would do",
        highlight=False,
    )


def _campaign_dict(campaign: Campaign, steps: list[tuple[str, int]]) -> dict[str, Any]:
    return {
        "name": campaign.name, "state": campaign.state,
        "templates": campaign.template_dir or f"email/nurture/{campaign.template_set}",
        "segment": campaign.segment, "sender": campaign.sender,
        "steps": [{"template": t, "delay_seconds": d} for t, d in steps],
        "created_at": campaign.created_at.isoformat(),
    }  # fmt: skip


@app.command("list")
def list_campaigns(as_json: JsonOption = False) -> None:
    """Campaigns with their state, segment and steps."""
    import storage.campaigns
    from bot.nurture import campaigns

    with open_store().reading() as session:
        rows = [
            _campaign_dict(
                c,
                [(s.template, s.delay_seconds) for s in storage.campaigns.steps_of(session, c.id)],
            )
            for c in storage.campaigns.listing(session)
            if c.id is not None and c.state != "deleted"
        ]
    if as_json:
        print_json(rows)
        return
    from rich.table import Table

    table = Table("name", "state", "segment", "steps", "templates")
    for row in rows:
        steps = ", ".join(
            f"{s['template']}:{campaigns.format_delay(s['delay_seconds'])}" for s in row["steps"]
        )
        segment = campaigns.Segment.from_dict(row["segment"]).describe()
        table.add_row(
            *(
                safe_text(cell)
                for cell in (row["name"], row["state"], segment, steps, row["templates"])
            )
        )
    out.print(table)


@app.command("preview")
def preview(
    name: str,
    lead: Annotated[str, typer.Option(help="The lead (L-1 or an email address).")],
    out_file: Annotated[
        Path, typer.Option("--out", help="File to write: .eml (whole email), .html or .txt.")
    ],
    step: Annotated[int, typer.Option(help="Which step, from 1.")] = 1,
) -> None:
    """Render one lead's email to a file; a template missing a variable fails here."""
    from jinja2 import TemplateError

    import storage.campaigns
    import storage.reps
    from bot.leads import actions
    from bot.leads.reply_address import reply_address_for
    from bot.nurture import campaigns
    from bot.nurture.compose import (
        BadAddress,
        Envelope,
        TemplateSet,
        address,
        build_message,
        new_message_id,
        render_email,
    )
    from bot.nurture.links import TrackingLinks
    from storage.models import utcnow

    if out_file.suffix.lower() not in (".eml", ".html", ".txt"):
        fail(f"--out must end in .eml, .html or .txt, not {out_file.name!r}", code=2)
    settings = load_settings()
    store = open_store(settings)
    links = TrackingLinks(settings.public_url, settings.signing_key())
    with store.reading() as session:
        campaign = _campaign(session, name)
        assert campaign.id is not None
        steps = storage.campaigns.steps_of(session, campaign.id)
        if not 1 <= step <= len(steps):
            fail(f"{name} has steps 1 to {len(steps)}")
        try:
            target = actions.find_lead(session, lead)
        except (actions.LeadNotFound, ValueError) as exc:
            fail(str(exc))
        owner = storage.reps.by_id(session, target.owner_id) if target.owner_id else None
        sender = campaign.sender or settings.outbound_from or settings.reply_address
        reply_to = reply_address_for(target.reply_token, settings.reply_address)
        try:
            rendered = render_email(
                TemplateSet(campaign.template_set, campaign.template_dir),
                steps[step - 1].template,
                campaigns.lead_context(target, owner, campaign),
                links,
                0,
            )
            message = build_message(
                Envelope(
                    sender=address(owner.name if owner else "", sender),
                    to=address(f"{target.first_name} {target.last_name}", target.email),
                    reply_to=address(owner.name if owner else "", reply_to),
                    message_id=new_message_id(sender),
                    unsubscribe_https=links.opt_out(0),
                    unsubscribe_mailto=reply_to,
                    date=utcnow(),
                ),
                rendered,
            )
        except (TemplateError, BadAddress) as exc:
            fail(f"cannot render step {step} for this lead: {exc}")
    suffix = out_file.suffix.lower()
    if suffix == ".html":
        out_file.write_text(rendered.html)
    elif suffix == ".txt":
        out_file.write_text(rendered.text)
    else:
        out_file.write_bytes(message.as_bytes())
    out.print(f"wrote {out_file}: {rendered.subject!r}", highlight=False, markup=False)


@app.command("send")
def send(
    name: str,
    rate: Annotated[float | None, typer.Option(help="Emails per second (0 = no limit).")] = None,
    connections: Annotated[int | None, typer.Option(help="SMTP connections.")] = None,
    wait: Annotated[
        bool, typer.Option(help="Wait out retry backoffs until every email has an outcome.")
    ] = True,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what a send would do; change nothing.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Activate the campaign and send the steps due now (later steps: the scheduler in serve).
    Exits 1 when an email failed, 75 when some wait for a retry (--no-wait)."""
    from bot.nurture import control
    from bot.nurture.campaigns import CampaignError

    settings = load_settings()
    store = open_store(settings)
    if dry_run:
        try:
            preview = control.dry_run(store, name)
        except CampaignError as exc:
            fail(str(exc))
        if as_json:
            print_json(preview.to_dict())
            return
        stops = ", ".join(f"{k} {v}" for k, v in preview.report.stopped.items()) or "none"
        out.print(
            f"{name} (dry run, nothing sent): segment {preview.segment} matches "
            f"{preview.matches} leads ({preview.members} members already); a send now would "
            f"enrol {preview.report.enrolled}, send {preview.report.planned} emails, "
            f"stop {stops}",
            highlight=False,
            markup=False,
        )
        return
    with store.transaction() as session:
        try:
            campaign = control.find(session, name)
        except CampaignError as exc:
            fail(str(exc))
        if campaign.state in ("paused", "stopped"):
            hint = f"leadbot campaign resume {name}" if campaign.state == "paused" else "final"
            fail(f"{name} is {campaign.state} ({hint})")
        campaign.state = "active"
        session.add(campaign)
    _send_now(store, settings, campaign, rate, connections, wait, as_json)


def _warn_if_links_are_local(settings: Any) -> None:
    if settings.public_url_is_loopback():
        err.print(
            f"warning: public links point at {settings.public_url}, which only this machine "
            "reaches: recipients cannot open the pixel, clicks or opt-out; set LEADBOT_PUBLIC_URL",
            highlight=False,
            markup=False,
        )


def _send_now(
    store: Any,
    settings: Any,
    campaign: Campaign,
    rate: float | None,
    connections: int | None,
    wait: bool,
    as_json: bool,
) -> None:
    """Send what is due now with a progress bar; print the outcome and exit non-zero when
    anything failed (1) or still waits for a retry (75, EX_TEMPFAIL)."""
    from collections import Counter

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from bot.nurture import control
    from bot.nurture.send import CampaignSender

    name = campaign.name
    assert campaign.id is not None
    _warn_if_links_are_local(settings)
    sender = CampaignSender(store, settings, rate=rate, connections=connections)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=err, disable=as_json) as bar:
        task = bar.add_task(f"sending {name}", total=None)

        def progress(state: str) -> None:
            if state != "retry":
                bar.advance(task)

        async def run() -> Any:
            await asyncio.to_thread(sender.plan, campaign.id)
            bar.update(task, total=await asyncio.to_thread(sender.pending, campaign.id))
            return await sender.run(campaign.id, wait_for_retries=wait, progress=progress)

        totals = asyncio.run(run())
    summary = {k: totals.get(k, 0) for k in ("sent", "failed", "skipped", "unknown", "retry")}
    problems: list[dict[str, Any]] = []
    if summary["failed"] or summary["unknown"] or summary["retry"]:
        with store.reading() as session:
            problems = [
                row
                for row in control.members(session, name)
                if row["send_state"] in ("failed", "unknown", "pending")
            ]
    store.dispose()
    if as_json:
        print_json(summary)
    else:
        out.print(", ".join(f"{k} {v}" for k, v in summary.items()), highlight=False)
        reasons = Counter(row["smtp_reply"] or "no reply" for row in problems)
        for reason, count in reasons.most_common(5):
            out.print(f"  {count}: {reason}", highlight=False, markup=False)
        if problems:
            out.print(
                f"  see: leadbot campaign members {name} --state failed; "
                f"after a fix: leadbot campaign retry {name} --failed",
                highlight=False,
                markup=False,
            )
    if summary["failed"] or summary["unknown"]:
        raise typer.Exit(1)
    if summary["retry"]:
        raise typer.Exit(75)


@app.command("stats")
def stats(name: str, as_json: JsonOption = False) -> None:
    """Sent, delivered, bounced, opened (people and machines apart), clicked, replied, opted out."""
    from bot.nurture import campaigns

    with open_store().reading() as session:
        data = campaigns.stats(session, _campaign(session, name))
    if as_json:
        print_json(data)
        return
    from rich.table import Table

    table = Table("measure", "count")
    for key, value in data.items():
        table.add_row(key.replace("_", " "), str(value))
    out.print(table)


@app.command("signature")
def signature(rep: str, text: str) -> None:
    """Set the closing lines nurture emails use for a rep's leads (\\n for a new line)."""
    import storage.reps

    with open_store().transaction() as session:
        found = storage.reps.by_email(session, rep)
        if found is None:
            fail(f"no rep with the email {rep!r}")
        assert found is not None
        found.signature = text.replace("\\n", "\n")
        session.add(found)
    out.print(f"signature of {rep} set")


# Added after the first release: listed after the commands above (their order is kept).


@app.command("retry")
def retry(
    name: str,
    failed: Annotated[
        bool, typer.Option("--failed", help="Also send the failed emails again (after a fix).")
    ] = False,
    rate: Annotated[float | None, typer.Option(help="Emails per second (0 = no limit).")] = None,
    connections: Annotated[int | None, typer.Option(help="SMTP connections.")] = None,
    wait: Annotated[
        bool, typer.Option(help="Wait out retry backoffs until every email has an outcome.")
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """Send now what waits for a retry and, with --failed, what failed (a template fixed, the
    relay back); exits as `campaign send` does."""
    from bot.nurture import control
    from bot.nurture.campaigns import CampaignError

    settings = load_settings()
    store = open_store(settings)
    try:
        with store.transaction() as session:
            campaign, count = control.prepare_retry(session, name, failed=failed)
    except CampaignError as exc:
        fail(str(exc))
    if not as_json:
        what = "retries and failed emails" if failed else "retries"
        out.print(f"{name}: {count} {what} due now", highlight=False)
    _send_now(store, settings, campaign, rate, connections, wait, as_json)


def _move(name: str, verb: str, as_json: bool) -> None:
    from bot.nurture import control
    from bot.nurture.campaigns import CampaignError

    try:
        with open_store().transaction() as session:
            campaign, said = control.move(session, name, verb)
            state = campaign.state
    except CampaignError as exc:
        fail(str(exc))
    if as_json:
        print_json({"name": name, "state": state, "message": said})
        return
    out.print(said, highlight=False, markup=False)


@app.command("pause")
def pause(name: str, as_json: JsonOption = False) -> None:
    """Stop sending for now (serve's scheduler skips it); `resume` goes on where it was."""
    _move(name, "pause", as_json)


@app.command("resume")
def resume(name: str, as_json: JsonOption = False) -> None:
    """Send a paused campaign again."""
    _move(name, "resume", as_json)


@app.command("stop")
def stop(name: str, as_json: JsonOption = False) -> None:
    """End the campaign for good: every member stops, planned emails are not sent."""
    _move(name, "stop", as_json)


@app.command("delete")
def delete(name: str, as_json: JsonOption = False) -> None:
    """Delete a draft or a stopped campaign; its name can be used again."""
    from bot.nurture import control
    from bot.nurture.campaigns import CampaignError

    try:
        with open_store().transaction() as session:
            said = control.delete(session, name)
    except CampaignError as exc:
        fail(str(exc))
    if as_json:
        print_json({"name": name, "state": "deleted", "message": said})
        return
    out.print(said, highlight=False, markup=False)


@app.command("members")
def members(
    name: str,
    state: Annotated[
        str | None,
        typer.Option(
            help="Only members in this state (active, done, stopped) or whose last "
            "email is (pending, sent, failed, skipped, unknown)."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Who is in the campaign, where each one is, and the SMTP reply to their last email."""
    from bot.nurture import control
    from bot.nurture.campaigns import CampaignError

    try:
        with open_store().reading() as session:
            rows = control.members(session, name, state)
    except CampaignError as exc:
        fail(str(exc))
    if as_json:
        print_json(rows)
        return
    from rich.table import Table

    table = Table("lead", "email", "state", "step", "email state", "tries", "SMTP reply")
    for row in rows:
        member_state = row["state"] + (
            f" ({row['stopped_reason']})" if row["stopped_reason"] else ""
        )
        step = f"{row['step']} {row['template']}" if row["step"] else ""
        table.add_row(
            row["lead"],
            row["email"] or "",
            member_state,
            step,
            row["send_state"] or "",
            str(row["attempts"]),
            row["smtp_reply"] or "",
        )
    out.print(table)
    out.print(f"{len(rows)} members", highlight=False)
