"""`notdup` outlives a merge and its undo, and a merge of a pair said to be different people
warns (issue 12, item 9). Real entry point, both stores."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_inbox import saved_mail
from tests.services.cli import base_env, run_cli


def test_notdup_is_remembered_through_merge_and_unmerge(database_url: str, tmp_path: Path) -> None:
    env = {**base_env(), "LEADBOT_DATABASE_URL": database_url, "COLUMNS": "200"}

    def leadbot(*args: str, code: int = 0) -> str:
        done = run_cli(list(args), tmp_path, env)
        assert done.returncode == code, f"{args}: {done.stdout}{done.stderr}"
        return done.stdout + done.stderr

    for name, sender in (("one", "Jane Doe <jane@acme.io>"), ("two", "Bob Roe <bob@initech.io>")):
        leadbot("inbox", "import", str(saved_mail(tmp_path, name, sender)))
    leadbot("lead", "notdup", "L-2", "L-1")
    merged = leadbot("lead", "merge", "L-2", "L-1")
    assert (
        "warning: cli:root said L-2 and L-1 are different people (notdup); merged anyway"
        in (merged)
        and "L-2 merged into L-1" in merged
    )
    leadbot("lead", "unmerge", "L-2")
    # Undone: the pair is not back in review, and a second merge still warns.
    assert json.loads(leadbot("dedupe", "review", "--json")) == []
    assert "different people (notdup)" in leadbot("lead", "merge", "L-2", "L-1")
