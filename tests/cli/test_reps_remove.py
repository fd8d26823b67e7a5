"""`leadbot reps remove` (issue 12, item 14): a rep with open leads is refused with the count
unless `--reassign` puts them back in the assignment queue. Real entry point, both stores."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_inbox import saved_mail
from tests.services.cli import base_env, run_cli


def test_a_rep_with_open_leads_is_removed_only_with_reassign(
    database_url: str, tmp_path: Path
) -> None:
    env = {**base_env(), "LEADBOT_DATABASE_URL": database_url, "COLUMNS": "200"}

    def leadbot(*args: str, code: int = 0) -> str:
        done = run_cli(list(args), tmp_path, env)
        assert done.returncode == code, f"{args}: {done.stdout}{done.stderr}"
        return done.stdout + done.stderr

    leadbot("reps", "add", "Ann Lee", "ann@yourco.com")
    leadbot("reps", "add", "Bo Typo", "bo@yourco.com", "--capacity", "0")
    leadbot("inbox", "import", str(saved_mail(tmp_path, "one")))  # the default rules queue it
    assert json.loads(leadbot("assign", "run", "--seed", "1", "--json"))["offered"] == 1
    assert json.loads(leadbot("leads", "show", "L-1", "--json"))["owner"] == "ann@yourco.com"

    refused = leadbot("reps", "remove", "Ann Lee", code=1)
    assert "R-1 Ann Lee has 1 open lead" in refused and "--reassign" in refused
    assert json.loads(leadbot("leads", "show", "L-1", "--json"))["owner"] == "ann@yourco.com"

    removed = json.loads(leadbot("reps", "remove", "ann@yourco.com", "--reassign", "--json"))
    assert (removed["removed"], removed["requeued"]) == ("deactivated", ["L-1"])  # it has history
    lead = json.loads(leadbot("leads", "show", "L-1", "--json"))
    assert lead["owner"] is None
    assert lead["timeline"][-1]["summary"] == "back in the assignment queue: Ann Lee was removed"
    assert "L-1" in leadbot("assign", "queue")
    # A rep nothing points at (added by mistake) is deleted; the first is kept, inactive.
    assert leadbot("reps", "remove", "R-2") == "R-2 Bo Typo removed (deleted)\n"
    reps = json.loads(leadbot("reps", "list", "--json"))
    assert [(rep["id"], rep["active"]) for rep in reps] == [("R-1", False)]
