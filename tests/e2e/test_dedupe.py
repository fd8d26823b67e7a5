"""De-duplication end to end: mail over SMTP to the real `leadbot serve`, decisions from the
rules file (re-read while serve runs), and the CLI a rep or an operator uses on the result."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_email_to_lead import enquiry, send
from tests.services.bot import RunningBot, running_bot

SIGNED = """Hello, we need 40 robots for the new plant.

--
Jane Doe
Head of Operations, Acme Robotics
+1 415 555 0134
"""


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    path = tmp_path / "rules.toml"
    # Leads are assigned by hand here: enquiries wait for the MQL thresholds. Name and company
    # are left out of the match weight: the second address is likely, not sure.
    path.write_text(
        "[dedupe]\nauto_merge = 0.99\nreview = 0.60\n[dedupe.weights]\nname = 0\ncompany = 0\n"
        "[mql]\nenquiries_enter_queue = false\n"
    )
    return path


@pytest.fixture
def bot(database_url: str, tmp_path: Path, rules: Path) -> Iterator[RunningBot]:
    with running_bot(tmp_path, database_url, LEADBOT_RULES=str(rules)) as running:
        yield running


def active_leads(bot: RunningBot) -> list[dict]:
    return bot.cli_json("leads", "list")


def test_duplicates_are_flagged_or_merged_as_the_rules_file_says(
    bot: RunningBot, rules: Path
) -> None:
    send(bot, enquiry("Jane Doe <jane@acme-robotics.io>", SIGNED))
    bot.wait_until(lambda: len(active_leads(bot)) == 1)
    # auto_merge 0.99: the same person from a second address is only flagged.
    send(bot, enquiry("Jane Doe <jane.doe@acme-robotics.io>", "Any news?"))
    bot.wait_until(lambda: len(active_leads(bot)) == 2)
    second = bot.cli_json("leads", "show", "L-2")
    [flag] = second["duplicates"]
    assert (flag["other"], flag["state"]) == ("L-1", "open") and 60 <= flag["percent"] < 99
    assert f"possible duplicate of L-1 ({flag['percent']}%)" in [
        entry["summary"] for entry in second["timeline"]
    ]
    assert "possible duplicate of L-1" in bot.cli("leads", "show", "L-2").stdout

    # The operator decides: merge, then changes their mind.
    merged = bot.cli_json("lead", "merge", "L-2", "L-1")
    assert merged["message"].startswith("L-2 merged into L-1") and merged["lead"]["id"] == "L-1"
    assert [lead["id"] for lead in active_leads(bot)] == ["L-1"]
    assert bot.cli_json("leads", "show", "L-2")["merged_into"] == "L-1"
    refused = bot.cli("lead", "qualify", "L-2", check=False)
    assert refused.returncode == 1 and "L-2 was merged into L-1" in refused.stderr
    bot.cli("lead", "unmerge", "L-2")
    assert len(active_leads(bot)) == 2
    bot.cli("lead", "notdup", "L-2", "L-1")
    assert bot.cli_json("leads", "show", "L-2")["duplicates"] == []
    assert bot.cli_json("dedupe", "review") == []

    # The rules file changes while serve runs: the default auto_merge (0.85) merges at once.
    rules.write_text("[dedupe]\nauto_merge = 0.85\n")
    os.utime(rules, (time.time() + 5, time.time() + 5))  # a new mtime even within one tick
    send(bot, enquiry("Jane Doe <j.doe@acme-robotics.io>", "Please call me back"))
    bot.wait_until(lambda: bot.cli("leads", "show", "L-3", check=False).returncode == 0)
    # j.doe@ is closest to jane.doe@ (L-2): merged there, no third active lead.
    assert bot.cli_json("leads", "show", "L-3")["merged_into"] == "L-2"
    assert len(active_leads(bot)) == 2


def test_the_company_view_and_a_conversion_warning_the_siblings(bot: RunningBot) -> None:
    bot.cli("reps", "add", "Ann", "ann@sales.test")
    send(bot, enquiry("Jane Doe <jane@acme-robotics.io>", SIGNED))
    send(bot, enquiry("John Roe <john@acme-robotics.io>", "Pricing for the EU plant?"))
    send(bot, enquiry("Jo Private <jo@gmail.com>", "Hi"))
    bot.wait_until(lambda: len(active_leads(bot)) == 3)
    bot.cli("lead", "assign", "L-1", "ann@sales.test")
    bot.cli("lead", "qualify", "L-1", "--as", "ann@sales.test")
    bot.cli("lead", "convert", "L-1", "Acme robots", "48000", "--as", "ann@sales.test")

    company = bot.cli_json("account", "show", "acme-robotics.io")
    assert company["account"]["name"] == "Acme Robotics" and company["account"]["owner"] == (
        "ann@sales.test"
    )
    assert [lead["id"] for lead in company["leads"]] == ["L-1", "L-2"]  # not the gmail user
    assert [c["lead"] for c in company["contacts"]] == ["L-1"]
    assert [(o["name"], o["amount"]) for o in company["opportunities"]] == [("Acme robots", 48000)]
    john = bot.cli_json("leads", "show", "L-2")
    assert john["account"] == company["account"]["id"]
    assert john["proposed_owner"] == "ann@sales.test"
    assert any(e["kind"] == "company.converted" for e in john["timeline"])
    text = bot.cli("account", "show", "Acme Robotics Inc.").stdout
    assert "Acme Robotics" in text and "john@acme-robotics.io" in text

    # A newcomer from the customer's domain is linked at once, its owner proposed.
    send(bot, enquiry("Max Moe <max@acme-robotics.io>", "Do you have a reseller programme?"))
    bot.wait_until(lambda: len(active_leads(bot)) == 4)
    max_lead = bot.cli_json("leads", "show", "L-4")
    assert max_lead["proposed_owner"] == "ann@sales.test" and max_lead["account"]
    missing = bot.cli("account", "show", "initech.test", check=False)
    assert missing.returncode == 1 and "no account or lead matches" in missing.stderr
