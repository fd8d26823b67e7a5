"""`leadbot events add`: a behaviour event recorded on a lead, for the scorer to count."""

from __future__ import annotations

import storage.timeline
from tests.cli.conftest import Leadbot
from tests.cli.helpers import add_lead


def test_record_an_event(leadbot: Leadbot) -> None:
    add_lead(leadbot.store, "jane@acme.io")
    done = leadbot("events", "add", "L-1", "page.visit", "--detail", "/pricing",
                   "--at", "2026-11-23T15:00:00Z")  # fmt: skip
    assert done.stdout == "page.visit recorded on L-1\n"
    with leadbot.store.reading() as session:
        [entry] = storage.timeline.for_lead(session, 1)
        assert (entry.actor, entry.data.get("detail")) == ("cli", "/pricing")


def test_unknown_kinds_and_leads_fail_and_the_help_names_the_kinds(leadbot: Leadbot) -> None:
    add_lead(leadbot.store, "jane@acme.io")
    assert leadbot("events", "add", "L-1", "teleport", code=1).stderr == (
        "error: kind must be one of page.visit, form.post, email.opened, email.clicked\n"
    )
    assert leadbot("events", "add", "L-9", "page.visit", code=1).stderr.startswith("error: ")
    assert (
        "page.visit, form.post, email.opened, email.clicked"
        in leadbot("events", "add", "--help").stdout
    )
