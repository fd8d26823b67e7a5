"""`leadbot intake …`: held captures and unreadable mail listed together, approved, rejected."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

import storage.inbox
from bot.cli import cli, output
from bot.mail_in.inbox import accept_raw
from storage.engine import Store

HOLD_KEYS = [
    "id", "kind", "state", "at", "channel", "from", "title", "reasons", "checks", "source_key",
    "draft", "inbound_message", "lead", "decided_by", "decided_at", "note",
]  # fmt: skip
MESSAGE_KEYS = [
    "id", "kind", "state", "at", "channel", "from", "title", "reasons", "error", "inbound_message",
]  # fmt: skip


@dataclass
class Leadbot:
    """`leadbot …` run in-process with typer's runner, as a user types it."""

    store: Store
    workdir: Path
    runner: CliRunner

    def __call__(self, *args: str, code: int = 0) -> Result:
        result = self.runner.invoke(cli, list(args), prog_name="leadbot")
        if result.exit_code != code:
            raise AssertionError(
                f"leadbot {' '.join(args)} exited {result.exit_code}, not {code}:\n"
                f"{result.stdout}{result.stderr}"
            ) from result.exception
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json").stdout)

    def mail(self, sender: str, subject: str = "Enquiry", name: str = "a") -> Path:
        message = EmailMessage()
        message["From"] = sender
        message["To"] = "leads@localhost"
        message["Subject"] = subject
        message["Message-ID"] = f"<{name}@test>"
        message.set_content("Please call me about a demo.")
        path = self.workdir / f"{name}.eml"
        path.write_bytes(message.as_bytes())
        return path


