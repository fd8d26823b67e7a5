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


def test_a_re_imported_message_id_says_it_was_a_duplicate(leadbot: Leadbot) -> None:
    one = saved_mail(leadbot.workdir, "one")
    assert leadbot("inbox", "import", str(one)).stderr == ""
    again = leadbot("inbox", "import", str(one))
    assert again.stdout == "imported 1 messages, processed 0\n"
    assert again.stderr == f"{one}: duplicate of inbox message 1 (Message-ID <one@acme.io>)\n"


def test_a_quarantined_message_shows_one_line_and_the_detail_with_verbose(leadbot: Leadbot) -> None:
    leadbot("inbox", "import", str(saved_mail(leadbot.workdir, "anon", sender=None)))
    import storage.inbox

    with leadbot.store.transaction() as session:  # an error of several lines, as a traceback is
        row = storage.inbox.by_id(session, 1)
        assert row is not None
        row.error = "no sender address to make a lead of\nTraceback (most recent call last):\n  x"
        session.add(row)
    table = leadbot("inbox", "quarantined").stdout
    assert "no sender address" in table and "Traceback" not in table
    detail = leadbot("inbox", "quarantined", "--verbose").stdout
    assert (
        "1:\n  no sender address to make a lead of\n  Traceback (most recent call last):" in detail
    )


def test_the_spool_is_shown_and_process_moves_what_serve_left_in_it(leadbot: Leadbot) -> None:
    from bot.mail_in.inbox import spool_entry
    from storage.spool import MAX_ATTEMPTS, Entry, Spool

    url = str(leadbot.store.engine.url.database)
    spool = Spool(f"{url}.spool")  # where serve's listener spooled (LEADBOT_SPOOL unset)
    raw = saved_mail(leadbot.workdir, "spooled").read_bytes()
    spool.append([spool_entry(raw, channel="smtp", mail_from="jane@acme.io", rcpt_tos=[]),
                  Entry("fax", b"?")])  # fmt: skip
    shown = leadbot.json("inbox", "spool")
    assert shown["counts"] == {"smtp": 1, "fax": 1} and shown["stuck"] == []
    assert leadbot("inbox", "process").stdout == "processed 1 messages\n"
    [row] = leadbot.json("inbox", "list")
    assert (row["state"], row["message_id"], row["lead"]) == ("done", "<spooled@acme.io>", "L-1")
    for _ in range(MAX_ATTEMPTS - 1):
        leadbot("inbox", "process")
    shown = leadbot.json("inbox", "spool")
    assert shown["counts"] == {"stuck": 1}
    [stuck] = shown["stuck"]
    assert (stuck["kind"], stuck["attempts"], stuck["error"]) == (
        "fax", MAX_ATTEMPTS, "no mover for kind 'fax'",
    )  # fmt: skip
    assert "no mover for kind 'fax'" in leadbot("inbox", "spool").stdout
