"""`leadbot inbox …`: saved mails fed through the pipeline, the queue listed, quarantine retried."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

from tests.cli.conftest import Leadbot

INBOUND_KEYS = [
    "id", "received_at", "channel", "state", "classification", "reason", "lead", "message_id",
    "from", "mail_from", "rcpt_to", "subject", "size", "attempts", "duplicate_of", "error",
    "processed_at",
]  # fmt: skip


def saved_mail(folder: Path, name: str, sender: str | None = "Jane Doe <jane@acme.io>") -> Path:
    message = EmailMessage()
    if sender:
        message["From"] = sender
    message["To"] = "leads@localhost"
    message["Subject"] = f"Enquiry {name}"
    message["Message-ID"] = f"<{name}@acme.io>"
    message.set_content("Please call me about a demo.")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.eml"
    path.write_bytes(message.as_bytes())
    return path


def test_import_files_and_folders_then_list(leadbot: Leadbot) -> None:
    one = saved_mail(leadbot.workdir, "one")
    saved_mail(leadbot.workdir / "more", "two", sender="Bob <bob@globex.test>")
    imported = leadbot("inbox", "import", str(one), str(leadbot.workdir / "more"))
    assert imported.stdout == "imported 2 messages, processed 2\n"
    rows = leadbot.json("inbox", "list")
    assert [list(row) for row in rows] == [INBOUND_KEYS, INBOUND_KEYS]
    assert [(r["state"], r["classification"], r["lead"], r["channel"]) for r in rows] == [
        ("done", "enquiry", "L-1", "file"),
        ("done", "enquiry", "L-2", "file"),
    ]
    assert leadbot.json("inbox", "list", "--state", "quarantined") == []
    assert [r["id"] for r in leadbot.json("inbox", "list", "--limit", "1", "--offset", "1")] == [2]
    table = leadbot("inbox", "list").stdout
    assert "Enquiry one" in table and "enquiry" in table and "L-2" in table
    assert leadbot("inbox", "process").stdout == "processed 0 messages\n"


def test_quarantined_mail_is_listed_and_retried(leadbot: Leadbot) -> None:
    leadbot("inbox", "import", str(saved_mail(leadbot.workdir, "anon", sender=None)))
    [row] = leadbot.json("inbox", "quarantined")
    assert row["state"] == "quarantined" and "no sender address" in row["error"]
    assert "no sender address" in leadbot("inbox", "quarantined").stdout
    # An unknown id and a retry that fails again exit 1 (issue 12, item 11).
    retried = leadbot("inbox", "retry", "1", "7", code=1)
    assert retried.stdout.startswith("1: quarantined ") and "no sender address" in retried.stdout
    assert retried.stderr == "7: not a quarantined message\n"
    assert leadbot("inbox", "retry", "--all", code=1).stdout.startswith("1: quarantined ")
    assert leadbot.json("inbox", "list")[0]["attempts"] == 3
    assert leadbot("inbox", "retry", code=2).stderr == "error: name message ids or --all\n"
    # Nobody wants it: discarded, kept as rejected; a second discard is refused.
    assert leadbot("inbox", "discard", "1", "--reason", "no sender").stdout.startswith(
        "1: discarded by cli:"
    )
    assert leadbot.json("inbox", "list")[0]["state"] == "rejected"
    assert "not a quarantined message" in leadbot("inbox", "discard", "1", code=1).stderr
