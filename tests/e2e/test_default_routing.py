"""Through the real `leadbot serve` (issue 12, item 2): with the embedded rules an ordinary emailed
enquiry reaches a rep; a lead that is not queued says why (`assign explain`, `lead why`, `assign
run`); and a rules edit re-evaluates the leads already stored, with no new event on them."""

from __future__ import annotations

import os
import smtplib
from email.message import EmailMessage
from pathlib import Path

from tests.services.bot import RunningBot, running_bot

STRICT = """\
[mql]
min_score = 1000
enquiries_enter_queue = false
"""
# Lower: the stored 25-point enquiry passes now.
LOWER = """\
[mql]
min_score = 20
min_grade = "D"
enquiries_enter_queue = false
"""


def send(bot: RunningBot, sender: str, body: str) -> None:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "leads@acme-leads.test"
    message["Subject"] = "A question"
    message.set_content(body)
    with smtplib.SMTP("127.0.0.1", bot.smtp_port, timeout=10) as client:
        client.send_message(message)


def lead_of(bot: RunningBot, email: str) -> dict | None:
    return next((lead for lead in bot.cli_json("leads", "list") if lead["email"] == email), None)


def edit(bot: RunningBot, rules: Path, text: str, loads: int) -> None:
    rules.write_text(text)
    stat = rules.stat()
    os.utime(rules, (stat.st_atime, stat.st_mtime + 5 * loads))
    bot.wait_until(lambda: bot.log().count(f"rules loaded from {rules}") == loads)


def test_default_rules_route_an_enquiry_and_a_rules_edit_reaches_stored_leads(
    database_url: str, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.toml"  # not there yet: the embedded default applies
    with running_bot(tmp_path, database_url, LEADBOT_RULES=str(rules)) as bot:
        bot.cli("reps", "add", "Ann Lee", "ann@sales.test")
        send(bot, "Jane Roe <jane@acme.io>", "Can you send pricing for 40 seats?")
        jane = bot.wait_until(lambda: (lead_of(bot, "jane@acme.io") or {}).get("owner"))
        assert jane == "ann@sales.test"

        edit(bot, rules, STRICT, loads=1)
        send(bot, "Joe Bloggs <joe@globex.io>", "What does it cost?")
        bot.wait_until(lambda: (lead_of(bot, "joe@globex.io") or {}).get("score"))
        joe = lead_of(bot, "joe@globex.io")
        assert joe is not None and joe["owner"] is None
        ref = joe["id"]
        assert ref not in [item["lead"] for item in bot.cli_json("assign", "queue")]
        not_queued = "queue: not queued: not an MQL (score 25 < 1000"
        assert not_queued in bot.cli("assign", "explain", ref).stdout
        assert not_queued in bot.cli("lead", "why", ref).stdout
        ran = bot.cli("assign", "run").stdout
        assert "offered 0" in ran
        assert f"{ref}: not queued: not an MQL" in ran and f"assign explain {ref}" in ran

        # The edit alone (no new mail, no event on the lead) puts the stored lead in the queue.
        edit(bot, rules, LOWER, loads=2)
        assert bot.wait_until(lambda: lead_of(bot, "joe@globex.io")["owner"]) == "ann@sales.test"
        assert lead_of(bot, "joe@globex.io")["stage"] == "mql"
