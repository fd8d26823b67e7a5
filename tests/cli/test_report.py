"""`leadbot report …` over a store with a known history (tests/reports/history.py): a table, JSON
and CSV of the same figures, the filters, clear errors for bad options, and dashboard links."""

from __future__ import annotations

import csv
import io

from tests.cli.conftest import Leadbot
from tests.reports.history import build

WINDOW = ("--since", "2026-10-01", "--until", "2026-12-01")


def test_reports_as_table_json_and_csv(leadbot: Leadbot) -> None:
    build(leadbot.store)
    data = leadbot.json("report", "funnel", *WINDOW)
    assert data["report"] == "funnel" and data["by"] == "week"
    assert data["rows"][-1]["period"] == "total" and data["rows"][-1]["leads"] == 7
    rows = list(csv.DictReader(io.StringIO(leadbot("report", "speed", *WINDOW, "--csv").stdout)))
    assert [(r["by"], r["key"], r["leads"], r["p50_work_seconds"]) for r in rows[:3]] == [
        ("all", "all", "5", "5400.0"), ("rep", "ann", "3", "5400.0"), ("rep", "bob", "2", "1800.0")
    ]  # fmt: skip
    table = leadbot("report", "reps", *WINDOW).stdout
    assert "ann" in table and "65d" not in table and "2d 17h" in table  # Ann's p50, wall clock
    bob = leadbot.json("report", "reps", *WINDOW, "--rep", "bob")
    assert [row["rep"] for row in bob["rows"]] == ["bob"]
    months = leadbot.json("report", "funnel", *WINDOW, "--by", "month", "--source", "email")
    assert [(r["period"], r["leads"]) for r in months["rows"]] == [("2026-11-01", 4), ("total", 4)]
    for name in ("sources", "aging", "campaigns"):
        assert leadbot.json("report", name, *WINDOW)["report"] == name


def test_bad_options_get_clear_errors(leadbot: Leadbot) -> None:
    assert (
        "use one of day, week, month" in leadbot("report", "funnel", "--by", "year", code=2).stderr
    )
    assert "not a time" in leadbot("report", "funnel", "--since", "soon", code=2).stderr
    assert (
        "--until must come after"
        in leadbot(
            "report", "funnel", "--since", "2026-12-01", "--until", "2026-11-01", code=2
        ).stderr
    )
    assert "no rep nobody" in leadbot("report", "reps", "--rep", "nobody", code=1).stderr
    assert "at most 365 days" in leadbot("report", "link", "--days", "400", code=2).stderr


def test_links_are_listed_and_revoked(leadbot: Leadbot) -> None:
    made = leadbot.json("report", "link", "--days", "2")
    assert "/reports?t=" in made["url"]
    assert [link["state"] for link in leadbot.json("report", "links")] == ["active"]
    leadbot("report", "revoke", str(made["id"]))
    assert [link["state"] for link in leadbot.json("report", "links")] == ["revoked"]
    assert "no active link" in leadbot("report", "revoke", str(made["id"]), code=1).stderr
    assert "roll-up rebuilt: 0 leads" in leadbot("report", "rebuild").stdout
