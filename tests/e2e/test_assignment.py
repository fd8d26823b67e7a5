"""Through the real `leadbot serve`: an email becomes an MQL and is assigned by the rules in
LEADBOT_RULES; an edit of the file takes effect without a restart; the CLI explains it all."""

from __future__ import annotations

import os
import smtplib
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import httpx
import pytest

from tests.services.bot import RunningBot, bot_env, running_bot

RULES = """
[scoring.points]
enquiry = 30
reply = 20
page_visit = 10

[mql]
min_score = 30
min_grade = "D"
enquiries_enter_queue = false

[[assignment.rule]]
name = "robots"
when = { product = ["robot arm"] }
rep = "ann@sales.test"
sla_minutes = 30

[[assignment.rule]]
name = "everyone else"
pool = ["bob@sales.test"]
"""


@pytest.fixture
def bot(database_url: str, tmp_path: Path) -> Iterator[RunningBot]:
    (tmp_path / "rules.toml").write_text(RULES)
    with running_bot(tmp_path, database_url, LEADBOT_RULES="rules.toml") as running:
        running.cli("reps", "add", "Ann Lee", "ann@sales.test", "--languages", "en,de")
        running.cli("reps", "add", "Bob Ray", "bob@sales.test")
        yield running


def send(bot: RunningBot, sender: str, body: str) -> None:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "leads@acme-leads.test"
    message["Subject"] = "A question"
    message["Message-ID"] = make_msgid(domain="acme.test")
    message.set_content(body)
    with smtplib.SMTP("127.0.0.1", bot.smtp_port, timeout=10) as client:
        client.send_message(message)


def owner_of(bot: RunningBot, email: str) -> str | None:
    for lead in bot.cli_json("leads", "list"):
        if lead["email"] == email:
            return lead["owner"]
    return None


def test_an_email_becomes_an_mql_and_is_assigned_by_the_rules(bot: RunningBot) -> None:
    send(bot, "Jane Doe <jane@acme.test>", "Do you sell a robot arm for welding?")
    assert bot.wait_until(lambda: owner_of(bot, "jane@acme.test")) == "ann@sales.test"
    [lead] = bot.cli_json("leads", "list")
    assert (lead["stage"], lead["score"]) == ("mql", 30)
    show = bot.cli_json("leads", "show", "L-1")
    kinds = [entry["kind"] for entry in show["timeline"]]
    assert kinds[-3:] == ["mql", "queued", "assigned"]
    assert show["timeline"][-1]["summary"] == (
        "assigned to Ann Lee by rule 'robots' (round robin); respond within 30 min"
    )

    explained = bot.cli("assign", "explain", "L-1").stdout
    assert "rule 'robots' matches: when product robot arm → ann@sales.test (SLA 30 min)" in (
        explained
    )
    why = bot.cli("lead", "why", "L-1").stdout
    assert "score 30, grade" in why and "enquiry    +30" in why
    report = bot.cli_json("assign", "report")
    assert [(row["name"], row["assigned"]) for row in report] == [("Ann Lee", 1), ("Bob Ray", 0)]


def test_editing_the_rules_file_takes_effect_without_a_restart(bot: RunningBot) -> None:
    rules = bot.workdir / "rules.toml"
    text = RULES.replace('rep = "ann@sales.test"', 'rep = "bob@sales.test"')
    rules.write_text(text)
    stat = rules.stat()
    os.utime(rules, (stat.st_atime, stat.st_mtime + 5))
    bot.wait_until(lambda: bot.log().count("rules loaded from rules.toml") == 2)
    send(bot, "Joe <joe@acme.test>", "Pricing for the robot arm?")
    assert bot.wait_until(lambda: owner_of(bot, "joe@acme.test")) == "bob@sales.test"

    # A broken edit is refused with its line; the last good rules stay in force.
    rules.write_text(text.replace('name = "robots"', 'name = "robots"\nstrategy = "coin"'))
    os.utime(rules, (stat.st_atime, stat.st_mtime + 10))
    bot.wait_until(lambda: "the last good rules stay in force" in bot.log())
    checked = bot.cli("rules", "check", check=False)
    assert checked.returncode == 1
    assert "rules.toml:14: assignment.rule[1].strategy: unknown strategy 'coin'" in checked.stderr
    send(bot, "Kim <kim@acme.test>", "And a robot arm for painting?")
    assert bot.wait_until(lambda: owner_of(bot, "kim@acme.test")) == "bob@sales.test"


