"""`leadbot dedupe scan|review`: duplicates across the store, and the pairs waiting for a person."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bot.leads.reply_address import new_reply_token
from storage.engine import Store
from storage.models import Lead
from tests.cli.conftest import Leadbot
from tests.cli.helpers import add_lead

REPO = Path(__file__).resolve().parents[2]


def test_the_cli_scan_prints_json_and_keeps_apart_what_a_person_separated(
    database_url: str, store: Store, tmp_path: Path
) -> None:
    with store.transaction() as session:
        for email in ("jane@acme.io", "jane.doe@acme.io", "jd@gmail.com"):
            session.add(Lead(email=email, first_name="Jane", last_name="Doe", company="Acme",
                             phone="+1 415 555 0134", reply_token=new_reply_token()))  # fmt: skip
    env = {"LEADBOT_DATABASE_URL": database_url, "PYTHONPATH": str(REPO), "PATH": "/usr/bin"}

    def leadbot(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120, check=True)  # fmt: skip

    leadbot("lead", "notdup", "L-3", "L-1")
    leadbot("lead", "notdup", "L-3", "L-2")
    report = json.loads(leadbot("dedupe", "scan", "--apply", "--json").stdout)
    assert report["clusters"] == [["L-1", "L-2"]] and report["merged"] == 1
    assert (
        report["review_file"] == "dedupe-review.csv" and (tmp_path / "dedupe-review.csv").exists()
    )
    shown = json.loads(leadbot("leads", "show", "L-2", "--json").stdout)
    assert shown["merged_into"] == "L-1"
    text = leadbot("dedupe", "scan").stdout
    assert "2 leads scanned" in text and "0 sure duplicates" in text


def test_review_lists_the_flagged_pairs_until_a_person_decides(leadbot: Leadbot) -> None:
    add_lead(leadbot.store, "jane@acme.io", first_name="Jane", last_name="Doe", company="Acme")
    add_lead(leadbot.store, "jd@gmail.com", first_name="Jane", last_name="Doe", company="Acme")
    assert leadbot("dedupe", "review").stdout == "no pairs waiting for review\n"
    scanned = leadbot("dedupe", "scan", "--review", "pairs.csv")
    assert scanned.stdout.startswith("2 leads scanned in ")
    assert scanned.stdout.endswith("review list: pairs.csv\n")
    assert (leadbot.workdir / "pairs.csv").read_text().startswith("decision,lead,other,percent,")
    [pair] = leadbot.json("dedupe", "review")
    assert list(pair) == ["lead", "other", "score", "percent", "state", "found_by", "reasons",
                          "lead_email", "other_email"]  # fmt: skip
    assert (pair["lead"], pair["other"], pair["state"]) == ("L-2", "L-1", "open")
    assert leadbot("dedupe", "review").stdout == (
        f"L-2 jd@gmail.com looks {pair['percent']}% like L-1 jane@acme.io: "
        "leadbot lead merge|notdup L-2 L-1\n"
    )
    assert leadbot.json("dedupe", "review", "--limit", "0") == []
    leadbot("lead", "notdup", "L-2", "L-1")
    assert leadbot.json("dedupe", "review") == []


def test_train_fits_and_saves_the_model_and_why_duplicate_shows_its_waterfall(
    leadbot: Leadbot,
) -> None:
    add_lead(leadbot.store, "jane@acme.io", first_name="Jane", last_name="Doe", company="Acme",
             phone="+1 415 555 0134")  # fmt: skip
    add_lead(leadbot.store, "jd@gmail.com", first_name="Jnae", last_name="Doe", company="Acme",
             phone="415 555 0134")  # fmt: skip
    trained = leadbot.json("dedupe", "train")
    assert (trained["model"], trained["leads"]) == (1, 2)
    assert trained["weights"][0].startswith("prior ")
    assert leadbot.json("dedupe", "train", "--if-grown") is None  # too few leads to refit
    text = leadbot("lead", "why-duplicate", "L-2", "L-1").stdout
    assert text.startswith("L-2 against L-1, with the model trained on 2 leads:")
    assert "phone without area code +" in text and "match probability" in text
