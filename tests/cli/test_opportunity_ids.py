"""Opportunities (issue 12, item 9): `O-n` labels, ids never given twice after an un-convert,
and amounts with a currency kept as a currency, never as part of the name. Through the real
`leadbot` entry point, on both stores."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_inbox import saved_mail
from tests.services.cli import base_env, run_cli


def test_an_unconverted_deal_leaves_its_ids_and_currencies_are_kept(
    database_url: str, tmp_path: Path
) -> None:
    env = {**base_env(), "LEADBOT_DATABASE_URL": database_url, "COLUMNS": "200"}

    def leadbot(*args: str, code: int = 0) -> str:
        done = run_cli(list(args), tmp_path, env)
        assert done.returncode == code, f"{args}: {done.stdout}{done.stderr}"
        return done.stdout + done.stderr

    leadbot("inbox", "import", str(saved_mail(tmp_path, "one")))
    first = leadbot("lead", "convert", "L-1", "Acme deal", "€25,000")
    assert "opportunity O-1 Acme deal (EUR 25,000.00)" in first
    leadbot("lead", "unconvert", "L-1")
    leadbot("lead", "reopen", "L-1")
    # A currency with no number beside it is refused, and nothing is converted.
    refused = leadbot("lead", "convert", "L-1", "Acme deal", "USD", code=1)
    assert "'USD' needs an amount beside it" in refused
    assert json.loads(leadbot("leads", "show", "L-1", "--json"))["status"] == "working"
    second = leadbot("lead", "convert", "L-1", "Acme deal", "25k", "USD")
    assert "opportunity O-2 Acme deal (USD 25,000.00)" in second  # O-1 is not given again
    shown = json.loads(leadbot("account", "show", "O-2", "--json"))
    assert shown["account"]["id"] == "A-2"
    [deal] = shown["opportunities"]
    assert (deal["ref"], deal["name"], deal["amount"], deal["currency"]) == (
        "O-2", "Acme deal", 25_000.0, "USD"
    )  # fmt: skip
    assert "opportunity O-2 Acme deal USD 25,000.00" in leadbot("account", "show", "O-2")