def test_page_visits_reported_to_the_api_score_a_lead_into_the_queue(bot: RunningBot) -> None:
    rules = bot.workdir / "rules.toml"
    rules.write_text(RULES.replace("min_score = 30", "min_score = 45"))
    stat = rules.stat()
    os.utime(rules, (stat.st_atime, stat.st_mtime + 5))
    bot.wait_until(lambda: bot.log().count("rules loaded from rules.toml") == 2)
    send(bot, "Lee <lee@acme.test>", "Just browsing.")
    bot.wait_until(lambda: [lead["score"] for lead in bot.cli_json("leads", "list")] == [30])
    assert bot.cli_json("assign", "queue") == []
    bot.cli("reps", "pause", "bob@sales.test")  # so the MQL will wait
    denied = httpx.post(f"{bot.http_url}/api/events", json={"lead": "L-1", "kind": "page.visit"})
    assert denied.status_code == 401
    headers = {"Authorization": "Bearer test-secret"}
    for path in ("/pricing", "/demo"):
        response = httpx.post(f"{bot.http_url}/api/events", headers=headers,
                              json={"lead": "lee@acme.test", "kind": "page.visit",
                                    "detail": path})  # fmt: skip
        assert response.status_code == 202, response.text
    bad = httpx.post(f"{bot.http_url}/api/events", headers=headers,
                     json={"lead": "L-1", "kind": "sneeze"})  # fmt: skip
    assert bad.status_code == 400 and "kind must be one of" in bad.json()["error"]

    def queued() -> bool:
        return any(row["state"] == "waiting" for row in bot.cli_json("assign", "queue"))

    bot.wait_until(queued)
    assert "Bob Ray <bob@sales.test> (0/50): skipped: paused" in bot.cli(
        "assign", "explain", "L-1").stdout  # fmt: skip
    bot.cli("reps", "resume", "bob@sales.test")
    assert bot.wait_until(lambda: owner_of(bot, "lee@acme.test")) == "bob@sales.test"


def test_rep_commands_extend_the_json_shape(tmp_path: Path, database_url: str) -> None:
    env, smtp_port, http_port = bot_env(tmp_path, database_url)
    cli = RunningBot(tmp_path, env, smtp_port, http_port)
    options = [
        "--capacity",
        "5",
        "--tz",
        "Europe/Berlin",
        "--hours",
        "09:00-17:00",
        "--days",
        "mon-fri",
        "--skills",
        "Hardware",
        "--territories",
        "DE,AT",
        "--weight",
        "2",
    ]
    added = cli.cli_json("reps", "add", "Ann Lee", "ann@sales.test", *options)
    kept = {k: added[k] for k in ("id", "name", "email", "role", "active")}
    assert kept == {"id": "R-1", "name": "Ann Lee", "email": "ann@sales.test", "role": "rep",
                    "active": True}  # fmt: skip
    assert (added["capacity"], added["timezone"], added["working_hours"], added["working_days"],
            added["skills"], added["territories"], added["weight"]) == (
        5, "Europe/Berlin", "09:00-17:00", "mon-fri", ["hardware"], ["DE", "AT"], 2)  # fmt: skip
    assert cli.cli_json("reps", "pause", "ann@sales.test")["paused"] is True
    assert cli.cli_json("reps", "resume", "R-1")["paused"] is False
    changed = cli.cli_json("reps", "set", "Ann Lee", "--ooo", "2026-12-24..2026-12-31",
                           "--capacity", "9", "--inactive")  # fmt: skip
    assert (changed["out_of_office"], changed["capacity"], changed["active"]) == (
        ["2026-12-24..2026-12-31"], 9, False)  # fmt: skip
    bad = cli.cli("reps", "set", "R-1", "--tz", "Mars/Olympus", check=False)
    assert bad.returncode == 1 and "unknown time zone 'Mars/Olympus'" in bad.stderr
    bad = cli.cli("reps", "add", "X", "x@sales.test", "--hours", "nine to five", check=False)
    assert bad.returncode == 2 and "write them as 09:00-17:00" in bad.stderr
    assert [rep["name"] for rep in cli.cli_json("reps", "list")] == ["Ann Lee"]


def test_rules_check_prints_what_it_understood(tmp_path: Path, database_url: str) -> None:
    env, smtp_port, http_port = bot_env(tmp_path, database_url)
    cli = RunningBot(tmp_path, env, smtp_port, http_port)
    (tmp_path / "mine.toml").write_text(RULES)
    text = cli.cli("rules", "check", "mine.toml").stdout
    assert "1. robots: when product robot arm → ann@sales.test (SLA 30 min)" in text
    default = cli.cli("rules", "check").stdout
    assert "leadbot-rules.toml does not exist; the embedded default applies" in default
    (tmp_path / "bad.toml").write_text("[mql]\nmin_score = 'many'\n")
    bad = cli.cli("rules", "check", "bad.toml", check=False)
    assert bad.returncode == 1
    assert "bad.toml:2: mql.min_score: must be a number, not 'many'" in bad.stderr
