"""`leadbot privacy`, `leadbot retention` and `leadbot hygiene` as a user types them."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

import storage.leads
from storage.models import Lead, utcnow
from tests.cli.conftest import Leadbot
from tests.factories import add_indexed_lead

RULES = "[retention]\nstale_months = 6\ntrashed_days = 30\n"


def seed(leadbot: Leadbot) -> None:
    old = utcnow() - timedelta(days=400)
    with leadbot.store.transaction() as session:
        add_indexed_lead(session, "jane@acme.io", first_name="Jane", company="Acme")
        gone = add_indexed_lead(session, "bo@bounce.test", company_domain="bounce.test")
        gone.email_status = "bounced"
        add_indexed_lead(session, "al@bounce.test", company_domain="bounce.test")
        quiet = add_indexed_lead(session, "quiet@calm.test")
        quiet.last_activity_at = old
        trashed = add_indexed_lead(session, "junk@spam.test")
        trashed.status, trashed.updated_at, trashed.last_activity_at = "trashed", old, old
        session.add_all([gone, quiet, trashed])


def test_export_erase_and_the_log(leadbot: Leadbot) -> None:
    seed(leadbot)
    bundle = json.loads(leadbot("privacy", "export", "jane@acme.io").stdout)
    assert bundle["leads"] == ["L-1"] and bundle["places"]["leads"][0]["first_name"] == "Jane"
    out = leadbot.workdir / "jane.json"
    leadbot("privacy", "export", "L-1", "--out", str(out))
    assert json.loads(out.read_text())["addresses"] == ["jane@acme.io"]
    done = leadbot.json("privacy", "erase", "L-1", "--reason", "asked by mail")
    assert done["leads"] == ["L-1"] and done["suppressed"] and done["rows"]["leads"] == 1
    missing = leadbot("privacy", "erase", "jane@acme.io", "--reason", "again", code=1)
    assert "nothing is held about jane@acme.io" in missing.stderr
    leadbot("privacy", "erase", "L-2", "--reason", " ", code=2)
    log = leadbot.json("privacy", "log")
    assert [(e["action"], e["reason"]) for e in log] == [("erase", "asked by mail"),
                                                         ("export", f"--out {out}"),
                                                         ("export", "--out -")]  # fmt: skip


def test_retention_dry_run_then_run_and_the_hygiene_report(
    leadbot: Leadbot, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(leadbot)
    (leadbot.workdir / "rules.toml").write_text(RULES)
    monkeypatch.setenv("LEADBOT_RULES", str(leadbot.workdir / "rules.toml"))
    dry = leadbot.json("retention", "run", "--dry-run")
    assert dry["dry_run"] and {r["rule"]: r["count"] for r in dry["rules"]} == {
        "trashed_days": 1, "stale_months": 1}  # fmt: skip
    assert "would remove" in leadbot("retention", "run", "--dry-run").stdout
    with leadbot.store.reading() as session:
        assert storage.leads.by_id(session, 5).email == "junk@spam.test"  # type: ignore[union-attr]
    leadbot("retention", "run")
    with leadbot.store.reading() as session:
        junk = storage.leads.by_id(session, 5)
        assert isinstance(junk, Lead) and junk.email == "" and junk.erased_at is not None
    report = leadbot.json("hygiene", "report")
    assert [r["email"] for r in report["bounced"]] == ["bo@bounce.test"]
    assert [r["email"] for r in report["colleagues_of_bounces"]] == ["al@bounce.test"]
    assert [r["email"] for r in report["stale"]] == ["quiet@calm.test"]
    assert "Stale leads" in leadbot("hygiene", "report").stdout


def test_retention_without_rules_says_so(leadbot: Leadbot) -> None:
    assert "no [retention] rules" in leadbot("retention", "run", code=2).stderr
