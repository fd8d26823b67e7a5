"""`leadbot reps …`: add and list reps, pause and resume them, change what assignment reads."""

from __future__ import annotations

from tests.cli.conftest import Leadbot

REP_KEYS = [
    "id", "name", "email", "role", "slack_user_id", "active", "created_at", "capacity", "paused",
    "timezone", "working_hours", "working_days", "out_of_office", "skills", "languages",
    "territories", "weight",
]  # fmt: skip


def test_add_and_list(leadbot: Leadbot) -> None:
    added = leadbot("reps", "add", "Ann Lee", "Ann@YourCo.com", "--role", "manager")
    assert added.stdout == "R-1 Ann Lee <ann@yourco.com> manager\n"
    bo = leadbot.json("reps", "add", "Bo Ek", "bo@yourco.com", "--capacity", "30", "--tz",
                      "Europe/Stockholm", "--hours", "08:00-16:30", "--days", "mon-fri",
                      "--languages", "SV,en", "--territories", "nordics", "--skills", "Robots",
                      "--weight", "2", "--slack-id", "U123")  # fmt: skip
    assert list(bo) == REP_KEYS
    assert {k: bo[k] for k in REP_KEYS if k != "created_at"} == {
        "id": "R-2", "name": "Bo Ek", "email": "bo@yourco.com", "role": "rep",
        "slack_user_id": "U123", "active": True, "capacity": 30, "paused": False,
        "timezone": "Europe/Stockholm", "working_hours": "08:00-16:30", "working_days": "mon-fri",
        "out_of_office": [], "skills": ["robots"], "languages": ["sv", "en"],
        "territories": ["nordics"], "weight": 2,
    }  # fmt: skip
    assert [r["email"] for r in leadbot.json("reps", "list")] == ["ann@yourco.com", "bo@yourco.com"]
    table = leadbot("reps", "list").stdout
    assert "Ann Lee" in table and "U123" in table and "yes" in table


def test_add_refuses_bad_values_and_a_second_rep_with_one_address(leadbot: Leadbot) -> None:
    assert leadbot("reps", "add", "A", "a@x.test", "--role", "boss", code=2).stderr == (
        "error: role must be rep, manager or admin\n"
    )
    assert leadbot("reps", "add", "A", "a@x.test", "--hours", "9 to 5", code=2).stderr
    assert leadbot("reps", "add", "A", "a@x.test", "--tz", "Mars/Base", code=2).stderr
    assert leadbot("reps", "add", "A", "a@x.test", "--weight", "0", code=2).stderr == (
        "error: weight is 1 or more\n"
    )
    leadbot("reps", "add", "A", "a@x.test")
    assert leadbot("reps", "add", "B", "a@x.test", code=1).stderr == (
        "error: a rep with email a@x.test exists already\n"
    )


def test_pause_resume_and_set(leadbot: Leadbot) -> None:
    leadbot("reps", "add", "Ann Lee", "ann@yourco.com")
    assert leadbot("reps", "pause", "R-1").stdout == (
        "R-1 Ann Lee <ann@yourco.com> paused, capacity 50, any time every day UTC\n"
    )
    assert leadbot.json("reps", "resume", "ann@yourco.com")["paused"] is False
    changed = leadbot.json("reps", "set", "Ann Lee", "--capacity", "5", "--ooo",
                           "2026-12-24..2026-12-31", "--inactive", "--hours", "09:00-17:00",
                           "--days", "mon-fri", "--tz", "Europe/Berlin")  # fmt: skip
    assert list(changed) == REP_KEYS
    assert (changed["capacity"], changed["out_of_office"], changed["active"]) == (
        5,
        ["2026-12-24..2026-12-31"],
        False,
    )
    assert leadbot("reps", "set", "R-1", "--active").stdout == (
        "R-1 Ann Lee <ann@yourco.com> active, capacity 5, 09:00-17:00 mon-fri Europe/Berlin\n"
    )
    assert leadbot("reps", "set", "R-1", "--capacity", "-1", code=1).stderr == (
        "error: capacity is a number of open leads, 0 or more\n"
    )
    assert leadbot("reps", "pause", "R-9", code=1).stderr.startswith("error: ")
