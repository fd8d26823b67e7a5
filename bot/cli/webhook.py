"""`leadbot webhook …`: receivers of signed lead events, their deliveries, replays, secrets."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from bot.cli.output import JsonOption, fail, load_settings, open_store, out, print_json

if TYPE_CHECKING:
    from storage.api_tables import WebhookDelivery, WebhookEndpoint

app = typer.Typer(help="Webhooks: signed lead events for other tools.", no_args_is_help=True)


def endpoint_dict(endpoint: WebhookEndpoint, pending: int = 0) -> dict[str, Any]:
    from bot.leads.views import iso
    from bot.notify.webhooks import endpoint_label

    state = "failing" if endpoint.failing_since else "ok"
    return {
        "id": endpoint_label(endpoint.id),
        "url": endpoint.url,
        "events": list(endpoint.events or []),
        "state": state,
        "failing_since": iso(endpoint.failing_since),
        "consecutive_failures": endpoint.consecutive_failures,
        "last_error": endpoint.last_error,
        "last_success_at": iso(endpoint.last_success_at),
        "pending": pending,
        "rotating_until": iso(endpoint.previous_valid_until) if endpoint.previous_secret else None,
        "created_at": iso(endpoint.created_at),
    }


def delivery_dict(delivery: WebhookDelivery) -> dict[str, Any]:
    from bot.leads.views import iso
    from bot.notify.webhooks import endpoint_label

    return {
        "id": delivery.id,
        "webhook": endpoint_label(delivery.endpoint_id),
        "webhook_id": delivery.message_id,
        "event": delivery.event_type,
        "lead": f"L-{delivery.lead_id}" if delivery.lead_id else None,
        "state": delivery.state,
        "attempts": delivery.attempts,
        "last_status": delivery.last_status,
        "last_error": delivery.last_error,
        "created_at": iso(delivery.created_at),
        "next_attempt_at": iso(delivery.next_attempt_at) if delivery.state == "pending" else None,
        "delivered_at": iso(delivery.delivered_at),
    }


@app.command("add")
def add(
    url: str,
    events: Annotated[
        str, typer.Option(help="Comma-separated: lead.created,lead.assigned,…")
    ] = "lead.created,lead.assigned,lead.status_changed,lead.converted,lead.merged,"
    "email.opened,email.clicked,lead.opted_out",
    secret: Annotated[
        str | None, typer.Option(help="whsec_<base64>; a new one is made when not given.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Send these events to URL, signed; prints the secret receivers verify with."""
    from bot.notify import webhooks

    try:
        with open_store().transaction() as session:
            endpoint = webhooks.add_endpoint(session, url, events.split(","), secret)
            data = {**endpoint_dict(endpoint), "secret": endpoint.secret}
    except webhooks.WebhookError as exc:
        fail(str(exc), code=2)
    if as_json:
        print_json(data)
        return
    out.print(f"{data['id']} {url}: {', '.join(data['events'])}", highlight=False, markup=False)
    out.print(f"secret: {data['secret']}", highlight=False, markup=False)


@app.command("list")
def list_webhooks(as_json: JsonOption = False) -> None:
    """Webhooks with their events and health: failing since when, the last error, pending."""
    import storage.webhooks

    with open_store().reading() as session:
        pending = storage.webhooks.pending_counts(session)
        rows = [endpoint_dict(e, pending.get(e.id or 0, 0))
                for e in storage.webhooks.active_endpoints(session)]  # fmt: skip
    if as_json:
        print_json(rows)
        return
    from rich.table import Table
    from rich.text import Text

    table = Table("id", "url", "events", "state", "pending", "last error")
    for row in rows:
        state = row["state"]
        if row["failing_since"]:
            state = f"failing since {row['failing_since']} ({row['consecutive_failures']} tries)"
        table.add_row(row["id"], Text(row["url"]), ", ".join(row["events"]), state,
                      str(row["pending"]), Text(row["last_error"] or ""))  # fmt: skip
    out.print(table)


@app.command("deliveries")
def deliveries(
    webhook: Annotated[str | None, typer.Argument(help="Only this webhook (W-1).")] = None,
    failed: Annotated[
        bool, typer.Option("--failed", help="Only given up on or failing ones.")
    ] = False,
    limit: Annotated[int, typer.Option(help="Newest first, this many.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """Deliveries, newest first: event, lead, state, tries, the receiver's last answer."""
    import storage.webhooks
    from bot.notify import webhooks

    with open_store().reading() as session:
        endpoint_id = None
        if webhook:
            try:
                endpoint_id = webhooks.find_endpoint(session, webhook).id
            except webhooks.WebhookError as exc:
                fail(str(exc))
        rows = [
            delivery_dict(d)
            for d in storage.webhooks.deliveries(
                session, endpoint_id=endpoint_id, failed_only=failed, limit=limit
            )
        ]
    if as_json:
        print_json(rows)
        return
    from rich.table import Table
    from rich.text import Text

    table = Table("id", "webhook", "event", "lead", "state", "tries", "last answer")
    for row in rows:
        answer = row["last_error"] or (str(row["last_status"]) if row["last_status"] else "")
        table.add_row(str(row["id"]), row["webhook"], row["event"], row["lead"] or "",
                      row["state"], str(row["attempts"]), Text(answer))  # fmt: skip
    out.print(table)


@app.command("replay")
def replay(delivery: int, as_json: JsonOption = False) -> None:
    """Send a delivery again (same webhook-id: a receiver that has it drops the repeat)."""
    from bot.notify import webhooks

    try:
        with open_store().transaction() as session:
            data = delivery_dict(webhooks.replay(session, delivery))
    except webhooks.WebhookError as exc:
        fail(str(exc))
    if as_json:
        print_json(data)
    else:
        out.print(f"delivery {delivery} queued again", highlight=False, markup=False)


@app.command("rotate-secret")
def rotate_secret(
    webhook: str,
    grace_hours: Annotated[
        float | None,
        typer.Option(
            help="Hours the old secret stays valid (LEADBOT_WEBHOOK_ROTATION_GRACE_HOURS)."
        ),
    ] = None,
    secret: Annotated[str | None, typer.Option(help="The new whsec_… (else made).")] = None,
    as_json: JsonOption = False,
) -> None:
    """A new secret; until the grace period ends both signatures are sent."""
    from datetime import timedelta

    from bot.notify import webhooks

    hours = grace_hours if grace_hours is not None else load_settings().webhook_rotation_grace_hours
    try:
        with open_store().transaction() as session:
            endpoint = webhooks.find_endpoint(session, webhook)
            webhooks.rotate_secret(endpoint, timedelta(hours=hours), secret)
            session.add(endpoint)
            data = {**endpoint_dict(endpoint), "secret": endpoint.secret}
    except webhooks.WebhookError as exc:
        fail(str(exc))
    if as_json:
        print_json(data)
        return
    out.print(f"secret: {data['secret']}", highlight=False, markup=False)
    out.print(f"the old secret stays valid until {data['rotating_until']}", highlight=False,
              markup=False)  # fmt: skip


@app.command("remove")
def remove(webhook: str, as_json: JsonOption = False) -> None:
    """Stop sending to a webhook; its deliveries are kept."""
    from bot.notify import webhooks
    from storage.models import utcnow

    try:
        with open_store().transaction() as session:
            endpoint = webhooks.find_endpoint(session, webhook)
            endpoint.removed_at = utcnow()
            session.add(endpoint)
            data = endpoint_dict(endpoint)
    except webhooks.WebhookError as exc:
        fail(str(exc))
    if as_json:
        print_json(data)
    else:
        out.print(f"{data['id']} removed", highlight=False, markup=False)
