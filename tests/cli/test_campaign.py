"""`leadbot campaign …`: create, list, preview and report on nurture campaigns (sending runs end
to end in tests/e2e/test_nurture.py, against a real SMTP sink)."""

from __future__ import annotations

from email import message_from_bytes

import storage.reps
from tests.cli.conftest import Leadbot
from tests.cli.helpers import add_lead, add_rep

CAMPAIGN_KEYS = ["name", "state", "templates", "segment", "sender", "steps", "created_at"]


def test_create_and_list(leadbot: Leadbot) -> None:
    text = leadbot("campaign", "create", "spring", "--step", "welcome:0", "--step", "followup:3d")
    assert text.stdout.startswith("campaign spring created (draft): ")
    assert "welcome after " in text.stdout and "followup after 3d" in text.stdout
    made = leadbot.json("campaign", "create", "autumn", "--step", "welcome:0", "--grade", "A,B",
                        "--status", "any", "--from", "news@yourco.com")  # fmt: skip
    assert list(made) == CAMPAIGN_KEYS
    assert made["steps"] == [{"template": "welcome", "delay_seconds": 0}]
    assert (made["state"], made["templates"], made["sender"]) == (
        "draft",
        "email/nurture/example",
        "news@yourco.com",
    )
    assert made["segment"]["grade"] == ["A", "B"] and made["segment"]["status"] == []
    listed = leadbot.json("campaign", "list")
    assert [c["name"] for c in listed] == ["spring", "autumn"] and list(listed[0]) == CAMPAIGN_KEYS
    assert "spring" in leadbot("campaign", "list").stdout


def test_create_refuses_what_cannot_run(leadbot: Leadbot) -> None:
    leadbot("campaign", "create", "spring", "--step", "welcome:0")
    assert leadbot("campaign", "create", "spring", "--step", "welcome:0", code=1).stderr == (
        "error: a campaign named 'spring' exists\n"
    )
    assert leadbot("campaign", "create", "x", "--step", "welcome:soon", code=2).stderr
    nope = leadbot("campaign", "create", "x", "--step", "welcome:0", "--template-set", "nope",
                   code=1)  # fmt: skip
    assert nope.stderr.startswith("error: no template set 'nope'; built in: ")
    assert leadbot("campaign", "create", "x", "--step", "missing:0", code=1).stderr.startswith(
        "error: step 'missing': templates missing or broken"
    )
    assert leadbot("campaign", "stats", "nope", code=1).stderr == (
        "error: no campaign named 'nope' (see `leadbot campaign list`)\n"
    )


def test_preview_writes_one_leads_email(leadbot: Leadbot) -> None:
    add_rep(leadbot.store, "Ann Lee", "ann@yourco.com")
    add_lead(leadbot.store, "jane@acme.io", first_name="Jane", last_name="Doe", owner_id=1)
    leadbot("campaign", "create", "spring", "--step", "welcome:0", "--step", "followup:3d")
    eml = leadbot.workdir / "jane.eml"
    done = leadbot("campaign", "preview", "spring", "--lead", "L-1", "--out", str(eml))
    assert done.stdout.startswith(f"wrote {eml}: ")
    message = message_from_bytes(eml.read_bytes())
    assert message["To"] == "Jane Doe <jane@acme.io>" and message["List-Unsubscribe"]
    html = leadbot.workdir / "jane.html"
    leadbot("campaign", "preview", "spring", "--lead", "jane@acme.io", "--out", str(html),
            "--step", "2")  # fmt: skip
    assert "<html" in html.read_text().lower()
    assert leadbot("campaign", "preview", "spring", "--lead", "L-1", "--out", str(html),
                   "--step", "3", code=1).stderr == "error: spring has steps 1 to 2\n"  # fmt: skip


def test_stats_and_signature(leadbot: Leadbot) -> None:
    leadbot("campaign", "create", "spring", "--step", "welcome:0")
    stats = leadbot.json("campaign", "stats", "spring")
    assert list(stats) == [
        "campaign", "state", "planned", "sent", "delivered", "bounced", "failed", "pending",
        "unknown", "skipped", "opened_human", "opened_machine", "clicked", "clicked_scanner",
        "replied", "opted_out",
    ]  # fmt: skip
    assert "opened human" in leadbot("campaign", "stats", "spring").stdout
    add_rep(leadbot.store, "Ann Lee", "ann@yourco.com")
    assert leadbot("campaign", "signature", "ann@yourco.com", "Ann\\nSales").stdout == (
        "signature of ann@yourco.com set\n"
    )
    with leadbot.store.reading() as session:
        rep = storage.reps.by_email(session, "ann@yourco.com")
        assert rep is not None and rep.signature == "Ann\nSales"
    assert leadbot("campaign", "signature", "bo@yourco.com", "x", code=1).stderr == (
        "error: no rep with the email 'bo@yourco.com'\n"
    )