@pytest.fixture
def leadbot(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Leadbot]:
    """`leadbot` on a migrated SQLite file, in an empty folder, with no other LEADBOT_* set."""
    for key in [key for key in os.environ if key.startswith("LEADBOT_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("LEADBOT_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("LEADBOT_SECRET_KEY", "test-secret")
    monkeypatch.setenv("COLUMNS", "250")  # rich tables wide enough that no cell is cut
    for console in (output.out, output.err):  # read COLUMNS at first import (tests/cli/conftest)
        monkeypatch.setattr(console, "_width", 250)
    monkeypatch.setenv("USER", "ann")
    monkeypatch.chdir(tmp_path)
    store = Store(sqlite_url)
    yield Leadbot(store, tmp_path, CliRunner())
    store.dispose()


def unreadable(leadbot: Leadbot) -> int:
    """A mail the inbox quarantined (as after a failure it could not get past), retryable."""
    row = accept_raw(leadbot.store, leadbot.mail("Bob <bob@globex.test>", name="bob").read_bytes(),
                     channel="smtp", mail_from="bob@globex.test")  # fmt: skip
    with leadbot.store.transaction() as session:
        message = storage.inbox.by_id(session, row.id or 0)
        assert message is not None
        storage.inbox.quarantine(session, message, "OperationalError: the disk was full\n\ntrace")
    return row.id or 0


def test_held_captures_and_unreadable_mail_are_listed_together(leadbot: Leadbot) -> None:
    assert leadbot("intake", "quarantined").stdout == "nothing in the quarantine\n"
    leadbot("inbox", "import", str(leadbot.mail("Spam Bot <bot@mailinator.com>", "Cheap")))
    message_id = unreadable(leadbot)
    rows = leadbot.json("intake", "quarantined")
    assert [list(row) for row in rows] == [HOLD_KEYS, MESSAGE_KEYS]
    hold, message = rows
    assert (hold["id"], hold["kind"], hold["state"], hold["channel"]) == (
        "H-1", "hold", "held", "email")  # fmt: skip
    # mailinator.com is a free-mail domain too: the flood key is the address.
    assert (hold["from"], hold["title"], hold["source_key"]) == (
        "bot@mailinator.com", "Cheap", "bot@mailinator.com")  # fmt: skip
    assert hold["reasons"] == ["disposable: mailinator.com is a disposable-mail domain"]
    assert hold["checks"] == ["disposable"]
    assert hold["draft"]["email"] == "bot@mailinator.com"
    assert hold["draft"]["first_name"] == "Spam" and "demo" in hold["draft"]["enquiry"]
    assert hold["inbound_message"] == 1 and hold["lead"] is None
    assert (message["id"], message["kind"], message["state"], message["from"]) == (
        f"M-{message_id}", "message", "quarantined", "bob@globex.test")  # fmt: skip
    assert message["reasons"] == ["OperationalError: the disk was full"]
    [inbox] = leadbot.json("inbox", "quarantined")  # the inbox's own list is as it was
    assert inbox["id"] == message_id
    table = leadbot("intake", "quarantined").stdout
    assert "H-1" in table and "bot@mailinator.com" in table and "disposable-mail" in table
    assert f"M-{message_id}" in table and "the disk was full" in table
    [mail] = [m for m in leadbot.json("inbox", "list") if m["id"] == 1]
    assert (mail["state"], mail["classification"]) == ("done", "held")


def test_approving_a_hold_prints_the_lead_and_its_timeline_says_why(leadbot: Leadbot) -> None:
    leadbot("inbox", "import", str(leadbot.mail("Spam Bot <bot@mailinator.com>", "Cheap")))
    assert leadbot("intake", "approve", "H-1").stdout == (
        "H-1 approved: L-1 bot@mailinator.com (a new lead)\n")  # fmt: skip
    assert leadbot.json("intake", "quarantined") == []
    shown = leadbot.json("leads", "show", "L-1")
    assert [e["kind"] for e in shown["timeline"]] == ["created", "email.enquiry", "intake.approved"]
    last = shown["timeline"][-1]
    assert last["actor"] == "cli:ann"
    assert "held: disposable: mailinator.com is a disposable-mail domain" in last["summary"]
    [mail] = leadbot.json("inbox", "list")
    assert (mail["classification"], mail["lead"]) == ("enquiry", "L-1")

    leadbot("inbox", "import", str(leadbot.mail("Bot <bot2@mailinator.com>", name="b")))
    approved = leadbot.json("intake", "approve", "h2")
    assert (approved["id"], approved["state"], approved["created"]) == ("H-2", "approved", True)
    assert approved["lead"]["id"] == "L-2" and approved["lead"]["email"] == "bot2@mailinator.com"


def test_rejecting_a_hold_keeps_it_with_who_and_why(leadbot: Leadbot) -> None:
    leadbot("inbox", "import", str(leadbot.mail("Spam Bot <bot@mailinator.com>", "Cheap")))
    assert leadbot("intake", "reject", "H-1", "--reason", "spam").stdout == (
        "H-1 rejected by cli:ann: spam\n")  # fmt: skip
    assert leadbot.json("intake", "quarantined") == []
    assert leadbot.json("leads", "list") == []
    leadbot("inbox", "import", str(leadbot.mail("Bot <bot2@mailinator.com>", name="b")))
    rejected = leadbot.json("intake", "reject", "H-2")
    assert (rejected["state"], rejected["decided_by"], rejected["note"]) == (
        "rejected", "cli:ann", "")  # fmt: skip


def test_approving_a_mail_retries_it_and_rejecting_one_keeps_it(leadbot: Leadbot) -> None:
    first = unreadable(leadbot)
    assert leadbot("intake", "approve", f"M-{first}").stdout == (
        f"M-{first}: enquiry, L-1 bob@globex.test\n")  # fmt: skip
    [lead] = leadbot.json("leads", "list")
    assert lead["email"] == "bob@globex.test"

    nobody = accept_raw(leadbot.store, b"Subject: who\r\n\r\nhi\r\n", channel="smtp")
    leadbot("inbox", "process")
    again = leadbot("intake", "approve", f"M-{nobody.id}", code=1)  # still no sender
    why = "Unprocessable: no sender address to make a lead of"
    assert again.stdout == f"M-{nobody.id}: quarantined ({why})\n"
    rejected = leadbot.json("intake", "reject", f"M-{nobody.id}", "--reason", "no sender")
    assert (rejected["id"], rejected["state"]) == (f"M-{nobody.id}", "rejected")
    assert leadbot.json("intake", "quarantined") == []
    [kept] = [m for m in leadbot.json("inbox", "list") if m["id"] == nobody.id]
    assert (kept["state"], kept["reason"]) == ("rejected", "rejected by cli:ann: no sender")


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("approve", "L-1"), "'L-1' is not in the quarantine's terms: H-12"),
        (("approve", "H-9"), "no hold H-9"),
        (("reject", "H-1"), "H-1 was approved already, by cli:ann"),
        (("approve", "M-1"), "M-1 is not a quarantined message"),
        (("reject", "M-1"), "M-1 is not a quarantined message"),
    ],
)
def test_a_wrong_id_or_state_is_an_error_with_the_usage(
    leadbot: Leadbot, args: tuple[str, ...], error: str
) -> None:
    leadbot("inbox", "import", str(leadbot.mail("Spam Bot <bot@mailinator.com>", "Cheap")))
    leadbot("intake", "approve", "H-1")
    refused = leadbot("intake", *args, code=2)
    assert f"error: {error}" in refused.stderr
    assert f"usage: leadbot intake {args[0]} ID" in refused.stderr


