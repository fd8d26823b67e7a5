"""`leadbot assign …`: run the queue, explain a decision, report on the spread, list the queue."""

from __future__ import annotations

from tests.cli.conftest import Leadbot
from tests.cli.helpers import add_lead


def test_run_queue_report_and_explain(leadbot: Leadbot) -> None:
    leadbot("reps", "add", "Ann Lee", "ann@yourco.com")
    add_lead(leadbot.store, "jane@acme.io")
    ran = leadbot.json("assign", "run", "--seed", "1", "--now", "2026-11-23T15:00:00Z")
    assert list(ran) == ["scored", "offered", "reassigned", "waiting"]
    text = leadbot("assign", "run").stdout
    assert text.startswith("scored ") and ", offered " in text and ", waiting " in text
    assert leadbot.json("assign", "queue") == leadbot.json("assign", "queue", "--state", "waiting")
    assert "lead" in leadbot("assign", "queue").stdout
    [row] = leadbot.json("assign", "report", "--last", "3")
    assert list(row) == ["rep", "name", "email", "assigned", "open", "capacity", "last"]
    assert (row["rep"], row["capacity"]) == ("R-1", 50)
    assert "Ann Lee" in leadbot("assign", "report").stdout
    explained = leadbot("assign", "explain", "L-1", "--now", "2026-11-23T15:00:00")
    assert "Ann Lee <ann@yourco.com>" in explained.stdout


def test_bad_times_and_unknown_leads_fail(leadbot: Leadbot) -> None:
    assert leadbot("assign", "run", "--now", "tomorrow", code=2).stderr == (
        "error: 'tomorrow' is not a time: use 2026-11-23T15:00:00Z\n"
    )
    assert leadbot("assign", "explain", "L-9", code=1).stderr.startswith("error: ")
