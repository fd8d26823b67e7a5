"""`leadbot account show`: one company's account, leads, contacts and opportunities."""

from __future__ import annotations

from tests.cli.conftest import Leadbot
from tests.cli.helpers import add_lead


def test_a_company_before_and_after_a_conversion(leadbot: Leadbot) -> None:
    add_lead(leadbot.store, "jane@acme-robotics.io", first_name="Jane", company="Acme Robotics",
             company_domain="acme-robotics.io")  # fmt: skip
    before = leadbot.json("account", "show", "acme-robotics.io")
    assert list(before) == ["query", "account", "domain", "leads", "contacts", "opportunities"]
    assert before["account"] is None and [lead["id"] for lead in before["leads"]] == ["L-1"]
    text = leadbot("account", "show", "acme-robotics.io").stdout
    assert text.startswith("no account yet for 'acme-robotics.io' (nobody converted a lead there)")
    leadbot("lead", "convert", "L-1", "Acme robots", "48000")
    after = leadbot.json("account", "show", "acme-robotics.io")
    assert list(after["account"]) == ["id", "name", "domain", "owner"]
    assert after["account"]["id"] == "A-1"
    assert [list(c) for c in after["contacts"]] == [["id", "name", "email", "title", "lead"]]
    assert [list(o) for o in after["opportunities"]] == [
        ["id", "name", "amount", "stage", "close_date", "lead", "ref", "currency"]
    ]
    text = leadbot("account", "show", "A-1").stdout
    assert text.startswith("A-1 ") and "opportunity O-1 Acme robots 48,000.00" in text
    assert "contact Jane <jane@acme-robotics.io> from L-1" in text


def test_an_unknown_company_fails_in_text_and_is_empty_in_json(leadbot: Leadbot) -> None:
    assert leadbot("account", "show", "initech.test", code=1).stderr == (
        "error: no account or lead matches 'initech.test'\n"
    )
    assert leadbot.json("account", "show", "initech.test")["leads"] == []
