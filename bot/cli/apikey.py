"""`leadbot apikey …`: keys for the REST API (/api/v1), each with its scopes; printed once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from bot.cli.output import JsonOption, fail, open_store, out, print_json

if TYPE_CHECKING:
    from storage.api_tables import ApiKey

app = typer.Typer(help="API keys for /api/v1: scoped, stored hashed.", no_args_is_help=True)


def key_dict(key: ApiKey) -> dict[str, Any]:
    from bot.leads.views import iso

    return {
        "name": key.name,
        "prefix": key.prefix,
        "scopes": list(key.scopes or []),
        "rate_per_minute": key.rate_per_minute or None,
        "created_at": iso(key.created_at),
        "last_used_at": iso(key.last_used_at),
        "revoked_at": iso(key.revoked_at),
    }


@app.command("create")
def create(
    name: str,
    scope: Annotated[
        str, typer.Option("--scope", help="Comma-separated: leads:read,leads:write,events:write,…")
    ],
    rate: Annotated[
        int, typer.Option(help="Requests a minute (0 = LEADBOT_API_RATE_PER_MINUTE).")
    ] = 0,
    as_json: JsonOption = False,
) -> None:
    """Make a key and print it once: only its hash is kept."""
    from bot.web.api.keys import ApiKeyError, create

    try:
        with open_store().transaction() as session:
            key, text = create(session, name, scope.split(","), rate)
            data = {**key_dict(key), "key": text}
    except ApiKeyError as exc:
        fail(str(exc), code=2)
    if as_json:
        print_json(data)
        return
    out.print(text, highlight=False, markup=False)
    err_note = f"key {name!r} ({', '.join(data['scopes'])}): shown once, keep it now"
    typer.echo(err_note, err=True)


@app.command("list")
def list_keys(as_json: JsonOption = False) -> None:
    """Keys: name, scopes, created, last used, revoked."""
    import storage.api_keys

    with open_store().reading() as session:
        rows = [key_dict(key) for key in storage.api_keys.listing(session)]
    if as_json:
        print_json(rows)
        return
    from rich.table import Table
    from rich.text import Text

    table = Table("name", "scopes", "created", "last used", "revoked")
    for row in rows:
        table.add_row(Text(row["name"]), ", ".join(row["scopes"]), row["created_at"],
                      row["last_used_at"] or "never", row["revoked_at"] or "")  # fmt: skip
    out.print(table)


@app.command("revoke")
def revoke(name: str, as_json: JsonOption = False) -> None:
    """Revoke a key: it is refused from now on (kept, for the record)."""
    from bot.web.api.keys import ApiKeyError, revoke

    try:
        with open_store().transaction() as session:
            data = key_dict(revoke(session, name))
    except ApiKeyError as exc:
        fail(str(exc))
    if as_json:
        print_json(data)
    else:
        out.print(f"key {name!r} revoked", highlight=False, markup=False)
