"""`leadbot leads list|show`: the listings and their `--json` shape."""

from __future__ import annotations

from tests.cli.conftest import Leadbot
from tests.cli.helpers import add_lead, add_rep

LEAD_KEYS = [
    "id", "email", "first_name", "last_name", "company", "title", "phone", "website", "street",
    "city", "state", "postal_code", "country", "language", "industry", "company_size", "source",
    "status", "stage", "score", "grade", "email_status", "trash_reason", "owner", "custom",
    "enquiry", "version", "merged_into", "account", "company_domain", "created_at", "updated_at",
    "erased_at", "stale_since",
]  # fmt: skip


def test_list_oldest_first_with_filters_and_the_json_shape(leadbot: Leadbot) -> None:
    add_rep(leadbot.store, "Ann Lee", "ann@yourco.com")
    add_lead(leadbot.store, "jane@acme.io", first_name="Jane", last_name="Doe", company="Acme",
             owner_id=1)  # fmt: skip
    add_lead(leadbot.store, "bob@globex.test", status="working")
    rows = leadbot.json("leads", "list")
    assert [list(row) for row in rows] == [LEAD_KEYS, LEAD_KEYS]
    assert [(r["id"], r["email"], r["owner"]) for r in rows] == [
        ("L-1", "jane@acme.io", "ann@yourco.com"),
        ("L-2", "bob@globex.test", None),
    ]
    assert [r["id"] for r in leadbot.json("leads", "list", "--status", "working")] == ["L-2"]
    assert [r["id"] for r in leadbot.json("leads", "list", "--limit", "1")] == ["L-1"]
    assert [r["id"] for r in leadbot.json("leads", "list", "--offset", "1")] == ["L-2"]
    table = leadbot("leads", "list").stdout
    assert "jane@acme.io" in table and "Jane Doe" in table and "ann@yourco.com" in table
    for column in ("id", "email", "name", "company", "status", "stage", "owner", "created"):
        assert column in table.splitlines()[1]


def test_show_one_lead_with_timeline_by_label_number_or_address(leadbot: Leadbot) -> None:
    add_lead(leadbot.store, "jane@acme.io", first_name="Jane", company="Acme",
             enquiry="Please call me.\nThanks")  # fmt: skip
    shown = leadbot.json("leads", "show", "L-1")
    assert list(shown) == [*LEAD_KEYS, "proposed_owner", "duplicates", "timeline", "attribution"]
    assert (shown["proposed_owner"], shown["duplicates"], shown["timeline"]) == (None, [], [])
    assert leadbot.json("leads", "show", "1") == shown
    assert leadbot.json("leads", "show", "jane@acme.io") == shown
    text = leadbot("leads", "show", "L-1").stdout.splitlines()
    assert text[0] == "L-1 Jane <jane@acme.io>"
    assert "  company         Acme" in text and "  status          new" in text
    assert text[-4:] == ["  enquiry", "    Please call me.", "    Thanks", "  timeline"]


def test_show_an_unknown_lead_fails(leadbot: Leadbot) -> None:
    missing = leadbot("leads", "show", "L-9", code=1)
    assert missing.stdout == "" and missing.stderr.startswith("error: ")