def test_text_from_outside_is_printed_as_written_not_as_markup(leadbot: Leadbot) -> None:
    sender, subject = "[bold red]Boss[/] <bot@mailinator.com>", "[link=http://evil.test]x[/link]"
    leadbot("inbox", "import", str(leadbot.mail(sender, subject)))
    table = leadbot("intake", "quarantined").stdout
    assert "[link=http://evil.test]x[/link]" in table
    refused = leadbot("intake", "approve", "[red]H-1", code=2)
    assert "'[red]H-1' is not in the quarantine's terms" in refused.stderr


def failed_submissions(leadbot: Leadbot, monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    """`count` posts to a real form whose processing fails (the capture raises, as when the
    store falls over), left quarantined by the real processor with their error."""
    from bot.forms import process
    from bot.rules.file import default_rules
    from tests.forms.test_forms import make_form, post

    form = make_form(leadbot.store)
    for n in range(count):
        post(leadbot.store, form, email=f"jane{n}@acme.io", ip=f"192.0.2.{n + 1}")

    def broken(session: object, items: list[object], **kwargs: object) -> list[Exception]:
        failures: list[Exception] = []
        for _ in items:  # each item's exception, raised and caught, as capture_many reports it
            try:
                raise RuntimeError("the store fell over")
            except RuntimeError as exc:
                failures.append(exc)
        return failures

    with monkeypatch.context() as patch:
        patch.setattr(process, "capture_batch", broken)
        process.FormProcessor(leadbot.store, default_rules).drain()


def test_a_failed_form_submission_is_in_the_quarantine_and_approvable_there(
    leadbot: Leadbot, monkeypatch: pytest.MonkeyPatch
) -> None:
    failed_submissions(leadbot, monkeypatch, 2)
    rows = leadbot.json("intake", "quarantined")
    shown = [(r["id"], r["kind"], r["state"], r["channel"], r["from"], r["title"]) for r in rows]
    assert shown == [
        ("F-1", "submission", "quarantined", "form", "jane0@acme.io", "demo-request"),
        ("F-2", "submission", "quarantined", "form", "jane1@acme.io", "demo-request"),
    ]  # fmt: skip
    assert rows[0]["reasons"] == ["RuntimeError: the store fell over"]
    assert "Traceback" in rows[0]["error"] and rows[0]["lead"] is None
    table = leadbot("intake", "quarantined").stdout
    assert "F-1" in table and "jane0@acme.io" in table and "the store fell over" in table

    approved = leadbot.json("intake", "approve", "F-1")  # processed again, now that it works
    assert (approved["id"], approved["state"], approved["lead"]) == ("F-1", "done", "L-1")
    assert leadbot("intake", "approve", "F-1", code=2).stderr.startswith(
        "error: F-1 is not a quarantined form submission"
    )
    rejected = leadbot("intake", "reject", "F-2", "--reason", "a test post").stdout
    assert rejected == "F-2 rejected by cli:ann: a test post\n"
    assert leadbot("intake", "quarantined").stdout == "nothing in the quarantine\n"
    states = {s["id"]: s for s in leadbot.json("form", "submissions", "demo-request")}
    assert (states[1]["state"], states[1]["lead"]) == ("done", "L-1")
    assert states[2]["state"] == "rejected"
    assert states[2]["reasons"][-1] == {"check": "rejected", "detail": "by cli:ann: a test post"}
