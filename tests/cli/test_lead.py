"""`leadbot lead <verb> …`: the Slack grammar from the command line, as the operator or a rep."""

from __future__ import annotations

from tests.cli.conftest import Leadbot
from tests.cli.helpers import add_lead, add_rep
from tests.cli.test_leads import LEAD_KEYS


def test_verbs_move_the_lead_and_say_so(leadbot: Leadbot) -> None:
    add_lead(leadbot.store, "jane@acme.io")
    assert leadbot("lead", "qualify", "L-1").stdout == "L-1 is now qualified\n"
    refused = leadbot("lead", "qualify", "L-1", code=1)
    assert refused.stderr.startswith("error: ") and "qualified" in refused.stderr
    done = leadbot.json("lead", "nurture", "L-1")
    assert list(done) == ["message", "lead", "leads"]
    assert done["message"] == "L-1 is now nurturing" and done["leads"] == []
    assert list(done["lead"]) == LEAD_KEYS and done["lead"]["status"] == "nurturing"
    assert leadbot.json("lead", "show", "L-1") == leadbot.json("leads", "show", "L-1")


def test_listings_print_one_line_per_lead(leadbot: Leadbot) -> None:
    add_lead(leadbot.store, "jane@acme.io", first_name="Jane", last_name="Doe", company="Acme")
    text = leadbot("lead", "search", "acme").stdout.splitlines()
    assert text[1:] == [f"  {'L-1':<7} {'new':<10} {'jane@acme.io':<32} Jane Doe Acme"]
    found = leadbot.json("lead", "search", "acme")
    assert found["lead"] is None and [row["id"] for row in found["leads"]] == ["L-1"]


def test_acting_as_a_rep_uses_the_reps_permissions(leadbot: Leadbot) -> None:
    add_rep(leadbot.store, "Ann Lee", "ann@yourco.com")
    add_lead(leadbot.store, "jane@acme.io")
    assert leadbot("lead", "mine", "--as", "ann@yourco.com").exit_code == 0
    assert leadbot("lead", "qualify", "L-1", "--as", "ann@yourco.com", code=1).stderr.startswith(
        "error: "
    )
    nobody = leadbot("lead", "mine", "--as", "nobody@yourco.com", code=1)
    assert nobody.stderr == "error: no rep nobody@yourco.com (see leadbot reps list)\n"


def test_usage_errors_exit_2_and_help_prints_the_grammar(leadbot: Leadbot) -> None:
    assert leadbot("lead", code=2).stderr.startswith("error: ")
    assert leadbot("lead", "frobnicate", "L-1", code=2).stderr.startswith("error: ")
    assert "qualify" in leadbot("lead", "help").stdout
    assert leadbot("lead", "qualify", "L-99", code=1).stderr.startswith("error: ")
